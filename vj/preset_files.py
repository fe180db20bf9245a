"""Preset files: the presets shipped with vj, and finding and loading one by name or path."""

from __future__ import annotations

import os
import time
from collections.abc import Callable
from pathlib import Path

from vj.config import PresetConfig, parse_preset
from vj.errors import ConfigError
from vj.files import is_file, read_utf8

# Shipped presets are a few kB. A bigger file is refused before it is read: parsing megabytes of TOML
# holds the interpreter long enough to stall the picture mid-show.
MAX_PRESET_BYTES = 1024 * 1024
# An editor saving a file truncates it, then writes: a switch that reads it in between finds it empty or
# cut short. Such a file is read again until it has been left alone this long.
PRESET_SETTLE_S = 0.5
_SETTLE_POLL_S = 0.05


class EmptyPresetFile(ConfigError):
    """The preset file holds nothing (an editor may be saving it): never read as a preset of defaults."""


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
    """The preset, parsed; an empty or oversized file is a ConfigError naming it."""
    path = resolve_preset_path(name_or_path)
    text = read_utf8(path, "a TOML preset", max_bytes=MAX_PRESET_BYTES)
    if not text.strip():
        raise EmptyPresetFile(str(path), "", "a TOML preset", "an empty file")
    return parse_preset(text, str(path))


def load_settled_preset(name_or_path: str, settle_s: float = PRESET_SETTLE_S,
                        clock: Callable[[], float] = time.monotonic,
                        sleep: Callable[[float], object] = time.sleep) -> PresetConfig:
    """`load_preset` for a switch mid-show: a file that is empty, or unreadable while it was changed less
    than `settle_s` ago, is read again until it settles; then its error stands."""
    deadline = clock() + settle_s
    while True:
        try:
            return load_preset(name_or_path)
        except ConfigError as err:
            if clock() >= deadline or not (isinstance(err, EmptyPresetFile) or _changed_within(name_or_path, settle_s)):
                raise
        sleep(_SETTLE_POLL_S)


def _changed_within(name_or_path: str, seconds: float) -> bool:
    try:
        return time.time() - os.stat(resolve_preset_path(name_or_path)).st_mtime < seconds
    except (OSError, ValueError, ConfigError):
        return False
