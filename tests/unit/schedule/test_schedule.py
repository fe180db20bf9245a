"""Keyframe schedules: grammar, Deforum semantics, end modes, seeds, preset validation."""

from __future__ import annotations

import logging

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from vj.config import parse_preset
from vj.errors import ConfigError
from vj.schedule.expressions import ExpressionError
from vj.schedule.keyframes import (
    CompiledSchedule,
    ScheduleContext,
    compile_preset_schedules,
    compile_schedule,
    evaluate_schedule,
    parse_schedule,
)
from vj.session.presets import build_store
from vj.store import ParamStore

CTX = ScheduleContext(max_frames=40, seed=5, fps=10.0, bpm=60.0)


def values(text: str, ctx: ScheduleContext = CTX, name: str = "zoom") -> np.ndarray:
    return evaluate_schedule(parse_schedule(text, name), ctx)


def test_numeric_keys_interpolate_linearly_and_hold_at_both_ends() -> None:
    out = values("5: (1.0), 15: (2.0)")
    assert out[:6].tolist() == [1.0] * 6  # before the first key the first value holds
    np.testing.assert_allclose(out[5:16], np.linspace(1.0, 2.0, 11))
    assert (out[15:] == 2.0).all()


def test_expression_key_is_evaluated_per_frame_with_absolute_t() -> None:
    out = values("0: (0), 10: (t*2), 20: (0)")
    np.testing.assert_allclose(out[:10], np.linspace(0, 20, 11)[:10])  # numeric key interpolates to expr(10)
    np.testing.assert_allclose(out[10:20], np.arange(10, 20) * 2.0)  # t is absolute, not since-key
    assert out[20:].tolist() == [0.0] * 20


def test_constant_expression_is_not_interpolated() -> None:
    out = values("0: (2*3), 10: (0)")
    assert out[:10].tolist() == [6.0] * 10 and out[10] == 0.0


def test_commas_colons_and_quotes() -> None:
    out = values(' 0 : ( where(t < 3, atan2(t, 1), max(1, 2, 3)) ) ,"max_f-1": ("7"), \n max_f/2:(-1),')
    assert out[0] == 0.0 and out[1] == pytest.approx(np.arctan2(1, 1))
    assert out[5] == 3.0
    assert out[19] == -1.0 and out[38] == 7.0 and out[39] == 7.0  # max_f = 39; 39/2 truncates to 19
    np.testing.assert_allclose(out[19:39], np.linspace(-1, 7, 20))


def test_frame_expressions_use_max_f_and_seed() -> None:
    out = values("0: (0), s: (1), 's*2': (2)")  # seed 5
    assert out[5] == 1.0 and out[10] == 2.0 and out[7] == pytest.approx(1.4)


def test_keys_past_the_end_are_ignored_and_duplicates_take_the_last() -> None:
    out = values("0: (1), 10: (2), 10: (3), 100: (50)")
    assert out[10] == 3.0 and out[-1] == 3.0


def test_fps_bpm_variables() -> None:
    out = values("0: (sec + beat)")  # fps 10, bpm 60: sec = t/10, beat = t/10
    np.testing.assert_allclose(out, np.arange(40) / 5.0)


@pytest.mark.parametrize(("text", "fragment"), [
    ("", "column 1: empty schedule"),
    ("0 (1)", "has no ':'"),
    ("0: (1), , 5: (2)", "column 9: empty entry"),
    ("0: (1", "column 4: unclosed '('"),
    ("0: 1)", "column 5: unmatched ')'"),
    ('"max_f: (1)', "unclosed quote"),
    (": (1)", "missing frame"),
    ("0: ", "missing value"),
    ("0: (1), 10: (1.02*sinn(t))", "column 19: unknown function 'sinn'"),
    ("t: (1)", "'t' is not available"),
    ("0: (1), 5: (log(t-7))", "value is nan at frame 5"),
    ("50: (1)", "no keyframe inside the 40 frames"),
])
def test_errors(text: str, fragment: str) -> None:
    with pytest.raises(ExpressionError) as info:
        values(text)
    assert str(info.value).startswith("zoom: ")
    assert fragment in str(info.value)


