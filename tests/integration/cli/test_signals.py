"""SIGTERM (timeout, systemd, docker stop) and SIGHUP end `vj run` like Ctrl-C, in a real child process."""

from __future__ import annotations

import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from vj.output.timeline import read_timeline

SIGNALS = [signal.SIGTERM] + ([signal.SIGHUP] if hasattr(signal, "SIGHUP") else [])


@pytest.mark.parametrize("signum", SIGNALS, ids=lambda s: signal.Signals(s).name)
def test_a_stop_signal_finishes_the_take_and_prints_the_summary(tmp_path: Path, signum: int) -> None:
    video = tmp_path / "take.mkv"
    command = [sys.executable, "-m", "vj.cli", "run", "drift", "--model", "tiny", "--width", "64", "--height", "64",
               "--record", str(video), "--osc-port", "0", "--no-zeroconf"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while proc.stdout is not None and time.monotonic() < deadline:
            found = re.search(r"REC take\.mkv: (\d+) frames", proc.stdout.readline())
            if found and int(found.group(1)) >= 10:  # a status line while recording
                break
        proc.send_signal(signum)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    name = signal.Signals(signum).name
    assert proc.returncode == 0, stderr
    assert f"vj: stopped by {name} after" in stderr and "Traceback" not in stderr
    timeline = read_timeline(tmp_path / "take.jsonl")
    assert timeline.complete and timeline.last_tick is not None and timeline.frames
    with av.open(str(video)) as container:
        assert sum(1 for _ in container.decode(video=0)) > 5
