"""Preset files: the presets shipped with vj, and finding and loading one by name or path."""

from __future__ import annotations

from pathlib import Path

from vj.config import PresetConfig, parse_preset
from vj.errors import ConfigError
from vj.files import is_file, read_utf8


def presets_dir() -> Path:
    """Presets shipped with the package (wheel) or beside it (source checkout)."""
    packaged = Path(__file__).parent / "presets"
    return packaged if packaged.is_dir() else Path(__file__).parent.parent / "presets"


def list_presets() -> list[Path]:
    return sorted(presets_dir().glob("*.toml"))


def resolve_preset_path(name_or_path: str) -> Path:
    path = Path(name_or_path)
    if is_file(path):
        return path
    shipped = presets_dir() / f"{name_or_path}.toml"
    if is_file(shipped):
        return shipped
    names = ", ".join(p.stem for p in list_presets())
    raise ConfigError(name_or_path, "", f"a preset file or one of the shipped presets ({names})", "no such file")


def load_preset(name_or_path: str) -> PresetConfig:
    path = resolve_preset_path(name_or_path)
    return parse_preset(read_utf8(path, "a TOML preset"), str(path))