def test_end_hold_and_loop() -> None:
    hold = compile_schedule("0: (t)", "angle", ScheduleContext(10), end="hold")
    loop = compile_schedule("0: (t)", "angle", ScheduleContext(10), end="loop")
    assert [hold(f) for f in (0, 9, 10, 25)] == [0.0, 9.0, 9.0, 9.0]
    assert [loop(f) for f in (0, 9, 10, 25)] == [0.0, 9.0, 0.0, 5.0]


def test_int_parameters_round_and_out_of_range_is_reported(caplog: pytest.LogCaptureFixture) -> None:
    steps = compile_schedule("0: (1), 9: (4)", "steps", ScheduleContext(10))
    assert steps.values.tolist() == [1, 1, 2, 2, 2, 3, 3, 3, 4, 4]  # round half away: 1.5 → 2
    with caplog.at_level(logging.WARNING):
        compile_schedule("0: (0), 9: (90)", "angle", ScheduleContext(10))
    assert "angle: 5 of 10 frames fall outside -45..45" in caplog.text


def test_non_numeric_or_unknown_parameter_is_refused() -> None:
    with pytest.raises(ExpressionError, match="'sampler' is not a numeric parameter"):
        compile_schedule("0: (1)", "sampler", CTX)
    with pytest.raises(ExpressionError, match="'warp_speed' is not a numeric parameter"):
        compile_schedule("0: (1)", "warp_speed", CTX)


def test_seed_schedule_minus_one_is_a_reproducible_random_seed() -> None:
    ctx = ScheduleContext(10, seed=1234)
    text = '0:(s), 1:(-1), "max_f-2":(-1), "max_f-1":(s)'  # Deforum's default seed_schedule
    a = compile_schedule(text, "seed", ctx).values
    b = compile_schedule(text, "seed", ctx).values
    assert a[0] == 1234 and a[9] == 1234
    assert len(set(a[1:9].tolist())) == 8 and all(0 <= v < 2**32 for v in a)
    assert (a == b).all()


def test_store_follows_schedule_exactly_and_live_overrides_it() -> None:
    store = ParamStore()
    store.set_schedule("zoom", compile_schedule("0: (1.0), 10: (1.5)", "zoom", ScheduleContext(20)))
    seen = [store.snapshot(f, f / 24, 1 / 24).num("zoom") for f in range(12)]
    np.testing.assert_allclose(seen, [1.0 + 0.05 * f for f in range(11)] + [1.5])
    store.set("zoom", 1.2)
    assert store.target("zoom", 12) == 1.2
    store.release("zoom")
    assert store.target("zoom", 12) == 1.5


PRESET = """
[preset]
name = "sched"
[render]
frames = 30
fps = 12
[params]
seed = 9
prompt_fade_s = 0.0
[schedule]
end = "loop"
[schedules]
zoom = "0: (1.0), 10: (1.0 + t/100)"
angle = '0: (0), "max_f": (s)'
[prompt_schedule]
"0" = "a castle --neg blurry"
"15" = "a forest"
"""


def test_preset_schedules_compile_with_preset_context() -> None:
    preset = parse_preset(PRESET, "sched.toml")
    compiled = compile_preset_schedules(preset)
    assert len(compiled["zoom"]) == 30 and compiled["zoom"].end == "loop"
    assert compiled["angle"](29) == 9.0  # s = the preset seed, max_f = 29
    assert compiled["zoom"](30) == 1.0  # loops
    store = build_store(preset)
    snap = store.snapshot(20, 0.0, 1 / 12)
    assert snap.num("zoom") == pytest.approx(1.2)
    assert [(e.text, e.weight) for e in snap.prompts.entries] == [("a forest", 1.0)]
    assert snap.prompts.negative == ""
    assert store.snapshot(14, 0.0, 1 / 12).prompts.negative == "blurry"


