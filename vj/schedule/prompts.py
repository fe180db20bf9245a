"""Deforum prompt schedules: {"0": "a castle --neg blurry", "30": "a forest"} → a PromptMix per frame.

- A key is a frame number or an expression of max_f, s, fps, bpm (as in value schedules).
- Text after `--neg` is that key's negative prompt. A global positive part is put in front
  of every key and a global negative part after every key's negative (Deforum's merge).
- Weighted sub-prompts use A1111's composable syntax, which Deforum passes through:
  `a castle :1.2 AND a forest :0.5`. A weight may be a backtick expression evaluated per
  frame, e.g. ``a castle :`1-t/max_f` AND a forest :`t/max_f` ``; a backtick expression
  elsewhere in the text is replaced by its value (Deforum's inline prompt maths). The
  sub-prompts become weighted entries of the PromptMix and are blended in embedding space.
- At a key the prompt cuts, as Deforum does, or, with `fade_frames` N > 0 (beyond Deforum),
  crossfades: the previous key's entries are scaled by 1-w and the new key's by w, with
  w = (frame - key + 1) / N rising to 1 over N frames; the negative switches half way.
- Before the first key the first prompt holds; keys past the end are ignored; after the end
  the schedule holds or loops like the value schedules.
"""

from __future__ import annotations

import bisect
import logging
import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np

from vj.schedule.ends import ScheduleEnd, parse_end, table_index
from vj.schedule.expressions import (
    FRAME_VARIABLES,
    Expression,
    ExpressionError,
    Where,
    parse_expression,
)
from vj.schedule.keyframes import ScheduleContext, preset_context

if TYPE_CHECKING:  # read by attribute only: vj.config imports this module
    from vj.config import PresetConfig
from vj.prompt_mix import MAX_PROMPT_CHARS, MAX_PROMPT_WEIGHT, MAX_PROMPTS, PromptEntry, PromptMix

log = logging.getLogger(__name__)

NEG_MARKER = "--neg"
_AND = re.compile(r"\s+AND\s+")
_WEIGHT = re.compile(r"\s*:\s*(?:`([^`]*)`|([+-]?(?:\d+\.?\d*|\.\d+)(?:[eE][+-]?\d+)?))\s*$")
_BACKTICK = re.compile(r"`([^`]*)`")


@dataclass(frozen=True, slots=True)
class _Part:
    """One sub-prompt: text (maybe with inline maths) and a weight (a number or an expression)."""

    text: str
    weight: float
    weight_expr: Expression | None
    inline: tuple[Expression, ...]  # backtick expressions inside the text, in order


@dataclass(frozen=True, slots=True)
class _Key:
    frame: int
    parts: tuple[_Part, ...]
    negative: str
    negative_inline: tuple[Expression, ...]

    @property
    def dynamic(self) -> bool:
        return bool(self.negative_inline) or any(p.weight_expr is not None or p.inline for p in self.parts)


def split_negative(prompt: str) -> tuple[str, str]:
    """'a --neg b' → ('a', 'b'); the first --neg splits, as in Deforum."""
    if NEG_MARKER in prompt:
        positive, negative = prompt.split(NEG_MARKER, 1)
        return positive.strip(), negative.strip()
    return prompt.strip(), ""


def merge_globals(prompt: str, positive: str = "", negative: str = "") -> str:
    """Deforum's merge: '<positive> <prompt> --neg <negative>' (the marker only if needed)."""
    parts = [p for p in (positive.strip(), prompt.strip()) if p]
    if negative.strip():
        if NEG_MARKER not in prompt:
            parts.append(NEG_MARKER)
        parts.append(negative.strip())
    return " ".join(parts)


def _inline(text: str, where: Where) -> tuple[Expression, ...]:
    return tuple(parse_expression(m.group(1), Where(where.source, where.key_path, where.text, m.start(1)))
                 for m in _BACKTICK.finditer(text))


