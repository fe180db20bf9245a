"""The page → server half of the WebSocket protocol: JSON messages validated and applied.

A message is one JSON object; each key is a command, applied in order:

    {"set": {"zoom": 1.05, "border": "wrap"}}      live values, atomic (one frame sees all)
    {"prompt": {"slot": 0, "text": "…", "weight": 1.0}}   text and/or weight of a slot
    {"negative": "…"}                               the negative prompt
    {"preset": "spiral"}                            switch to a shipped preset (name or number)
    {"release": "zoom" | "prompt" | "all"}          hand back to the schedule / preset value
    {"record": true}                                start / stop the take
    {"tap": true}  {"bpm": 128}  {"quantise": "bar"}
    {"lfo": {"param": "zoom", "shape": "sine", "rate": 4, "depth": 0.01, "offset": 0, "unit": "beats"}}
    {"lfo": {"param": "zoom", "off": true}}
    {"audio": {"param": "zoom", "source": "bass", "depth": 0.05}}   attach (also attack_ms, release_ms, curve, offset)
    {"audio": {"param": "zoom", "depth": 0.08}}      change a loaded one (depth, offset, attack_ms, release_ms)
    {"audio": {"param": "zoom", "off": true}}  {"audio": {"onset": "seed_step"}}
    {"learn": "zoom" | "off"}                       MIDI-learn the next control moved
    {"blackout": true}  {"freeze": false}           the performer's switches (on / off)
    {"panic": true}                                 recall the playing preset now
    {"preview": false}                              this page stops (or starts) receiving frames

Writes take the same path as OSC: validated against the registry, written into the store with
source "web" (so they reach the timeline), prompt text, the negative and the seed landing on
the quantise grid when quantise is on. A bad message or entry is counted by reason (the
store's counters too), logged at most once a second, answered with an `error` message to
the sender, and otherwise ignored.
"""

from __future__ import annotations

import json
import logging
import math
from collections import Counter
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field, replace

from vj.config_audio import AUDIO_CURVES
from vj.control._ratelog import RateLimitedLog
from vj.control.audio.modulators import AudioMod
from vj.control.audio.surface import FIELDS as AUDIO_FIELDS
from vj.control.audio.surface import out_of_range as audio_out_of_range
from vj.control.midi.curves import Curve
from vj.control.modulators import parse_lfo
from vj.control.tempo import Quantise
from vj.errors import ParamRejected
from vj.prompt_mix import MAX_PROMPT_WEIGHT, MAX_PROMPTS, prompt_text_problem
from vj.registry import ParamValue, huge_integer
from vj.web.context import WebContext

log = logging.getLogger(__name__)

SOURCE = "web"
MAX_MESSAGE_CHARS = 16 * 1024  # a full `set` of every parameter is ~1 KB, a prompt at most 1000 chars

# Rejection reasons: the OSC server's names where the meaning is the same.
MALFORMED = "malformed"
OVERSIZED = "oversized"
UNKNOWN_MESSAGE = "unknown_message"
WRONG_TYPE = "wrong_type"
NOT_FINITE = "not_finite"
OUT_OF_RANGE = "out_of_range"
UNKNOWN_CHOICE = "unknown_choice"
UNAVAILABLE = "unavailable"
ACTION_FAILED = "action_failed"
RATE_LIMITED = "rate_limited"


