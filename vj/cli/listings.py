"""Commands that only print: `vj presets`, `vj params`, `vj osc-map`, `vj midi-ports`."""

from __future__ import annotations

import argparse

from vj.config import list_presets, load_preset


def cmd_presets(args: argparse.Namespace) -> int:
    for path in list_presets():
        preset = load_preset(str(path))
        print(f"{path.stem:<16} {preset.description}")
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    from vj.registry import REGISTRY

    print(f"{'name':<24} {'group':<10} {'default':>10}  {'range':<24} {'unit':<10} description")
    for spec in REGISTRY.values():
        rng = "|".join(spec.choices) if spec.choices else f"{spec.minimum:g}..{spec.maximum:g}"
        print(f"{spec.name:<24} {spec.group:<10} {spec.default!s:>10}  {rng:<24} {spec.unit:<10} {spec.description}")
    return 0


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

    names = input_names()  # DeviceNotConnected -> "vj: error: ..." with the backend's reason
    if not names:
        print("no MIDI inputs found")
    for name in names:
        print(name)
    print("shipped profiles: " + ", ".join(p.stem for p in list_profiles()))
    return 0
