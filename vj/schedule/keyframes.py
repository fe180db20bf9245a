"""Deforum keyframe schedules: `frame: (value), frame: (value), ...` → one value per frame.

Grammar (a real tokenizer, not Deforum's `split(",")`/`split(":")`, so commas and colons
inside parentheses or quotes are fine):

    schedule := entry ("," entry)* [","]
    entry    := frame ":" value
    frame    := an integer or an expression of max_f, s, fps, bpm, optionally quoted
    value    := a number or an expression of t, max_f, s, fps, bpm, beat, sec, optionally quoted

Semantics (Deforum's, see docs/guide/deforum.md): numeric keyframes (Deforum's
number test: a plain signed decimal once parentheses and quotes are removed) are joined by
linear interpolation; any other value, even a constant like `( 1.0 )` or `1e-3`, is an
expression keyframe, evaluated on every frame from its key to
the next key with t = the absolute frame; before the first key the first value holds;
keys at or past the end are ignored; after the end a live schedule holds its last value or
loops, as the preset's `[schedule] end` says.

A schedule is computed once for the whole range (vectorised with numpy) and installed into
the ParamStore as a table lookup, so the render thread never evaluates an expression.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vj.registry import REGISTRY, SEED_MAX, ParamKind, ParamSpec
from vj.schedule.ends import ScheduleEnd, parse_end, table_index
from vj.schedule.expressions import (
    FRAME_VARIABLES,
    VALUE_VARIABLES,
    Expression,
    ExpressionError,
    Where,
    parse_expression,
)

if TYPE_CHECKING:  # presets are read by attribute only: vj.config itself imports this grammar
    from vj.config import PresetConfig

log = logging.getLogger(__name__)

MAX_SCHEDULE_CHARS = 200_000
MAX_KEYFRAMES = 10_000
DEFAULT_BPM = 120.0
_QUOTED_IN_PARENS = re.compile(r"^\(\s*([\"'])(.*)\1\s*\)$", re.DOTALL)
RANDOM_SEED = -1  # in a seed schedule: a random seed for that frame (Deforum's convention)


# Deforum's number test (`check_is_number`), applied after it deletes every parenthesis and
# quote: only a plain signed decimal is a number. `( 1.0 )` (spaces), `5.` and `1e-3` fail it,
# so Deforum evaluates them as constant expressions and holds them to the next key.
_DEFORUM_NUMBER = re.compile(r"^(?=.)[+-]?[0-9]*(\.[0-9]+)?$")
_DEFORUM_SANITIZED = str.maketrans("", "", "()'\"")


def deforum_number(text: str) -> float | None:
    """The value if Deforum treats `text` (a keyframe's value or frame) as a number, else None."""
    bare = text.strip().translate(_DEFORUM_SANITIZED)
    if not _DEFORUM_NUMBER.match(bare) or not any(c.isdigit() for c in bare):
        return None  # a lone sign passes Deforum's pattern but is no number
    return float(bare)


@dataclass(frozen=True, slots=True)
class Keyframe:
    frame: Expression  # evaluated once with max_f, s, fps, bpm
    value: Expression  # evaluated per frame, unless `numeric`
    column: int  # 1-based column of the entry in the schedule string
    numeric: float | None = None  # a number to Deforum's test: interpolated to the next key


@dataclass(frozen=True, slots=True)
class ParsedSchedule:
    name: str
    text: str
    keyframes: tuple[Keyframe, ...]
    where: Where


@dataclass(frozen=True, slots=True)
class ScheduleContext:
    """What a schedule is evaluated against: its length and the expression variables."""

    max_frames: int
    seed: int = 42
    fps: float = 24.0
    bpm: float = DEFAULT_BPM

    def frame_env(self) -> dict[str, float]:
        return {"max_f": float(self.max_frames - 1), "s": float(self.seed), "fps": self.fps, "bpm": self.bpm}

    def value_env(self, frames: np.ndarray) -> dict[str, np.ndarray | float]:
        t = frames.astype(np.float64)
        return {**self.frame_env(), "t": t, "sec": t / self.fps, "beat": t * self.bpm / (60.0 * self.fps)}


def _strip_quotes(text: str, offset: int) -> tuple[str, int]:
    """Strip surrounding whitespace and one pair of matching quotes; keep the offset right."""
    stripped = text.lstrip()
    offset += len(text) - len(stripped)
    stripped = stripped.rstrip()
    if len(stripped) >= 2 and stripped[0] == stripped[-1] and stripped[0] in "\"'":
        inner = stripped[1:-1]
        lead = len(inner) - len(inner.lstrip())
        return inner.strip(), offset + 1 + lead
    return stripped, offset


def split_entries(text: str, where: Where) -> list[tuple[str, int, str, int]]:
    """Split a schedule into (frame text, offset, value text, offset), aware of brackets and quotes."""
    entries: list[tuple[str, int, str, int]] = []
    depth = 0
    quote = ""
    start = 0
    colon = -1
    opened: list[int] = []

    def finish(end: int) -> None:
        chunk = text[start:end]
        if not chunk.strip():
            if end < len(text):  # ",," or a leading comma: an entry is missing
                raise where.error(end, "empty entry", "'frame: value' between commas")
            return
        if colon < 0:
            lead = len(chunk) - len(chunk.lstrip())
            raise where.error(start + lead, f"entry {chunk.strip()!r} has no ':'", "'frame: value', e.g. 0: (1.0)")
        entries.append((text[start:colon], start, text[colon + 1:end], colon + 1))

    for i, ch in enumerate(text):
        if quote:
            if ch == quote:
                quote = ""
            continue
        if ch in "\"'":
            quote = ch
            opened.append(i)
        elif ch in "([{":
            depth += 1
            opened.append(i)
        elif ch in ")]}":
            depth -= 1
            if depth < 0:
                raise where.error(i, f"unmatched '{ch}'", "balanced parentheses")
            opened.pop()
        elif depth == 0 and ch == ":" and colon < 0:
            colon = i
        elif depth == 0 and ch == ",":
            finish(i)
            start, colon = i + 1, -1
    if quote:
        raise where.error(opened[-1], f"unclosed quote {quote}", f"a closing {quote}")
    if depth > 0:
        raise where.error(opened[-1], "unclosed '('", "a closing ')'")
    finish(len(text))
    return entries


def parse_schedule(text: str, name: str, source: str = "", key_path: str | None = None) -> ParsedSchedule:
    """Parse a keyframe string; raise `ExpressionError` (a ConfigError) naming name and column."""
    where = Where(source, key_path if key_path is not None else name, text)
    if not isinstance(text, str):
        raise where.error(0, f"expected a string, found {type(text).__name__}", "a schedule string")
    if len(text) > MAX_SCHEDULE_CHARS:
        raise where.error(0, f"schedule too long ({len(text)} characters)", f"at most {MAX_SCHEDULE_CHARS}")
    entries = split_entries(text, where)
    if not entries:
        raise where.error(0, "empty schedule", "at least one 'frame: value' entry, e.g. 0: (1.0)")
    if len(entries) > MAX_KEYFRAMES:
        raise where.error(0, f"{len(entries)} keyframes", f"at most {MAX_KEYFRAMES}")
    keyframes = []
    for frame_text, frame_at, value_text, value_at in entries:
        numeric = deforum_number(value_text)
        frame_number = deforum_number(frame_text)
        frame_text, frame_at = _strip_quotes(frame_text, frame_at)
        value_text, value_at = _strip_quotes(value_text, value_at)
        quoted = _QUOTED_IN_PARENS.match(value_text)
        if quoted:  # ("7"): Deforum strips both the parentheses and the quotes
            value_text, value_at = quoted.group(2), value_at + quoted.start(2)
        if not frame_text:
            raise where.error(frame_at, "missing frame before ':'", "a frame number or expression of max_f, s")
        if not value_text:
            raise where.error(value_at, "missing value after ':'", "a number or an expression in parentheses")
        # A number to Deforum is parsed from its float, so `05` means 5 as it does there.
        frame = parse_expression(frame_text if frame_number is None else _number_text(frame_number),
                                 Where(source, where.key_path, text, frame_at), FRAME_VARIABLES)
        value = parse_expression(value_text if numeric is None else _number_text(numeric),
                                 Where(source, where.key_path, text, value_at), VALUE_VARIABLES)
        keyframes.append(Keyframe(frame, value, frame_at + 1, numeric))
    return ParsedSchedule(name, text, tuple(keyframes), where)


def _number_text(number: float) -> str:
    return str(int(number)) if number.is_integer() else repr(number)


def keyframe_frames(parsed: ParsedSchedule, ctx: ScheduleContext) -> list[tuple[int, Keyframe]]:
    """Resolve key frames to integers (Deforum truncates), sorted; a later duplicate wins."""
    env = ctx.frame_env()
    by_frame: dict[int, Keyframe] = {}
    for key in parsed.keyframes:
        raw = float(key.frame.evaluate(env))
        if not np.isfinite(raw):
            raise key.frame.where.error(0, f"frame evaluates to {raw}", "a finite frame number")
        frame = int(raw)  # truncation toward zero, as Deforum's int(numexpr.evaluate(...))
        if frame < 0 and key.frame.literal is not None:  # Deforum's frame loop never reaches it
            log.warning("%s: keyframe at negative frame %d is ignored (as Deforum); frames start at 0",
                        parsed.where.key_path, frame)
            continue
        if frame < 0 or frame >= ctx.max_frames:
            log.info("%s: keyframe at frame %d is outside 0..%d; ignored (as Deforum)",
                     parsed.where.key_path, frame, ctx.max_frames - 1)
            continue
        by_frame[frame] = key
    return sorted(by_frame.items())


def evaluate_schedule(parsed: ParsedSchedule, ctx: ScheduleContext) -> np.ndarray:
    """Per-frame values for frames 0..max_frames-1 (float64)."""
    n = ctx.max_frames
    if n < 1:
        raise ValueError(f"{parsed.name}: max_frames must be >= 1, found {n}")
    keys = keyframe_frames(parsed, ctx)
    if not keys:
        raise parsed.where.error(0, f"no keyframe inside the {n} frames", f"a keyframe at a frame < {n}")
    values = np.full(n, np.nan)
    known = np.zeros(n, dtype=bool)
    for i, (frame, key) in enumerate(keys):
        end = keys[i + 1][0] if i + 1 < len(keys) else n
        if key.numeric is not None:
            values[frame] = key.numeric
            known[frame] = True
            continue
        frames = np.arange(frame, end)
        out = np.broadcast_to(key.value.evaluate(ctx.value_env(frames)), frames.shape)
        bad = ~np.isfinite(out)
        if bad.any():
            first = int(frames[np.argmax(bad)])
            raise key.value.where.error(0, f"value is {out[np.argmax(bad)]} at frame {first}",
                                        "a finite number (division by zero, log or sqrt of a negative?)")
        values[frame:end] = out
        known[frame:end] = True
    idx = np.flatnonzero(known)
    # np.interp holds the end values outside the known points: the first value holds
    # backwards and the last forwards, and gaps between numeric keys are linear.
    return np.interp(np.arange(n), idx, values[idx])


class CompiledSchedule:
    """fn(frame) -> float over a precomputed table; past the end it holds or loops."""

    def __init__(self, name: str, values: np.ndarray, end: str = "hold", text: str = "") -> None:
        if len(values) == 0:
            raise ValueError(f"{name}: empty schedule table")
        self.name = name
        self.values = np.asarray(values, dtype=np.float64)
        self.values.setflags(write=False)
        self.end: ScheduleEnd = parse_end(end, name)
        self.text = text

    def __len__(self) -> int:
        return len(self.values)

    def __call__(self, frame: int) -> float:
        return float(self.values[table_index(frame, len(self.values), self.end)])

    def __repr__(self) -> str:
        return f"CompiledSchedule({self.name!r}, {len(self.values)} frames, end={self.end.value!r})"


def _resolve_seeds(values: np.ndarray, ctx: ScheduleContext) -> np.ndarray:
    """-1 means a random seed for that frame: drawn from (base seed, frame) so a render repeats."""
    rounded = np.round(values)
    random_frames = np.flatnonzero(rounded == RANDOM_SEED)
    out = rounded.copy()
    for frame in random_frames:
        out[frame] = float(np.random.default_rng([ctx.seed % (SEED_MAX + 1), int(frame)]).integers(0, SEED_MAX + 1))
    return out


# Presets are compiled again at every switch (and by the loader's check); a performer needs
# each file's clamp warning once per run, not at every recall.
_warned_in_files: set[str] = set()


def _warn_out_of_range(spec: ParamSpec, values: np.ndarray, key_path: str, in_file: bool) -> None:
    outside = (values < spec.minimum) | (values > spec.maximum)
    if outside.any():
        first = int(np.argmax(outside))
        message = (f"{key_path}: {int(outside.sum())} of {len(values)} frames fall outside "
                   f"{spec.minimum:g}..{spec.maximum:g} {spec.unit} (first: frame {first} = {values[first]:g}); "
                   "they are clamped")
        if in_file:
            if message in _warned_in_files:
                return
            _warned_in_files.add(message)
        log.warning("%s", message)


def schedulable(name: str) -> ParamSpec | None:
    spec = REGISTRY.get(name)
    return spec if spec is not None and spec.numeric else None


def compile_schedule(text: str, name: str, ctx: ScheduleContext, end: str = "hold", source: str = "",
                     key_path: str | None = None) -> CompiledSchedule:
    """Parse, evaluate and check one schedule for parameter `name` (numeric, in REGISTRY)."""
    path = key_path if key_path is not None else name
    spec = schedulable(name)
    if spec is None:
        names = ", ".join(n for n, s in REGISTRY.items() if s.numeric)
        raise ExpressionError(source, path, 1, f"{name!r} is not a numeric parameter", f"one of {names}")
    values = evaluate_schedule(parse_schedule(text, name, source, path), ctx)
    if name == "seed":
        values = _resolve_seeds(values, ctx)
    _warn_out_of_range(spec, values, ": ".join(p for p in (source, path) if p), in_file=bool(source))
    if spec.kind is ParamKind.INT:
        values = np.round(values)
    return CompiledSchedule(name, values, end, text)


def preset_context(preset: PresetConfig, bpm: float | None = None) -> ScheduleContext:
    """Variables of a preset's schedules; `bpm`/`beat` use the preset's tempo (`[modulators] bpm`), so an
    offline render is repeatable. A live tempo change does not re-time a running schedule: beat-locked
    motion live is what the LFOs are for."""
    max_frames = preset.schedule.max_frames or preset.render.frames
    seed = preset.params.get("seed", REGISTRY["seed"].default)
    tempo = preset.modulators.bpm if bpm is None else bpm
    return ScheduleContext(max_frames=max_frames, seed=int(seed), fps=preset.render.fps, bpm=tempo)


def compile_preset_schedules(preset: PresetConfig, bpm: float | None = None) -> dict[str, CompiledSchedule]:
    ctx = preset_context(preset, bpm)
    return {name: compile_schedule(text, name, ctx, preset.schedule.end, preset.source_path, f"schedules.{name}")
            for name, text in preset.schedules.items()}


def table(schedules: Mapping[str, CompiledSchedule], start: int, stop: int) -> dict[str, np.ndarray]:
    """Values of several schedules for frames start..stop-1 (past the end: hold or loop)."""
    frames = range(start, stop)
    return {name: np.array([fn(f) for f in frames]) for name, fn in schedules.items()}
