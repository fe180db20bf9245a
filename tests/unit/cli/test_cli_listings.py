"""What the listing commands print: aligned columns, integers as integers, where presets live."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest

from vj.cli.main import main
from vj.config import parse_preset
from vj.preset_files import presets_dir
from vj.schedule.keyframes import compile_preset_schedules

DEFORUM_GUIDE = Path(__file__).parents[3] / "docs" / "guide" / "deforum.md"


def _out(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(list(argv)) == 0
    return capsys.readouterr().out


def test_params_prints_integers_as_integers_and_aligns_every_column(capsys: pytest.CaptureFixture[str]) -> None:
    lines = _out(capsys, "params").splitlines()
    seed = next(line for line in lines if line.startswith("seed "))
    assert "0..4294967295" in seed and "e+" not in seed
    header = lines[0]
    starts = [header.index(word) for word in ("group", "range", "unit", "description")]
    for line in lines[1:]:
        for start in starts:  # each column starts where its header does, after the two-space gap
            assert line[start - 2:start] == "  ", line
        assert line[starts[-1]] != " ", line  # the description begins exactly under its header


def test_presets_says_where_they_live_and_how_to_copy_one(capsys: pytest.CaptureFixture[str]) -> None:
    lines = _out(capsys, "presets").splitlines()
    assert lines[0] == f"shipped presets in {presets_dir()}"
    assert f"cp {presets_dir()}/NAME.toml mine.toml" in lines[1]
    assert any(line.split()[0] == "drift" for line in lines[2:])


def test_schedule_of_a_preset_without_schedules_says_so(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    flat = tmp_path / "flat.toml"
    flat.write_text('[preset]\nname = "flat"\n', encoding="utf-8")
    assert _out(capsys, "schedule", str(flat)) == f"{flat} has no schedules: its values are constant " \
                                                   "(see them with --param NAME)\n"


def test_midi_ports_lists_the_profiles_even_without_a_midi_system(capsys: pytest.CaptureFixture[str]) -> None:
    code = main(["midi-ports"])
    captured = capsys.readouterr()
    assert captured.out.splitlines()[0] == "shipped profiles: midimix, nanokontrol2"
    assert code == 0 or (code == 2 and "vj: error: cannot list MIDI inputs" in captured.err)


def test_deforum_guide_schedule_examples_stay_in_range(caplog: pytest.LogCaptureFixture,
                                                capsys: pytest.CaptureFixture[str]) -> None:
    line = next(line for line in DEFORUM_GUIDE.read_text(encoding="utf-8").splitlines()
                if line.startswith("vj schedule '"))
    schedule = line.split("'")[1]
    with caplog.at_level(logging.WARNING):
        _out(capsys, "schedule", schedule, "--max-frames", "120", "--param", "zoom")
    assert "clamped" not in caplog.text


def test_a_preset_clamp_warning_is_logged_once_per_file_and_key(caplog: pytest.LogCaptureFixture) -> None:
    preset = parse_preset('[schedules]\nangle = "0: (0), 9: (90)"\n[schedule]\nmax_frames = 10\n',
                          "test-once-per-key.toml")
    with caplog.at_level(logging.WARNING):
        for _ in range(3):  # as three switches back to the preset do
            compile_preset_schedules(preset)
    assert caplog.text.count("test-once-per-key.toml: schedules.angle: 5 of 10 frames fall outside") == 1