@pytest.mark.parametrize(("body", "fragment"), [
    ('zoom = "0: (1.0), 10: (1.02*sinn(t))"', "bad.toml: schedules.zoom: column 21: unknown function 'sinn'"),
    ('sampler = "0: (1)"', "bad.toml: schedules.sampler: column 1: 'sampler' is not a numeric parameter"),
    ('angle = "0: (__import__(\'os\'))"', "bad.toml: schedules.angle: column 5: unknown function '__import__'"),
])
def test_bad_schedule_refuses_the_preset_with_file_key_and_column(body: str, fragment: str) -> None:
    with pytest.raises(ConfigError) as info:
        parse_preset(f"[schedules]\n{body}\n", "bad.toml")
    assert str(info.value).startswith(fragment)


def test_bad_prompt_schedule_refuses_the_preset() -> None:
    with pytest.raises(ConfigError, match=r"bad.toml: prompt_schedule.x \(key\): column 1: unknown name 'x'"):
        parse_preset('[prompt_schedule]\n"x" = "a cat"\n', "bad.toml")


def test_compiled_schedule_rejects_bad_end() -> None:
    with pytest.raises(ValueError, match="hold' or 'loop"):
        CompiledSchedule("zoom", np.ones(3), end="bounce")


# ---------------------------------------------------------------- property tests
# An independent reference of Deforum's semantics over *numeric* keyframes: for every frame,
# find the keys around it and interpolate by hand (no numpy.interp).
def reference(keys: dict[int, tuple[float, bool]], n: int) -> list[float]:
    """Deforum's result: numbers interpolate to the next key; a `held` key (a constant expression) holds."""
    inside = sorted((f, v) for f, v in keys.items() if f < n)
    out = []
    for frame in range(n):
        before = [(f, v) for f, v in inside if f <= frame]
        after = [(f, v) for f, v in inside if f > frame]
        if not before:
            out.append(after[0][1][0])
        elif not after or before[-1][1][1]:
            out.append(before[-1][1][0])
        else:
            (f0, (v0, _)), (f1, (v1, _)) = before[-1], after[0]
            out.append(v0 + (v1 - v0) * (frame - f0) / (f1 - f0))
    return out


number = st.floats(-1000, 1000, allow_nan=False).map(lambda x: round(x, 4))


@st.composite
def keyframe_text(draw: st.DrawFn) -> tuple[str, dict[int, tuple[float, bool]]]:
    frames = draw(st.lists(st.integers(0, 80), min_size=1, max_size=8))
    keys: dict[int, tuple[float, bool]] = {}
    chunks = []
    for frame in frames:
        value = draw(number)
        ws = draw(st.sampled_from(["", " ", "  ", "\n", "\t"]))
        frame_text = draw(st.sampled_from([str(frame), f'"{frame}"', f"'{frame}'", f"({frame})", f"0{frame}"]))
        value_text = draw(st.sampled_from([f"({value!r})", f"{value!r}", f'"{value!r}"', f"( {value!r} )",
                                           f"(({value!r}))", f"{value:e}"]))
        # Deforum holds what its number test refuses: a space inside the parentheses, an exponent.
        keys[frame] = (value, " " in value_text or "e" in value_text)
        chunks.append(f"{ws}{frame_text}{ws}:{ws}{value_text}{ws}")
    trailing = draw(st.sampled_from(["", ",", ", "]))
    return ",".join(chunks) + trailing, keys


