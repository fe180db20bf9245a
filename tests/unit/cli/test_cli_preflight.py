"""`vj run` refuses bad flags before the model loads: a typo must not cost a model load."""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

import vj.session.live
from vj.cli.main import main
from vj.config import ModelConfig


class _Loaded(Exception):
    """Raised by the stand-in loader: reaching it means every pre-load check passed."""


@pytest.fixture
def loads(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Counts backend loads; the stand-in stops the run at the load, as nothing here needs frames."""
    calls: list[str] = []

    def load_backend(model: ModelConfig) -> object:
        calls.append(model.source)
        raise _Loaded(model.source)

    monkeypatch.setattr(vj.session.live, "load_backend", load_backend)
    return calls


def _refused(capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    assert main(["run", "drift", "--model", "tiny", "--no-web", *argv]) == 2
    err = capsys.readouterr().err
    lines = [line for line in err.splitlines() if line.startswith("vj: error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_good_flags_reach_the_loader(loads: list[str]) -> None:
    """The control case: without a bad flag the run gets as far as loading (so the others test something)."""
    with pytest.raises(_Loaded):
        main(["run", "drift", "--model", "tiny", "--no-web", "--osc-port", "0", "--frames", "1"])
    assert loads == ["tiny"]


def test_midi_map_without_midi(loads: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    line = _refused(capsys, "--midi-map", "nanokontrol2", "--osc-port", "0")
    assert "--midi-map nanokontrol2 needs --midi" in line and "add --midi" in line
    assert loads == []


def test_program_presets_naming_a_missing_preset(tmp_path: Path, loads: list[str],
                                                 capsys: pytest.CaptureFixture[str]) -> None:
    mapping = tmp_path / "map.toml"
    mapping.write_text('[program]\npresets = ["drift", "no-such-preset"]\n', encoding="utf-8")
    line = _refused(capsys, "--midi", "all", "--midi-map", str(mapping), "--osc-port", "0")
    assert "program.presets[1]" in line and "no-such-preset" in line and "shipped presets" in line
    assert loads == []


def test_taken_osc_port(loads: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as holder:
        holder.bind(("127.0.0.1", 0))
        port = holder.getsockname()[1]
        line = _refused(capsys, "--osc-port", str(port), "--no-oscquery")
    assert f"OSC cannot listen on 127.0.0.1:{port}" in line and "--osc-port" in line
    assert loads == []


def test_taken_oscquery_port(loads: list[str], capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as holder:
        holder.bind(("127.0.0.1", 0))
        holder.listen()
        port = holder.getsockname()[1]
        line = _refused(capsys, "--osc-port", "0", "--oscquery-port", str(port))
    assert f"OSCQuery cannot listen on 127.0.0.1:{port}" in line
    assert loads == []


def test_preview_without_a_display(monkeypatch: pytest.MonkeyPatch, loads: list[str],
                                   capsys: pytest.CaptureFixture[str]) -> None:
    monkeypatch.delenv("DISPLAY", raising=False)
    monkeypatch.delenv("WAYLAND_DISPLAY", raising=False)
    line = _refused(capsys, "--preview", "--osc-port", "0")
    assert "--preview needs a display" in line
    assert loads == []
