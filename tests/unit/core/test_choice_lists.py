"""Each preset choice list is one StrEnum in vj.registry: the config accepts exactly its members."""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import pytest

from vj.choices import CfgMode, ControlKind, LfoShape, LfoUnit, Quantise
from vj.config import ControlNetConfig, LfoConfig, ModelConfig, ModulatorsConfig
from vj.control.modulators import parse_lfo
from vj.errors import ConfigError

CASES: list[tuple[Any, str, type[StrEnum], dict[str, Any]]] = [
    (ModelConfig, "cfg", CfgMode, {}),
    (ControlNetConfig, "conditioning", ControlKind, {"source": "tiny"}),
    (LfoConfig, "shape", LfoShape, {}),
    (LfoConfig, "unit", LfoUnit, {}),
    (ModulatorsConfig, "quantise", Quantise, {}),
]


@pytest.mark.parametrize(("config", "key", "choices", "base"), CASES, ids=[c[1] for c in CASES])
def test_the_config_accepts_exactly_the_enum_members(config: Any, key: str, choices: type[StrEnum],
                                                     base: dict[str, Any]) -> None:
    for member in choices:
        assert getattr(config(**base, **{key: member.value}), key) == member
    with pytest.raises(ConfigError) as caught:
        config(**base, **{key: "nonsense"})
    message = str(caught.value)
    assert key in message and all(member.value in message for member in choices)


def test_the_lfo_parser_and_the_config_share_the_shapes() -> None:
    for shape in LfoShape:
        assert parse_lfo(shape.value, 4.0, 1.0).shape is shape
    with pytest.raises(ValueError, match="random_smooth"):
        parse_lfo("wobble", 4.0, 1.0)
