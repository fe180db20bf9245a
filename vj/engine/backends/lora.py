"""LoRA adapters: checked before the model loads, loaded through diffusers' peft backend,
fused into the weights for speed, and re-fused when a scale changes live.

A fused LoRA costs nothing per frame (the UNet runs its merged weights). A live scale
change unmerges every adapter, sets the new weights and merges again: a few matrix adds
per adapted layer, tens of milliseconds for an SD UNet on a GPU, no rebuild. peft keeps the
adapter matrices beside the merged weights, which is what makes the re-fuse possible.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vj.errors import BackendUnavailable

log = logging.getLogger(__name__)

_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
LORA_SCALE_RANGE = (-4.0, 4.0)
_INSTALL_PEFT = "LoRAs need the peft package: pip install peft (or pip install -e .[lora])"


@dataclass(frozen=True, slots=True)
class LoraSpec:
    source: str  # a Hugging Face id, a folder holding one .safetensors, or a .safetensors file
    scale: float = 1.0


def is_lcm_lora(source: str) -> bool:
    """LCM-LoRAs (latent-consistency/lcm-lora-*) are named so; they make a model a few-step LCM model."""
    return "lcm" in Path(source).name.lower() or "lcm-lora" in source.lower()


def check_lora_source(source: str) -> None:
    """Refuse a LoRA that cannot load, before the model does: a missing path, a file that
    is not a safetensors LoRA, a folder without one, or a string that is no hub id."""
    path = Path(source).expanduser()
    if path.is_dir():
        files = sorted(path.glob("*.safetensors"))
        if len(files) != 1:
            raise BackendUnavailable(f"LoRA folder {source!r} holds {len(files)} .safetensors files; expected "
                                     "exactly one (or pass the file itself)")
        _check_lora_file(files[0], source)
        return
    if path.suffix == ".safetensors" or path.exists():
        if not path.is_file():
            raise BackendUnavailable(f"LoRA file {source!r} does not exist; expected a .safetensors LoRA, a folder "
                                     "holding one, or a Hugging Face id")
        if path.suffix != ".safetensors":
            raise BackendUnavailable(f"LoRA file {source!r} is not a .safetensors file")
        _check_lora_file(path, source)
        return
    if not _HF_ID.match(source):
        raise BackendUnavailable(f"LoRA {source!r}: no such file or folder, and not a Hugging Face id (owner/name)")


def _check_lora_file(path: Path, source: str) -> None:
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            keys = list(f.keys())
    except (OSError, SafetensorError) as err:
        raise BackendUnavailable(f"LoRA file {source!r} is not a readable safetensors file ({err})") from err
    if not any("lora" in k.lower() for k in keys):
        raise BackendUnavailable(f"LoRA file {source!r} holds no LoRA weights ({len(keys)} tensors, none named "
                                 "lora_*): is it a full checkpoint? Pass it as --model instead")


def _load_args(source: str) -> tuple[str, dict[str, str]]:
    path = Path(source).expanduser()
    if path.is_file():
        return str(path.parent), {"weight_name": path.name}
    if path.is_dir():
        return str(path), {"weight_name": next(path.glob("*.safetensors")).name}
    return source, {}


class FusedLoras:
    """The LoRAs of one pipeline, fused at their scales; `set_scale` re-fuses one of them."""

    def __init__(self, pipe: Any, specs: Sequence[LoraSpec]) -> None:
        self.pipe = pipe
        self.sources = tuple(s.source for s in specs)
        self.names = tuple(f"lora_{i}" for i in range(len(specs)))
        self.scales = [float(s.scale) for s in specs]
        try:
            import peft  # noqa: F401
        except ImportError as err:
            raise BackendUnavailable(_INSTALL_PEFT) from err
        from vj.engine.compile.aot import tensors_fingerprint, weights_fingerprint

        # Taken before fusing: unmerging later gives the base weights back only to float rounding.
        self.base_fingerprint = weights_fingerprint(pipe.unet)
        for name, spec in zip(self.names, specs, strict=True):
            where, extra = _load_args(spec.source)
            try:
                pipe.load_lora_weights(where, adapter_name=name, **extra)
            except Exception as err:  # noqa: BLE001 - hub, file and key-mismatch errors all end the same way
                first = str(err).splitlines()[0] if str(err) else ""
                raise BackendUnavailable(f"LoRA {spec.source!r} could not be loaded into this model "
                                         f"({type(err).__name__}: {first}); is it made for this architecture?"
                                         ) from err
        self.adapter_fingerprint = tensors_fingerprint(
            (n, p) for n, p in pipe.unet.named_parameters() if "lora_" in n)
        self._fuse()
        log.info("LoRAs fused: %s", ", ".join(f"{s} x{w:g}" for s, w in zip(self.sources, self.scales, strict=True)))

    def _fuse(self) -> None:
        self.pipe.set_adapters(list(self.names), self.scales)
        self.pipe.fuse_lora(adapter_names=list(self.names), lora_scale=1.0)

    def set_scale(self, index: int, scale: float) -> None:
        """Change one LoRA's scale: unmerge, set the adapter weights, merge again."""
        lo, hi = LORA_SCALE_RANGE
        if not 0 <= index < len(self.names):
            raise ValueError(f"LoRA index must be 0..{len(self.names) - 1}, found {index}")
        if not lo <= scale <= hi:
            raise ValueError(f"LoRA scale must be {lo:g}..{hi:g}, found {scale:g}")
        if scale == self.scales[index]:
            return
        self.pipe.unfuse_lora()
        self.scales[index] = float(scale)
        self._fuse()

    def identity(self) -> str:
        """A compiled UNet's identity: the base weights and the adapters, not the scales (they are live)."""
        return f"{self.base_fingerprint}+{self.adapter_fingerprint}"
