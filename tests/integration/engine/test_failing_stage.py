"""A stage that always fails: a clear error before the first frame, held frames during a show."""

from __future__ import annotations

import subprocess
import sys
import threading
from pathlib import Path

import pytest
import torch

from tests.helpers import CollectFrames
from vj.engine.loop import Engine
from vj.errors import FatalRenderError
from vj.session import LiveSession


def test_a_stage_failing_from_the_start_stops_with_its_error(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    real_decode = tiny_backend.decode

    def broken(latents: torch.Tensor) -> torch.Tensor:
        raise RuntimeError("decoder weights are NaN")

    tiny_backend.decode = broken
    try:
        session = LiveSession(tiny_preset, backend=tiny_backend)
        # The warm-up runs every stage before the show, so a broken one stops it there ...
        with pytest.raises(FatalRenderError, match=r"warm-up failed at 64x64 batch 1, 1 step \(RuntimeError: "
                                                   r"decoder weights are NaN"):
            session.run(frames=20)
        # ... and a stage that breaks later still ends the loop before its first good frame.
        with pytest.raises(FatalRenderError, match=r"failed 10 times in a row \(RuntimeError: decoder weights are NaN"):
            session.engine.run(threading.Event(), max_frames=20)
    finally:
        tiny_backend.decode = real_decode
    assert session.engine.stats.frames == 0
    assert session.engine.stats.errors == Engine.MAX_FAILURES_BEFORE_FIRST_FRAME


def test_after_good_frames_a_failing_stage_is_retried_holding_the_last_frame(tiny_backend,  # noqa: ANN001
                                                                             tiny_preset) -> None:
    real_decode = tiny_backend.decode
    calls = {"n": 0}
    failures = 3 * Engine.MAX_FAILURES_BEFORE_FIRST_FRAME

    def outage(latents: torch.Tensor) -> torch.Tensor:  # 2 good frames, a long outage, then good again
        calls["n"] += 1
        if 2 < calls["n"] <= 2 + failures:
            raise RuntimeError("driver hiccup")
        return real_decode(latents)

    tiny_backend.decode = outage
    sink = CollectFrames()
    try:
        session = LiveSession(tiny_preset, backend=tiny_backend)
        session.add_output(sink)
        session.run(frames=5)
    finally:
        tiny_backend.decode = real_decode
    assert session.engine.fatal_error is None
    assert session.engine.stats.errors == failures and session.engine.stats.frames == 5
    assert len(sink.frames) == 5  # nothing published while failing: the outputs held frame 1


# The real CLI in a child process, with the model's decoder broken after it loads.
CHILD = r"""
import sys
sys.path.insert(0, sys.argv[1])
import vj.session.live as live
from vj.cli.main import main

real = live.load_backend
def broken_backend(config):
    backend = real(config)
    def decode(latents):
        raise RuntimeError("decoder weights are NaN")
    backend.decode = decode
    return backend
live.load_backend = broken_backend
sys.exit(main(sys.argv[2:]))
"""


def test_vj_run_with_a_broken_stage_exits_with_one_error_line() -> None:
    repo = str(Path(__file__).resolve().parents[3])
    result = subprocess.run([sys.executable, "-c", CHILD, repo, "run", "drift", "--model", "tiny", "--width", "64",
                             "--height", "64", "--frames", "20", "--osc-port", "0", "--no-zeroconf"],
                            capture_output=True, text=True, timeout=240)
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("vj: error:")]
    assert len(errors) == 1 and "RuntimeError: decoder weights are NaN" in errors[0], result.stderr
    assert "Traceback" not in result.stderr
    assert result.stderr.count("decoder weights are NaN") <= 3  # no flood: warning, fatal log, error line