class Reject(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


@dataclass
class WebCounters:
    messages: int = 0
    applied: int = 0
    commands: int = 0
    rejected: Counter[str] = field(default_factory=Counter)

    def rejected_total(self) -> int:
        return sum(self.rejected.values())


class WebProtocol:
    """Applies page messages to the show. Called on the web thread only; every write is a quick store call."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.counters = WebCounters()
        self._ratelog = RateLimitedLog(log)
        self._handlers: dict[str, Callable[[object], None]] = {
            "set": self._set, "prompt": self._prompt, "negative": self._negative, "preset": self._preset,
            "release": self._release, "record": self._record, "tap": self._tap, "bpm": self._bpm,
            "quantise": self._quantise, "lfo": self._lfo, "audio": self._audio, "learn": self._learn,
            "blackout": lambda v: self._switch("blackout", self.ctx.blackout, v),
            "freeze": lambda v: self._switch("freeze", self.ctx.freeze, v), "panic": self._panic,
        }

    # ------------------------------------------------------------------ entry points
    def reject(self, reason: str, detail: str, key: str = "") -> dict[str, object]:
        """Count a rejection (here and in the store) and build the `error` reply."""
        self.counters.rejected[reason] += 1
        self.ctx.store.reject(reason)
        self._ratelog.warning(f"{key}:{reason}", "web message ignored (%s%s): %s",
                              f"{key}: " if key else "", reason, detail[:200])
        return {"error": {"reason": reason, "detail": detail, "key": key}}

    def handle_text(self, text: str | bytes,
                    on_preview: Callable[[bool], None] | None = None) -> list[dict[str, object]]:
        """One WebSocket message; returns the error replies for its sender (empty when all was applied)."""
        self.counters.messages += 1
        if not isinstance(text, str):
            return [self.reject(WRONG_TYPE, "binary messages are not part of the protocol; send JSON text")]
        if len(text) > MAX_MESSAGE_CHARS:
            return [self.reject(OVERSIZED, f"message of {len(text)} characters (at most {MAX_MESSAGE_CHARS})")]
        try:
            message = json.loads(text, parse_constant=_no_constant)
        except (ValueError, RecursionError) as err:
            return [self.reject(MALFORMED, f"not JSON: {err}")]
        if not isinstance(message, dict) or not message:
            return [self.reject(MALFORMED, "a message is a JSON object such as {\"set\": {\"zoom\": 1.05}}")]
        return self.handle(message, on_preview)

    def handle(self, message: Mapping[str, object],
               on_preview: Callable[[bool], None] | None = None) -> list[dict[str, object]]:
        errors: list[dict[str, object]] = []
        for key, value in message.items():
            try:
                if key == "preview" and on_preview is not None:
                    on_preview(_boolean(value, "preview"))
                    continue
                handler = self._handlers.get(key)
                if handler is None:
                    raise Reject(UNKNOWN_MESSAGE, f"unknown message {key[:40]!r} (see the README, Web control)")
                handler(value)
            except Reject as err:
                errors.append(self.reject(err.reason, err.detail, key[:40]))
            except Exception as err:  # an action of the session (preset load, recorder) failed: count, go on
                errors.append(self.reject(ACTION_FAILED, f"{type(err).__name__}: {err}", key[:40]))
        return errors

    # ------------------------------------------------------------------ writes
    def _set(self, value: object) -> None:
        if not isinstance(value, dict) or not value:
            raise Reject(WRONG_TYPE, "set: expected an object of parameter values, e.g. {\"zoom\": 1.05}")
        store = self.ctx.store
        good: dict[str, ParamValue] = {}
        bad: list[Reject] = []
        for name, raw in value.items():
            try:
                if isinstance(raw, str) and store.spec(name).numeric:
                    raise ParamRejected(WRONG_TYPE, f"{name}: expected a number, found a string")
                good[name] = store.validate(name, raw)
            except ParamRejected as err:
                bad.append(Reject(err.reason, str(err)))
        seed = good.pop("seed", None)
        if seed is not None:
            self._quantised(lambda: store.set("seed", seed, source=SOURCE))
        if good:
            self.counters.applied += store.set_many(good, source=SOURCE)
        if bad:  # the good entries are applied; the first bad one is reported (all are counted)
            for extra in bad[1:]:
                self.reject(extra.reason, extra.detail, "set")
            raise bad[0]

    def _prompt(self, value: object) -> None:
        if not isinstance(value, dict):
            raise Reject(WRONG_TYPE, "prompt: expected {\"slot\": 0, \"text\": \"…\", \"weight\": 1.0}")
        unknown = set(value) - {"slot", "text", "weight"}
        if unknown:
            raise Reject(UNKNOWN_MESSAGE, f"prompt: unknown field {sorted(unknown)[0]!r}")
        slot = value.get("slot")
        if isinstance(slot, bool) or not isinstance(slot, int):
            raise Reject(WRONG_TYPE, f"prompt slot: expected an integer 0..{MAX_PROMPTS - 1}, found {slot!r}")
        if not 0 <= slot < MAX_PROMPTS:
            raise Reject(OUT_OF_RANGE, f"prompt slot: expected 0..{MAX_PROMPTS - 1}, found {slot}")
        text = _text(value["text"], "prompt text") if "text" in value else None
        weight = _number(value["weight"], "prompt weight") if "weight" in value else None
        if weight is not None and not 0.0 <= weight <= MAX_PROMPT_WEIGHT:
            raise Reject(OUT_OF_RANGE, f"prompt weight: expected 0..{MAX_PROMPT_WEIGHT:g}, found {weight:g}")
        if text is None and weight is None:
            raise Reject(WRONG_TYPE, "prompt: give text, weight or both")
        store = self.ctx.store
        if text is None:  # a weight alone moves like a fader: at once
            store.set_prompt_weight(slot, weight, source=SOURCE)
            self.counters.applied += 1
            return

        def write() -> None:  # text and weight of one message land in the same frame
            with store.batch():
                store.set_prompt(slot, text, source=SOURCE)
                if weight is not None:
                    store.set_prompt_weight(slot, weight, source=SOURCE)

        self._quantised(write)
        self.counters.applied += 1

    def _negative(self, value: object) -> None:
        text = _text(value, "negative")
        self._quantised(lambda: self.ctx.store.set_negative(text, source=SOURCE))
        self.counters.applied += 1

    def _quantised(self, fn: Callable[[], object]) -> None:
        """Prompt text, the negative and the seed wait for the beat when quantise is on (as over OSC)."""
        quantiser = self.ctx.quantiser
        if quantiser.mode is Quantise.OFF:
            fn()
        else:
            quantiser.submit(fn)

    # ------------------------------------------------------------------ commands
    def _preset(self, value: object) -> None:
        names = self.ctx.preset_names()
        if isinstance(value, int) and not isinstance(value, bool):
            if not 0 <= value < len(names):
                raise Reject(OUT_OF_RANGE, f"preset number: expected 0..{len(names) - 1}, found {value}")
            value = names[value]
        if not isinstance(value, str):
            raise Reject(WRONG_TYPE, f"preset: expected a name or number, found {value!r}")
        if value not in names:  # only shipped presets: a page may not make the show read arbitrary files
            raise Reject(UNKNOWN_CHOICE, f"preset: expected one of {', '.join(names)}, found {value[:80]!r}")
        if self.ctx.switch_preset is None:
            raise Reject(UNAVAILABLE, "preset switching is not available in this session")
        if self.ctx.switch_preset(value) is None:
            raise Reject(ACTION_FAILED, f"preset {value!r} was refused (see the log)")
        self.counters.commands += 1

    def _release(self, value: object) -> None:
        name = _text(value, "release")
        store = self.ctx.store
        if name == "all":
            store.release_all(source=SOURCE)
        elif name == "prompt" or name in store.registry:
            store.release(name, source=SOURCE)
        else:
            raise Reject("unknown_param", f"release: unknown parameter {name[:80]!r}")
        self.counters.commands += 1

    def _record(self, value: object) -> None:
        on = _boolean(value, "record")
        if self.ctx.record is None:
            raise Reject(UNAVAILABLE, "no recorder in this session")
        self.ctx.record(on)
        self.counters.commands += 1

    def _switch(self, what: str, action: Callable[[bool | None], object] | None, value: object) -> None:
        on = _boolean(value, what)
        if action is None:
            raise Reject(UNAVAILABLE, f"{what} is not available in this session")
        action(on)
        self.counters.commands += 1

    def _panic(self, value: object) -> None:
        if value is not True:
            raise Reject(WRONG_TYPE, "panic: expected true")
        if self.ctx.panic is None:
            raise Reject(UNAVAILABLE, "panic is not available in this session")
        self.ctx.panic()
        self.counters.commands += 1

    def _tap(self, value: object) -> None:
        if value is not True:
            raise Reject(WRONG_TYPE, "tap: expected true")
        self.ctx.tempo.tap()
        self.counters.commands += 1

    def _bpm(self, value: object) -> None:
        bpm = _number(value, "bpm")
        if not self.ctx.tempo.set_bpm(bpm, source=SOURCE):
            raise Reject(OUT_OF_RANGE, f"bpm: expected 20..300, found {bpm:g}")
        self.counters.commands += 1

    def _quantise(self, value: object) -> None:
        text = _text(value, "quantise")
        try:
            self.ctx.quantiser.mode = Quantise(text.lower())
        except ValueError:
            raise Reject(UNKNOWN_CHOICE, f"quantise: expected one of {', '.join(q.value for q in Quantise)}, "
                                         f"found {text[:40]!r}") from None
        self.counters.commands += 1

    def _lfo(self, value: object) -> None:
        if not isinstance(value, dict):
            raise Reject(WRONG_TYPE, "lfo: expected {\"param\": …, \"shape\": …, \"rate\": …, \"depth\": …}")
        name = value.get("param")
        registry = self.ctx.store.registry
        if not isinstance(name, str) or name not in registry or not registry[name].numeric:
            raise Reject("unknown_param", f"lfo: {str(name)[:80]!r} is not a numeric parameter")
        bank = self.ctx.modulators
        if value.get("off") is True:
            bank.remove(name)
            self.counters.commands += 1
            return
        unknown = set(value) - {"param", "shape", "rate", "depth", "offset", "unit"}
        if unknown:
            raise Reject(UNKNOWN_MESSAGE, f"lfo: unknown field {sorted(unknown)[0]!r}")
        for key in ("rate", "depth", "offset"):
            if key in value:
                _number(value[key], f"lfo {key}")
        try:
            lfo = parse_lfo(value.get("shape", "sine"), value.get("rate", 4.0), value.get("depth", 0.0),
                            value.get("offset", 0.0), value.get("unit", "beats"))
        except ParamRejected as err:  # a number a preset would refuse
            raise Reject(err.reason, str(err)) from None
        except ValueError as err:
            raise Reject(WRONG_TYPE, str(err)) from None
        bank.assign(name, lfo)
        self.counters.commands += 1

    def _audio(self, value: object) -> None:
        """The same ranges and refusals as /vj/audio/... over OSC (vj.control.audio.surface)."""
        if not isinstance(value, dict):
            raise Reject(WRONG_TYPE, "audio: expected {\"param\": …, \"depth\": …} or {\"onset\": …}")
        audio = self.ctx.audio
        if audio is None:
            raise Reject(UNAVAILABLE, "no audio modulators in this session")
        if "onset" in value:
            if len(value) > 1:
                raise Reject(UNKNOWN_MESSAGE, "audio: onset goes alone, as {\"onset\": \"seed_step\"}")
            try:
                audio.set_onset_action(_text(value["onset"], "audio onset"))
            except ValueError as err:
                raise Reject(UNKNOWN_CHOICE, str(err)) from None
            self.counters.commands += 1
            return
        name = value.get("param")
        registry = self.ctx.store.registry
        if not isinstance(name, str) or name not in registry or not registry[name].numeric:
            raise Reject("unknown_param", f"audio: {str(name)[:80]!r} is not a numeric parameter")
        if value.get("off") is True:
            audio.remove(name)
            self.counters.commands += 1
            return
        unknown = set(value) - {"param", "source", "curve", *AUDIO_FIELDS}
        if unknown:
            raise Reject(UNKNOWN_MESSAGE, f"audio: unknown field {sorted(unknown)[0]!r}")
        numbers = {f: _number(value[f], f"audio {f}") for f in AUDIO_FIELDS if f in value}
        for field_name, number in numbers.items():
            wrong = audio_out_of_range(registry[name], field_name, number)
            if wrong is not None:
                raise Reject(OUT_OF_RANGE, wrong)
        if "source" not in value:
            if "curve" in value or not numbers:
                raise Reject(WRONG_TYPE, "audio: give source to attach one, or depth / offset / attack_ms / "
                                         "release_ms to change it")
            if not audio.update(name, **numbers):
                raise Reject(UNAVAILABLE, f"audio: no modulator on {name}; attach one with a source")
            self.counters.commands += 1
            return
        source, curve = value["source"], value.get("curve", "linear")
        if source not in audio.sources:
            raise Reject(UNKNOWN_CHOICE, f"audio source: expected one of {', '.join(audio.sources)}, "
                                         f"found {str(source)[:40]!r}")
        if curve not in AUDIO_CURVES:
            raise Reject(UNKNOWN_CHOICE, f"audio curve: expected one of {', '.join(AUDIO_CURVES)}, "
                                         f"found {str(curve)[:40]!r}")
        fresh = replace(AudioMod(str(source), 0.0), **numbers, curve=Curve(curve))  # type: ignore[arg-type]
        audio.assign(name, fresh)
        self.counters.commands += 1

    def _learn(self, value: object) -> None:
        target = _text(value, "learn")
        if self.ctx.learn is None:
            raise Reject(UNAVAILABLE, "MIDI learn needs an open MIDI input (vj run --midi)")
        if not self.ctx.learn(target):
            raise Reject(UNKNOWN_CHOICE, f"learn: {target[:80]!r} is not a mappable target")
        self.counters.commands += 1


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number")  # NaN / Infinity are not JSON


def _number(value: object, what: str) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Reject(WRONG_TYPE, f"{what}: expected a number, found {value!r}"[:200])
    try:
        number = float(value)
    except OverflowError:  # an integer beyond any float (10**400): refused, not raised
        raise Reject(OUT_OF_RANGE, f"{what}: found {huge_integer(int(value))}") from None
    if not math.isfinite(number):
        raise Reject(NOT_FINITE, f"{what}: expected a finite number, found {value!r}")
    return number


def _text(value: object, what: str) -> str:
    if not isinstance(value, str):
        raise Reject(WRONG_TYPE, f"{what}: expected a string, found {type(value).__name__}")
    problem = prompt_text_problem(value)
    if problem is not None:
        raise Reject(problem[0], f"{what}: expected {problem[1]}, found {problem[2]}")
    return value


def _boolean(value: object, what: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, int) and value in (0, 1):
        return bool(value)
    raise Reject(WRONG_TYPE, f"{what}: expected true or false, found {value!r}"[:200])