def _parse_parts(positive: str, where: Where, text: str) -> tuple[_Part, ...]:
    parts = []
    base = text.find(positive) if positive else 0
    offset = 0
    for raw in _AND.split(positive):
        at = base + positive.find(raw, offset)
        offset = positive.find(raw, offset) + len(raw)
        m = _WEIGHT.search(raw)
        weight, weight_expr = 1.0, None
        body = raw
        if m:
            body = raw[: m.start()]
            if m.group(1) is not None:
                weight_expr = parse_expression(m.group(1), Where(where.source, where.key_path, text, at + m.start(1)))
            else:
                weight = float(m.group(2))
                if not 0.0 <= weight <= MAX_PROMPT_WEIGHT:
                    raise Where(where.source, where.key_path, text, at + m.start(2)).error(
                        0, f"weight {weight:g}", f"a weight in 0..{MAX_PROMPT_WEIGHT:g}")
        body = body.strip()
        if not body:
            raise Where(where.source, where.key_path, text, at).error(0, "empty sub-prompt", "text before ':weight'")
        if len(body) > MAX_PROMPT_CHARS:
            raise Where(where.source, where.key_path, text, at).error(
                0, f"prompt of {len(body)} characters", f"at most {MAX_PROMPT_CHARS}")
        parts.append(_Part(body, weight, weight_expr, _inline(body, Where(where.source, where.key_path, text,
                                                                          at + raw.find(body)))))
    return tuple(parts)


class PromptSchedule:
    """fn(frame) -> PromptMix, for ParamStore.set_prompt_schedule."""

    def __init__(self, keys: list[_Key], ctx: ScheduleContext, fade_frames: int = 0, end: str = "hold") -> None:
        if not keys:
            raise ValueError("PromptSchedule needs at least one key")
        self.keys = keys
        self.frames = [k.frame for k in keys]
        self.ctx = ctx
        self.fade_frames = max(int(fade_frames), 0)
        self.end: ScheduleEnd = parse_end(end, "prompt schedule")
        self._static = {i: self._key_mix(k, 0, 1.0) for i, k in enumerate(keys) if not k.dynamic}

    def _frame(self, frame: int) -> int:
        return table_index(frame, self.ctx.max_frames, self.end)

    def _env(self, frame: int) -> dict[str, np.ndarray | float]:
        return self.ctx.value_env(np.array(float(frame)))

    def _text(self, text: str, inline: tuple[Expression, ...], env: Mapping[str, np.ndarray | float]) -> str:
        if not inline:
            return text
        values = iter(inline)
        return _BACKTICK.sub(lambda _m: f"{float(next(values).evaluate(env)):.4g}", text)

    def _key_mix(self, key: _Key, frame: int, scale: float) -> PromptMix:
        env = self._env(frame) if key.dynamic else {}
        entries = []
        for part in key.parts:
            weight = part.weight if part.weight_expr is None else float(part.weight_expr.evaluate(env))
            weight = min(max(weight if np.isfinite(weight) else 0.0, 0.0), MAX_PROMPT_WEIGHT)
            entries.append(PromptEntry(self._text(part.text, part.inline, env), weight * scale))
        return PromptMix(tuple(entries), self._text(key.negative, key.negative_inline, env))

    def mix_of_key(self, index: int, frame: int, scale: float = 1.0) -> PromptMix:
        if scale == 1.0 and index in self._static:
            return self._static[index]
        return self._key_mix(self.keys[index], frame, scale)

    def __call__(self, frame: int) -> PromptMix:
        f = self._frame(frame)
        i = max(bisect.bisect_right(self.frames, f) - 1, 0)
        since = f - self.frames[i]
        if self.fade_frames <= 0 or i == 0 or since < 0 or since >= self.fade_frames - 1:
            return self.mix_of_key(i, f)
        w = (since + 1) / self.fade_frames
        old = self.mix_of_key(i - 1, f, 1.0 - w)
        new = self.mix_of_key(i, f, w)
        merged: dict[str, float] = {}
        for entry in old.entries + new.entries:
            merged[entry.text] = merged.get(entry.text, 0.0) + entry.weight
        negative = new.negative if w >= 0.5 else old.negative
        return PromptMix(tuple(PromptEntry(t, wt) for t, wt in merged.items()), negative)


