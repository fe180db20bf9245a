"""Master level and blackout on the output side, and the freeze gate, with fake clocks (no sleeping)."""

from __future__ import annotations

import dataclasses
import threading
import time
from types import MappingProxyType

import numpy as np
import pytest

from tests.unit.output_helpers import make_frame
from vj.frames import Frame
from vj.output.master import Blackout, MasterStage, scaled
from vj.session.performer import FreezableClock, FreezeGate


class Capture:
    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def offer(self, frame: Frame) -> None:
        self.frames.append(frame)


class Now:
    def __init__(self) -> None:
        self.t = 100.0

    def __call__(self) -> float:
        return self.t


def with_master(frame: Frame, master: float) -> Frame:
    values = dict(frame.snapshot.values, master=master)
    return dataclasses.replace(frame, snapshot=dataclasses.replace(frame.snapshot, values=MappingProxyType(values)))


def test_blackout_fades_linearly_and_turns_round_mid_fade() -> None:
    now = Now()
    blackout = Blackout(now)
    assert blackout.level() == 1.0 and not blackout.on
    blackout.set(True, 2.0)
    now.t += 0.5
    assert blackout.level() == pytest.approx(0.75)
    now.t += 0.5
    assert blackout.level() == pytest.approx(0.5)
    blackout.set(False, 2.0)  # back from where it is, not from black
    assert blackout.level() == pytest.approx(0.5)
    now.t += 1.0
    assert blackout.level() == pytest.approx(1.0)
    blackout.set(True, 0.0)  # no fade: a cut
    assert blackout.level() == 0.0 and blackout.on


def test_scaled_is_exact_at_the_ends_and_proportional_between() -> None:
    image = np.full((4, 4, 3), 200, np.uint8)
    assert scaled(image, 1.0) is image
    assert not scaled(image, 0.0).any()
    half = scaled(image, 0.5)
    assert half.dtype == np.uint8 and int(half.max()) == 100 and image.max() == 200  # the source is untouched


def test_stage_applies_master_times_blackout_and_never_changes_the_engines_pixels() -> None:
    now = Now()
    sink = Capture()
    stage = MasterStage(sink, Blackout(now))
    frame = make_frame(1, value=200)
    stage.offer(frame)
    assert sink.frames[-1] is frame  # full level: passed through untouched, no copy
    stage.offer(with_master(frame, 0.5))
    assert int(sink.frames[-1].image[..., 2].max()) == 100
    stage.blackout.set(True, 0.0)
    stage.offer(frame)
    assert not sink.frames[-1].image.any()
    assert int(frame.image[..., 2].max()) == 200  # the engine's frame (and so its feedback) keeps its picture
    stage.blackout.set(False, 0.0)
    stage.offer(frame)
    assert sink.frames[-1] is frame


def test_a_blackout_switch_rides_on_the_first_frame_it_darkens_and_only_that_one() -> None:
    sink = Capture()
    stage = MasterStage(sink, Blackout(Now()))
    stage.offer(make_frame(1, value=200))
    stage.switch_blackout(True, 0.0, source="midi")
    stage.refresh()  # a frozen show re-sends the held frame: the switch waits for a new frame
    assert all(not f.snapshot.events for f in sink.frames)
    stage.offer(make_frame(2, value=200))
    stage.offer(make_frame(3, value=200))
    carried = [(f.index, [(e.kind, e.value, e.source) for e in f.snapshot.events]) for f in sink.frames]
    assert carried == [(1, []), (1, []), (2, [("blackout", {"on": True, "fade_s": 0.0}, "midi")]), (3, [])]
    assert not sink.frames[2].image.any()


def test_refresh_resends_the_held_frame_only_when_the_level_moved() -> None:
    now = Now()
    sink = Capture()
    stage = MasterStage(sink, Blackout(now))
    assert not stage.refresh()  # nothing held yet
    stage.offer(make_frame(5, value=200))
    assert not stage.refresh() and len(sink.frames) == 1
    stage.blackout.set(True, 1.0)
    now.t += 0.5
    assert stage.refresh() and sink.frames[-1].index == 5
    assert int(sink.frames[-1].image[..., 2].max()) == 100
    assert not stage.refresh()  # same level: nothing new to send
    assert stage.refresh(master=0.5)  # the master target moved while frozen
    assert int(sink.frames[-1].image[..., 2].max()) == 50


def test_freeze_gate_holds_the_render_thread_and_the_clock_leaves_the_frozen_time_out() -> None:
    now = Now()
    gate = FreezeGate(idle_s=0.001, now=now)
    refreshed: list[int] = []
    gate.idle = lambda: refreshed.append(1)
    t0 = gate.running_time()
    gate.set(True)
    ticked = threading.Event()

    class Inner:
        def tick(self, frame_index: int) -> tuple[float, float]:
            ticked.set()
            return gate.running_time(), 0.0

    clock = FreezableClock(Inner(), gate)
    worker = threading.Thread(target=clock.tick, args=(0,))
    worker.start()
    now.t += 30.0  # thirty seconds frozen
    assert not ticked.wait(0.1), "the frame clock ticked while frozen"
    assert refreshed, "the held frame was never refreshed while frozen"
    gate.set(False)
    worker.join(2.0)
    assert ticked.is_set()
    assert gate.running_time() == pytest.approx(t0)  # the frozen half minute does not count
    assert gate.frozen_total_s == pytest.approx(30.0)


def test_closing_the_gate_releases_a_frozen_thread_and_refuses_new_freezes() -> None:
    gate = FreezeGate(idle_s=0.001)
    gate.set(True)
    worker = threading.Thread(target=gate.hold)
    worker.start()
    time.sleep(0.05)
    assert worker.is_alive()
    gate.close()
    worker.join(2.0)
    assert not worker.is_alive()
    assert gate.set(True) is False
