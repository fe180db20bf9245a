"""`vj show` in a child process, and an engine whose `vj run` refuses to start (not restarted)."""

from __future__ import annotations

import os
import re
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from pythonosc.udp_client import SimpleUDPClient

from tests.helpers import wait_for
from vj.show.engine_process import EngineState
from vj.show.showfile import parse_show
from vj.show.supervisor import Show


def test_show_an_engine_vj_run_refuses_is_stopped_with_its_error_not_restarted() -> None:
    show = Show(parse_show({"show": {"osc_port": 0, "link": False},
                            "engines": {"odd": {"preset": "drift", "model": "tiny", "width": 100, "height": 64}}}),
                poll_s=0.2)
    show.start()
    try:
        engine = show.engines["odd"]
        wait_for(lambda: engine.state is EngineState.STOPPED, timeout_s=120, poll_s=0.2)
        assert engine.note == "refused to start: command line: render.width: expected a multiple of 8 in 64..2048, " \
                              "found 100"
        time.sleep(1.0)  # a few more looks of the watcher (0.2 s each): nothing starts it again
        assert engine.runs == 1 and engine.restarts == 0
    finally:
        show.stop()


def test_show_as_a_command_plays_both_engines_and_a_stop_signal_ends_them(tmp_path: Path) -> None:
    (tmp_path / "show.toml").write_text(
        "[show]\nosc_port = 0\nlink = false\nzeroconf = false\nmodel = 'tiny'\n"
        "[engines.one]\npreset = 'drift'\nwidth = 64\nheight = 64\nfps = 12.0\n"
        "[engines.two]\npreset = 'drift'\nwidth = 64\nheight = 64\nfps = 12.0\n")
    lines: list[str] = []
    proc = subprocess.Popen([sys.executable, "-m", "vj.cli", "show", "show.toml"], cwd=tmp_path,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)

    def read() -> None:
        assert proc.stdout is not None
        lines.extend(proc.stdout)

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        playing = re.compile(r"one playing [\d.]+ fps frames [1-9]\d* \| two playing [\d.]+ fps frames [1-9]")
        wait_for(lambda: any(playing.search(line) for line in lines), timeout_s=240, poll_s=0.2)
        port = next(int(m.group(1)) for line in lines if (m := re.search(r"osc :(\d+) rx", line)))
        SimpleUDPClient("127.0.0.1", port).send_message("/vj/strength", 0.5)
        wait_for(lambda: any(re.search(r"osc :\d+ rx 1 fwd 2 bad 0", line) for line in lines), timeout_s=30)
        assert any("show page on http://127.0.0.1:" in line for line in lines)
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(120) == 0
    finally:
        proc.kill()
        reader.join(10)
    assert "vj: show stopped by SIGTERM; one exit 0, two exit 0\n" in lines, lines[-10:]
    assert not any("Traceback" in line for line in lines)


@pytest.mark.parametrize(("key", "kind", "what"), [("web_port", socket.SOCK_STREAM, "show page: cannot listen on http"),
                                                   ("osc_port", socket.SOCK_DGRAM, "show OSC: cannot listen on udp")])
def test_show_with_a_port_taken_stops_in_one_line_before_any_engine_starts(tmp_path: Path, key: str, kind: int,
                                                                           what: str) -> None:
    with socket.socket(socket.AF_INET, kind) as taken:
        taken.bind(("127.0.0.1", 0))
        if kind == socket.SOCK_STREAM:
            taken.listen()
        port = taken.getsockname()[1]
        others = "" if key == "osc_port" else "osc_port = 0\n"
        (tmp_path / "show.toml").write_text(
            f"[show]\n{others}{key} = {port}\nzeroconf = false\n[engines.one]\npreset = 'drift'\n")
        done = subprocess.run([sys.executable, "-m", "vj.cli", "show", "show.toml"], cwd=tmp_path,
                              capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "Traceback" not in done.stderr, done.stderr
    errors = [line for line in done.stderr.splitlines() if line.startswith("vj: error:")]
    assert len(errors) == 1, done.stderr
    assert errors[0].startswith(f"vj: error: {what}://127.0.0.1:{port}: ")
    assert errors[0].endswith(f"(is another program using the port? set [show] {key})")
    assert "engine one:" not in done.stderr  # no `vj run` was started
