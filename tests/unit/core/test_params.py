"""ParamStore: validation, precedence, smoothing with real dt, atomic batches, concurrency."""

from __future__ import annotations

import math
import threading

import pytest

from vj.prompt_mix import PromptEntry, PromptMix
from vj.registry import REGISTRY
from vj.store import ControlEvent, ParamStore, smoothing_decay


def test_rejected_writes_are_counted_by_reason_and_never_applied() -> None:
    store = ParamStore()
    assert not store.set("zoom", float("nan"))
    assert not store.set("zoom", 9.0)
    assert not store.set("zoom", "fast")
    assert not store.set("no_such_param", 1.0)
    assert not store.set("border", "mirror")
    assert not store.set_norm("zoom", 1.5)
    assert store.counters.rejected == {"not_finite": 1, "out_of_range": 2, "wrong_type": 1, "unknown_param": 1,
                                       "unknown_choice": 1}
    assert store.snapshot(0, 0.0, 0.04)["zoom"] == REGISTRY["zoom"].default


def test_norm_maps_onto_the_range_and_choices_by_position() -> None:
    store = ParamStore()
    assert store.set_norm("angle", 0.75)
    assert store.set_norm("border", 1.0)
    snap = store.snapshot(0, 0.0, 0.0)
    assert snap["angle"] == pytest.approx(-45 + 0.75 * 90)
    assert snap["border"] == "zeros"  # the last choice


def test_identical_resends_cost_nothing() -> None:
    store = ParamStore()
    for _ in range(100):
        store.set("zoom", 1.01)
    assert store.counters.accepted == 1 and store.counters.unchanged == 99
    assert len(store.snapshot(0, 0.0, 0.0).events) == 1


def test_smoothing_glides_with_the_real_elapsed_time() -> None:
    store = ParamStore()
    tau = REGISTRY["angle"].smoothing_s
    store.snapshot(0, 0.0, 0.04)
    store.set("angle", 10.0)
    a = store.snapshot(1, 0.05, 0.05)["angle"]
    assert a == pytest.approx(10.0 * (1 - math.exp(-0.05 / tau)))
    # Twice the dt in one frame covers what two frames of dt cover.
    store2 = ParamStore()
    store2.snapshot(0, 0.0, 0.04)
    store2.set("angle", 10.0)
    b = store2.snapshot(1, 0.1, 0.1)["angle"]
    store3 = ParamStore()
    store3.snapshot(0, 0.0, 0.04)
    store3.set("angle", 10.0)
    store3.snapshot(1, 0.05, 0.05)
    c = store3.snapshot(2, 0.1, 0.05)["angle"]
    assert b == pytest.approx(c)
    assert smoothing_decay(0.1, 0.0) == 0.0


def test_precedence_preset_then_schedule_then_live_until_released() -> None:
    store = ParamStore(base={"angle": 1.0})
    assert store.snapshot(0, 0.0, 1.0)["angle"] == 1.0
    store.set_schedule("angle", lambda f: 0.5 * f)
    # A schedule moving every frame is followed exactly once the switch has glided away.
    for frame in range(1, 40):
        value = store.snapshot(frame, frame * 1.0, 1.0)["angle"]
    assert value == pytest.approx(0.5 * 39, abs=1e-6)
    store.set("angle", -5.0)
    for frame in range(40, 60):
        value = store.snapshot(frame, frame * 1.0, 1.0)["angle"]
    assert value == pytest.approx(-5.0, abs=1e-6)
    store.release("angle")
    first_after = store.snapshot(60, 60.0, 0.01)["angle"]
    assert -5.0 < first_after < 0.5 * 60  # glides back, no jump
    for frame in range(61, 80):
        value = store.snapshot(frame, frame * 1.0, 1.0)["angle"]
    assert value == pytest.approx(0.5 * 79, abs=1e-6)
    store.set_schedule("angle", None)
    for frame in range(80, 100):
        value = store.snapshot(frame, frame * 1.0, 1.0)["angle"]
    assert value == pytest.approx(1.0, abs=1e-6)


