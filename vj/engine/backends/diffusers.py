"""The `diffusers` backend: PyTorch modules from a diffusers Stable Diffusion pipeline,
driven directly (no pipeline call per frame).

The three per-frame calls (image → latents, the UNet, latents → image) are small modules,
so one piece of maths serves every way of running them: eager, `torch.compile` ("jit":
CUDA graphs on a GPU) or AOTInductor packages compiled once and cached on disk ("aot").

The file shares its name with the `diffusers` package it wraps; every import here is
absolute, so `import diffusers` always means the package.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import torch

from vj.engine.backends.base import BackendTuning, Variant, WarmupProgress
from vj.engine.backends.lora import FusedLoras, is_lcm_lora
from vj.engine.backends.model_defaults import ModelDefault, model_param_defaults
from vj.engine.compile.aot import AotCompiled, default_cache_dir, weights_fingerprint
from vj.engine.compile.jit import JitCompiled, allow_graphs, compile_settings, graphs_needed, resolve_compile_mode
from vj.engine.conditioning.embeddings import Conditioning
from vj.engine.conditioning.reference_images import ReferenceConditioner, ReferenceEncoder
from vj.engine.controlnet.units import ControlNets
from vj.engine.families.family import TextEncoder
from vj.engine.families.lookup import family_of_unet
from vj.engine.sampling import img2img_timesteps

log = logging.getLogger(__name__)


def _placed(module: Any, device: torch.device, dtype: torch.dtype) -> Any:
    # Only cast when needed: diffusers warns on every redundant dtype cast.
    if module.dtype != dtype:
        module = module.to(dtype=dtype)
    return module.to(device=device).eval()


def vae_runs_in_float32(vae_config: Mapping[str, Any], dtype: torch.dtype, *, honours_force_upcast: bool) -> bool:
    """Whether the VAE must run in float32 although the model runs in `dtype`.

    `force_upcast` is diffusers' flag for a VAE that overflows in float16 (SDXL's). Only
    diffusers' SDXL pipelines read it; its SD 1.x/2.x pipelines never do, and AutoencoderKL
    defaults it to true, so a saved SD 2.x VAE config (sd-turbo's) can carry `true` for a VAE
    that is fine in float16. bfloat16 has float32's range: no overflow, no upcast.
    """
    return dtype == torch.float16 and honours_force_upcast and bool(vae_config.get("force_upcast", False))

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


class DiffusersBackend:
    """Wraps tokenizer, text encoder, UNet and VAE (or TAESD) of a loaded pipeline."""

    def __init__(self, pipe: Any, *, name: str, device: torch.device, dtype: torch.dtype,
                 tiny_vae: Any | None = None, compile_mode: str = "off", cache_dir: Path | None = None,
                 tuning: BackendTuning | None = None, honours_force_upcast: bool | None = None,
                 loras: FusedLoras | None = None) -> None:
        """`honours_force_upcast`: None decides from the model family, as diffusers' pipelines do."""
        self.name = name
        self.device = device
        self.dtype = dtype
        self.tuning = tuning if tuning is not None else BackendTuning()
        self.family = family_of_unet(pipe.unet.config)  # everything that differs between families goes through it
        self.text_encoders = tuple(TextEncoder(tokenizer, _placed(encoder, device, dtype))
                                   for tokenizer, encoder in self.family.text_encoders(pipe))
        self.tokenizer, self.text_encoder = self.text_encoders[0].tokenizer, self.text_encoders[0].model
        self.unet = _placed(pipe.unet, device, dtype)
        vae = tiny_vae if tiny_vae is not None else pipe.vae
        if honours_force_upcast is None:
            honours_force_upcast = self.family.honours_force_upcast
        self.vae_dtype = torch.float32 if vae_runs_in_float32(vae.config, dtype,
                                                               honours_force_upcast=honours_force_upcast) else dtype
        self.vae = _placed(vae, device, self.vae_dtype)
        self.tiny_vae = tiny_vae is not None
        self.latent_channels = int(self.unet.config.in_channels)
        self.vae_scale_factor = self._vae_factor()
        # TAESD's config says 1.0: its latents are already in the UNet's scaled space.
        self.scaling_factor = float(getattr(self.vae.config, "scaling_factor", 1.0))
        self.schedule = self.family.noise_schedule(name, pipe.scheduler.config)
        # Device-resident table: a frame indexes it with a Python int, never copies to the device.
        # One 0-dim tensor each, not views of one arange: a view's storage offset changes with t,
        # and torch.compile may guard on it (a recompile mid-show).
        self._timesteps = [t.clone() for t in torch.arange(self.schedule.num_train_timesteps, device=device)]
        self._time_cond_dim: int | None = self.unet.config.get("time_cond_proj_dim")
        self.embeds_guidance = self._time_cond_dim is not None
        self._guidance_freqs = self._guidance_frequencies()
        self._guidance_cached: tuple[float, torch.Tensor] | None = None
        self.loras = loras
        self.controls: ControlNets | None = None  # attach_controlnets
        # An IP-Adapter loaded into the pipeline (vj.engine.conditioning.ip_adapter_load): every UNet call
        # then takes the reference embedding and scale; synchronous until the engine attaches its own.
        image_encoder = getattr(pipe, "image_encoder", None)
        self.references: ReferenceConditioner | None = None
        if image_encoder is not None and self.unet.encoder_hid_proj is not None:
            pictures = ReferenceEncoder(_placed(image_encoder, device, dtype), self.unet.encoder_hid_proj, device,
                                        dtype)
            self.references = ReferenceConditioner(pictures, background=False)
            if self.tuning.fuse_qkv:  # diffusers' fusing replaces every attention processor, the adapter's too
                raise ValueError(f"{name}: fuse_qkv cannot be used with an IP-Adapter; set [model] fuse_qkv = false")
            if resolve_compile_mode(compile_mode, device) == "aot":
                raise ValueError(f"{name}: an IP-Adapter cannot run under compile = 'aot' (its reference and scale "
                                 "are not inputs of the packages); use compile off or jit")
        # Called with each warm-up variant's latent (height, width) before its UNet calls: state kept per
        # size inside the UNet (the feature bank's rings) is then the shape the show will compile with.
        self.warmup_size_hooks: list[Callable[[int, int], None]] = []
        lcm_lora = next((s for s in loras.sources if is_lcm_lora(s)), None) if loras else None
        self.param_defaults: Mapping[str, ModelDefault] = model_param_defaults(pipe.scheduler, self.unet.config,
                                                                               lcm_lora)
        self._size_rule = self.family.size_rule(name, self.vae_scale_factor, self.unet.config)
        self.compile_mode = resolve_compile_mode(compile_mode, device)
        self._apply_tuning()
        encoder = ImageEncoder(self.vae, tiny=self.tiny_vae, scaling_factor=self.scaling_factor)
        decoder = LatentDecoder(self.vae, scaling_factor=self.scaling_factor)
        self._size_inputs: dict[tuple[int, int], torch.Tensor | None] = {}
        predictor = self.family.noise_predictor(self.unet)
        self._encode_call: Any = encoder
        self._decode_call: Any = decoder
        self._predict_call: Any = predictor
        if self.compile_mode == "jit":
            self._encode_call, self._decode_call, self._predict_call = (
                JitCompiled(m, device) for m in (encoder, decoder, predictor))
            log.info("UNet and VAE compiled with torch.compile(%s); warm-up compiles every variant before "
                     "the show (minutes on a CPU)", compile_settings(device))
        elif self.compile_mode == "aot":
            where = cache_dir if cache_dir is not None else default_cache_dir()
            vae_print, unet_print = weights_fingerprint(self.vae), weights_fingerprint(self.unet)
            layout = "-nhwc" if self.tuning.channels_last else ""
            self._encode_call = AotCompiled(encoder, call=f"encode{layout}", fingerprint=vae_print, device=device,
                                            cache_dir=where)
            self._decode_call = AotCompiled(decoder, call=f"decode{layout}", fingerprint=vae_print, device=device,
                                            cache_dir=where)
            self._predict_call = AotCompiled(predictor, call=f"unet{layout}", fingerprint=unet_print, device=device,
                                             cache_dir=where)
            log.info("UNet and VAE run as AOTInductor packages cached in %s; warm-up builds the sizes not "
                     "built before", where)

    def _apply_tuning(self) -> None:
        if self.tuning.cudnn_benchmark and self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True  # process-wide: one show owns the process
        if self.tuning.channels_last:
            self.unet.to(memory_format=torch.channels_last)
            self.vae.to(memory_format=torch.channels_last)
        if self.tuning.fuse_qkv:
            self.unet.fuse_qkv_projections()

    def _vae_factor(self) -> int:
        blocks = self.vae.config.encoder_block_out_channels if self.tiny_vae else self.vae.config.block_out_channels
        return 2 ** (len(blocks) - 1)

    def check_resolution(self, width: int, height: int) -> None:
        """Raise SizeRefused (a ValueError) naming the size and the multiple this model needs."""
        self._size_rule.check(width, height)

    @torch.inference_mode()
    def warmup(self, variants: Sequence[Variant], progress: WarmupProgress | None = None) -> None:
        """Each variant once: encode, `steps` UNet calls at its batch, decode (compiles and captures)."""
        if not variants:
            return
        if self.compile_mode == "jit":
            units = len(self.controls.units) if self.controls is not None else 1
            allow_graphs(graphs_needed({(v.width, v.height, v.batch) for v in variants}, units))
        blank = self.encode_prompt("")
        for done, variant in enumerate(variants, start=1):
            self.check_resolution(variant.width, variant.height)
            image = torch.zeros(1, 3, variant.height, variant.width, device=self.device)
            latents = self.encode_image(image).float()
            batch = latents.expand(variant.batch, -1, -1, -1)
            for hook in self.warmup_size_hooks:
                hook(int(latents.shape[-2]), int(latents.shape[-1]))
            cond = blank.repeated(variant.batch)
            if self.controls is not None:  # the ControlNets warm up (and compile) inside predict_noise
                hint = self.controls.blank(variant.width, variant.height)
                units = len(self.controls.units)  # each at weight 1: a unit at 0 would be skipped, not warmed
                self.controls.set_frame([hint] * units, 1.0, [1.0] * units)
            for t in img2img_timesteps(1.0, variant.steps, self.schedule.num_train_timesteps):
                self.predict_noise(batch, t, cond, 1.0 if not self.embeds_guidance else 8.0)
            self.decode(latents)
            if self.device.type == "cuda":
                torch.cuda.synchronize(self.device)  # before the show: honest progress, nothing queued
            if progress is not None:
                progress(done, len(variants))

    def _token_ids(self, tokenizer: Any, text: str) -> torch.Tensor:
        tokens = tokenizer(text, padding="max_length", max_length=tokenizer.model_max_length, truncation=True,
                           return_tensors="pt")
        return tokens.input_ids.to(self.device)

    @torch.inference_mode()
    def encode_prompt(self, text: str) -> Conditioning:
        token_ids = [self._token_ids(encoder.tokenizer, text) for encoder in self.text_encoders]
        return self.family.encode_prompt([encoder.model for encoder in self.text_encoders], token_ids, self.dtype)

    def _size_conditioning(self, latents: torch.Tensor) -> torch.Tensor | None:
        """What the family's UNet takes about this frame size (SDXL's time ids), made once per size."""
        f = self.vae_scale_factor
        size = (int(latents.shape[-2]) * f, int(latents.shape[-1]) * f)
        if size not in self._size_inputs:
            self._size_inputs[size] = self.family.size_conditioning(*size, self.device, self.dtype)
        return self._size_inputs[size]

    @torch.inference_mode()
    def encode_image(self, image: torch.Tensor) -> torch.Tensor:
        latents = self._encode_call(image.to(self.vae_dtype))
        return self._owned(latents, self.dtype)

    @torch.inference_mode()
    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        return self._owned(self._decode_call(latents.to(self.vae_dtype)), torch.float32)

    def _owned(self, out: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
        """`out` in `dtype`, in memory of its own under jit: CUDA-graph outputs live in the graph's pool,
        which the next replay overwrites, and a cast to the dtype a tensor already has copies nothing."""
        return out.to(dtype, copy=self.compile_mode == "jit")

    def _guidance_frequencies(self) -> torch.Tensor | None:
        if self._time_cond_dim is None:
            return None
        # diffusers' order of operations (sin of arguments in the thousands amplifies any rounding),
        # computed once on the CPU in float32 and moved to the device once.
        half = self._time_cond_dim // 2
        step = torch.log(torch.tensor(10000.0)) / (half - 1)
        return torch.exp(torch.arange(half, dtype=torch.float32) * -step).to(self.device)

    def _guidance_embedding(self, guidance: float) -> torch.Tensor | None:
        """LCM's guidance embedding of (w − 1)·1000, [1, time_cond_proj_dim], made on the device."""
        if self._guidance_freqs is None or self._time_cond_dim is None:
            return None
        if self._guidance_cached is not None and self._guidance_cached[0] == guidance:
            return self._guidance_cached[1]
        emb = self._guidance_freqs * ((guidance - 1.0) * 1000.0)  # a Python scalar: no host→device copy
        emb = torch.cat([torch.sin(emb), torch.cos(emb)])[None]
        if self._time_cond_dim % 2:
            emb = torch.nn.functional.pad(emb, (0, 1))
        emb = emb.to(self.dtype)
        self._guidance_cached = (guidance, emb)
        return emb

    @torch.inference_mode()
    def predict_noise(self, latents: torch.Tensor, t: int, cond: Conditioning, guidance: float = 1.0) -> torch.Tensor:
        added = self.family.extra_inputs(cond, self._size_conditioning(latents), latents.shape[0])
        embedding = self._guidance_embedding(guidance)
        time_cond = None if embedding is None else embedding.expand(latents.shape[0], -1)
        extra = added if time_cond is None else (*added, time_cond)
        sample, timestep = latents.to(self.dtype), self._timesteps[t]
        image: dict[str, torch.Tensor] = {}
        if self.references is not None:
            image["image_embeds"], image["ip_scale"] = self.references.inputs(latents.shape[0])
        if self.controls is None:
            out = self._predict_call(sample, timestep, cond.embeddings, *extra, **image)
        else:
            down, mid = self.controls.residuals(sample, timestep, cond.embeddings, added, time_cond)
            out = self._predict_call(sample, timestep, cond.embeddings, *extra, down_residuals=down,
                                     mid_residual=mid, **image)
        return self._owned(out, torch.float32)

    def attach_controlnets(self, controls: ControlNets) -> None:
        """ControlNet residuals join every UNet call from now on (eager or jit; aot packages take none)."""
        if self.compile_mode == "aot":
            raise ValueError(f"{self.name}: a ControlNet cannot run under compile = 'aot'; use off or jit")
        self.controls = controls

    def detach_controlnets(self) -> None:
        """No ControlNet residuals from now on (a handed-in model a replay switches back to without them)."""
        self.controls = None

    def attach_references(self, references: ReferenceConditioner) -> None:
        """The reference pictures every UNet call reads from now on (the engine's, live or offline)."""
        if self.references is None:
            raise ValueError(f"{self.name}: no IP-Adapter is loaded (--ip-adapter)")
        self.references.close()
        self.references = references

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
        self.text_encoders = ()
        if self.device.type == "cuda":
            torch.cuda.empty_cache()
