"""Bad input on the command line: one clear error line and exit status 2, never a traceback."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from vj.cli.main import main

DATA = Path(__file__).parents[2] / "data"


def _fails(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """Run `vj ARGV` in-process; it must end with status 2 and exactly one `error:` line, no traceback."""
    try:
        status = main(list(argv))
    except SystemExit as stop:  # argparse's usage errors
        status = int(stop.code or 0)
    err = capsys.readouterr().err
    assert status == 2, err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if "error:" in line]
    assert len(lines) == 1, err
    return lines[0]


def test_non_utf8_preset_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "latin1.toml"
    bad.write_bytes('[preset]\nname = "x"\ndescription = "caf\xe9"\n'.encode("latin-1"))
    line = _fails(capsys, "run", str(bad), "--frames", "1")
    assert str(bad) in line and "UTF-8" in line and "0xe9" in line


def test_non_utf8_settings_file_is_one_line(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    bad = tmp_path / "x_settings.txt"
    bad.write_bytes(b'{"prompts": {"0": "caf\xe9"}}')
    for argv in (("convert", str(bad), str(tmp_path / "o.toml")), ("schedule", str(bad))):
        line = _fails(capsys, *argv)
        assert str(bad) in line and "UTF-8" in line


@pytest.mark.parametrize(("flag", "value", "says"), [
    ("--osc-port", "70000", "port 0..65535"),
    ("--osc-port", "-1", "port 0..65535"),
    ("--oscquery-port", "65536", "port 0..65535"),
    ("--bpm", "5000", "tempo >= 20 and <= 300"),
    ("--bpm", "nan", "finite"),
])
def test_live_control_numbers_are_checked(flag: str, value: str, says: str,
                                          capsys: pytest.CaptureFixture[str]) -> None:
    line = _fails(capsys, "run", "drift", flag, value)
    assert line.startswith(f"vj run: error: argument {flag}:") and says in line


def test_long_inline_schedule_is_a_schedule_not_a_path(capsys: pytest.CaptureFixture[str]) -> None:
    schedule = ", ".join(f"{i}: ({i / 100})" for i in range(60))  # one key a frame, as exports write
    assert len(schedule) > 300
    assert main(["schedule", schedule, "--max-frames", "60", "--csv"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[-1].split(",") == ["59", "0.59"]


@pytest.mark.parametrize("target", ["missing-folder/out.toml", "/proc/vj-out.toml"])
def test_convert_into_an_unwritable_place(target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    out = target if target.startswith("/") else str(tmp_path / target)
    line = _fails(capsys, "convert", str(DATA / "deforum_zoom_tunnel_settings.txt"), out)
    assert line.startswith("vj: error: cannot write") and out in line


def test_closed_pipe_ends_quietly() -> None:
    """`vj osc-map | head`: the reader leaves; vj stops without a traceback (exit 141, as SIGPIPE)."""
    read_end, write_end = os.pipe()
    os.close(read_end)  # the reader is already gone: every write is EPIPE
    try:
        child = subprocess.run([sys.executable, "-m", "vj.cli", "osc-map"], stdout=write_end,
                               stderr=subprocess.PIPE, text=True, timeout=60)
    finally:
        os.close(write_end)
    assert child.stderr == ""
    assert child.returncode == 141


@pytest.mark.parametrize(("argv", "flag", "says"), [
    (("render", "drift", "--out", "x.mp4", "--frames", "0"), "--frames", "a frame count at least 1"),
    (("run", "drift", "--frames", "-1"), "--frames", "a frame count at least 1"),
    (("run", "drift", "--duration", "-5"), "--duration", "seconds > 0"),
    (("run", "drift", "--duration", "nan"), "--duration", "finite"),
    (("run", "drift", "--duration", "soon"), "--duration", "expected a number"),
    (("run", "drift", "--output-fps", "0"), "--output-fps", "a rate > 0"),
    (("run", "drift", "--steps", "2.5"), "--steps", "a whole number"),
    (("run", "drift", "--fps", "inf"), "--fps", "finite"),
    (("render", "drift", "--out", "x.mp4", "--crf", "60"), "--crf", "a CRF 0..51"),
    (("schedule", "0: (1)", "--max-frames", "0"), "--max-frames", "a frame count at least 1"),
])
def test_numeric_flags_are_checked_by_argparse(argv: tuple[str, ...], flag: str, says: str,
                                               capsys: pytest.CaptureFixture[str]) -> None:
    line = _fails(capsys, *argv)
    assert line.startswith(f"vj {argv[0]}: error: argument {flag}:") and says in line, line


def test_seed_minus_one_draws_a_random_seed_and_says_which(capsys: pytest.CaptureFixture[str]) -> None:
    from vj.cli.common import preset_from_args
    from vj.cli.main import build_parser

    seeds = set()
    for _ in range(3):
        args = build_parser().parse_args(["run", "drift", "--seed", "-1"])
        preset = preset_from_args(args)
        said = capsys.readouterr().err
        assert said == f"vj: --seed -1: drew the random seed {preset.params['seed']}\n"
        seeds.add(preset.params["seed"])
    assert len(seeds) > 1  # three draws from 2**32 values


@pytest.mark.parametrize("value", ["-2", "4294967296"])
def test_other_seeds_outside_the_range_are_refused(value: str, capsys: pytest.CaptureFixture[str]) -> None:
    line = _fails(capsys, "render", "drift", "--out", "x.mp4", "--seed", value)
    assert "expected a seed 0..4294967295 or -1 (random)" in line
