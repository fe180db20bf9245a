"""The OSCQuery node builders and constants the tree's modules share (vj.control.oscquery, oscquery_audio)."""

from __future__ import annotations

from typing import Any

from vj.control.osc import PREFIX

ACCESS_NONE, ACCESS_READ, ACCESS_WRITE, ACCESS_RW = 0, 1, 2, 3
CLIPMODE = "both"  # out-of-range values are refused, never passed through: the range is hard


def leaf(path: str, type_tag: str, description: str, access: int, value: list[object],
         **extra: Any) -> dict[str, Any]:
    return {"FULL_PATH": f"{PREFIX}{path}", "TYPE": type_tag, "ACCESS": access, "VALUE": value,
            "DESCRIPTION": description, **extra}


def container(path: str, contents: dict[str, Any], description: str) -> dict[str, Any]:
    return {"FULL_PATH": f"{PREFIX}{path}", "ACCESS": ACCESS_NONE, "CONTENTS": contents, "DESCRIPTION": description}
