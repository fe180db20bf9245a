"""Commands that only print: `vj presets`, `vj params`, `vj osc-map`, `vj midi-ports`, `vj audio-devices`."""

from __future__ import annotations

import argparse

from vj.preset_files import list_presets, load_preset, presets_dir


def cmd_presets(args: argparse.Namespace) -> int:
    paths = list_presets()
    print(f"shipped presets in {presets_dir()}")
    print(f"to edit one, copy it: cp {presets_dir()}/NAME.toml mine.toml, then vj run mine.toml")
    width = max((len(p.stem) for p in paths), default=0)
    for path in paths:
        preset = load_preset(str(path))
        print(f"  {path.stem:<{width}}  {preset.description}")
    return 0


def _number(value: object) -> str:
    """Integers as integers (a seed range is 0..4294967295, not 4.29497e+09), floats short."""
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return str(int(value))
    return f"{value:g}" if isinstance(value, float) else str(value)


def cmd_params(args: argparse.Namespace) -> int:
    from vj.registry import REGISTRY

    header = ("name", "group", "default", "range", "unit", "description")
    rows = [(spec.name, spec.group, _number(spec.default),
             "|".join(spec.choices) if spec.choices else f"{_number(spec.minimum)}..{_number(spec.maximum)}",
             spec.unit, spec.description) for spec in REGISTRY.values()]
    print(format_columns([header, *rows], right=frozenset({2})))
    return 0


def format_columns(rows: list[tuple[str, ...]], right: frozenset[int] = frozenset()) -> str:
    """Every column as wide as its widest cell; the last one is left ragged."""
    widths = [max(len(row[c]) for row in rows) for c in range(len(rows[0]))]
    lines = []
    for row in rows:
        cells = [cell.rjust(w) if c in right else cell.ljust(w)
                 for c, (cell, w) in enumerate(zip(row, widths, strict=True))]
        lines.append("  ".join(cells[:-1] + [row[-1]]).rstrip())
    return "\n".join(lines)


def cmd_osc_map(args: argparse.Namespace) -> int:
    from vj.control.osc import DEFAULT_HOST, DEFAULT_PORT, address_map

    rows = address_map()
    width = max(len(r.address) for r in rows)
    args_width = max(len(r.args) for r in rows)
    print(f"OSC address map (UDP, default {DEFAULT_HOST}:{DEFAULT_PORT}; OSCQuery on the next port)")
    for r in rows:
        print(f"  {r.address:<{width}}  {r.args:<{args_width}}  {r.description}")
    return 0


def cmd_midi_ports(args: argparse.Namespace) -> int:
    from vj.control.midi.mapping_file import list_profiles
    from vj.control.midi.ports import input_names

    # The profiles first: they are useful to read even where the MIDI system is missing.
    print("shipped profiles: " + ", ".join(p.stem for p in list_profiles()))
    names = input_names()  # DeviceNotConnected -> "vj: error: ..." with the backend's reason
    if not names:
        print("no MIDI inputs found")
    for name in names:
        print(name)
    return 0


def cmd_audio_devices(args: argparse.Namespace) -> int:
    from vj.control.audio.inputs import FILE_PREFIX, input_devices

    devices = input_devices()  # no sounddevice / PortAudio -> "vj: error: ..." saying what to install
    if not devices:
        print(f"no audio inputs found (--audio-in {FILE_PREFIX}PATH plays a sound file instead)")
    for index, name, channels, rate in devices:
        print(f"{index:>3}  {name}  ({channels} in, {rate:g} Hz)")
    return 0
