"""Model sources → a backend, with one clear message when a model cannot be loaded.

Sources: `tiny` (the built-in random model), a local diffusers folder, a single-file
`.safetensors`/`.ckpt` checkpoint, or a Hugging Face id (looked up in the local cache
first, then downloaded). Nothing falls back silently: a failure raises
`BackendUnavailable` saying what was tried and what to do.
"""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path
from typing import Any

import torch

from vj.config import ModelConfig
from vj.engine.backends.base import BackendTuning
from vj.engine.backends.diffusers import DiffusersBackend
from vj.engine.backends.lora import FusedLoras, LoraSpec, check_lora_source
from vj.engine.families.lookup import DEFAULT_FAMILY, family_of_checkpoint, family_of_folder, family_of_hub, tiny_family
from vj.errors import BackendUnavailable

log = logging.getLogger(__name__)

TINY = "tiny"
_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_DO_THIS = ("Use a model that is in the local Hugging Face cache (download it on a machine with network: "
            "`huggingface-cli download {id}`), a local diffusers folder, a .safetensors checkpoint, "
            "or `--model tiny` for the built-in random test model.")


def pick_device(requested: str) -> torch.device:
    """auto → cuda, then mps, then cpu. An explicit device that is missing is an error."""
    if requested == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if getattr(torch.backends, "mps", None) is not None and torch.backends.mps.is_available():
            return torch.device("mps")
        return torch.device("cpu")
    if requested.startswith("cuda") and not torch.cuda.is_available():
        raise BackendUnavailable(
            f"device {requested!r} was requested but CUDA is not available to torch {torch.__version__} "
            f"(a CPU-only build, or no NVIDIA driver). Install a CUDA build of torch, or use --device cpu.")
    if requested == "mps" and not (getattr(torch.backends, "mps", None) and torch.backends.mps.is_available()):
        raise BackendUnavailable("device 'mps' was requested but Metal is not available; use --device cpu.")
    return torch.device(requested)


def pick_dtype(requested: str, device: torch.device) -> torch.dtype:
    if requested == "auto":
        return torch.float16 if device.type in ("cuda", "mps") else torch.float32
    return {"float16": torch.float16, "bfloat16": torch.bfloat16, "float32": torch.float32}[requested]


def _from_pretrained(cls: Any, source: str, dtype: torch.dtype, what: str) -> Any:
    """Local folder as is; a hub id from the cache first, then the network."""
    path = Path(source).expanduser()
    if path.exists():
        if not path.is_dir():
            raise BackendUnavailable(f"{what} {source!r} is a file; expected a diffusers folder or a hub id.")
        try:
            return cls.from_pretrained(str(path), dtype=dtype)
        except (OSError, ValueError, json.JSONDecodeError) as err:
            raise BackendUnavailable(f"{what} folder {source!r} is not a loadable diffusers model: {err}") from err
    if not _HF_ID.match(source):
        raise BackendUnavailable(f"{what} {source!r}: no such file or folder, and not a Hugging Face id "
                                 "(owner/name). Check the path, or pass a hub id, a .safetensors checkpoint, "
                                 "or `--model tiny` for the built-in random test model.")
    try:
        return cls.from_pretrained(source, dtype=dtype, local_files_only=True)
    except (OSError, ValueError) as cached_err:
        log.info("%s %s is not in the local cache (%s); trying to download it", what, source, cached_err)
    try:
        return cls.from_pretrained(source, dtype=dtype)
    except Exception as err:  # noqa: BLE001 - hub, network and format errors all end the same way
        raise BackendUnavailable(
            f"{what} {source!r} could not be loaded: it is not in the local Hugging Face cache and the download "
            f"failed ({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). "
            + _DO_THIS.format(id=source)) from err


def load_pipeline(source: str, dtype: torch.dtype) -> Any:
    tiny = tiny_family(source)
    if tiny is not None:
        return tiny.build_tiny_pipeline()
    path = Path(source).expanduser()
    if path.suffix in (".safetensors", ".ckpt"):
        if not path.is_file():
            raise BackendUnavailable(f"checkpoint {source!r} does not exist: check the path, or use a hub id, "
                                     "a diffusers folder, or `--model tiny` for the built-in random test model.")
        family = family_of_checkpoint(path)
        try:
            return family.pipeline_class().from_single_file(str(path), dtype=dtype)
        except Exception as err:  # noqa: BLE001 - a wrong or truncated file can fail anywhere inside
            raise BackendUnavailable(
                f"checkpoint {source!r} could not be loaded as {family.described} single file "
                f"({type(err).__name__}: {str(err).splitlines()[0] if str(err) else ''}). Single files need "
                "their model config from the Hugging Face cache the first time; a diffusers folder needs none."
            ) from err
    found = family_of_folder(source) if path.exists() else (family_of_hub(source) if _HF_ID.match(source) else None)
    return _from_pretrained((found or DEFAULT_FAMILY).pipeline_class(), source, dtype, "model")


def load_tiny_vae(source: str, dtype: torch.dtype) -> Any:
    from diffusers import AutoencoderTiny

    if source == TINY:
        from vj.engine.families.models.tiny import build_tiny_taesd

        return build_tiny_taesd()
    return _from_pretrained(AutoencoderTiny, source, dtype, "tiny VAE")


def tuning_of(config: ModelConfig) -> BackendTuning:
    return BackendTuning(cudnn_benchmark=config.cudnn_benchmark, channels_last=config.channels_last,
                         fuse_qkv=config.fuse_qkv)


def load_diffusers_backend(config: ModelConfig, backend_class: type[DiffusersBackend] = DiffusersBackend,
                           **extra: Any) -> DiffusersBackend:
    """The `diffusers` backend: load the model named by `config` on its device. Raises `BackendUnavailable`.

    `backend_class` and `extra`: a backend built on this one (TensorRT) and its own arguments.
    """
    device = pick_device(config.device)
    dtype = pick_dtype(config.dtype, device)
    if dtype == torch.float16 and device.type == "cpu":
        # CPUs have no fast fp16 kernels: about 30x slower than float32 at 512 px; bfloat16 has them.
        log.warning("dtype float16 on a CPU is very slow (about 30x slower than float32); use --dtype bfloat16 "
                    "(faster than float32 on a CPU) or float32")
    specs = [LoraSpec(lora.source, lora.scale) for lora in config.loras]
    for spec in specs:  # before the model: a wrong LoRA path should not cost a model load
        check_lora_source(spec.source)
    pipe = load_pipeline(config.source, dtype)
    if config.ip_adapter:  # before the LoRAs fuse and the backend places the UNet: its processors change
        from vj.engine.conditioning.ip_adapter_load import load_ip_adapter_into

        load_ip_adapter_into(pipe, config.ip_adapter, config.source)
    loras = FusedLoras(pipe, specs) if specs else None
    tiny_vae = load_tiny_vae(config.tiny_vae, dtype) if config.tiny_vae else None
    try:
        backend = backend_class(pipe, name=config.source, device=device, dtype=dtype, tiny_vae=tiny_vae,
                                compile_mode=config.compile, tuning=tuning_of(config), loras=loras, **extra)
    except torch.cuda.OutOfMemoryError as err:
        raise BackendUnavailable(f"model {config.source!r} does not fit in GPU memory: {err}") from err
    except ValueError as err:
        raise BackendUnavailable(str(err)) from err
    log.info("loaded %s on %s (%s)%s", config.source, device, str(dtype).removeprefix("torch."),
             f" with tiny VAE {config.tiny_vae}" if config.tiny_vae else "")
    return backend
