"""Rules across a preset's tables: what a ControlNet, an IP-Adapter and reference pictures need of the model
and the input. Checked when a `PresetConfig` is built, after each table has checked its own fields."""

from __future__ import annotations

from typing import TYPE_CHECKING

from vj.errors import ConfigError

if TYPE_CHECKING:
    from vj.config import PresetConfig

OWNER = "PresetConfig"


def check_across_tables(preset: PresetConfig) -> None:
    """One ConfigError naming the first rule `preset` breaks (the key, what it needs, what it has)."""
    model = preset.model
    if preset.controlnet and model.backend != "diffusers":
        raise ConfigError(OWNER, "controlnet", "backend 'diffusers' with a ControlNet", f"backend {model.backend!r}")
    if preset.controlnet and model.compile == "aot":
        raise ConfigError(OWNER, "controlnet", "compile off, auto or jit with a ControlNet (its residuals are not "
                          "inputs of the AOT packages)", "compile 'aot'")
    if model.ip_adapter and (model.backend != "diffusers" or model.compile == "aot"):
        raise ConfigError(OWNER, "model.ip_adapter", "backend 'diffusers' with compile off, auto or jit (the "
                          "reference is an input of the UNet call)",
                          f"backend {model.backend!r}, compile {model.compile!r}")
    unused = "images" if preset.reference.images else "folder" if preset.reference.folder else ""
    if unused and not model.ip_adapter:
        raise ConfigError(OWNER, f"reference.{unused}", "an IP-Adapter ([model] ip_adapter, --ip-adapter) to steer "
                          "with its pictures", "no IP-Adapter")
    if any(c.conditioning == "input" for c in preset.controlnet) and not preset.input.source:
        raise ConfigError(OWNER, "controlnet.conditioning", "an [input] source for conditioning = 'input'",
                          "no input source")
