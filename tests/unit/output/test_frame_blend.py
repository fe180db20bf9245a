"""Blending between the two latest frames on each output tick: hand-computed pixels, and the pacing at 60 Hz
with a fake clock (the real-time measurement is benchmarks/outputs_rate.py)."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch

from tests.unit.output_helpers import FakeTime, make_frame
from vj.frames import Frame
from vj.output import frame_blend
from vj.output.frame_blend import BlendingMailbox, blend_on_ticks
from vj.output.pacing import PacedOutput
from vj.picture_blend import blend_images, blend_pictures, blend_weight


def test_blend_of_a_known_picture_against_hand_computed_pixels() -> None:
    older = np.array([[[0, 100, 255]]], np.uint8)
    newer = np.array([[[200, 50, 0]]], np.uint8)
    # weight w of 128: (older * (128 - w) + newer * w + 64) >> 7
    assert blend_images(older, newer, 32).tolist() == [[[50, 88, 191]]]  # 0.25: 6464>>7, 11264>>7, 24544>>7
    assert blend_images(older, newer, 64).tolist() == [[[100, 75, 128]]]  # 0.5
    assert blend_images(older, newer, 0) is older and blend_images(older, newer, 128) is newer
    assert blend_weight(0.25) == 32 and blend_weight(-1.0) == 0 and blend_weight(2.0) == 128


def test_the_blend_runs_on_any_device_in_torch_and_refuses_two_sizes() -> None:
    older = torch.zeros(2, 2, 3, dtype=torch.uint8)
    newer = torch.full((2, 2, 3), 255, dtype=torch.uint8)
    out = torch.empty_like(older)
    assert blend_pictures(older, newer, 127, out=out) is out and int(out[0, 0, 0]) == 253  # (255*127+64)>>7
    with pytest.raises(ValueError, match="cannot blend pictures of shapes"):
        blend_pictures(older, torch.zeros(1, 2, 3, dtype=torch.uint8), 64)


def test_the_mailbox_fades_the_newest_frame_in_over_the_engine_interval() -> None:
    fake = FakeTime(0.0)
    box = BlendingMailbox(fake.clock)
    box.put(make_frame(0, value=0))
    frame, fresh = box.take()
    assert frame is not None and frame.index == 0 and fresh  # one frame: nothing to blend with
    fake.now = 0.04
    box.put(make_frame(1, value=200))  # 40 ms after: the engine's interval
    assert box.interval_s == pytest.approx(0.04)
    for now, red in [(0.04, 0), (0.05, 50), (0.06, 100), (0.07, 150)]:
        fake.now = now
        frame, fresh = box.take()
        assert frame is not None and fresh and frame.index == 1 and int(frame.image[0, 0, 0]) == red, now
    fake.now = 0.08
    frame, fresh = box.take()
    assert frame is not None and int(frame.image[0, 0, 0]) == 200 and fresh  # fully in: the frame itself, once
    frame, fresh = box.take()
    assert frame is not None and int(frame.image[0, 0, 0]) == 200 and not fresh  # then a hold
    assert box.blended == 4


def test_a_new_size_is_not_blended_across() -> None:
    fake = FakeTime(0.0)
    box = BlendingMailbox(fake.clock)
    box.put(make_frame(0, width=64))
    fake.now = 0.04
    box.put(make_frame(1, width=32))
    frame, _ = box.take()
    assert frame is not None and frame.width == 32 and box.blended == 0


def _with_in_betweens(frame: Frame, previous: Frame | None, count: int) -> Frame:
    """`frame` as the engine publishes it with `count` device in-betweens (vj.engine.publish's sums)."""
    older = previous.image if previous is not None else frame.image
    made = tuple(blend_images(older, frame.image, blend_weight(i / (count + 1))) for i in range(1, count + 1))
    return dataclasses.replace(frame, in_betweens=made)


def test_with_device_in_betweens_each_tick_shows_the_nearest_and_sums_nothing_on_the_host(
        monkeypatch: pytest.MonkeyPatch) -> None:
    def no_host_sum(*_args: object) -> None:
        raise AssertionError("the host blended a frame that carried in-betweens made on the device")

    monkeypatch.setattr(frame_blend, "blend_images", no_host_sum)
    fake = FakeTime(0.0)
    box = BlendingMailbox(fake.clock)
    first = _with_in_betweens(make_frame(0, value=0), None, 3)
    box.put(first)
    box.take()
    fake.now = 0.04
    box.put(_with_in_betweens(make_frame(1, value=200), first, 3))  # in-betweens 50, 100, 150
    # Fades 0 .. 1 over the 40 ms interval: the older picture, then the in-between nearest each fade.
    for now, red in [(0.04, 0), (0.047, 50), (0.06, 100), (0.0655, 150), (0.072, 150)]:
        fake.now = now
        frame, fresh = box.take()
        assert frame is not None and fresh and frame.index == 1 and int(frame.image[0, 0, 0]) == red, now
    fake.now = 0.076  # nearer the newest than the last in-between: the frame itself, once, then a hold
    frame, fresh = box.take()
    assert frame is not None and int(frame.image[0, 0, 0]) == 200 and fresh
    frame, fresh = box.take()
    assert frame is not None and not fresh
    assert box.blended == 5 and box.from_device == 5
    assert box.note() == ", blended 5 (5 from the device)"  # what the output's status line adds


def _shown_at_60_hz(engine_fps: float, *, blend: bool, seconds: float = 1.0, in_betweens: int = 0) -> list[float]:
    """The red value of every frame a 60 Hz paced output sends while the engine publishes at `engine_fps`."""
    fake = FakeTime()
    shown: list[float] = []

    def wait(event: object, seconds: float) -> None:  # time passes in 0.5 ms steps: frames arrive when made
        while seconds > 0:
            step = min(seconds, 0.0005)
            fake.wait(event, step)  # type: ignore[arg-type]
            seconds -= step

    out = PacedOutput("test-60hz", 60.0, lambda f, _fresh: shown.append(float(f.image[0, 0, 0])),
                      clock=fake.clock, wait=wait)
    if blend:
        blend_on_ticks(out, fake.clock)
    start = fake.now
    produced = [0]

    previous: list[Frame] = []

    def engine(now: float) -> None:
        while start + produced[0] / engine_fps <= now + 1e-9:
            frame = make_frame(produced[0], value=4 * produced[0])  # the picture moves 4 levels a frame
            if in_betweens:
                frame = _with_in_betweens(frame, previous[-1] if previous else None, in_betweens)
            previous[:] = [frame]
            out.offer(frame)
            produced[0] += 1

    fake.hooks.append(engine)
    engine(fake.now)
    out.run(max_ticks=int(seconds * 60))
    assert out.counters.sent == int(seconds * 60) and out.counters.skipped_ticks == 0
    return shown


@pytest.mark.parametrize("engine_fps", [30.0, 40.0, 25.0])
def test_at_60_hz_blending_moves_the_picture_every_tick_where_repeating_judders(engine_fps: float) -> None:
    per_tick = 4 * engine_fps / 60  # how far the picture moves in one output tick
    repeated = np.diff(_shown_at_60_hz(engine_fps, blend=False))
    assert set(repeated.tolist()) <= {0.0, 4.0} and (repeated == 0).sum() >= 15  # held ticks, then a jump
    blended = np.diff(_shown_at_60_hz(engine_fps, blend=True)[3:])  # after the interval is known
    assert np.all(blended >= 1), blended  # the picture moves on every tick: no hold
    assert np.all(np.abs(blended - per_tick) <= 1.5), blended  # evenly (rounding the weight and the level)


def test_only_a_paced_output_can_blend() -> None:
    with pytest.raises(TypeError, match="only a paced output can blend between frames, found object"):
        blend_on_ticks(object())


def test_the_host_blend_and_the_torch_blend_make_the_same_pixels() -> None:
    rng = np.random.default_rng(7)
    older, newer = (rng.integers(0, 256, (9, 7, 3), dtype=np.uint8) for _ in range(2))
    for weight in (1, 45, 64, 127):
        on_host = blend_images(older, newer, weight)
        in_torch = blend_pictures(torch.from_numpy(older), torch.from_numpy(newer), weight).numpy()
        assert np.array_equal(on_host, in_torch), weight


@pytest.mark.parametrize(("engine_fps", "in_betweens"), [(30.0, 1), (25.0, 2), (40.0, 1)])
def test_at_60_hz_the_device_in_betweens_move_the_picture_every_tick(engine_fps: float, in_betweens: int) -> None:
    shown = _shown_at_60_hz(engine_fps, blend=True, in_betweens=in_betweens)[3:]
    moves = np.diff(shown)
    assert np.all(moves >= 1), moves  # no hold, no step back
    assert abs(float(np.mean(moves)) - 4 * engine_fps / 60) <= 0.25, moves  # the engine's own speed
