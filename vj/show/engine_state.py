"""An engine's live values, read from its OSCQuery tree, and the OSC that puts them back after a restart.

The tree is the engine's own account of every value a performer can set (parameters, prompt
slots, LFOs, blackout, freeze, tempo), read over HTTP, so the show keeps nothing of its own
that could drift from the engine. After a restart, every value that differs from what the new
process started with is sent back in one OSC bundle (applied at one frame boundary).
"""

from __future__ import annotations

import json
import math
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

from pythonosc.osc_bundle_builder import IMMEDIATELY, OscBundleBuilder
from pythonosc.osc_message_builder import OscMessageBuilder

READ_WRITE = 3
# Not put back: the normalised forms mirror the plain ones; an LFO's depth and rate are in its `set`;
# the tempo is Link's when the show plays on Link (the restarted engine takes the session's).
SKIPPED_PREFIXES = ("/vj/norm/",)
SKIPPED_SUFFIXES = ("/depth", "/rate")
FETCH_TIMEOUT_S = 2.0
# Read back, never put back: a preset recalled by OSC arms OSC pickup (the values after it in the same restore
# would be held until their senders move them) and may land later, on the quantise grid, over them.
PRESET_ADDRESS = "/vj/preset"


def fetch_tree(host: str, port: int, timeout_s: float = FETCH_TIMEOUT_S) -> dict[str, Any]:
    """The engine's whole OSCQuery tree (`GET /`); OSError when it does not answer."""
    with urllib.request.urlopen(f"http://{host}:{port}/", timeout=timeout_s) as response:  # noqa: S310 (http only)
        tree: dict[str, Any] = json.loads(response.read())
    return tree


def leaves(node: Mapping[str, Any]) -> Iterator[Mapping[str, Any]]:
    contents = node.get("CONTENTS")
    if isinstance(contents, dict):
        for child in contents.values():
            yield from leaves(child)
    elif "FULL_PATH" in node:
        yield node


def live_values(tree: Mapping[str, Any], *, with_tempo: bool = True) -> dict[str, list[Any]]:
    """Address -> VALUE of every leaf a performer can set and read back (what a restart puts back)."""
    values: dict[str, list[Any]] = {}
    for leaf in leaves(tree):
        path, value = leaf.get("FULL_PATH"), leaf.get("VALUE")
        if not isinstance(path, str) or not isinstance(value, list) or leaf.get("ACCESS") != READ_WRITE:
            continue
        if path.startswith(SKIPPED_PREFIXES) or (path.startswith("/vj/lfo/") and path.endswith(SKIPPED_SUFFIXES)):
            continue
        if path == PRESET_ADDRESS or (path == "/vj/bpm" and not with_tempo):
            continue
        values[path] = value
    return values


def changed_values(saved: Mapping[str, list[Any]], now: Mapping[str, list[Any]]) -> dict[str, list[Any]]:
    """The saved values the engine no longer has (an address it no longer answers is left out)."""
    return {path: value for path, value in saved.items() if path in now and now[path] != value}


def same_value(read: list[Any], sent: list[Any], rel_tol: float = 1e-3) -> bool:
    """Whether a value read back is the one sent: numbers within `rel_tol` (what the tree reads is the smoothed
    value on screen, gliding to the one sent), anything else equal."""
    if len(read) != len(sent):
        return False
    for a, b in zip(read, sent, strict=True):
        numbers = all(isinstance(x, int | float) and not isinstance(x, bool) for x in (a, b))
        if not (math.isclose(a, b, rel_tol=rel_tol, abs_tol=1e-6) if numbers else a == b):
            return False
    return True


def restore_bundle(values: Mapping[str, list[Any]]) -> bytes:
    """One OSC bundle setting every value (LFOs after the parameters they move; their order otherwise kept)."""
    bundle = OscBundleBuilder(IMMEDIATELY)
    for path in sorted(values, key=lambda p: p.startswith("/vj/lfo/")):
        message = OscMessageBuilder(path)
        for arg in values[path]:
            message.add_arg(arg)
        bundle.add_content(message.build())  # type: ignore[arg-type]
    return bundle.build().dgram
