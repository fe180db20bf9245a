"""The server → page half of the protocol: the `state` and `values` messages.

`state` (on connect: everything; later only the keys that changed):
  params (the registry in `vj params` groups, less the context's `hidden` slots), presets, preset,
  prompts, history, record, tempo, quantise, lfos, lfo_shapes, learn, limits, audio (the loaded
  audio modulators with the ranges the page may set, the sources, the onset action), audio_curves,
  onset_actions.
`values` (at most `values_hz` a second, when something moved):
  values (what the frame used: smoothed, with LFOs), targets (where each is heading),
  drivers (per parameter: "live", "schedule", "lfo", "audio"; no entry = the preset value),
  audio (levels: each source 0..1 in the last block; offsets: what each modulator adds now).
`status` (twice a second): the status line's figures.
"""

from __future__ import annotations

from collections import deque
from collections.abc import Mapping

from vj.choices import LfoShape
from vj.config_audio import AUDIO_CURVES, ONSET_ACTIONS
from vj.control.audio.modulators import AudioModulators
from vj.control.audio.surface import FIELDS as AUDIO_FIELDS
from vj.control.audio.surface import field_range
from vj.control.tempo import Quantise
from vj.prompt_mix import MAX_PROMPT_CHARS, MAX_PROMPT_WEIGHT, MAX_PROMPTS
from vj.registry import ParamKind, ParamSpec, ParamValue, params_by_group
from vj.web.context import WebContext

HISTORY_LENGTH = 50


def param_json(spec: ParamSpec) -> dict[str, object]:
    entry: dict[str, object] = {"name": spec.name, "kind": spec.kind.value, "default": spec.default,
                                "unit": spec.unit, "description": spec.description}
    if spec.kind is ParamKind.CHOICE:
        entry["choices"] = list(spec.choices)
    else:
        entry.update(min=spec.minimum, max=spec.maximum, smoothing_s=spec.smoothing_s)
    return entry


def registry_groups(registry: Mapping[str, ParamSpec]) -> list[dict[str, object]]:
    return [{"group": group, "params": [param_json(s) for s in specs]}
            for group, specs in params_by_group(registry).items()]


class PromptHistory:
    """Every prompt text the show has played (from any source), newest first, without repeats."""

    def __init__(self, length: int = HISTORY_LENGTH) -> None:
        self._texts: deque[str] = deque(maxlen=length)
        self._playing: set[str] = set()

    def observe(self, texts: list[str]) -> bool:
        """Texts that were not playing a moment ago go to the top (a recalled one moves up again)."""
        fresh = [t for t in texts if t and t not in self._playing]
        self._playing = set(texts)
        for text in fresh:
            if text in self._texts:
                self._texts.remove(text)
            self._texts.appendleft(text)
        return bool(fresh)

    def texts(self) -> list[str]:
        return list(self._texts)


def show_state(ctx: WebContext, history: PromptHistory) -> dict[str, object]:
    """The part of `state` that changes during a show (compared key by key each tick)."""
    mix = ctx.store.prompts()
    history.observe([e.text for e in mix.entries])
    record = ctx.record_info()
    lfos = {name: {"shape": lfo.shape.value, "rate": lfo.rate, "unit": lfo.unit.value, "depth": lfo.depth,
                   "offset": lfo.offset} for name, lfo in ctx.modulators.assigned().items()}
    return {
        "preset": ctx.playing_preset(),
        "presets": ctx.preset_names(),
        "model": ctx.playing_model(),
        "models": ctx.model_names() if ctx.actions.model is not None else [],
        "prompts": {"entries": [{"text": e.text, "weight": e.weight} for e in mix.entries],
                    "negative": mix.negative},
        "history": history.texts(),
        "record": {"available": ctx.actions.record is not None and record.available, "on": record.on,
                   "name": record.name, "takes": record.takes},
        "tempo": {"bpm": round(ctx.tempo.bpm, 3), "source": ctx.tempo.source,
                  "beats_per_bar": ctx.tempo.beats_per_bar},
        "quantise": ctx.quantiser.mode.value,
        "lfos": lfos,
        "audio": audio_state(ctx.actions.audio, {n: s for n, s in ctx.store.registry.items() if n not in ctx.hidden}),
        "learn": {"available": ctx.actions.learn is not None, "learning": ctx.learning()},
        "performer": {"available": ctx.actions.panic is not None, **ctx.switches()},
    }


def full_state(ctx: WebContext, history: PromptHistory) -> dict[str, object]:
    return {
        "params": registry_groups({n: s for n, s in ctx.store.registry.items() if n not in ctx.hidden}),
        "quantise_modes": [q.value for q in Quantise],
        "lfo_shapes": [s.value for s in LfoShape],
        "audio_curves": list(AUDIO_CURVES),
        "onset_actions": list(ONSET_ACTIONS),
        "limits": {"prompts": MAX_PROMPTS, "prompt_chars": MAX_PROMPT_CHARS, "prompt_weight": MAX_PROMPT_WEIGHT},
        **show_state(ctx, history),
    }


def values_payload(ctx: WebContext) -> dict[str, object]:
    store = ctx.store
    snap = store.last_snapshot
    live = store.live_overrides()
    scheduled = set(ctx.scheduled())
    lfos = ctx.modulators.assigned()
    audio = ctx.actions.audio.assigned() if ctx.actions.audio is not None else {}
    drivers: dict[str, list[str]] = {}
    for name in store.registry:
        driven = [d for d, on in (("live", name in live), ("schedule", name in scheduled and name not in live),
                                  ("lfo", name in lfos), ("audio", name in audio)) if on]
        if driven:
            drivers[name] = driven
    payload: dict[str, object] = {
        "frame": snap.frame_index if snap is not None else -1,
        "values": {k: _rounded(v) for k, v in snap.values.items()} if snap is not None else {},
        "targets": {name: _rounded(store.target(name)) for name in store.registry},
        "drivers": drivers,
    }
    if ctx.actions.audio is not None:
        payload["audio"] = audio_meters(ctx.actions.audio)
    return payload


def audio_state(audio: AudioModulators | None, params: Mapping[str, ParamSpec]) -> dict[str, object]:
    """The audio modulators the page lists (on the shown parameters), each with the ranges it may set."""
    if audio is None:
        return {"available": False, "sources": [], "onset": "none", "mods": {}}
    mods: dict[str, object] = {}
    for name, mod in audio.assigned().items():
        spec = params.get(name)
        if spec is None:
            continue
        mods[name] = {"source": mod.source, "depth": mod.depth, "offset": mod.offset, "attack_ms": mod.attack_ms,
                      "release_ms": mod.release_ms, "curve": mod.curve.value,
                      "ranges": {f: list(field_range(spec, f)) for f in AUDIO_FIELDS}}
    return {"available": True, "sources": list(audio.sources), "onset": audio.onset.action, "mods": mods}


def audio_meters(audio: AudioModulators) -> dict[str, object]:
    """Three decimals: a meter needs no more, and a steady input stops sending updates."""
    levels = {source: round(audio.level(source), 3) for source in audio.sources}
    return {"levels": levels, "offsets": {name: round(audio.value(name), 4) for name in audio.assigned()}}


def _rounded(value: ParamValue) -> ParamValue:
    """Six decimals: a glide that has settled to within 1e-6 stops sending updates."""
    return round(value, 6) if isinstance(value, float) else value
