"""A recording process killed with SIGKILL leaves a playable video and a readable timeline."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import av
import pytest

from vj.output.timeline import read_timeline

FPS = 20

# The child records a live take of moving frames at FPS and reports how many frames the
# encoder has taken so far; the parent kills it without warning.
CHILD = r"""
import sys, time
sys.path.insert(0, sys.argv[2])
from types import MappingProxyType
import numpy as np
from vj.config import PresetConfig
from vj.frames import Frame
from vj.output.take import LiveTake
from vj.prompt_mix import PromptMix
from vj.registry import REGISTRY
from vj.store import ParamSnapshot

take = LiveTake(sys.argv[1], %(fps)d, PresetConfig, crf=30, encoder_preset="ultrafast")
take.start_recording()
values = MappingProxyType({n: s.default for n, s in REGISTRY.items()})
i = 0
start = time.monotonic()
while True:
    image = np.zeros((96, 128, 3), np.uint8)
    image[:, :, 0] = i %% 256
    image[(i * 3) %% 96, :, 1] = 255
    t = time.monotonic() - start
    take.offer(Frame(i, t, image, ParamSnapshot(i, t, 1 / %(fps)d, values, PromptMix())))
    i += 1
    rec = take.recorder
    print(rec.frames_written if rec else 0, flush=True)
    time.sleep(1 / %(fps)d)
""" % {"fps": FPS}  # noqa: UP031 - %-format keeps the child's f-string-free braces readable


@pytest.mark.parametrize("suffix", [".mkv", ".mp4"])
def test_sigkill_leaves_a_playable_file(tmp_path: Path, suffix: str) -> None:
    video = tmp_path / f"take{suffix}"
    repo = str(Path(__file__).resolve().parents[3])
    child = subprocess.Popen([sys.executable, "-c", CHILD, str(video), repo], stdout=subprocess.PIPE,
                             stderr=subprocess.PIPE, text=True)
    written = 0
    deadline = time.monotonic() + 30
    assert child.stdout is not None
    try:
        while written < 2 * FPS and time.monotonic() < deadline:  # ~2 s of recording
            line = child.stdout.readline()
            if not line:
                break
            written = int(line)
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait(10)
    assert child.returncode == -signal.SIGKILL
    assert written >= 2 * FPS, child.stderr.read() if child.stderr else ""

    decoded = []
    with av.open(str(video)) as container:
        for frame in container.decode(video=0):
            decoded.append(frame.to_ndarray(format="rgb24"))
    # Everything but the last second or so (encoder look-ahead + the open cluster/fragment).
    assert len(decoded) >= written - int(1.5 * FPS), (len(decoded), written)
    assert decoded[0].shape == (96, 128, 3)
    reds = [int(f[:, :, 0].mean()) for f in decoded]
    assert reds[-1] > reds[0]  # real, advancing content, not a frozen first frame

    timeline = read_timeline(video.with_suffix(".jsonl"))
    assert not timeline.complete  # no end line: the process was killed
    assert len(timeline.frames) >= written - 2  # flushed line by line
    assert [f.index for f in timeline.frames] == list(range(len(timeline.frames)))
