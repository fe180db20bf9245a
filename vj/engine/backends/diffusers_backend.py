"""The PyTorch backend: the components of a diffusers Stable Diffusion pipeline, driven
directly (no pipeline call per frame), optionally `torch.compile`d with CUDA graphs."""

from __future__ import annotations

import logging
from typing import Any

import torch

from vj.engine.sampling import ModelFn, NoiseSchedule

log = logging.getLogger(__name__)


def _placed(module: Any, device: torch.device, dtype: torch.dtype) -> Any:
    # Only cast when needed: diffusers warns on every redundant dtype cast.
    if module.dtype != dtype:
        module = module.to(dtype=dtype)
    return module.to(device=device).eval()


def compile_settings(device: torch.device) -> dict[str, Any]:
    """torch.compile arguments for a live loop's static shapes on this device."""
    if device.type == "cuda":
        return {"mode": "reduce-overhead"}  # CUDA graphs: one replay per call instead of hundreds of launches
    if device.type == "cpu":
        # No CUDA graphs on a CPU. The C++ wrapper drops the per-kernel Python calls and freezing folds
        # the weights into constants (oneDNN prepacks them): the tiny model's calls at 64 px go from
        # 12.3 to 10.8 ms on the 2-core dev machine. Weights are frozen: nothing swaps them mid-show.
        return {"options": {"cpp_wrapper": True, "freezing": True}}
    return {"mode": "default"}


class DiffusersBackend:
    """Wraps tokenizer, text encoder, UNet and VAE (or TAESD) of a loaded pipeline."""

    def __init__(self, pipe: Any, *, name: str, device: torch.device, dtype: torch.dtype,
                 tiny_vae: Any | None = None, compile_unet: bool = False) -> None:
        self.name = name
        self.device = device
        self.dtype = dtype
        self.tokenizer = pipe.tokenizer
        self.text_encoder = _placed(pipe.text_encoder, device, dtype)
        self.unet = _placed(pipe.unet, device, dtype)
        self.vae = _placed(tiny_vae if tiny_vae is not None else pipe.vae, device, dtype)
        self.tiny_vae = tiny_vae is not None
        self.latent_channels = int(self.unet.config.in_channels)
        self.vae_scale_factor = self._vae_factor()
        # TAESD's config says 1.0: its latents are already in the UNet's scaled space.
        self.scaling_factor = float(getattr(self.vae.config, "scaling_factor", 1.0))
        cfg = pipe.scheduler.config
        betas_kind = cfg.get("beta_schedule", "scaled_linear")
        if betas_kind != "scaled_linear":
            raise ValueError(f"{name}: beta_schedule {betas_kind!r} is not supported (scaled_linear only)")
        self.schedule = NoiseSchedule.scaled_linear(
            cfg.get("beta_start", 0.00085), cfg.get("beta_end", 0.012), cfg.get("num_train_timesteps", 1000),
            cfg.get("prediction_type", "epsilon"))
        self._time_cond_dim = self.unet.config.get("time_cond_proj_dim")
        self._unet_call = self.unet
        if compile_unet:
            how = compile_settings(device)
            self._unet_call = torch.compile(self.unet, fullgraph=False, **how)
            # The VAE runs twice a frame (encode, decode): compile its halves too.
            self.vae.encoder = torch.compile(self.vae.encoder, **how)
            self.vae.decoder = torch.compile(self.vae.decoder, **how)
            log.info("UNet and VAE compiled with torch.compile(%s); the first frames are slow while it "
                     "compiles (minutes on a CPU)", how)
        self._unet_downsample = 2 ** (len(self.unet.config.block_out_channels) - 1)

    def _vae_factor(self) -> int:
        blocks = self.vae.config.encoder_block_out_channels if self.tiny_vae else self.vae.config.block_out_channels
        return 2 ** (len(blocks) - 1)

    def check_resolution(self, width: int, height: int) -> None:
        multiple = self.vae_scale_factor * self._unet_downsample
        if width % multiple or height % multiple:
            raise ValueError(f"{self.name} renders sizes that are multiples of {multiple} px; "
                             f"found {width}x{height}")

    @torch.inference_mode()
    def encode_prompt(self, text: str) -> torch.Tensor:
        tokens = self.tokenizer(text, padding="max_length", max_length=self.tokenizer.model_max_length,
                                truncation=True, return_tensors="pt")
        ids = tokens.input_ids.to(self.device)
        return self.text_encoder(ids)[0].to(self.dtype)

    @torch.inference_mode()
    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        x = image.to(self.dtype) * 2 - 1
        if self.tiny_vae:
            return self.vae.encode(x).latents * self.scaling_factor
        # The mean, not a sample: sampling would add noise the loop did not ask for.
        return self.vae.encode(x).latent_dist.mean * self.scaling_factor

    @torch.inference_mode()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        out = self.vae.decode(latents.to(self.dtype) / self.scaling_factor).sample
        return ((out.float() + 1) / 2).clamp(0, 1)

    def _guidance_embedding(self, guidance: float) -> torch.Tensor | None:
        if self._time_cond_dim is None:
            return None
        # LCM-distilled UNets take the guidance scale as a sinusoidal embedding of (w − 1)·1000.
        half = self._time_cond_dim // 2
        w = torch.tensor([(guidance - 1.0) * 1000.0], device=self.device)
        freqs = torch.exp(-torch.log(torch.tensor(10000.0)) * torch.arange(half, device=self.device) / (half - 1))
        emb = w[:, None] * freqs[None]
        emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=1)
        if self._time_cond_dim % 2:
            emb = torch.nn.functional.pad(emb, (0, 1))
        return emb.to(self.dtype)

    def denoise_fn(self, cond: torch.Tensor, negative: torch.Tensor, guidance: float) -> ModelFn:
        use_cfg = guidance > 1.0 and self._time_cond_dim is None
        context = torch.cat([negative, cond]) if use_cfg else cond
        time_cond = self._guidance_embedding(guidance)

        @torch.inference_mode()
        def model(latents: torch.Tensor, t: int) -> torch.Tensor:
            x = latents.to(self.dtype)
            if use_cfg:
                x = torch.cat([x, x])
            timestep = torch.tensor(t, device=self.device)
            out = self._unet_call(x, timestep, encoder_hidden_states=context, timestep_cond=time_cond).sample
            if use_cfg:
                uncond, text = out.chunk(2)
                out = uncond + guidance * (text - uncond)
            return out.float()

        return model

    def close(self) -> None:
        for attr in ("unet", "vae", "text_encoder"):
            setattr(self, attr, None)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
