"""A device out-of-memory mid-show, injected as torch's own OOM error from a stage of the tiny model.

The error is the real `torch.cuda.OutOfMemoryError` (it is constructed and raised on a CPU build as on
a GPU); what is faked is only the moment it happens, chosen by the test.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import threading
from collections.abc import Callable
from typing import Any

import pytest
import torch
from websockets.sync.client import connect

from tests.helpers import CollectFrames, wait_for
from vj.cli.main import build_parser
from vj.cli.run import attach_run_components
from vj.config import DepthConfig, PresetConfig
from vj.engine.clock import FixedClock
from vj.engine.loop import Engine, EngineSettings
from vj.engine.oom_recovery import FIRST_BACKOFF_S
from vj.errors import FatalRenderError
from vj.session import LiveSession, build_store
from vj.session.web_control import _figures

BIG = 128  # the size that "runs out of memory" in these tests; the show starts at 64x64


def out_of_memory() -> torch.cuda.OutOfMemoryError:
    return torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")


class InjectedDecode:
    """The backend's decode, counting calls; `fails(call, latents)` says when it raises torch's OOM instead."""

    def __init__(self, backend: Any, fails: Callable[[int, torch.Tensor], bool],
                 on_call: Callable[[int], None] = lambda n: None) -> None:
        self.backend = backend
        self.real = backend.decode
        self.fails = fails
        self.on_call = on_call
        self.calls = 0
        self.raised = 0

    def __enter__(self) -> InjectedDecode:
        self.backend.decode = self
        return self

    def __exit__(self, *exc: object) -> None:
        self.backend.decode = self.real

    def __call__(self, latents: torch.Tensor) -> torch.Tensor:
        self.calls += 1
        self.on_call(self.calls)
        if self.fails(self.calls, latents):
            self.raised += 1
            raise out_of_memory()
        return self.real(latents)


def at_size(preset: PresetConfig, size: int) -> PresetConfig:
    return preset.replace(render=dataclasses.replace(preset.render, width=size, height=size))


def test_oom_at_a_new_size_from_a_preset_switch_is_undone_and_the_show_goes_on(  # noqa: ANN001
        tiny_backend, tiny_preset, caplog) -> None:
    session = LiveSession(tiny_preset, backend=tiny_backend)
    sink = CollectFrames()
    session.add_output(sink)
    session.warmup()  # at 64x64 only: the big size is new to this show
    factor = tiny_backend.vae_scale_factor

    def switch(call: int) -> None:
        if call == 3:  # on the render thread, mid-show: the size changes at the next frame boundary
            session.apply_preset(at_size(tiny_preset, BIG))

    caplog.set_level(logging.WARNING, logger="vj.engine.oom_recovery")
    with InjectedDecode(tiny_backend, lambda n, latents: latents.shape[-1] == BIG // factor, switch) as decode:
        session.run(frames=8)
    assert session.engine.fatal_error is None
    assert decode.raised == 1  # once: the size was undone, not tried again
    stats = session.engine.stats
    assert (stats.oom, stats.oom_undone, stats.frames) == (1, 1, 8)
    assert (session.engine.width, session.engine.height) == (64, 64)
    assert len(sink.frames) == 8 and all(f.image.shape == (64, 64, 3) for f in sink.frames)
    note = f"out of memory at {BIG}x{BIG}: undone, size back to 64x64"
    assert note in session.status_line() and "out of memory 1 (undone 1)" in session.status_line()
    assert _figures(session)["oom"] == 1 and _figures(session)["oom_note"] == note  # the page's status push
    assert any(note in r.getMessage() for r in caplog.records)


def test_oom_after_a_preset_switch_raised_the_depth_resolution_undoes_it(tiny_backend,  # noqa: ANN001
                                                                          tiny_preset) -> None:
    show = tiny_preset.replace(params={**tiny_preset.params, "animation_mode": "3d", "translation_z": 2.0},
                               depth=DepthConfig(model="tiny", resolution=56))
    session = LiveSession(show, backend=tiny_backend)
    sink = CollectFrames()
    session.add_output(sink)
    session.warmup()
    depth = session.engine.depth
    assert depth is not None
    real_estimate = depth.estimate
    raised = []

    def estimate(image: torch.Tensor) -> torch.Tensor:  # the depth model "runs out of memory" above 56
        if depth.resolution > 56:
            raised.append(depth.resolution)
            raise out_of_memory()
        return real_estimate(image)

    def switch(call: int) -> None:
        if call == 3:
            session.apply_preset(show.replace(depth=DepthConfig(model="tiny", resolution=112)))

    depth.estimate = estimate  # type: ignore[method-assign]
    with InjectedDecode(tiny_backend, lambda n, latents: False, switch):
        session.run(frames=8)
    assert session.engine.fatal_error is None and raised == [112]
    stats = session.engine.stats
    assert (stats.oom, stats.oom_undone, stats.frames, len(sink.frames)) == (1, 1, 8, 8)
    assert depth.resolution == 56
    assert "out of memory at 64x64: undone, depth resolution back to 56" in session.status_line()


def test_a_one_off_oom_mid_show_holds_the_last_frame_and_is_counted(tiny_backend, tiny_preset,  # noqa: ANN001
                                                                   caplog) -> None:
    session = LiveSession(tiny_preset, backend=tiny_backend)
    sink = CollectFrames()
    session.add_output(sink)
    session.warmup()
    caplog.set_level(logging.WARNING, logger="vj.engine.oom_recovery")
    with InjectedDecode(tiny_backend, lambda n, latents: n == 4) as decode:  # frame 3 runs out of memory
        session.run(frames=8)
    assert session.engine.fatal_error is None and decode.raised == 1
    stats = session.engine.stats
    assert (stats.oom, stats.oom_undone, stats.frames) == (1, 0, 8)
    indices = [f.index for f in sink.frames]
    assert indices == [0, 1, 2, 4, 5, 6, 7, 8]  # frame 3 never reached the outputs: they held frame 2
    assert all(f.image.shape == (64, 64, 3) for f in sink.frames)
    line = session.status_line()
    assert "out of memory 1 (undone 0): out of memory at 64x64: nothing to undo" in line
    assert _figures(session)["oom"] == 1
    assert any("nothing to undo" in r.getMessage() for r in caplog.records)


def test_an_oom_mid_show_reaches_the_page_over_its_websocket(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    session = LiveSession(tiny_preset, backend=tiny_backend)
    attach_run_components(session, build_parser().parse_args(["run", "tiny.toml", "--osc-port", "0",
                                                              "--oscquery-port", "0", "--no-zeroconf"]))
    session.warmup()
    with InjectedDecode(tiny_backend, lambda n, latents: n == 4):
        session.start()
        try:
            wait_for(lambda: session.engine.stats.oom == 1 and session.engine.stats.frames > 4, timeout_s=60)
            web = next(c for c in session.controls if type(c).__name__ == "WebServer")
            with connect(f"ws://127.0.0.1:{web.port}/ws") as ws:
                while True:  # the status push comes twice a second
                    status = json.loads(ws.recv(timeout=10)).get("status")
                    if status is not None:
                        break
        finally:
            session.stop()
    assert session.engine.fatal_error is None
    assert status["oom"] == 1 and "nothing to undo" in status["oom_note"]
    assert "out of memory 1 (undone 0)" in status["line"]


def test_oom_before_the_first_frame_is_still_fatal_with_its_message(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    session = LiveSession(tiny_preset, backend=tiny_backend)
    session.warmup()  # the warm-up fits; the first frame of the show does not
    with InjectedDecode(tiny_backend, lambda n, latents: True) as decode, \
            pytest.raises(FatalRenderError, match=r"the GPU ran out of memory at 64x64: lower the resolution"):
        session.run(frames=5)
    assert decode.raised == 1  # at once: nothing on stage to hold, nothing shown to fit
    assert session.engine.stats.frames == 0 and session.engine.stats.oom == 1


class RecordingStop(threading.Event):
    """A stop event that records the waits asked of it and returns at once (the test does not sleep)."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float] = []

    def wait(self, timeout: float | None = None) -> bool:
        self.waits.append(float(timeout or 0.0))
        return self.is_set()


