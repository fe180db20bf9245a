"""The checks a config dataclass runs on itself in `__post_init__`, however it was built.

Each check raises `ConfigError(owner, key, expected, found)`, where `owner` is the class
name and `key` the field (or a path below it). The TOML loader re-raises these with the
file name and the full key path in front, so a preset and a config built in code are
refused with the same words.
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable, Mapping
from dataclasses import field
from types import MappingProxyType
from typing import Any

from vj.errors import ConfigError, ParamRejected
from vj.registry import REGISTRY, ParamKind, ParamValue, huge_integer

Check = Callable[[Any], str | None]

_KINDS: dict[str, type] = {"str": str, "int": int, "float": float, "bool": bool}
_LARGEST_FLOAT = int(sys.float_info.max)
_TYPE_NAMES = {str: "a string", int: "an integer", float: "a number", bool: "true or false"}


def check_range(lo: float, hi: float) -> Check:
    def check(value: Any) -> str | None:
        return None if lo <= value <= hi else f"a value in {lo:g}..{hi:g}"
    return check


def multiple_of(n: int, lo: int, hi: int) -> Check:
    def check(value: Any) -> str | None:
        return None if lo <= value <= hi and value % n == 0 else f"a multiple of {n} in {lo}..{hi}"
    return check


def one_of(choices: tuple[str, ...]) -> Check:
    def check(value: Any) -> str | None:
        index = value[5:] if value.startswith("cuda:") and "cuda" in choices else ""
        if value in choices or (index.isascii() and index.isdigit()):  # "cuda:²" is no device
            return None
        return f"one of {', '.join(choices)}"
    return check


def config_field(default: Any, check: Check | None = None, doc: str = "") -> Any:
    """A scalar field whose value `check` returns a problem for (None when it is fine)."""
    return field(default=default, metadata={"check": check, "doc": doc})


def coerce(kind: type, value: Any, owner: str, key: str) -> Any:
    """`value` as `kind`: bools are no numbers, an int is a float, a float must be finite."""
    if kind is bool:
        if isinstance(value, bool):
            return value
    elif kind is int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
    elif kind is float:
        if isinstance(value, int) and not isinstance(value, bool) and abs(value) > _LARGEST_FLOAT:
            raise ConfigError(owner, key, "a number a float can hold", huge_integer(value))
        if isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value):
            return float(value)
    elif kind is str and isinstance(value, str):
        return value
    raise ConfigError(owner, key, _TYPE_NAMES.get(kind, str(kind)), value)


def _set(config: Any, name: str, value: Any) -> None:
    object.__setattr__(config, name, value)  # a frozen dataclass normalising itself during __post_init__


def check_scalar_fields(config: Any) -> None:
    """Type and range of every str/int/float/bool field (ints given for floats become floats)."""
    owner = type(config).__name__
    for f in dataclasses.fields(config):
        kind = _KINDS.get(str(f.type))
        if kind is None:
            continue
        raw = getattr(config, f.name)
        value = coerce(kind, raw, owner, f.name)
        check = f.metadata.get("check")
        problem = check(value) if check else None
        if problem:
            raise ConfigError(owner, f.name, problem, raw)
        if value is not raw:
            _set(config, f.name, value)


def check_instance(config: Any, name: str, cls: type) -> None:
    value = getattr(config, name)
    if not isinstance(value, cls):
        raise ConfigError(type(config).__name__, name, f"a {cls.__name__}", value)


def check_items(config: Any, name: str, cls: type, at_most: tuple[int, str] | None = None) -> None:
    """A tuple of `cls` (a list is frozen into one); `at_most`: (count, what they are called)."""
    value = getattr(config, name)
    if not isinstance(value, (tuple, list)):
        raise ConfigError(type(config).__name__, name, f"a tuple of {cls.__name__}", value)
    if at_most is not None and len(value) > at_most[0]:
        raise ConfigError(type(config).__name__, name, f"at most {at_most[0]} {at_most[1]}",
                          f"{len(value)} {at_most[1]}")
    for i, item in enumerate(value):
        if not isinstance(item, cls):
            raise ConfigError(type(config).__name__, f"{name}[{i}]", f"a {cls.__name__}", item)
    _set(config, name, tuple(value))


def check_strings(config: Any, name: str) -> None:
    """A mapping of string → string, frozen."""
    value = getattr(config, name)
    owner = type(config).__name__
    if not isinstance(value, Mapping):
        raise ConfigError(owner, name, "a table of strings", value)
    for k, v in value.items():
        if not isinstance(v, str):
            raise ConfigError(owner, join(name, k), "a string", v)
    _set(config, name, MappingProxyType(dict(value)))


def check_params(config: Any, name: str) -> None:
    """A mapping of parameter name → a value its registry entry accepts, frozen."""
    values = getattr(config, name)
    owner = type(config).__name__
    if not isinstance(values, Mapping):
        raise ConfigError(owner, name, "a table of parameter values", values)
    good: dict[str, ParamValue] = {}
    for param, value in values.items():
        key = join(name, param)
        spec = REGISTRY.get(param)
        if spec is None:
            raise ConfigError(owner, key, "a parameter name (see `vj params`)", f"unknown key {param!r}")
        if spec.numeric and isinstance(value, str):
            raise ConfigError(owner, key, f"a number in {spec.minimum:g}..{spec.maximum:g}", value)
        if (spec.kind is ParamKind.INT and isinstance(value, float)
                and not (math.isfinite(value) and value.is_integer())):
            # A file says what it means: `steps = 2.5` is a typo, not a request for 2 (OSC rounds, live).
            raise ConfigError(owner, key, f"a whole number in {int(spec.minimum)}..{int(spec.maximum)}", value)
        try:
            good[param] = spec.validate(value)
        except ParamRejected as err:
            expected = (f"one of {', '.join(spec.choices)}" if spec.choices
                        else f"a number in {spec.minimum:g}..{spec.maximum:g} {spec.unit}".rstrip())
            raise ConfigError(owner, key, expected, value) from err
    _set(config, name, MappingProxyType(good))


def check_numeric_param_names(config: Any, name: str, cls: type) -> None:
    """A mapping of numeric parameter name → `cls`, frozen."""
    values = getattr(config, name)
    owner = type(config).__name__
    if not isinstance(values, Mapping):
        raise ConfigError(owner, name, f"a mapping of numeric parameter name → {cls.__name__}", values)
    for param, value in values.items():
        spec = REGISTRY.get(param)
        if spec is None or not spec.numeric:
            raise ConfigError(owner, join(name, param), "a numeric parameter name (see `vj params`)",
                              f"unknown key {param!r}" if spec is None else f"text parameter {param!r}")
        if not isinstance(value, cls):
            raise ConfigError(owner, join(name, param), f"a {cls.__name__}", value)
    _set(config, name, MappingProxyType(dict(values)))


def join(path: str, key: str) -> str:
    return f"{path}.{key}" if path else key