def test_a_pure_schedule_is_exact_from_the_first_frame() -> None:
    store = ParamStore()
    store.set_schedule("zoom", lambda f: 1.0 + 0.01 * f)
    values = [store.snapshot(f, f / 24, 1 / 24)["zoom"] for f in range(10)]
    assert values == pytest.approx([1.0 + 0.01 * f for f in range(10)])


def test_modulators_add_after_smoothing_and_are_clamped() -> None:
    store = ParamStore()
    store.set_modulator("angle", lambda now: 50.0 * now)
    assert store.snapshot(0, 0.1, 0.1)["angle"] == pytest.approx(5.0)
    assert store.snapshot(1, 2.0, 0.1)["angle"] == 45.0  # the range's maximum


def test_batches_land_in_the_same_frame_under_concurrent_snapshots() -> None:
    store = ParamStore()
    stop = threading.Event()
    torn: list[tuple[int, int]] = []

    def writer() -> None:
        n = 1
        while not stop.is_set():
            store.set_many({"seed": n, "seed_iter_n": n})  # ints are not smoothed: exact pairs
            n = n % 9000 + 1

    thread = threading.Thread(target=writer)
    thread.start()
    for frame in range(3000):
        snap = store.snapshot(frame, frame / 60, 1 / 60)
        if snap["seed"] != snap["seed_iter_n"] and snap["seed"] != REGISTRY["seed"].default:
            torn.append((snap["seed"], snap["seed_iter_n"]))
    stop.set()
    thread.join()
    assert torn == []


def test_concurrent_writers_latest_value_wins_and_counts_add_up() -> None:
    store = ParamStore()
    names = ["translation_x", "translation_y", "angle", "noise"]
    writes = 2000

    def writer(name: str) -> None:
        spec = REGISTRY[name]
        for i in range(writes):
            store.set(name, spec.minimum + (spec.maximum - spec.minimum) * (i % 100) / 100)
        store.set(name, spec.maximum)

    threads = [threading.Thread(target=writer, args=(n,)) for n in names]
    for t in threads:
        t.start()
    for frame in range(200):
        store.snapshot(frame, frame / 60, 1 / 60)
    for t in threads:
        t.join()
    assert store.live_overrides() == {n: REGISTRY[n].maximum for n in names}
    assert store.counters.accepted + store.counters.unchanged == len(names) * (writes + 1)
    assert not store.counters.rejected


def test_quantised_batch_waits_for_its_time() -> None:
    store = ParamStore()
    store.set_many({"steps": 3}, apply_at_s=1.0)
    assert store.snapshot(0, 0.5, 0.5)["steps"] == 1
    assert store.snapshot(1, 1.0, 0.5)["steps"] == 3


def test_prompt_writes_validate_and_record_events() -> None:
    store = ParamStore(prompts=PromptMix((PromptEntry("a", 1.0),), "neg"))
    assert store.set_prompt(1, "b")
    assert store.set_prompt_weight(1, 0.5)
    assert not store.set_prompt(99, "x") and not store.set_prompt_weight(0, float("inf"))
    assert not store.set_prompt(0, "x" * 5000)
    snap = store.snapshot(0, 0.0, 0.0)
    assert snap.prompts.entries == (PromptEntry("a", 1.0), PromptEntry("b", 0.5))
    assert [e.kind for e in snap.events] == ["prompt", "prompt_weight"]
    assert store.counters.rejected == {"out_of_range": 1, "not_finite": 1, "oversized": 1}


def test_events_replay_into_an_identical_store() -> None:
    live = ParamStore()
    live.set("zoom", 1.05)
    live.set_prompt(0, "neon")
    live.set_negative("dull")
    live.release("zoom")
    events = live.snapshot(0, 0.0, 0.04).events
    replayed = ParamStore()
    for event in events:
        replayed.apply_event(ControlEvent(event.kind, event.name, event.value, event.source))
    assert replayed.snapshot(0, 0.0, 0.04).values == live.last_snapshot.values
    assert replayed.prompts() == live.prompts()
