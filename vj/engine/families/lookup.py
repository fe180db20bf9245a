"""Which family a model is, decided one way: the families in one tuple, each asked in turn.

Nothing registers itself: a new family is one file in this folder and one entry in
`FAMILIES`. Detection reads config files only (model_index.json, unet/config.json, a
checkpoint's tensor names), so a model vj cannot run is refused before any weight loads.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from vj.engine.families.family import ModelFamily
from vj.engine.families.sd import SD
from vj.engine.families.sdxl import SDXL
from vj.errors import BackendUnavailable

# The most specific first: the first family that claims a config is the model's.
FAMILIES: tuple[ModelFamily, ...] = (SDXL, SD)
# A checkpoint no family claims, or a non-safetensors one (not read before loading).
DEFAULT_FAMILY: ModelFamily = SD


def what_vj_runs() -> str:
    return (f"vj runs {' and '.join(f.label for f in reversed(FAMILIES))} models (turbo, LCM, or a checkpoint "
            "with an LCM-LoRA); SD3, Flux and video models are not supported")


def ip_adapter_models() -> str:
    """Which models take an IP-Adapter, for a refusal."""
    labels = [layout.label for family in reversed(FAMILIES)
              if (layout := family.ip_adapter_layout({})) is not None]
    return (f"IP-Adapters exist for {' and '.join(labels)} models (an LCM-distilled SD 1.5, SD 1.5 with an "
            "LCM-LoRA, sdxl-turbo; --model tiny or tiny-xl with --ip-adapter tiny); Stable Diffusion 2.x "
            "(sd-turbo) has none")


def family_named(name: str) -> ModelFamily:
    for family in FAMILIES:
        if family.name == name:
            return family
    raise ValueError(f"no model family {name!r}; expected one of {', '.join(f.name for f in FAMILIES)}")


def tiny_family(source: str) -> ModelFamily | None:
    """The family whose tiny random model `source` names (`tiny`, `tiny-xl`), else None."""
    return next((f for f in FAMILIES if f.tiny_source == source), None)


def family_of_unet(unet_config: Mapping[str, Any]) -> ModelFamily:
    """The family of a loaded UNet (or ControlNet) from its config."""
    for family in FAMILIES:
        if family.claims_unet(unet_config):
            return family
    return DEFAULT_FAMILY


def family_of_pipeline(source: str, kind: str) -> ModelFamily:
    """The family of a pipeline class name; anything else is refused in one line."""
    for family in FAMILIES:
        if kind in family.pipeline_names:
            return family
    raise BackendUnavailable(f"model {source!r} is a {kind or 'pipeline of unknown class'}; {what_vj_runs()}.")


def _read_json(path: Path, source: str) -> dict[str, Any]:
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise BackendUnavailable(f"model {source!r}: {path.name} is not readable JSON ({err})") from err
    if not isinstance(data, dict):
        raise BackendUnavailable(f"model {source!r}: {path.name} holds no JSON object")
    return data


def family_of_folder(source: str) -> ModelFamily | None:
    """The family of a local diffusers folder from its config files, before any weights load;
    None when the folder has no model_index.json (diffusers then says what is missing).

    The UNet's own config is read too: a converted or mislabelled folder can carry one family's
    UNet under another's `model_index.json`, and would otherwise fail in every frame.
    """
    folder = Path(source).expanduser()
    index = folder / "model_index.json"
    family = None
    if index.is_file():
        family = family_of_pipeline(source, str(_read_json(index, source).get("_class_name", "")))
    unet_config = folder / "unet" / "config.json"
    if unet_config.is_file() and family is not None:
        unet = _read_json(unet_config, source)
        found = family_of_unet(unet)
        if found is not family:
            raise BackendUnavailable(
                f"model {source!r}: its UNet is {found.described} UNet (unet/config.json: {found.unet_evidence(unet)}) "
                f"under {family.described} model_index.json; fix model_index.json ({found.pipeline_names[0]}).")
    return family


def family_of_hub(source: str) -> ModelFamily | None:
    """The family from a hub model's model_index.json (the cache first, then only that small file)."""
    from huggingface_hub import hf_hub_download

    for local in (True, False):
        try:
            path = hf_hub_download(source, "model_index.json", local_files_only=local)
        except Exception:  # noqa: BLE001 - not cached / offline / no such repo: the full load says which
            continue
        return family_of_pipeline(source, str(_read_json(Path(path), source).get("_class_name", "")))
    return None


def family_of_checkpoint(path: Path) -> ModelFamily:
    """The family of a single-file checkpoint from its tensor names (a .ckpt is not opened)."""
    if path.suffix != ".safetensors":
        return DEFAULT_FAMILY
    from safetensors import SafetensorError, safe_open

    try:
        with safe_open(str(path), framework="pt") as f:
            names = list(f.keys())  # noqa: SIM118 - a safe_open handle is not a mapping
    except (OSError, SafetensorError) as err:
        raise BackendUnavailable(f"checkpoint {str(path)!r} is not a readable safetensors file ({err})") from err
    return next((family for family in FAMILIES if family.claims_checkpoint(names)), DEFAULT_FAMILY)
