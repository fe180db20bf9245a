"""The PyTorch backend: the components of a diffusers Stable Diffusion pipeline, driven
directly (no pipeline call per frame).

The three per-frame calls (image → latents, the UNet, latents → image) are small modules,
so one piece of maths serves every way of running them: eager, `torch.compile` ("jit":
CUDA graphs on a GPU) or AOTInductor packages compiled once and cached on disk ("aot").
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch

from vj.engine.backends.lora import FusedLoras, is_lcm_lora
from vj.engine.backends.model_defaults import ModelDefault, model_param_defaults
from vj.engine.backends.sizes import SizeRule
from vj.engine.compile.aot import AotCompiled, default_cache_dir, weights_fingerprint
from vj.engine.compile.jit import compile_settings, resolve_compile_mode
from vj.engine.sampling import ModelFn, NoiseSchedule

log = logging.getLogger(__name__)


def _placed(module: Any, device: torch.device, dtype: torch.dtype) -> Any:
    # Only cast when needed: diffusers warns on every redundant dtype cast.
    if module.dtype != dtype:
        module = module.to(dtype=dtype)
    return module.to(device=device).eval()


class ImageEncoder(torch.nn.Module):
    """RGB in [0, 1] → latents in the UNet's scaled space."""

    def __init__(self, vae: Any, *, tiny: bool, scaling_factor: float) -> None:
        super().__init__()
        self.vae, self.tiny, self.scaling_factor = vae, tiny, scaling_factor

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        x = image * 2 - 1
        if self.tiny:
            return self.vae.encode(x).latents * self.scaling_factor
        # The mean, not a sample: sampling would add noise the loop did not ask for.
        return self.vae.encode(x).latent_dist.mean * self.scaling_factor


class LatentDecoder(torch.nn.Module):
    """Scaled latents → RGB in [0, 1]."""

    def __init__(self, vae: Any, *, scaling_factor: float) -> None:
        super().__init__()
        self.vae, self.scaling_factor = vae, scaling_factor

    def forward(self, latents: torch.Tensor) -> torch.Tensor:
        out = self.vae.decode(latents / self.scaling_factor).sample
        return ((out + 1) / 2).clamp(0, 1)


class NoisePredictor(torch.nn.Module):
    """The UNet's output for (latents, timestep, text context[, LCM guidance embedding])."""

    def __init__(self, unet: Any) -> None:
        super().__init__()
        self.unet = unet

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor,
                timestep_cond: torch.Tensor | None = None) -> torch.Tensor:
        return self.unet(sample, timestep, encoder_hidden_states=context, timestep_cond=timestep_cond).sample


