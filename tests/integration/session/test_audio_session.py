"""`vj run`'s wiring of sound and Link: the flags build a live session whose rendered frames follow the input.

The tiny model renders on this CPU; the sound is a file played in real time through `--audio-in file:`,
the same path a sound card's blocks take; OSC assigns the modulator over real UDP.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path

import av
import pytest
from pythonosc.udp_client import SimpleUDPClient

from tests.audio_signals import RATE, click_track
from tests.helpers import wait_for as shared_wait_for
from vj.cli.main import build_parser
from vj.cli.run import attach_run_components
from vj.control.audio.files import write_wav
from vj.session import LiveSession

# Frames render on a shared CPU here: a generous bound on how long a failure takes.
wait_for = partial(shared_wait_for, timeout_s=60.0)


def test_run_flags_wire_audio_input_record_audio_and_link(tiny_backend, tiny_preset, tmp_path: Path) -> None:  # noqa: ANN001
    pytest.importorskip("aalink", reason="needs aalink (pip install 'vj[link]')")
    x, _ = click_track(240.0, 90.0, first_s=0.1)  # longer than a loaded machine takes to warm up and render
    write_wav(tmp_path / "clicks.wav", x, RATE)
    take_path = tmp_path / "take.mkv"
    args = build_parser().parse_args(["run", "tiny.toml", "--osc-port", "0", "--oscquery-port", "0",
                                      "--no-zeroconf", "--no-web", "--link", "--audio-in",
                                      f"file:{tmp_path / 'clicks.wav'}", "--record", str(take_path),
                                      "--record-audio"])
    session = LiveSession(tiny_preset, backend=tiny_backend)
    attach_run_components(session, args)
    session.start()
    try:
        osc = next(c for c in session.controls if type(c).__name__ == "OscControl")
        client = SimpleUDPClient("127.0.0.1", osc.port)
        client.send_message("/vj/audio/angle", ["onset", 5.0, 0.0, 2000.0])  # angle 2.0 in the preset
        wait_for(lambda: session.audio.get("angle") is not None)
        # a rendered frame's angle carries the onset envelope on top of the preset's value
        wait_for(lambda: session.store.last_snapshot is not None and session.store.last_snapshot.num("angle") > 2.5)
        line = session.status_line()
        assert "link 0 peers" in line and "bpm (link)" in line and "audio bass" in line and "onsets" in line
        wait_for(lambda: session.take.recorder is not None and session.take.recorder.audio_samples_written > RATE)
    finally:
        session.stop()
    assert not session.take.failures
    with av.open(str(take_path)) as container:
        assert [s.type for s in container.streams] == ["video", "audio"]
        assert sum(f.samples for f in container.decode(audio=0)) > RATE
