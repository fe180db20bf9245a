"""The frame-rate governor's controller and ladder: measured rates in, levels out, no engine."""

from __future__ import annotations

import pytest

from vj.session.governor import FpsGovernor, GovernorLevel, plan_levels, smaller_sizes


def run(governor: FpsGovernor, readings: list[float], period_s: float = 0.5) -> list[int]:
    """The level after each reading, one reading every `period_s`."""
    return [governor.observe(i * period_s, fps) for i, fps in enumerate(readings)]


def test_the_ladder_steps_size_then_steps_then_cadence() -> None:
    levels = plan_levels(512, 512, 3, 1, [(384, 384), (256, 256), (768, 768)], max_cadence=3)
    assert levels == (
        GovernorLevel(512, 512, 3, 1),  # the preset
        GovernorLevel(384, 384, 3, 1), GovernorLevel(256, 256, 3, 1),  # sizes, largest first; never a larger one
        GovernorLevel(256, 256, 2, 1), GovernorLevel(256, 256, 1, 1),  # then the steps
        GovernorLevel(256, 256, 1, 2), GovernorLevel(256, 256, 1, 3),  # then the cadence
    )


def test_with_a_depth_model_its_refresh_steps_before_the_cadence() -> None:
    levels = plan_levels(128, 128, 1, 1, [(64, 64)], depth_every_n=2, max_cadence=2)
    assert [(lv.width, lv.steps, lv.depth_every_n, lv.cadence) for lv in levels] == [
        (128, 1, 2, 1), (64, 1, 2, 1), (64, 1, 4, 1), (64, 1, 8, 1), (64, 1, 8, 2)]
    assert levels[2].describe() == "64x64 steps 1 depth every 4 cadence 1"


def test_smaller_sizes_keep_to_the_multiple_and_what_the_model_allows() -> None:
    assert smaller_sizes(512, 384, allowed=lambda w, h: True) == ((384, 288), (256, 192))
    assert smaller_sizes(128, 128, allowed=lambda w, h: min(w, h) >= 64) == ((96, 96), (64, 64))
    assert smaller_sizes(96, 96, allowed=lambda w, h: min(w, h) >= 64) == ((72, 72),)


def test_a_slow_rate_steps_down_one_level_per_dwell_and_stops_when_held() -> None:
    g = FpsGovernor(20.0, 5, dwell_s=2.0, confirm=2)
    # 10 fps: below 0.9 x 20. Two readings confirm it, then one level per 2 s dwell.
    levels = run(g, [10.0] * 12)
    assert levels == [0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3]
    # At level 3 the rate holds the target (between the thresholds): nothing changes however long it lasts.
    assert set(run(g, [21.0] * 40)) == {3}


def test_a_rate_hovering_at_the_down_threshold_does_not_oscillate() -> None:
    g = FpsGovernor(20.0, 4, down_below=0.9, up_above=1.25, dwell_s=1.0, confirm=2)
    hovering = [17.9, 18.1] * 30  # around 0.9 x target, never near 1.25 x
    levels = run(g, hovering)
    assert max(levels) == 0  # never two slow readings in a row: no change at all
    # Slow enough to step down once; after that the rate wanders between the thresholds: no step back up.
    g = FpsGovernor(20.0, 4, down_below=0.9, up_above=1.25, dwell_s=1.0, confirm=2)
    levels = run(g, [17.9, 17.9] + [18.1, 19.5, 21.0, 24.9] * 20)
    changes = [b for a, b in zip(levels, levels[1:], strict=False) if a != b]
    assert changes == [1]


def test_a_level_that_cannot_hold_the_target_is_retried_less_and_less_often() -> None:
    # Level 0 gives 15 fps, level 1 gives 30: the rate straddles the target, always outside both thresholds.
    g = FpsGovernor(20.0, 2, dwell_s=1.0, confirm=1)
    ups: list[float] = []
    t = 0.0
    for _ in range(400):
        before = g.level
        level = g.observe(t, 15.0 if g.level == 0 else 30.0)
        if level < before:
            ups.append(t)
        t += 0.5
    gaps = [b - a for a, b in zip(ups, ups[1:], strict=False)]
    assert len(ups) >= 3 and all(later > earlier for earlier, later in zip(gaps, gaps[1:], strict=False))
    assert len(ups) < 10  # 200 s at a rate that would flip every dwell: a handful of tries


def test_headroom_steps_back_up_after_the_dwell() -> None:
    g = FpsGovernor(20.0, 3, dwell_s=1.0, confirm=2)
    assert run(g, [10.0] * 8)[-1] == 2
    levels = [g.observe(10.0 + i * 0.5, 40.0) for i in range(10)]
    assert levels[-1] == 0 and levels.count(1) >= 2  # one level at a time, dwelling on each


def test_bad_settings_are_refused() -> None:
    with pytest.raises(ValueError, match="target fps must be above 0"):
        FpsGovernor(0.0, 3)
    with pytest.raises(ValueError, match="down_below < 1 < up_above"):
        FpsGovernor(20.0, 3, down_below=1.1)
