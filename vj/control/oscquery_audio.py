"""The audio modulators in the OSCQuery tree: /vj/audio/onset, /vj/audio/<param>/..., /vj/audio/meter/<source>.

Only the loaded modulators have a container (a client re-reads the tree after attaching one
with /vj/audio/<param>/set), each holding the methods the router answers on it (set, depth,
offset, attack_ms, release_ms) with the ranges it enforces (vj.control.audio.surface), and
`value`, the offset the parameter gets now. /vj/audio/meter/<source> holds each source's
level 0..1 of the last analysed block. `value` and the meters are read-only: a LISTEN on them
streams the sound's movement like any other value.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from vj.config_audio import AUDIO_CURVES, ONSET_ACTIONS
from vj.control.audio.modulators import AudioModulators
from vj.control.audio.surface import field_range
from vj.control.oscquery_nodes import ACCESS_READ, ACCESS_RW, CLIPMODE, container, leaf
from vj.registry import ParamSpec

_FIELD_TEXT = {"depth": "amount at full level", "offset": "constant added",
               "attack_ms": "envelope rise time", "release_ms": "envelope fall time"}


def audio_nodes(audio: AudioModulators, params: Mapping[str, ParamSpec]) -> dict[str, Any]:
    """The /vj/audio container's contents; `params` are the parameters the tree shows."""
    sources = list(audio.sources)
    nodes: dict[str, Any] = {
        "onset": leaf("audio/onset", "s", "what an onset triggers", ACCESS_RW, [audio.onset.action],
                      RANGE=[{"VALS": list(ONSET_ACTIONS)}]),
    }
    meters = {source: leaf(f"audio/meter/{source}", "f", f"level of {source} in the last analysed block",
                           ACCESS_READ, [audio.level(source)],
                           RANGE=[{"MIN": 0.0, "MAX": 1.0}])
              for source in sources}
    nodes["meter"] = container("audio/meter", meters, "what the sound does now, per source (0..1)")
    for name, mod in audio.assigned().items():
        spec = params.get(name)
        if spec is None:  # a hidden slot: not in the tree, its addresses still answered
            continue
        base = f"audio/{name}"
        units = [spec.unit] if spec.unit else []
        ranges = {f: field_range(spec, f) for f in ("depth", "offset", "attack_ms", "release_ms")}
        methods: dict[str, Any] = {
            "set": leaf(f"{base}/set", "sfffs", f"make {name} follow a source: source, depth, attack_ms, "
                        "release_ms, curve (or one argument 'off' to remove it)", ACCESS_RW,
                        [mod.source, mod.depth, mod.attack_ms, mod.release_ms, mod.curve.value],
                        RANGE=[{"VALS": [*sources, "off"]}, _range(ranges["depth"]), _range(ranges["attack_ms"]),
                               _range(ranges["release_ms"]), {"VALS": list(AUDIO_CURVES)}]),
        }
        for field, (lo, hi) in ranges.items():
            unit = ["ms"] if field.endswith("_ms") else units
            methods[field] = leaf(f"{base}/{field}", "f", f"{_FIELD_TEXT[field]} of {name}'s audio modulator",
                                  ACCESS_RW, [getattr(mod, field)], RANGE=[{"MIN": lo, "MAX": hi}],
                                  CLIPMODE=CLIPMODE, **({"UNIT": unit} if unit else {}))
        methods["value"] = leaf(f"{base}/value", "f", f"the offset the sound adds to {name} now", ACCESS_READ,
                                [audio.value(name)], **({"UNIT": units} if units else {}))
        nodes[name] = container(base, methods, f"{name} follows {mod.source}")
    return nodes


def _range(bounds: tuple[float, float]) -> dict[str, float]:
    return {"MIN": bounds[0], "MAX": bounds[1]}