@settings(max_examples=300, deadline=None)
@given(keyframe_text(), st.integers(1, 100))
def test_numeric_schedules_match_reference(case: tuple[str, dict[int, tuple[float, bool]]], n: int) -> None:
    text, keys = case
    if not any(f < n for f in keys):
        with pytest.raises(ExpressionError, match="no keyframe"):
            values(text, ScheduleContext(n))
        return
    np.testing.assert_allclose(values(text, ScheduleContext(n)), reference(keys, n), rtol=1e-9, atol=1e-9)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 60), st.integers(-5, 5), st.integers(1, 9)), min_size=1, max_size=6),
       st.integers(1, 70))
def test_expression_keys_match_reference(keys: list[tuple[int, int, int]], n: int) -> None:
    """Keys `f: (a + t / b)` evaluated per frame until the next key, first value held backwards."""
    by_frame = {f: (a, b) for f, a, b in keys}
    text = ", ".join(f"{f}: ({a} + t / {b})" for f, a, b in keys)
    inside = sorted(f for f in by_frame if f < n)
    if not inside:
        return
    expected = []
    for frame in range(n):
        key = max([f for f in inside if f <= frame], default=inside[0])
        a, b = by_frame[key]
        expected.append(a + max(frame, key) / b)  # before the first key: its value at its own frame
    np.testing.assert_allclose(values(text, ScheduleContext(n)), expected)


@settings(max_examples=300, deadline=None)
@given(st.text(alphabet="0123456789:,()\"' tmax_f+-*/sin.", max_size=40))
def test_arbitrary_schedule_text_parses_or_raises_config_error(text: str) -> None:
    try:
        out = values(text)
    except ConfigError:
        return
    assert out.shape == (40,) and np.isfinite(out).all()


def test_beat_uses_the_presets_tempo() -> None:
    from vj.config import parse_preset
    from vj.schedule.keyframes import compile_preset_schedules

    preset = parse_preset('[render]\nfps = 24\n[modulators]\nbpm = 90\n[schedules]\nangle = "0: (beat)"\n')
    angle = compile_preset_schedules(preset)["angle"]
    assert angle(48) == pytest.approx(48 * 90 / (60 * 24))  # 2 s at 90 bpm = 3 beats
    assert compile_preset_schedules(preset, bpm=120)["angle"](48) == pytest.approx(4.0)


@pytest.mark.parametrize("spelling", ["( 1.0 )", "5.", "1e-3", "(1e-3)", "--2", "(2*1)"])
def test_a_constant_deforum_does_not_call_a_number_is_held(spelling: str) -> None:
    """Deforum's number test fails on these, so it evaluates them per frame: held to the next key."""
    out = values(f"0: {spelling}, 10: (100)", ScheduleContext(11))
    first = out[0]
    np.testing.assert_array_equal(out[:10], np.full(10, first))
    assert out[10] == 100.0


@pytest.mark.parametrize("spelling", ["1.0", "(1.0)", "((1.0))", '"1.0"', "('1.0')", "+1", "(01)", "1"])
def test_a_plain_number_interpolates(spelling: str) -> None:
    np.testing.assert_allclose(values(f"0: {spelling}, 10: (11)", ScheduleContext(11)), np.arange(1.0, 12.0))


def test_leading_zero_numbers_read_as_decimal_like_deforum() -> None:
    np.testing.assert_allclose(values("0: (05), 010: (015)", ScheduleContext(11)), np.arange(5.0, 16.0))


def test_a_leading_zero_inside_an_expression_says_what_to_write() -> None:
    with pytest.raises(ExpressionError, match=r"column 5: number 05 has a leading zero.*expected 5, without the"):
        values("0: (05*t)")


def test_a_negative_literal_key_is_ignored_like_deforum(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="vj.schedule.keyframes"):
        out = values("-5: (100), 0: (0), 10: (10)", ScheduleContext(11))
    np.testing.assert_allclose(out, np.arange(11.0))
    assert any("negative frame -5 is ignored" in r.getMessage() for r in caplog.records)
    with pytest.raises(ExpressionError, match="no keyframe inside"):
        values("-3: (1)")  # nothing left: the schedule has no key in range
