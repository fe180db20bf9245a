"""MIDI targets: parsed once into typed values that keep their text; unknown targets are None."""

from __future__ import annotations

import pytest

from vj.control.midi.mapping_file import parse_mapping, valid_target
from vj.control.midi.targets import (
    Action,
    LfoTarget,
    ParamTarget,
    PromptWeightTarget,
    parse_learn_target,
    parse_target,
)
from vj.registry import REGISTRY


def test_each_kind_of_target_parses_to_its_value() -> None:
    assert parse_target("zoom") == ParamTarget("zoom")
    assert parse_target("prompt/2/weight") == PromptWeightTarget("prompt/2/weight", 2)
    assert parse_target("lfo/zoom/depth") == LfoTarget("lfo/zoom/depth", "zoom", "depth")
    assert parse_target("lfo/angle/rate") == LfoTarget("lfo/angle/rate", "angle", "rate")
    assert str(parse_target("prompt/2/weight")) == "prompt/2/weight"


@pytest.mark.parametrize("text", ["warp", "prompt/99/weight", "prompt/x/weight", "prompt/²/weight",
                                  "prompt/٣/weight", "lora/٣/scale", "controlnet/" + "1" * 5000 + "/scale",
                                  "lfo/warp/depth", "lfo/zoom/phase", "lfo/border/depth", "", "next_preset"])
def test_unknown_targets_are_none(text: str) -> None:
    assert parse_target(text) is None and not valid_target(text)


def test_learn_targets_include_actions_but_not_learn_itself() -> None:
    assert parse_learn_target("tap") is Action.TAP
    assert parse_learn_target("learn") is None
    assert parse_learn_target("noise") == ParamTarget("noise")


def test_default_ranges() -> None:
    zoom = REGISTRY["zoom"]
    assert ParamTarget("zoom").default_range() == (zoom.minimum, zoom.maximum)
    assert ParamTarget("border").default_range() == (0.0, 1.0)  # a choice: its normalised position
    assert PromptWeightTarget("prompt/0/weight", 0).default_range() == (0.0, 1.0)
    assert LfoTarget("lfo/zoom/rate", "zoom", "rate").default_range() == (0.25, 16.0)
    assert LfoTarget("lfo/zoom/depth", "zoom", "depth").default_range() == (0.0, (zoom.maximum - zoom.minimum) / 4)


def test_a_loaded_mapping_holds_parsed_targets() -> None:
    mapping = parse_mapping('[[cc]]\ncontrol = 1\nparam = "lfo/zoom/depth"\n'
                            '[[button]]\nnote = 2\nmode = "toggle"\nparam = "prompt/1/weight"\n', "t.toml")
    assert mapping.cc[0].target == LfoTarget("lfo/zoom/depth", "zoom", "depth")
    assert mapping.cc[0].param == "lfo/zoom/depth"
    assert mapping.buttons[0].target == PromptWeightTarget("prompt/1/weight", 1)
