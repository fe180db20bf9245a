"""The preset's IP-Adapter and reference pictures, checked before any weights load.

A model family without an IP-Adapter (Stable Diffusion 2.x: sd-turbo) is refused from its
config files alone (a folder's unet/config.json, a hub model's from the cache or that one small
file, a checkpoint's tensor names), and every starting picture is opened and type-checked.
The loaded UNet is checked again (vj.engine.conditioning.ip_adapter_load), for the sources
whose config cannot be read first.
"""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

from vj.config import PresetConfig
from vj.engine.conditioning.reference_pictures import file_reference
from vj.errors import BackendUnavailable, VjError

_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_SD2_TEXT_ENCODER = "cond_stage_model.model."  # an SD 2.x checkpoint's OpenCLIP text encoder


def _unet_config(source: str) -> dict[str, Any] | None:
    """The model's UNet config from files only, or None where it cannot be read before loading."""
    from vj.engine.families.lookup import tiny_family

    tiny = tiny_family(source)
    if tiny is not None:
        return dict(tiny.build_tiny_pipeline().unet.config)
    path = Path(source).expanduser()
    if path.suffix == ".safetensors" and path.is_file():
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            if any(name.startswith(_SD2_TEXT_ENCODER) for name in f.keys()):  # noqa: SIM118
                return {"cross_attention_dim": 1024}
        return None
    found: Path | None = path / "unet" / "config.json" if path.is_dir() else None
    if found is None and _HF_ID.match(source):
        from huggingface_hub import hf_hub_download

        for local in (True, False):
            try:
                found = Path(hf_hub_download(source, "unet/config.json", local_files_only=local))
                break
            except Exception:  # noqa: BLE001 - not cached / offline: the loaded UNet is checked instead
                continue
    if found is None or not found.is_file():
        return None
    try:
        data = json.loads(found.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return data if isinstance(data, dict) else None


def check_reference_before_load(preset: PresetConfig) -> None:
    """An IP-Adapter on a model without one, and a starting picture that is not one: one line each."""
    if not preset.model.ip_adapter:
        return
    from vj.engine.conditioning.ip_adapter_load import layout_of

    unet = _unet_config(preset.model.source)
    if unet is not None:
        try:
            layout_of(unet, f"model {preset.model.source!r}")
        except BackendUnavailable as err:
            raise VjError(str(err)) from err
    for image, weight in preset.reference.weighted():
        file_reference(image, weight)
    folder = preset.reference.folder
    if folder and not Path(folder).expanduser().is_dir():
        raise VjError(f"[reference] folder {folder!r} is not a folder (--reference-folder: the pictures OSC and the "
                      "page may name)")