def test_oom_with_nothing_to_undo_backs_off_and_drops_the_pipelined_frame_in_flight(  # noqa: ANN001
        tiny_backend, tiny_preset) -> None:
    sink = CollectFrames()
    store = build_store(tiny_preset)
    engine = Engine(tiny_backend, store, EngineSettings(64, 64, 24, offline=True, pipelined=True), sink,
                    FixedClock(24))
    engine.prime(store.prompts())
    stop = RecordingStop()
    with InjectedDecode(tiny_backend, lambda n, latents: n in (3, 4, 5, 8)) as decode:  # frames 2, 3, 4 and 7
        engine.run(stop, max_frames=6)
    assert decode.raised == 4 and engine.stats.oom == 4 and engine.stats.oom_undone == 0
    # Frame 1 was in flight when frame 2 ran out of memory, frame 6 when frame 7 did: discarded, never published.
    assert [f.index for f in sink.frames] == [0, 5, 8, 9, 10, 11]
    assert engine.in_flight == 0
    # Three in a row with nothing to undo: each waits twice as long as the one before; after a good frame
    # the wait starts again from the first.
    assert stop.waits == [FIRST_BACKOFF_S, 2 * FIRST_BACKOFF_S, 4 * FIRST_BACKOFF_S, FIRST_BACKOFF_S]
