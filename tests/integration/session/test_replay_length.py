"""A replay lasts as long as its live take: as many video frames, at the take's output rate."""

from __future__ import annotations

import time
from pathlib import Path

import av
import pytest
import torch

from vj.output.recorder import VideoRecorder
from vj.output.take import LiveTake
from vj.output.ticks import output_rate
from vj.output.timeline import read_timeline
from vj.session import LiveSession
from vj.session.replay import replay


def _decoded(path: Path) -> int:
    with av.open(str(path)) as container:
        return sum(1 for _ in container.decode(video=0))


@pytest.mark.parametrize(("engine_delay_s", "output_fps", "frames"), [(0.2, 25.0, 10), (0.0, 4.0, 24)],
                         ids=["slow-engine-repeats", "fast-engine-skips"])
def test_replay_has_as_many_frames_as_the_live_take(tmp_path: Path, tiny_backend, tiny_preset,  # noqa: ANN001
                                                    engine_delay_s: float, output_fps: float, frames: int) -> None:
    real_decode = tiny_backend.decode

    def paced_decode(latents: torch.Tensor) -> torch.Tensor:  # caps the engine's rate: a known engine fps
        time.sleep(engine_delay_s)
        return real_decode(latents)

    tiny_backend.decode = paced_decode
    try:
        session = LiveSession(tiny_preset, backend=tiny_backend)
        take = LiveTake(tmp_path / "take.mkv", output_fps, lambda: session.preset, encoder_preset="ultrafast")
        session.attach_take(take)
        take.start_recording()
        session.run(frames=frames)
    finally:
        tiny_backend.decode = real_decode
    live_frames = _decoded(tmp_path / "take.mkv")
    timeline = read_timeline(tmp_path / "take.jsonl")
    assert timeline.complete and len(timeline.frames) == frames and output_rate(timeline) == output_fps

    out = tmp_path / "replay.mp4"
    recorder = VideoRecorder(out, width=64, height=64, fps=output_rate(timeline), live=False, preset="ultrafast")
    result = replay(timeline, outputs=[recorder], backend=tiny_backend, paced=True)
    assert result.ticks is not None and result.ticks.exact and result.frames == frames
    replayed = _decoded(out)
    # The live file leaves a gap for a tick its encoder missed; the replay fills it.
    assert replayed == result.ticks.total == live_frames + take.dropped, (replayed, live_frames, take.dropped)
    assert take.dropped <= 2
    with av.open(str(out)) as container:
        assert container.streams.video[0].average_rate == output_fps
    if engine_delay_s:  # at most 5 engine fps into 25 output fps: every engine frame held several ticks
        assert replayed >= 4 * frames