class DiffusersBackend:
    """Wraps tokenizer, text encoder, UNet and VAE (or TAESD) of a loaded pipeline."""

    def __init__(self, pipe: Any, *, name: str, device: torch.device, dtype: torch.dtype,
                 tiny_vae: Any | None = None, compile_mode: str = "off", cache_dir: Path | None = None,
                 loras: FusedLoras | None = None) -> None:
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
        self.loras = loras
        lcm_lora = next((s for s in loras.sources if is_lcm_lora(s)), None) if loras else None
        self.param_defaults: Mapping[str, ModelDefault] = model_param_defaults(pipe.scheduler, self.unet.config,
                                                                               lcm_lora)
        self._unet_downsample = 2 ** (len(self.unet.config.block_out_channels) - 1)
        self.compile_mode = resolve_compile_mode(compile_mode, device)
        encoder = ImageEncoder(self.vae, tiny=self.tiny_vae, scaling_factor=self.scaling_factor)
        decoder = LatentDecoder(self.vae, scaling_factor=self.scaling_factor)
        predictor = NoisePredictor(self.unet)
        self._encode_call: Any = encoder
        self._decode_call: Any = decoder
        self._predict_call: Any = predictor
        if self.compile_mode == "jit":
            how = compile_settings(device)
            self._encode_call, self._decode_call, self._predict_call = (
                torch.compile(m, **how) for m in (encoder, decoder, predictor))
            log.info("UNet and VAE compiled with torch.compile(%s); the first frames are slow while it "
                     "compiles (minutes on a CPU)", how)
        elif self.compile_mode == "aot":
            where = cache_dir if cache_dir is not None else default_cache_dir()
            vae_print, unet_print = weights_fingerprint(self.vae), weights_fingerprint(self.unet)
            self._encode_call = AotCompiled(encoder, call="encode", fingerprint=vae_print, device=device,
                                            cache_dir=where)
            self._decode_call = AotCompiled(decoder, call="decode", fingerprint=vae_print, device=device,
                                            cache_dir=where)
            self._predict_call = AotCompiled(predictor, call="unet", fingerprint=unet_print, device=device,
                                             cache_dir=where)
            log.info("UNet and VAE run as AOTInductor packages cached in %s; a size not built before "
                     "compiles on its first frame", where)

    def _vae_factor(self) -> int:
        blocks = self.vae.config.encoder_block_out_channels if self.tiny_vae else self.vae.config.block_out_channels
        return 2 ** (len(blocks) - 1)

    def check_resolution(self, width: int, height: int) -> None:
        """Raise SizeRefused (a ValueError) naming the size and the multiple this model needs."""
        SizeRule(self.name, self.vae_scale_factor, self._unet_downsample).check(width, height)

    @torch.inference_mode()
    def encode_prompt(self, text: str) -> torch.Tensor:
        tokens = self.tokenizer(text, padding="max_length", max_length=self.tokenizer.model_max_length,
                                truncation=True, return_tensors="pt")
        ids = tokens.input_ids.to(self.device)
        return self.text_encoder(ids)[0].to(self.dtype)

    @torch.inference_mode()
    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        return self._encode_call(image.to(self.dtype))

    @torch.inference_mode()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        image = self._decode_call(latents.to(self.dtype))
        if self.compile_mode == "jit" and image.dtype == torch.float32:
            # CUDA-graph outputs live in memory the next replay overwrites, and the engine keeps
            # this frame for the next one's warp: own a copy (fp16 outputs get one from .float()).
            return image.clone()
        return image.float()

    def _guidance_embedding(self, guidance: float) -> torch.Tensor | None:
        if self._time_cond_dim is None:
            return None
        # LCM-distilled UNets take the guidance scale as a sinusoidal embedding of (w − 1)·1000,
        # computed in diffusers' order: sin of arguments in the thousands amplifies any rounding.
        half = self._time_cond_dim // 2
        w = torch.tensor([guidance - 1.0]) * 1000.0
        step = torch.log(torch.tensor(10000.0)) / (half - 1)
        freqs = torch.exp(torch.arange(half, dtype=torch.float32) * -step)
        emb = w[:, None] * freqs[None]
        emb = torch.cat([torch.sin(emb), torch.cos(emb)], dim=1)
        if self._time_cond_dim % 2:
            emb = torch.nn.functional.pad(emb, (0, 1))
        return emb.to(device=self.device, dtype=self.dtype)

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
            extra = () if time_cond is None else (time_cond,)
            out = self._predict_call(x, timestep, context, *extra)
            if use_cfg:
                uncond, text = out.chunk(2)
                out = uncond + guidance * (text - uncond)
            return out.float()

        return model

    def set_lora_scale(self, index: int, scale: float) -> None:
        """Re-fuse LoRA `index` at `scale` (eager and jit read the weights in place; aot baked them in)."""
        if self.loras is None:
            raise ValueError(f"{self.name}: no LoRA is loaded")
        if self.compile_mode == "aot":
            raise ValueError("a LoRA scale cannot change under compile = 'aot' (the weights are compiled in); "
                             "set it in the preset, or use compile off/jit")
        self.loras.set_scale(index, scale)

    def close(self) -> None:
        for attr in ("unet", "vae", "text_encoder"):
            setattr(self, attr, None)
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
