"""Beat clock, tap tempo, quantiser and LFOs."""

from __future__ import annotations

import math
import threading
import time

import pytest

from vj.choices import LfoShape, LfoUnit
from vj.control.modulators import Lfo, ModulatorBank, parse_lfo, wave
from vj.control.tempo import Quantise, Quantiser, TapTempo, TempoClock
from vj.store import ParamStore


class FakeNow:
    def __init__(self, t: float = 0.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_beat_clock_keeps_phase_across_tempo_changes() -> None:
    now = FakeNow()
    tempo = TempoClock(120.0, now=now)
    assert tempo.beat_at(1.0) == pytest.approx(2.0)
    tempo.set_bpm(60.0, 1.0)
    assert tempo.beat_at(1.0) == pytest.approx(2.0)  # no jump at the change
    assert tempo.beat_at(2.0) == pytest.approx(3.0)
    state = tempo.state(2.25)
    assert state.beat_in_bar == 3 and state.bar == 0 and state.phase == pytest.approx(0.25)
    assert not tempo.set_bpm(1000.0) and not tempo.set_bpm(float("nan"))
    assert tempo.bpm == 60.0


def test_next_boundary_for_beat_bar_and_lookahead() -> None:
    tempo = TempoClock(120.0, beats_per_bar=4)
    assert tempo.next_boundary(0.1, Quantise.BEAT) == pytest.approx(0.5)
    assert tempo.next_boundary(0.5, Quantise.BEAT) == pytest.approx(1.0)  # exactly on a beat: the next one
    assert tempo.next_boundary(0.1, Quantise.BAR) == pytest.approx(2.0)
    assert tempo.next_boundary(0.1, Quantise.FOUR_BARS) == pytest.approx(8.0)
    assert tempo.next_boundary(0.1, Quantise.BEAT, lookahead_s=0.05) == pytest.approx(0.45)
    assert tempo.next_boundary(0.3, Quantise.OFF) == 0.3


def test_tap_tempo_averages_and_resets() -> None:
    tap = TapTempo()
    assert tap.tap(0.0) is None
    assert tap.tap(0.5) == pytest.approx(120.0)
    assert tap.tap(1.01) == pytest.approx(60.0 / 0.505)
    assert tap.tap(1.5) == pytest.approx(120.0, abs=1.0)
    assert tap.tap(5.0) is None  # long pause: starts over
    assert tap.tap(5.4) == pytest.approx(150.0)
    assert tap.tap(5.65) == pytest.approx(240.0)  # a much shorter interval restarts the average, no drag


def test_tempo_tap_aligns_the_beat_to_the_tap() -> None:
    now = FakeNow()
    tempo = TempoClock(100.0, now=now)
    for t in (10.0, 10.5, 11.0, 11.5):
        now.t = t
        tempo.tap()
    assert tempo.bpm == pytest.approx(120.0)
    assert tempo.state(11.5).phase == pytest.approx(0.0)
    assert tempo.source == "tap"


def test_quantiser_runs_at_the_boundary_and_immediately_when_off() -> None:
    tempo = TempoClock(300.0)  # a beat every 0.2 s
    q = Quantiser(tempo, Quantise.BEAT)
    ran = threading.Event()
    times: list[float] = []
    try:
        due = q.submit(lambda: (times.append(tempo.now()), ran.set()))
        assert q.pending() == 1
        assert ran.wait(1.0)
        assert times[0] >= due and times[0] - due < 0.05
        beat = tempo.beat_at(times[0])
        assert beat - math.floor(beat) < 0.5
        q.mode = Quantise.OFF
        out: list[int] = []
        q.submit(lambda: out.append(1))
        assert out == [1]
        q.submit(lambda: 1 / 0, Quantise.OFF)  # a failing change is counted, not raised
        assert q.errors == 1
    finally:
        q.close()


@pytest.mark.parametrize("shape,expect", [
    (LfoShape.SINE, [0.0, 1.0, 0.0, -1.0]),
    (LfoShape.TRIANGLE, [0.0, 1.0, 0.0, -1.0]),
    (LfoShape.SQUARE, [1.0, 1.0, -1.0, -1.0]),
    (LfoShape.SAW, [-1.0, -0.5, 0.0, 0.5]),
])
def test_wave_shapes_at_quarter_cycles(shape: LfoShape, expect: list[float]) -> None:
    got = [wave(shape, q / 4) for q in range(4)]
    assert got == pytest.approx(expect, abs=1e-9)


def test_random_smooth_is_continuous_bounded_and_deterministic() -> None:
    samples = [wave(LfoShape.RANDOM_SMOOTH, i / 200, seed=3) for i in range(2000)]
    assert all(-1.0 <= s <= 1.0 for s in samples)
    assert max(abs(b - a) for a, b in zip(samples, samples[1:], strict=False)) < 0.05  # no jumps
    assert samples == [wave(LfoShape.RANDOM_SMOOTH, i / 200, seed=3) for i in range(2000)]
    assert samples != [wave(LfoShape.RANDOM_SMOOTH, i / 200, seed=4) for i in range(2000)]


def test_lfo_rate_in_beats_and_hz() -> None:
    beats = Lfo(LfoShape.SINE, rate=4.0, unit=LfoUnit.BEATS, depth=2.0, offset=0.5)
    assert beats.value(beats=1.0, seconds=99.0) == pytest.approx(0.5 + 2.0)  # a quarter of a 4-beat cycle
    hz = Lfo(LfoShape.SINE, rate=2.0, unit=LfoUnit.HZ, depth=1.0)
    assert hz.value(beats=99.0, seconds=0.125) == pytest.approx(1.0)
    with pytest.raises(ValueError, match="rate"):
        Lfo(rate=0.0)
    with pytest.raises(ValueError, match="shape"):
        parse_lfo("wobble", 1, 1)


def test_modulator_bank_offsets_the_snapshot_on_engine_time() -> None:
    store = ParamStore(base={"angle": 1.0})
    tempo = TempoClock(120.0)
    bank = ModulatorBank(store, tempo, engine_time=True)
    assert bank.assign("angle", Lfo(LfoShape.SINE, rate=4.0, depth=5.0))
    assert store.snapshot(0, 0.5, 0.04).num("angle") == pytest.approx(1.0 + 5.0)  # 1 beat = quarter cycle
    assert bank.update("angle", depth=2.0)
    assert store.snapshot(1, 0.5, 0.04).num("angle") == pytest.approx(3.0)
    assert not bank.assign("border", Lfo(depth=1.0))  # text parameters cannot be modulated
    assert store.counters.rejected["wrong_type"] == 1
    bank.remove("angle")
    assert store.snapshot(2, 0.5, 0.04).num("angle") == pytest.approx(1.0)


def test_modulator_live_uses_the_tempo_clock_time_base() -> None:
    store = ParamStore()
    now = FakeNow(0.25)
    tempo = TempoClock(60.0, now=now)
    bank = ModulatorBank(store, tempo)
    bank.assign("noise", Lfo(LfoShape.SQUARE, rate=1.0, depth=0.1, offset=0.1))
    assert store.snapshot(0, 123.0, 0.04).num("noise") == pytest.approx(0.02 + 0.2)
    now.t = 0.75
    assert store.snapshot(1, 123.0, 0.04).num("noise") == pytest.approx(0.02)
    assert time.perf_counter() > 0


@pytest.mark.parametrize("fields", [{"rate": 5e-324}, {"rate": 1e308}, {"rate": 0.0}, {"depth": 1e7},
                                    {"phase": 1.5}])
def test_an_lfo_is_held_to_the_preset_rule(fields: dict[str, float]) -> None:
    with pytest.raises(ValueError, match=next(iter(fields))):
        Lfo(**fields)  # type: ignore[arg-type]
    bank = ModulatorBank(ParamStore(), TempoClock(120.0))
    assert bank.assign("zoom", Lfo(rate=4.0, depth=0.01))
    assert not bank.update("zoom", **fields)  # a knob cannot push it past the rule either
    assert bank.get("zoom") == Lfo(rate=4.0, depth=0.01)


def test_a_failing_modulator_is_dropped_and_counted_not_raised_every_frame() -> None:
    store = ParamStore(base={"zoom": 1.02})

    def overflowing(now_s: float) -> float:
        raise OverflowError("math range error")

    store.set_modulator("zoom", overflowing)
    assert store.snapshot(0, 0.0, 0.04).num("zoom") == pytest.approx(1.02)  # drawn, unmodulated
    assert store.snapshot(1, 0.04, 0.04).num("zoom") == pytest.approx(1.02)
    assert store.counters.rejected["modulator_failed"] == 1


def test_an_integer_beyond_any_float_is_an_lfo_number_out_of_range() -> None:
    with pytest.raises(ValueError, match="lfo rate: expected a value in 0.01..1000, found an integer of about 401"):
        parse_lfo("sine", 10**400, 0.1)
