"""Checks of a show file that look beyond it (devices, presets), done before any engine starts."""

from __future__ import annotations

import re
from collections.abc import Callable

from vj.errors import ConfigError, VjError
from vj.show.showfile import ShowFile

DEVICE = re.compile(r"^(auto|cpu|mps|cuda)(?::(\d+))?$")


def cuda_device_count() -> int:
    import torch  # only when a show names a CUDA device

    return int(torch.cuda.device_count()) if torch.cuda.is_available() else 0


def mps_available() -> bool:
    import torch

    return bool(torch.backends.mps.is_available())


def check_devices(show: ShowFile, *, cuda_count: Callable[[], int] = cuda_device_count,
                  has_mps: Callable[[], bool] = mps_available) -> None:
    """Every local engine's device exists on this machine (a remote engine's is its own machine's business)."""
    for engine in show.engines:
        if engine.remote or engine.device is None:
            continue
        key = f"engines.{engine.name}.device"
        found = DEVICE.match(engine.device)
        if found is None or (found.group(2) is not None and found.group(1) != "cuda"):
            raise ConfigError(show.source, key, "auto, cpu, mps, cuda or cuda:N", engine.device)
        kind, index = found.group(1), found.group(2)
        if kind == "cuda":
            count = cuda_count()
            wanted = int(index) if index is not None else 0
            if wanted >= count:
                have = f"this machine has {count} CUDA device{'s' if count != 1 else ''}"
                if count:
                    have += f" (cuda:0..cuda:{count - 1})"
                raise ConfigError(show.source, key, f"a device this machine has: {have}", engine.device)
        elif kind == "mps" and not has_mps():
            raise ConfigError(show.source, key, "a device this machine has: mps is not available here", engine.device)


def check_presets(show: ShowFile) -> None:
    """Every local engine's preset loads (a missing or broken preset: one line, before any engine starts)."""
    from vj.preset_files import load_preset

    for engine in show.engines:
        if engine.remote or engine.preset is None:
            continue
        try:
            load_preset(engine.preset)
        except VjError as err:
            raise VjError(f"{show.source}: engines.{engine.name}.preset: {err}") from None


def check_midi_maps(show: ShowFile) -> None:
    """Every MIDI map an engine opens its input with loads (a missing or broken map: one line, before any engine
    starts); a map with no MIDI input to read is refused too."""
    from vj.control.midi.mapping_file import load_mapping

    if show.midi_map and not show.midi:
        raise ConfigError(show.source, "show.midi_map", "show.midi, the MIDI input it maps", "no MIDI input")
    for engine in show.engines:
        if engine.remote or not engine.midi_map:
            continue
        if not show.midi or not engine.midi:
            raise ConfigError(show.source, f"engines.{engine.name}.midi_map", "show.midi, the MIDI input it maps "
                              "(and midi not false for this engine)", "no MIDI input")
    for key, path in [("show.midi_map", show.midi_map),
                      *((f"engines.{e.name}.midi_map", e.midi_map) for e in show.engines if not e.remote)]:
        if path:
            try:
                load_mapping(path)
            except VjError as err:
                raise VjError(f"{show.source}: {key}: {err}") from None


def check_show_before_start(show: ShowFile) -> None:
    check_devices(show)
    check_presets(show)
    check_midi_maps(show)
