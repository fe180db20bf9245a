"""The frame-rate governor on a live tiny-model show whose frames are slowed in proportion to pixels × steps.

Each diffused frame is padded to take at least PAD_S_PER_PIXEL_STEP × width × height × steps
(a tweened frame at least TWEEN_S), so the rate each level gives is known and the CPU's own
speed does not decide the outcome: 128x128 at 2 steps runs at most 1.6 fps, 96x96 at 2 steps
2.8, 64x64 at 2 steps 6.2, 64x64 at 1 step 12.5 fps. With a 10 fps target (down below 7, up
above 15) the governor must step size, size, steps (or, with the steps held by the performer,
cadence: 64x64 at 2 steps every other frame, about 11.8 fps) and then stay there.
"""

from __future__ import annotations

import time
from dataclasses import replace

from tests.helpers import CollectFrames
from vj.config import PresetConfig
from vj.output.timeline import TimelineWriter, make_header
from vj.session import LiveSession
from vj.session.governor import GovernorLevel
from vj.session.replay import replay

PAD_S_PER_PIXEL_STEP = 0.08 / (64 * 64)  # 64x64 at one step: 0.08 s, 12.5 fps
TWEEN_S = 0.005
TARGET_FPS = 10.0


def slowed_session(tiny_backend, tiny_preset: PresetConfig) -> tuple[LiveSession, CollectFrames]:  # noqa: ANN001
    preset = tiny_preset.replace(render=replace(tiny_preset.render, width=128, height=128, target_fps=TARGET_FPS))
    preset = preset.replace(params={**preset.params, "steps": 2})
    session = LiveSession(preset, backend=tiny_backend)
    assert session.governor is not None
    # One-second readings (~11 frames each); wide thresholds (7 and 15 fps) so a loaded CI machine does not
    # push a holding level across one.
    session.governor.tune(period_s=1.0, dwell_s=1.0, confirm=2, down_below=0.7, up_above=1.5)
    engine = session.engine
    render = engine.render_frame

    def slowed():  # noqa: ANN202
        started = time.perf_counter()
        frame = render()
        if frame is not None:
            cost = (PAD_S_PER_PIXEL_STEP * frame.width * frame.height * frame.snapshot.params.steps
                    if frame.diffused else TWEEN_S)
            time.sleep(max(0.0, cost - (time.perf_counter() - started)))
        return frame

    engine.render_frame = slowed  # type: ignore[method-assign]
    sink = CollectFrames()
    session.add_output(sink)
    return session, sink


def run_until(session: LiveSession, done, timeout_s: float = 120.0) -> None:  # noqa: ANN001
    session.start()
    deadline = time.monotonic() + timeout_s
    try:
        while not done() and time.monotonic() < deadline and session.engine.running:
            time.sleep(0.05)
    finally:
        session.stop()
    assert session.engine.fatal_error is None


def test_governor_steps_size_then_steps_down_to_hold_the_target(tiny_backend, tiny_preset,  # noqa: ANN001
                                                                 tmp_path) -> None:  # noqa: ANN001
    session, sink = slowed_session(tiny_backend, tiny_preset)
    take = TimelineWriter(tmp_path / "take.jsonl", make_header(session.preset))
    session.add_output(take)
    governor = session.governor
    assert governor is not None
    assert governor.levels[:4] == (GovernorLevel(128, 128, 2, 1), GovernorLevel(96, 96, 2, 1),
                                   GovernorLevel(64, 64, 2, 1), GovernorLevel(64, 64, 1, 1))
    # Every size and step count it may step to is warmed before the show.
    warmed = {(v.width, v.height, v.steps) for v in session.warmup_variants()}
    assert {(w, h, n) for w in (128, 96, 64) for h in (w,) for n in (1, 2)} <= warmed

    held_since: list[float] = []

    def held_a_while() -> bool:
        if governor.level == 3 and not held_since:
            held_since.append(time.monotonic())
        return bool(held_since) and time.monotonic() - held_since[0] > 6.0  # six readings at the held level

    run_until(session, held_a_while)
    # Down one level at a time, and never back up: 12.5 fps at most is between the thresholds.
    assert [c.level for c in governor.changes] == [1, 2, 3], governor.changes
    assert governor.level == 3 and "level 3/" in session.status_line() and "64x64 steps 1" in session.status_line()
    # The mechanism: the size changed at a frame boundary through a recorded event, the steps as an override.
    resized = [(f.index, e.value) for f in sink.frames for e in f.snapshot.events if e.kind == "resize"]
    assert [value for _, value in resized] == [{"width": 96, "height": 96}, {"width": 64, "height": 64}]
    by_index = {f.index: f for f in sink.frames}
    for index, value in resized:  # the frame that carries the event is the first at the new size
        assert (by_index[index].width, by_index[index].height) == (value["width"], value["height"])
        assert by_index[index - 1].width > value["width"]
    steps_events = [(e.value, e.source) for f in sink.frames for e in f.snapshot.events
                    if e.kind == "set" and e.name == "steps"]
    assert steps_events == [(1, "governor")]
    assert sink.frames[-1].snapshot.params.steps == 1 and session.store.held_by("steps") == "governor"

    # The replay of the take performs the same changes on the same frames (no governor in it: the events do it).
    replayed: dict[int, tuple[int, int, int]] = {}
    result = replay(tmp_path / "take.jsonl", backend=tiny_backend,
                    on_frame=lambda f: replayed.update({f.index: (f.width, f.height, f.snapshot.params.steps)}))
    live = {f.index: (f.width, f.height, f.snapshot.params.steps) for f in sink.frames}
    assert result.mismatches == 0 and replayed == live


def test_governor_leaves_a_performer_held_parameter_alone(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    session, sink = slowed_session(tiny_backend, tiny_preset)
    governor = session.governor
    assert governor is not None
    session.store.set("steps", 2, source="osc")  # the performer holds the steps at 2

    run_until(session, unchanged_for(governor, 5.0, at_least=4))
    # The steps level changed nothing (the performer's), so it went on to the cadence: 2 holds the target.
    assert [c.level for c in governor.changes] == [1, 2, 3, 4], governor.changes
    assert governor.skipped == {"steps"}
    assert session.store.held_by("steps") == "osc"
    assert all(f.snapshot.params.steps == 2 for f in sink.frames)
    assert not any(e.name == "steps" and e.source == "governor" for f in sink.frames for e in f.snapshot.events)
    assert sink.frames[-1].snapshot.params.cadence == 2 and session.store.held_by("cadence") == "governor"


def unchanged_for(governor, seconds: float, *, at_least: int):  # noqa: ANN001, ANN201
    """A condition: `at_least` changes made, and none for `seconds` since the last."""
    seen: dict[str, object] = {}

    def done() -> bool:
        if len(governor.changes) < at_least:
            return False
        last = governor.changes[-1]
        if seen.get("last") is not last:
            seen["last"], seen["since"] = last, time.monotonic()
        return time.monotonic() - float(seen["since"]) > seconds  # type: ignore[arg-type]
    return done
