"""Audio and Link on the command line: listings, schedule --audio, flag errors before the model, MIDI knobs."""

from __future__ import annotations

import sys
from pathlib import Path

import mido
import pytest

from tests.audio_signals import RATE, click_track
from vj.cli import main
from vj.control.audio.files import write_wav
from vj.control.audio.modulators import AudioModulators
from vj.control.commands import ShowActions
from vj.control.midi.mapper import MidiMapper
from vj.control.midi.mapping_file import parse_mapping
from vj.control.midi.targets import AudioDepthTarget, parse_target
from vj.control.modulators import ModulatorBank
from vj.control.tempo import TempoClock
from vj.store import ParamStore

PRESET = """
[model]
source = "/nonexistent/model"   # any load would fail: the checks below must come first
[render]
fps = 24
[params]
zoom = 1.0
[modulators.audio.zoom]
source = "bass"
depth = 0.04
attack_ms = 0
release_ms = 0
"""


def _need_portaudio() -> None:
    try:
        import sounddevice  # noqa: F401
    except (ImportError, OSError) as err:  # OSError: the module is there, PortAudio's library is not
        pytest.skip(f"needs sounddevice and PortAudio (pip install 'vj[audio]'; apt install libportaudio2): {err}")


def _one_error(capsys: pytest.CaptureFixture[str]) -> str:
    err = [line for line in capsys.readouterr().err.splitlines() if line.startswith("vj")]
    assert len(err) == 1, err
    return err[0]


def test_audio_devices_lists_inputs_or_says_there_are_none(capsys: pytest.CaptureFixture[str]) -> None:
    _need_portaudio()
    assert main(["audio-devices"]) == 0
    out = capsys.readouterr().out.strip().splitlines()
    assert out and (out[0].startswith("no audio inputs found") or " in, " in out[0])  # no sound card here


def test_audio_devices_without_sounddevice_says_how_to_install(monkeypatch: pytest.MonkeyPatch,
                                                               capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.setitem(sys.modules, "sounddevice", None)
    assert main(["audio-devices"]) == 2
    assert "needs the sounddevice package: pip install 'vj[audio]'" in _one_error(capsys)


def test_schedule_with_audio_prints_and_plots_bands_and_modulated_values(tmp_path: Path,
                                                                        capsys: pytest.CaptureFixture[str]) -> None:
    preset = tmp_path / "p.toml"
    preset.write_text(PRESET)
    x, _ = click_track(120.0, 2.0, first_s=0.25)  # clicks on frames 6, 18, 30, 42
    write_wav(tmp_path / "c.wav", x, RATE)
    png = tmp_path / "curves.png"
    assert main(["schedule", str(preset), "--audio", str(tmp_path / "c.wav"), "--plot", str(png), "--csv"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert lines[0] == "frame,bass,mid,high,onset,zoom" and len(lines) == 1 + 48
    rows = [line.split(",") for line in lines[1:]]
    assert [int(r[0]) for r in rows if r[4] == "1"] == [6, 18, 30, 42]
    assert all(float(r[5]) == pytest.approx(1.0 + 0.04 * float(r[1]), abs=1e-5) for r in rows)
    assert png.stat().st_size > 10_000


def test_schedule_audio_needs_a_preset(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    write_wav(tmp_path / "c.wav", click_track(120.0, 0.5)[0], RATE)
    assert main(["schedule", "0: (1.0)", "--max-frames", "5", "--audio", str(tmp_path / "c.wav")]) == 2
    assert "--audio needs a preset or settings file as SOURCE" in _one_error(capsys)


@pytest.mark.parametrize(("flags", "says"), [
    (["--record-audio"], "--record-audio records the --audio-in input: add --audio-in"),
    (["--audio-in", "file:/nonexistent.wav"], "--audio-in file: /nonexistent.wav: no such file"),
])
def test_run_audio_flags_are_checked_before_the_model(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                      flags: list[str], says: str) -> None:
    preset = tmp_path / "p.toml"
    preset.write_text(PRESET)
    assert main(["run", str(preset), "--no-osc", *flags]) == 2
    assert says in _one_error(capsys)


def test_run_names_a_missing_audio_device(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _need_portaudio()
    preset = tmp_path / "p.toml"
    preset.write_text(PRESET)
    assert main(["run", str(preset), "--no-osc", "--audio-in", "no-such-card"]) == 2
    assert "--audio-in no-such-card: no such input" in _one_error(capsys)


@pytest.mark.parametrize("how", ["flag", "preset"])
def test_link_without_aalink_is_one_line_before_the_model(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                          monkeypatch: pytest.MonkeyPatch, how: str) -> None:
    monkeypatch.setitem(sys.modules, "aalink", None)
    preset = tmp_path / "p.toml"
    link = "[modulators]\nlink = true\n" if how == "preset" else ""
    preset.write_text(PRESET.replace("[modulators.audio.zoom]", f"{link}[modulators.audio.zoom]"))
    assert main(["run", str(preset), "--no-osc", *(["--link"] if how == "flag" else [])]) == 2
    assert "needs the aalink package: pip install 'vj[link]'" in _one_error(capsys)


def test_a_midi_knob_on_audio_depth_attaches_and_scales_the_modulator() -> None:
    assert parse_target("audio/zoom/depth") == AudioDepthTarget("audio/zoom/depth", "zoom")
    assert parse_target("audio/border/depth") is None and parse_target("audio/zoom/rate") is None
    store = ParamStore()
    audio = AudioModulators(store, ModulatorBank(store, TempoClock()))
    mapping = parse_mapping('[[cc]]\ncontrol = 20\nparam = "audio/zoom/depth"\nmax = 0.1\n', "m.toml")
    mapper = MidiMapper(mapping, store, ShowActions(audio=audio))
    mapper.handle(mido.Message("control_change", control=20, value=127))
    mod = audio.get("zoom")
    assert mod is not None and mod.source == "bass" and mod.depth == pytest.approx(0.1)
    mapper.handle(mido.Message("control_change", control=20, value=0))
    assert audio.get("zoom").depth == pytest.approx(0.0)  # type: ignore[union-attr]
