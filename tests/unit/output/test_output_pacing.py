"""Pacing maths (clock injected, no sleeping) and the paced output thread loop."""

from __future__ import annotations

import pytest

from tests.unit.output_helpers import FakeTime, make_frame
from vj.output.pacing import LatestFrame, PacedOutput, Pacer


def test_pacer_ticks_on_an_absolute_grid() -> None:
    pacer = Pacer(25.0, start_s=10.0)
    first = pacer.poll(10.0)
    assert first.send and first.tick == 0 and first.skipped == 0
    assert first.wait_s == pytest.approx(0.04)
    early = pacer.poll(10.03)
    assert not early.send and early.wait_s == pytest.approx(0.01)
    # Waking 5 ms late does not shift the grid: the next tick is still due at 10.08.
    late = pacer.poll(10.045)
    assert late.send and late.tick == 1 and late.wait_s == pytest.approx(0.035)


def test_pacer_skips_missed_ticks_instead_of_bursting() -> None:
    pacer = Pacer(10.0, start_s=0.0)
    assert pacer.poll(0.0).send
    step = pacer.poll(0.35)  # ticks 1, 2 missed; we are in tick 3's slot
    assert step.send and step.tick == 3 and step.skipped == 2
    assert not pacer.poll(0.36).send  # no catch-up burst
    assert pacer.skipped == 2 and pacer.ticks == 2


def test_pacer_refuses_a_non_positive_rate() -> None:
    with pytest.raises(ValueError, match="fps must be > 0"):
        Pacer(0.0, 0.0)


def test_latest_frame_holds_and_counts_stale() -> None:
    box = LatestFrame()
    assert box.take() == (None, False)
    box.put(make_frame(1))
    box.put(make_frame(2))  # frame 1 never went out: stale
    frame, fresh = box.take()
    assert frame is not None and frame.index == 2 and fresh
    frame, fresh = box.take()  # nothing new: hold the last one
    assert frame is not None and frame.index == 2 and not fresh
    assert box.stale_dropped == 1 and box.received == 2


def _run(engine_fps: float, output_fps: float, seconds: float) -> tuple[list[tuple[float, int, bool]], PacedOutput]:
    fake = FakeTime()
    sent: list[tuple[float, int, bool]] = []
    out = PacedOutput("test-paced", output_fps, lambda f, fresh: sent.append((fake.now, f.index, fresh)),
                      clock=fake.clock, wait=fake.wait)
    start = fake.now
    produced = [0]

    def engine(now: float) -> None:  # the engine publishes whenever its own period has elapsed
        while start + produced[0] / engine_fps <= now:
            out.offer(make_frame(produced[0]))
            produced[0] += 1

    fake.hooks.append(engine)
    engine(fake.now)
    out.run(max_ticks=int(seconds * output_fps))
    return sent, out


def test_slow_engine_frames_are_repeated_at_the_output_rate() -> None:
    sent, out = _run(engine_fps=10.0, output_fps=30.0, seconds=2.0)
    assert len(sent) == 60
    times = [t for t, _, _ in sent]
    gaps = [b - a for a, b in zip(times, times[1:], strict=False)]
    assert all(g == pytest.approx(1 / 30) for g in gaps)
    fresh = [i for _, i, f in sent if f]
    assert fresh == list(range(len(fresh)))  # every engine frame went out once, in order
    assert out.counters.repeated == 60 - len(fresh) and out.counters.repeated >= 38
    assert out.mailbox.stale_dropped == 0


def test_fast_engine_stale_frames_are_dropped_not_queued() -> None:
    sent, out = _run(engine_fps=60.0, output_fps=20.0, seconds=1.0)
    assert len(sent) == 20
    indices = [i for _, i, _ in sent]
    assert indices == sorted(indices) and indices[-1] >= 55  # always the newest, never a backlog
    assert out.counters.repeated == 0
    assert out.mailbox.stale_dropped >= 35


def test_a_failing_send_is_counted_and_the_output_carries_on() -> None:
    fake = FakeTime()
    calls: list[int] = []

    def send(frame, fresh):  # type: ignore[no-untyped-def]
        calls.append(frame.index)
        if len(calls) == 2:
            raise OSError("device went away")

    out = PacedOutput("test-fail", 10.0, send, clock=fake.clock, wait=fake.wait)
    out.offer(make_frame(0))
    out.run(max_ticks=4)
    assert len(calls) == 4 and out.counters.errors == 1 and out.counters.sent == 3


def test_thread_starts_and_stops_with_real_time() -> None:
    got: list[int] = []
    out = PacedOutput("test-real", 200.0, lambda f, fresh: got.append(f.index))
    out.offer(make_frame(7))
    out.start()
    assert out.running
    import time

    deadline = time.monotonic() + 2.0
    while len(got) < 3 and time.monotonic() < deadline:
        time.sleep(0.005)
    out.stop()
    assert not out.running and got[:3] == [7, 7, 7]
