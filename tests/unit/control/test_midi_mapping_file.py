"""MIDI mapping files: round trip, validation with file / key / expected / found, shipped profiles."""

from __future__ import annotations

from pathlib import Path

import pytest

from vj.control.midi.mapping_file import list_profiles, load_mapping, mapping_to_toml, parse_mapping, save_mapping
from vj.errors import ConfigError


def test_save_and_reload_round_trip(tmp_path: Path) -> None:
    original = parse_mapping("""
[device]
name = "test"
[[cc]]
control = 3
channel = 4
param = "zoom"
min = 0.95
max = 1.05
curve = "logarithmic"
invert = true
mode = "absolute"
pickup = false
[[cc]]
control = 5
param = "angle"
mode = "relative_offset64"
step = 0.25
[[button]]
note = 36
mode = "toggle"
param = "noise"
on = 0.5
off = 0.1
[program]
presets = ["a", "b"]
""", "orig.toml")
    path = tmp_path / "maps" / "learned.toml"
    save_mapping(original, path)
    again = load_mapping(path)
    assert again == original
    assert "curve = \"logarithmic\"" in mapping_to_toml(again)


@pytest.mark.parametrize("text,key_path,found", [
    ("[[cc]]\ncontrol = 1\nparam = \"zoom\"\nspeed = 2\n", "cc[0].speed", "unknown key 'speed'"),
    ("[[cc]]\ncontrol = 200\nparam = \"zoom\"\n", "cc[0].control", 200),
    ("[[cc]]\ncontrol = 40\nparam = \"zoom\"\nmode = \"14bit\"\n", "cc[0].control", 40),
    ("[[cc]]\ncontrol = 1\nparam = \"warp\"\n", "cc[0].param", "warp"),
    ("[[cc]]\ncontrol = 1\nparam = \"zoom\"\ncurve = \"cubic\"\n", "cc[0].curve", "cubic"),
    ("[[cc]]\ncontrol = 1\nparam = \"zoom\"\nmin = 0.1\n", "cc[0].min", 0.1),
    ("[[cc]]\ncontrol = 1\nparam = \"zoom\"\nchannel = 0\n", "cc[0].channel", 0),
    ("[[cc]]\ncontrol = 1\nparam = \"lfo/zoom/rate\"\nmin = 0.0\n", "cc[0].min", 0.0),  # LFO ends: as a preset
    ("[[cc]]\ncontrol = 1\nparam = \"lfo/zoom/depth\"\nmax = 1e7\n", "cc[0].max", 1e7),
    ("[[button]]\nnote = 1\ncc = 2\naction = \"tap\"\n", "button[0]", ["cc", "note"]),
    ("[[button]]\nnote = 1\naction = \"explode\"\n", "button[0].action", "explode"),
    ("[[button]]\nnote = 1\nmode = \"toggle\"\nparam = \"border\"\non = \"spiral\"\n", "button[0].on", "spiral"),
    ("[device]\nmodel = \"x\"\n", "device.model", "unknown key 'model'"),
    ("bogus = 1\n", "bogus", "unknown key 'bogus'"),
])
def test_invalid_mapping_is_refused_with_file_key_expected_found(text: str, key_path: str, found: object) -> None:
    with pytest.raises(ConfigError) as info:
        parse_mapping(text, "bad.toml")
    err = info.value
    assert err.source == "bad.toml" and err.key_path == key_path and err.found == found
    assert err.expected


@pytest.mark.parametrize("path", list_profiles(), ids=lambda p: p.stem)
def test_shipped_profiles_map_the_essentials(path: Path) -> None:
    mapping = load_mapping(path)
    targets = {c.param for c in mapping.cc}
    for needed in ("zoom", "angle", "translation_x", "translation_y", "strength", "noise", "seed",
                   "prompt/0/weight", "prompt/1/weight"):
        assert needed in targets, needed
    assert mapping_to_toml(mapping)  # serialisable


def test_profiles_exist_and_resolve_by_name() -> None:
    names = {p.stem for p in list_profiles()}
    assert {"nanokontrol2", "midimix"} <= names
    assert load_mapping("nanokontrol2").name == "Korg nanoKONTROL2"
