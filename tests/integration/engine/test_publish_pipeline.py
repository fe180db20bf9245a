"""Pipelined publishing and the non-finite guard, on the tiny model (CPU: the same code, synchronous copies)."""

from __future__ import annotations

import threading
from typing import Any

import numpy as np
import pytest
import torch

from tests.helpers import CollectFrames
from vj.config import PresetConfig
from vj.engine.clock import FixedClock
from vj.engine.loop import Engine, EngineSettings
from vj.errors import FatalRenderError
from vj.session import LiveSession, build_store


def engine_for(backend: Any, preset: PresetConfig, *, pipelined: bool) -> tuple[Engine, CollectFrames]:
    sink = CollectFrames()
    store = build_store(preset)
    engine = Engine(backend, store, EngineSettings(64, 64, 24, offline=True, pipelined=pipelined), sink,
                    FixedClock(24))
    engine.prime(store.prompts())
    return engine, sink


def busy(preset: PresetConfig) -> PresetConfig:
    return preset.replace(params={**preset.params, "cadence": 2, "color_coherence": "lab", "antiblur_amount": 0.3})


def test_pipelined_publish_gives_the_unpipelined_frames_one_call_later(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    plain, plain_sink = engine_for(tiny_backend, busy(tiny_preset), pipelined=False)
    piped, piped_sink = engine_for(tiny_backend, busy(tiny_preset), pipelined=True)
    plain_returned = [plain.render_frame() for _ in range(5)]
    piped_returned = [piped.render_frame() for _ in range(5)]
    assert [f.index for f in plain_returned if f] == [0, 1, 2, 3, 4]
    assert piped_returned[0] is None and [f.index for f in piped_returned[1:] if f] == [0, 1, 2, 3]
    last = piped.flush()
    assert last is not None and last.index == 4 and piped.flush() is None
    assert len(piped_sink.frames) == len(plain_sink.frames) == 5
    for a, b in zip(plain_sink.frames, piped_sink.frames, strict=True):
        assert (a.index, a.seed, a.diffused) == (b.index, b.seed, b.diffused)
        assert np.array_equal(a.image, b.image)  # the ring buffers never hand out a reused buffer
    assert len({f.image.tobytes() for f in piped_sink.frames}) == 5


def test_a_pipelined_run_publishes_exactly_the_frames_asked_for(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    engine, sink = engine_for(tiny_backend, tiny_preset, pipelined=True)
    engine.run(threading.Event(), max_frames=4)
    assert [f.index for f in sink.frames] == [0, 1, 2, 3] and engine.stats.frames == 4
    assert engine._publisher.in_flight == 0


class NaNOnDecode:
    """The backend, except that chosen decode calls return NaN pixels (a fp16 VAE overflow)."""

    def __init__(self, backend: Any, bad_calls: set[int] | None = None) -> None:
        self._backend = backend
        self.bad_calls = bad_calls
        self.calls = 0

    def __getattr__(self, name: str) -> Any:
        return getattr(self._backend, name)

    def decode(self, latents: torch.Tensor) -> torch.Tensor:
        image = self._backend.decode(latents)
        self.calls += 1
        if self.bad_calls is None or self.calls in self.bad_calls:
            return torch.full_like(image, float("nan"))
        return image


@pytest.mark.parametrize("pipelined", [False, True])
def test_a_non_finite_frame_never_reaches_the_outputs_and_the_feedback_restarts(tiny_backend, tiny_preset,  # noqa: ANN001
                                                                                pipelined: bool) -> None:
    wrapper = NaNOnDecode(tiny_backend, bad_calls={4})  # frame 3 (one decode per frame) is NaN
    engine, sink = engine_for(wrapper, tiny_preset, pipelined=pipelined)
    for _ in range(3):
        engine.render_frame()
    if not pipelined:
        last_good = engine._last_good
        assert last_good is not None
        engine.render_frame()  # frame 3: found bad at once
        assert engine.feedback.turbo_next is last_good and engine.feedback.cadence_left == 0
    else:
        engine.render_frame()  # frame 3 goes into flight
        last_good = engine._last_good  # frame 2, just handed out
        engine.render_frame()  # frame 4 launched from frame 3; frame 3 is found bad, frame 4 dropped
        assert engine.feedback.turbo_next is last_good and engine._publisher.in_flight == 0
    assert engine.stats.non_finite == 1 and "non-finite" in engine.stats.last_error
    for _ in range(3):
        engine.render_frame()
    engine.flush()
    published = [f.index for f in sink.frames]
    assert 3 not in published and published[:3] == [0, 1, 2]
    assert published[3:] == ([4, 5, 6] if not pipelined else [5, 6, 7])
    after = sink.frames[3]
    assert after.diffused and after.image.std() > 1.0  # a real picture, diffused from the held frame
    assert not np.array_equal(after.image, sink.frames[2].image)


def test_the_status_line_counts_non_finite_frames_and_shows_stage_times(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    session = LiveSession(tiny_preset, backend=NaNOnDecode(tiny_backend, bad_calls={3}))
    sink = CollectFrames()
    session.add_output(sink)
    session.run(frames=5)
    line = session.status_line()
    assert "non-finite 1" in line and "denoise" in line and "decode" in line, line
    assert len(sink.frames) == 5 and session.engine.stats.non_finite == 1


def test_a_model_that_only_makes_non_finite_frames_stops_with_one_clear_error(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    engine, sink = engine_for(NaNOnDecode(tiny_backend), tiny_preset, pipelined=False)
    with pytest.raises(FatalRenderError, match="10 frames in a row had non-finite pixels"):
        engine.run(threading.Event(), max_frames=3)
    assert sink.frames == [] and engine.stats.non_finite == Engine.MAX_FAILURES_BEFORE_FIRST_FRAME
