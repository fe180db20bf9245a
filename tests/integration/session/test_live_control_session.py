"""Live control wired into a real session on the tiny model: OSC -> frames, OSCQuery, LFOs, CLI subcommands."""

from __future__ import annotations

import http.client
import json

import pytest
from pythonosc.udp_client import SimpleUDPClient

from tests.helpers import wait_for
from vj.cli.main import build_parser, main
from vj.cli.run import attach_run_components
from vj.config import parse_preset
from vj.session import LiveSession, render_offline


def run_args(*extra: str) -> object:
    parser = build_parser()
    return parser.parse_args(["run", "tiny.toml", "--osc-port", "0", "--oscquery-port", "0", "--no-zeroconf", *extra])


def test_osc_reaches_rendered_frames_and_oscquery_reports_it(tiny_backend, tiny_preset, tmp_path) -> None:  # noqa: ANN001
    session = LiveSession(tiny_preset, backend=tiny_backend)
    args = run_args("--bpm", "100", "--record", str(tmp_path / "take.mkv"))
    attach_run_components(session, args)
    session.start()
    try:
        osc = next(c for c in session.controls if type(c).__name__ == "OscControl")
        query = next(c for c in session.controls if type(c).__name__ == "_OscQueryAfterOsc").query
        client = SimpleUDPClient("127.0.0.1", osc.port)
        client.send_message("/vj/strength", 0.3)
        client.send_message("/vj/prompt/0", "a field of glass flowers")
        wait_for(lambda: session.store.last_snapshot is not None
                 and session.store.last_snapshot.prompts.entries[0].text == "a field of glass flowers")
        wait_for(lambda: abs(session.store.last_snapshot.num("strength") - 0.3) < 1e-3)
        conn = http.client.HTTPConnection("127.0.0.1", query.port, timeout=5)
        conn.request("GET", "/?HOST_INFO")
        info = json.loads(conn.getresponse().read())
        assert info["OSC_PORT"] == osc.port
        conn.request("GET", "/vj/strength?VALUE")
        assert json.loads(conn.getresponse().read())["VALUE"][0] == pytest.approx(0.3, abs=1e-3)
        conn.close()
        assert session.take.is_recording
        client.send_message("/vj/record", 0)  # the outputs' take, switched from OSC
        wait_for(lambda: not session.take.is_recording)
        line = session.status_line()
        assert f"osc :{osc.port} rx 3 bad 0" in line and "100.0 bpm" in line and "oscquery" in line
    finally:
        session.stop()


def test_preset_lfo_modulates_offline_render_reproducibly(tiny_backend) -> None:  # noqa: ANN001
    preset = parse_preset("""
[model]
source = "tiny"
device = "cpu"
[render]
width = 64
height = 64
fps = 24
[[prompts.mix]]
text = "waves"
[params]
angle = 0.0
[modulators]
bpm = 120
[modulators.lfo.angle]
shape = "square"
rate = 1
depth = 3.0
""", "lfo.toml")
    angles: list[float] = []
    render_offline(preset, frames=12, outputs=[], backend=tiny_backend,
                   on_frame=lambda f: angles.append(f.snapshot.num("angle")))
    # one square cycle per beat (0.5 s = 12 frames at 24 fps): +3 for the first half, -3 after
    assert angles[:5] == pytest.approx([3.0] * 5)
    assert angles[6:11] == pytest.approx([-3.0] * 5)


def test_osc_map_and_midi_ports_commands(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["osc-map"]) == 0
    out = capsys.readouterr().out
    for address in ("/vj/zoom", "/vj/norm/zoom", "/vj/prompt/<i>/text", "/vj/prompt/<i>/weight", "/vj/preset",
                    "/vj/tap", "/vj/bpm"):
        assert address in out
    # no ALSA sequencer here: the command fails with one clear line, not a traceback
    code = main(["midi-ports"])
    err = capsys.readouterr().err
    assert code == 0 or ("vj: error: cannot list MIDI inputs" in err and code == 2)


def test_quantised_preset_switch_over_osc_arms_midi_pickup(tiny_backend, tiny_preset, tmp_path) -> None:  # noqa: ANN001
    import mido

    other = tmp_path / "other.toml"
    other.write_text('[preset]\nname = "other"\n[model]\nsource = "tiny"\n[params]\nangle = 7.0\nstrength = 0.4\n')
    session = LiveSession(tiny_preset, backend=tiny_backend)
    args = run_args("--no-oscquery", "--bpm", "150", "--quantise", "beat", "--midi", "no-such-port",
                    "--midi-map", "nanokontrol2", "--presets-dir", str(tmp_path))
    attach_run_components(session, args)
    session.start()
    try:
        osc = next(c for c in session.controls if type(c).__name__ == "OscControl")
        midi = next(c for c in session.controls if type(c).__name__ == "MidiInput")
        midi.mapper.handle(mido.Message("control_change", control=0, value=127))  # strength fader up
        assert session.store.target("strength") == pytest.approx(1.0)
        SimpleUDPClient("127.0.0.1", osc.port).send_message("/vj/preset", other.stem)  # by name: OSC never opens a path
        wait_for(lambda: osc.counters.messages == 1)
        assert session.preset.name != "other"  # waits for the beat (0.4 s at 150 bpm)
        wait_for(lambda: session.preset.name == "other", timeout_s=2.0)
        assert session.store.target("angle") == pytest.approx(7.0)
        assert session.store.target("strength") == pytest.approx(0.4)  # the live fader value was released
        midi.mapper.handle(mido.Message("control_change", control=0, value=10))  # far from 0.4: ignored
        assert session.store.target("strength") == pytest.approx(0.4)
        assert midi.mapper.counters.pickup_waiting == 1
        midi.mapper.handle(mido.Message("control_change", control=0, value=60))  # crosses 0.4: picked up
        assert session.store.target("strength") == pytest.approx(60 / 127)
    finally:
        session.stop()


def _preset_value(port: int) -> object:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
    conn.request("GET", "/vj/preset?VALUE")
    value = json.loads(conn.getresponse().read())["VALUE"]
    conn.close()
    return value


def test_oscquery_reads_the_playing_preset_back(tiny_backend, tiny_preset, tmp_path) -> None:  # noqa: ANN001
    from vj.show.engine_state import live_values

    other = tmp_path / "other.toml"
    other.write_text('[preset]\nname = "other"\n[model]\nsource = "tiny"\n[params]\nzoom = 1.2\n')
    session = LiveSession(tiny_preset, backend=tiny_backend)
    attach_run_components(session, run_args("--presets-dir", str(tmp_path)))
    session.start()
    try:
        osc = next(c for c in session.controls if type(c).__name__ == "OscControl")
        query = next(c for c in session.controls if type(c).__name__ == "_OscQueryAfterOsc").query
        assert _preset_value(query.port) == [session.playing_preset_name()]
        SimpleUDPClient("127.0.0.1", osc.port).send_message("/vj/preset", "other")  # by name, from --presets-dir
        wait_for(lambda: _preset_value(query.port) == ["other"], timeout_s=30)
        # What `vj show` keeps to put back after a restart leaves it out: a recalled preset arms OSC pickup.
        assert "/vj/preset" not in live_values(query.tree.tree()) and "/vj/zoom" in live_values(query.tree.tree())
    finally:
        session.stop()