def parse_prompt_schedule(prompts: Mapping[str, str], ctx: ScheduleContext, *, positive: str = "",
                          negative: str = "", fade_frames: int = 0, end: str = "hold", source: str = "",
                          key_path: str = "prompt_schedule") -> PromptSchedule:
    """Check and compile a prompt schedule; errors name the key and column (ConfigError)."""
    if not isinstance(prompts, Mapping) or not prompts:
        raise ExpressionError(source, key_path, 1, "empty prompt schedule", 'a table such as {"0" = "a castle"}')
    limit = MAX_PROMPTS // 2 if fade_frames > 0 else MAX_PROMPTS
    by_frame: dict[int, _Key] = {}
    for key_text, prompt in prompts.items():
        path = f"{key_path}.{key_text}"
        if not isinstance(prompt, str):
            raise ExpressionError(source, path, 1, f"expected a string, found {prompt!r}", "a prompt string")
        key_where = Where(source, path + " (key)", str(key_text))
        frame_text = str(key_text).strip().strip("\"'")
        frame_value = float(parse_expression(frame_text, key_where, FRAME_VARIABLES).evaluate(ctx.frame_env()))
        if not np.isfinite(frame_value):
            raise key_where.error(0, f"frame evaluates to {frame_value}", "a finite frame number")
        frame = int(frame_value)
        if frame < 0 or frame >= ctx.max_frames:
            log.info("%s: prompt key at frame %d is outside 0..%d; ignored (as Deforum)", path, frame,
                     ctx.max_frames - 1)
            continue
        text = merge_globals(prompt, positive, negative)
        where = Where(source, path, text)
        pos, neg = split_negative(text)
        parts = _parse_parts(pos, where, text)
        if len(parts) > limit:
            raise where.error(0, f"{len(parts)} sub-prompts", f"at most {limit}"
                              + (" when prompts crossfade" if fade_frames > 0 else ""))
        neg_at = text.find(neg) if neg else 0
        by_frame[frame] = _Key(frame, parts, neg, _inline(neg, Where(source, path, text, neg_at)))
    if not by_frame:
        raise ExpressionError(source, key_path, 1, f"no prompt key inside the {ctx.max_frames} frames",
                              f"a key at a frame < {ctx.max_frames}")
    schedule = PromptSchedule([by_frame[f] for f in sorted(by_frame)], ctx, fade_frames, end)
    _check_dynamic(schedule, source, key_path)
    return schedule


def _check_dynamic(schedule: PromptSchedule, source: str, key_path: str) -> None:
    """Evaluate every backtick expression over its key's frames now, so a bad one refuses the preset."""
    frames = schedule.frames + [schedule.ctx.max_frames]
    for i, key in enumerate(schedule.keys):
        if not key.dynamic:
            continue
        stop = min(frames[i + 1] + schedule.fade_frames, schedule.ctx.max_frames)
        env = schedule.ctx.value_env(np.arange(key.frame, stop))
        exprs = [p.weight_expr for p in key.parts if p.weight_expr is not None]
        exprs += [e for p in key.parts for e in p.inline] + list(key.negative_inline)
        for expr in exprs:
            out = np.broadcast_to(expr.evaluate(env), (stop - key.frame,))
            bad = ~np.isfinite(out)
            if bad.any():
                raise expr.where.error(0, f"value is {out[np.argmax(bad)]} at frame {key.frame + int(np.argmax(bad))}",
                                       "a finite number")


def compile_preset_prompt_schedule(preset: PresetConfig, bpm: float | None = None) -> PromptSchedule | None:
    """The preset's `[prompt_schedule]` with `prompts.negative` as the global negative, or None.

    The schedule itself cuts at each key; the engine fades every prompt change in over
    the `prompt_fade_s` parameter, so a preset crossfades with prompt_fade_s > 0 and cuts
    exactly as Deforum with prompt_fade_s = 0 (what imported settings files get).
    """
    if not preset.prompt_schedule:
        return None
    return parse_prompt_schedule(preset.prompt_schedule, preset_context(preset, bpm),
                                 negative=preset.prompts.negative, fade_frames=0,
                                 end=preset.schedule.end, source=preset.source_path)
