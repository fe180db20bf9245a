"""The show file: what it holds, what it refuses (one line naming the key, what was expected and found)."""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import run_vj
from vj.errors import ConfigError, VjError
from vj.show.checks import check_devices, check_midi_maps
from vj.show.engine_process import EnginePorts, EngineProcess, take_path
from vj.show.showfile import engine_ports, load_show_file, parse_show, show_ports

GOOD = """
[show]
osc_port = 9100
bpm = 128
midi = "nano"
output_size = "1280x720"
output_fps = 60
output_rate_mode = "blend"

[engines.left]
preset = "drift"
device = "cpu"
model = "tiny"
ndi = true
record = "left.mkv"

[engines.right]
preset = "drift"
output_size = "640x360"
ndi = true
ndi_name = "stage right"
midi = false
osc_port = 9200
output_rate_mode = "repeat"

[engines.wall]
host = "10.0.0.7"
osc_port = 9000
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "show.toml"
    path.write_text(text)
    return path


def test_a_show_file_holds_its_engines_in_order_with_the_show_defaults(tmp_path: Path) -> None:
    show = load_show_file(_write(tmp_path, GOOD))
    assert [e.name for e in show.engines] == ["left", "right", "wall"]
    left, right, wall = show.engines
    assert (left.preset, left.device, left.model, left.output_size) == ("drift", "cpu", "tiny", (1280, 720))
    assert left.ndi_source == "vj-left" and right.ndi_source == "stage right" and wall.ndi_source is None
    assert right.output_size == (640, 360) and not right.midi
    assert wall.remote and wall.host == "10.0.0.7" and not left.remote
    assert show_ports(show) == {"osc_port": 9100, "oscquery_port": 9101, "web_port": 9102}
    assert engine_ports(right) == {"osc_port": 9200, "oscquery_port": 9201, "web_port": 9202}
    assert show.bpm == 128.0 and show.link and show.restart


def test_an_engines_command_line_is_a_vj_run_with_its_keys_and_the_show_wide_ones(tmp_path: Path) -> None:
    show = load_show_file(_write(tmp_path, GOOD))
    left = EngineProcess(show.engine("left"), show, EnginePorts(9300, 9301, 9302))
    cmd = left.command()
    assert cmd[:5] == [sys.executable, "-m", "vj.cli", "run", "drift"]
    text = " ".join(cmd[4:])
    for part in ("--osc-port 9300", "--oscquery-port 9301", "--web-port 9302", "--no-zeroconf", "--device cpu",
                 "--model tiny", "--bpm 128", "--output-size 1280x720", "--link", "--midi nano",
                 "--ndi --ndi-name vj-left", "--record left.mkv", "--output-fps 60",
                 "--output-rate-mode blend"):
        assert part in text, (part, text)
    right = EngineProcess(show.engine("right"), show, EnginePorts(9200, 9201, 9202)).command()
    assert "--midi" not in right and "--output-size 640x360" in " ".join(right)
    assert "--output-rate-mode repeat" in " ".join(right)  # its own mode over the show's
    left.runs = 2  # the third process of a restarted engine records a take of its own
    assert "--record left-restart2.mkv" in " ".join(left.command())
    assert take_path(Path("a/left.mkv"), 0) == Path("a/left.mkv")


@pytest.mark.parametrize(("text", "message"), [
    ("[show]\nosc_prot = 1\n[engines.a]\npreset = 'drift'\n", r"show\.osc_prot: expected one of .*an unknown key"),
    ("[engines.a]\npreset = 'drift'\nzoom = 2\n", r"engines\.a\.zoom: expected one of .*found 'an unknown key'"),
    ("[engines.a]\npreset = 'drift'\noutput_rate_mode = 'smooth'\n",
     r"engines\.a\.output_rate_mode: expected one of repeat, blend, blend-host, found 'smooth'"),
    ("[show]\noutput_fps = 0\n[engines.a]\npreset = 'drift'\n", r"engines\.a\.output_fps: expected a number 1\.\.240"),
    ("[engines.a]\nhost = 'h'\nosc_port = 9000\nmodel = 'tiny'\n", r"engines\.a\.model: expected .*remote engine"),
    ("[engines]\n", r"engines: expected at least one \[engines.<name>\] table"),
    ("[show]\n[engines.a]\n", r"engines\.a\.preset: expected a preset name"),
    ("[engines.a]\npreset = 'drift'\nhost = 'h'\n", r"engines\.a: expected either preset .* or host"),
    ("[engines.Big]\npreset = 'drift'\n", r"engines\.Big: expected an engine name of lowercase"),
    ("[engines.zoom]\npreset = 'drift'\n", r"engines\.zoom: expected an engine name that is not one of vj's own"),
    ("[engines.a]\npreset = 'drift'\nndi = 'yes'\n", r"engines\.a\.ndi: expected true or false, found 'yes'"),
    ("[engines.a]\npreset = 'drift'\nosc_port = 70000\n", r"engines\.a\.osc_port: expected an integer 1\.\.65535"),
    ("[engines.a]\npreset = 'drift'\noutput_size = '1920*1080'\n", r"output_size: expected an output size WIDTHx"),
    ("[engines.a]\npreset = 'drift'\noutput_size = '1921x1080'\n", r"found '1921x1080'"),
    ("[engines.a]\npreset = 'drift'\noutput_size = '8x8'\n", r"even sides of 16\.\.8192 px"),
    ("[show]\noutput_size = '99999x2'\n[engines.a]\npreset = 'drift'\n", r"engines\.a\.output_size: expected"),
    ("[engines.a]\npreset = 'drift'\nndi = true\n[engines.b]\npreset = 'drift'\nndi = true\nndi_name = 'vj-a'\n",
     r"engines\.b\.ndi_name: expected an output of its own \(engine 'a' already sends there\), found 'vj-a'"),
    ("[engines.a]\npreset = 'drift'\nrecord = 't.mkv'\n[engines.b]\npreset = 'drift'\nrecord = './t.mkv'\n",
     r"engines\.b\.record: expected an output of its own \(engine 'a'"),
    ("[engines.a]\npreset = 'drift'\nosc_port = 9500\n[engines.b]\npreset = 'drift'\nweb_port = 9502\n",
     r"engines\.b\.web_port: expected a port of its own \(engines\.a\.web_port already uses it\), found 9502"),
    ("[show]\nosc_port = 9000\n[engines.a]\npreset = 'drift'\nosc_port = 8999\n",
     r"engines\.a\.oscquery_port: expected a port of its own \(show\.osc_port already uses it\)"),
])
def test_a_bad_show_file_is_refused_naming_the_key(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        load_show_file(_write(tmp_path, text))


def test_two_remote_engines_on_other_hosts_may_share_a_port_number() -> None:
    show = parse_show({"engines": {"a": {"host": "10.0.0.1", "osc_port": 9000},
                                   "b": {"host": "10.0.0.2", "osc_port": 9000}}})
    assert [e.host for e in show.engines] == ["10.0.0.1", "10.0.0.2"]


def test_not_toml_and_no_file_are_one_line(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"show\.toml: expected valid TOML"):
        load_show_file(_write(tmp_path, "[show\n"))
    with pytest.raises(ConfigError, match=r"nope\.toml: expected a show file \(TOML\), found 'no such file'"):
        load_show_file(tmp_path / "nope.toml")


@pytest.mark.parametrize(("device", "count", "message"), [
    ("cuda:1", 1, r"engines\.a\.device: expected a device this machine has: this machine has 1 CUDA device "
                  r"\(cuda:0\.\.cuda:0\), found 'cuda:1'"),
    ("cuda", 0, r"this machine has 0 CUDA devices, found 'cuda'"),
    ("gpu0", 2, r"engines\.a\.device: expected auto, cpu, mps, cuda or cuda:N, found 'gpu0'"),
    ("cpu:1", 2, r"expected auto, cpu, mps, cuda or cuda:N, found 'cpu:1'"),
])
def test_a_device_this_machine_lacks_is_refused(device: str, count: int, message: str) -> None:
    show = parse_show({"engines": {"a": {"preset": "drift", "device": device}}})
    with pytest.raises(ConfigError, match=message):
        check_devices(show, cuda_count=lambda: count, has_mps=lambda: False)


def test_devices_this_machine_has_pass() -> None:
    show = parse_show({"engines": {"a": {"preset": "drift", "device": "cuda:1"}, "b": {"preset": "drift"},
                                   "c": {"preset": "drift", "device": "cpu"}}})
    check_devices(show, cuda_count=lambda: 2, has_mps=lambda: False)


def test_each_engine_may_map_the_shows_midi_input_its_own_way(tmp_path: Path) -> None:
    show = parse_show({"show": {"midi": "nano", "midi_map": "nanokontrol2"},
                       "engines": {"left": {"preset": "drift"}, "right": {"preset": "drift", "midi_map": "midimix"}}})
    check_midi_maps(show)
    left, right = (EngineProcess(e, show, EnginePorts(9300, 9301, 9302)).command() for e in show.engines)
    assert "--midi nano --midi-map nanokontrol2" in " ".join(left)
    assert "--midi nano --midi-map midimix" in " ".join(right)  # a fader for the right engine alone


@pytest.mark.parametrize(("table", "message"), [
    ({"show": {"midi": "nano"}, "engines": {"a": {"preset": "drift", "midi_map": "no-such-map"}}},
     r"engines\.a\.midi_map: .*expected a mapping file or a shipped profile"),
    ({"engines": {"a": {"preset": "drift", "midi_map": "midimix"}}},
     r"engines\.a\.midi_map: expected show\.midi, the MIDI input it maps .*found 'no MIDI input'"),
    ({"show": {"midi": "nano"}, "engines": {"a": {"preset": "drift", "midi": False, "midi_map": "midimix"}}},
     r"engines\.a\.midi_map: expected show\.midi"),
    ({"show": {"midi_map": "midimix"}, "engines": {"a": {"preset": "drift"}}},
     r"show\.midi_map: expected show\.midi, the MIDI input it maps"),
])
def test_a_midi_map_that_does_not_load_or_has_no_input_is_refused_before_anything_starts(
        table: dict[str, Any], message: str) -> None:
    with pytest.raises(VjError, match=message):
        check_midi_maps(parse_show(table))


def test_vj_show_refuses_a_bad_file_in_one_line_before_anything_starts(tmp_path: Path) -> None:
    path = _write(tmp_path, "[engines.a]\npreset = 'drift'\ndevice = 'cuda:7'\n")
    done = run_vj("show", str(path), timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert lines == [f"vj: error: {path}: engines.a.device: expected a device this machine has: this machine has "
                     f"0 CUDA devices, found 'cuda:7'"], done.stderr
    missing = _write(tmp_path, "[engines.a]\npreset = 'no-such-preset'\n")
    done = run_vj("show", str(missing), timeout=120)
    assert done.returncode == 2 and "engines.a.preset:" in done.stderr and "Traceback" not in done.stderr


def test_vj_show_check_says_ok_for_a_good_file(tmp_path: Path) -> None:
    path = _write(tmp_path, "[engines.a]\npreset = 'drift'\n[engines.b]\npreset = 'drift'\ndevice = 'cpu'\n")
    done = run_vj("show", str(path), "--check", timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"vj: {path}: 2 engines (a, b): ok"
