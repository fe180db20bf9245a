"""The value checks of live commands: one function per kind of value, for every transport.

Each check takes what a transport decoded (an OSC argument, a JSON value, a MIDI position) and
returns the value a command uses, or raises `Rejected` with the reason and what was expected.
Where a preset file holds the same value, the rule is the preset parser's own (the registry's
ranges, the config dataclasses' field checks): a live write can never reach a value a preset
could not hold.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any

from vj.control.commands.reasons import NOT_FINITE, OUT_OF_RANGE, OVERSIZED, WRONG_TYPE, Rejected
from vj.errors import ParamRejected
from vj.prompt_mix import MAX_PROMPT_CHARS, MAX_PROMPT_WEIGHT, MAX_PROMPTS, prompt_text_problem
from vj.registry import ParamSpec, ParamValue, huge_integer


def number(value: object, what: str) -> float:
    """A finite int or float (a bool is not a number here)."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Rejected(WRONG_TYPE, f"{what}: expected a number, found {value!r}"[:200])
    try:
        as_float = float(value)
    except OverflowError:  # an integer beyond any float (10**400): refused alone, never raised
        raise Rejected(OUT_OF_RANGE, f"{what}: found {huge_integer(int(value))}") from None
    if not math.isfinite(as_float):
        raise Rejected(NOT_FINITE, f"{what}: expected a finite number, found {value!r}")
    return as_float


def text(value: object, what: str) -> str:
    """Text a prompt could hold (prompt text, names, targets): the preset's rule, `prompt_text_problem`."""
    if not isinstance(value, str):
        raise Rejected(WRONG_TYPE, f"{what}: expected a string, found {type(value).__name__}")
    problem = prompt_text_problem(value)
    if problem is not None:
        raise Rejected(problem[0], f"{what}: expected {problem[1]}, found {problem[2]}")
    return value


def switch(value: object, what: str) -> bool:
    """On / off: true / false, or 1 / 0 (a fader or a push button sends numbers)."""
    if isinstance(value, bool):
        return value
    if isinstance(value, (int, float)) and value in (0, 1):
        return bool(value)
    raise Rejected(WRONG_TYPE, f"{what}: expected 1 or 0 (true or false), found {value!r}"[:200])


def param(spec: ParamSpec, value: object) -> ParamValue:
    """A parameter value by the registry's rule (the one a preset's [params] is checked with)."""
    if isinstance(value, str) and spec.numeric:
        raise Rejected(WRONG_TYPE, f"{spec.name}: expected a number, found a string")
    if isinstance(value, str) and len(value) > MAX_PROMPT_CHARS:
        raise Rejected(OVERSIZED, f"{spec.name}: string of {len(value)} characters")
    try:
        return spec.validate(value)
    except ParamRejected as err:
        raise Rejected(err.reason, str(err)) from None


def param_normalised(spec: ParamSpec, value: object) -> ParamValue:
    """A position 0..1 mapped onto the parameter's range (or its choices)."""
    x = number(value, f"{spec.name} (normalised)")
    try:
        return spec.from_normalised(x)
    except ParamRejected as err:
        raise Rejected(err.reason, str(err)) from None


def prompt_slot(value: object) -> int:
    """A prompt slot 0..MAX_PROMPTS-1."""
    if isinstance(value, bool) or not isinstance(value, int):
        raise Rejected(WRONG_TYPE, f"prompt slot: expected an integer 0..{MAX_PROMPTS - 1}, found {value!r}"[:200])
    if not 0 <= value < MAX_PROMPTS:
        raise Rejected(OUT_OF_RANGE, f"prompt slot: expected 0..{MAX_PROMPTS - 1}, found {value}")
    return value


def prompt_weight(value: object) -> float:
    """A prompt's blend weight, 0..MAX_PROMPT_WEIGHT (what a preset's [[prompts.mix]] weight may be)."""
    weight = number(value, "prompt weight")
    if not 0.0 <= weight <= MAX_PROMPT_WEIGHT:
        raise Rejected(OUT_OF_RANGE, f"prompt weight: expected 0..{MAX_PROMPT_WEIGHT:g}, found {weight:g}")
    return weight


def config_value(config: type, name: str, value: float, what: str) -> float:
    """`value` checked by the field check of a preset table's dataclass (e.g. LfoConfig.rate)."""
    check: Any = next(f for f in dataclasses.fields(config) if f.name == name).metadata.get("check")
    problem = check(value) if check is not None else None
    if problem is not None:
        raise Rejected(OUT_OF_RANGE, f"{what}: expected {problem}, found {value:g}")
    return value
