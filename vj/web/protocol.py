"""The page → server half of the WebSocket protocol: JSON messages validated and applied.

A message is one JSON object; each key is a command, applied in order:

    {"set": {"zoom": 1.05, "border": "wrap"}}      live values, atomic (one frame sees all)
    {"prompt": {"slot": 0, "text": "…", "weight": 1.0}}   text and/or weight of a slot
    {"negative": "…"}                               the negative prompt
    {"preset": "spiral"}                            switch to a shipped preset (name or number)
    {"model": "tiny-xl"}                            switch the model (a tiny one or one the presets name)
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
    {"reopen_preview": true}                        reopen the preview window (if it stays black)
    {"preview": false}                              this page stops (or starts) receiving frames

Each key is decoded into a show command (vj.control.commands), the same one OSC and MIDI reach:
validated there, written into the store with source "web" (so they reach the timeline), prompt
text, the negative and the seed landing on the quantise grid when quantise is on. A bad message
or entry is counted by reason (the store's counters too), logged at most once a second,
answered with an `error` message to the sender, and otherwise ignored.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Mapping

from vj.control._ratelog import RateLimitedLog
from vj.control.audio.surface import FIELDS as AUDIO_FIELDS
from vj.control.commands import values
from vj.control.commands.catalogue import Command
from vj.control.commands.counters import CommandCounters
from vj.control.commands.reasons import (
    ACTION_FAILED,
    MALFORMED,
    OVERSIZED,
    UNAVAILABLE,
    UNKNOWN_MESSAGE,
    WRONG_TYPE,
    Rejected,
)
from vj.control.commands.reference import blend
from vj.control.commands.show import ShowCommands, at_once
from vj.registry import ParamValue
from vj.web.context import WebContext
from vj.web.upload import PictureUpload

log = logging.getLogger(__name__)

SOURCE = "web"
MAX_MESSAGE_CHARS = 16 * 1024  # a full `set` of every parameter is ~1 KB, a prompt at most 1000 chars

# The page's message keys and the show command each one carries.
WEB_COMMANDS: Mapping[str, Command] = {
    "set": Command.SET_PARAM, "prompt": Command.PROMPT_TEXT, "negative": Command.NEGATIVE,
    "preset": Command.PRESET, "model": Command.MODEL, "release": Command.RELEASE, "record": Command.RECORD,
    "tap": Command.TAP,
    "bpm": Command.BPM, "quantise": Command.QUANTISE, "lfo": Command.LFO, "audio": Command.AUDIO,
    "learn": Command.LEARN, "blackout": Command.BLACKOUT, "freeze": Command.FREEZE, "panic": Command.PANIC,
    "reopen_preview": Command.REOPEN_PREVIEW, "reference": Command.REFERENCE,
}
# {"set": ...} also carries the LoRA / ControlNet slot scales (lora_<i>_scale), {"prompt": ...} the weight,
# {"audio": {"onset": ...}} the onset action
WEB_ALSO: Mapping[Command, str] = {Command.LORA_SCALE: "set", Command.CONTROLNET_SCALE: "set",
                                   Command.PROMPT_WEIGHT: "prompt", Command.AUDIO_ONSET: "audio"}


class WebProtocol:
    """Applies page messages to the show. Called on the web thread only; every write is a quick store call."""

    def __init__(self, ctx: WebContext) -> None:
        self.ctx = ctx
        self.commands = ShowCommands(ctx.store, ctx.actions, SOURCE)
        self.counters = CommandCounters()
        self._ratelog = RateLimitedLog(log)
        c = self.commands
        self._handlers: dict[Command, Callable[[object], object]] = {
            Command.SET_PARAM: self._set, Command.PROMPT_TEXT: self._prompt, Command.NEGATIVE: self._negative,
            Command.PRESET: c.preset, Command.MODEL: c.model, Command.RELEASE: c.release, Command.RECORD: c.record,
            Command.TAP: lambda v: c.tap() if v is True else _expected_true("tap", v),
            Command.BPM: c.bpm, Command.QUANTISE: c.quantise, Command.LFO: self._lfo, Command.AUDIO: self._audio,
            Command.LEARN: c.learn, Command.BLACKOUT: lambda v: c.blackout(values.switch(v, "blackout")),
            Command.FREEZE: lambda v: c.freeze(values.switch(v, "freeze")),
            Command.PANIC: lambda v: c.panic() if v is True else _expected_true("panic", v),
            Command.REOPEN_PREVIEW: lambda v: c.reopen_preview() if v is True else _expected_true("reopen_preview", v),
            Command.REFERENCE: self._reference,
        }
        self._upload: PictureUpload | None = None  # the sending page's upload, while its message is handled
        self._counted = {Command.SET_PARAM, Command.PROMPT_TEXT, Command.NEGATIVE}  # tallied as writes

    # ------------------------------------------------------------------ entry points
    def reject(self, reason: str, detail: str, key: str = "") -> dict[str, object]:
        """Count a rejection (here and in the store) and build the `error` reply."""
        self.counters.rejected[reason] += 1
        self.ctx.store.reject(reason)
        self._ratelog.warning(f"{key}:{reason}", "web message ignored (%s%s): %s",
                              f"{key}: " if key else "", reason, detail[:200])
        return {"error": {"reason": reason, "detail": detail, "key": key}}

    def handle_text(self, text: str | bytes, on_preview: Callable[[bool], None] | None = None,
                    upload: PictureUpload | None = None) -> list[dict[str, object]]:
        """One WebSocket message; returns the error replies for its sender (empty when all was applied)."""
        self.counters.messages += 1
        if not isinstance(text, str):
            return self._chunk(text, upload)
        if len(text) > MAX_MESSAGE_CHARS:
            return [self.reject(OVERSIZED, f"message of {len(text)} characters (at most {MAX_MESSAGE_CHARS})")]
        try:
            message = json.loads(text, parse_constant=_no_constant)
        except (ValueError, RecursionError) as err:
            return [self.reject(MALFORMED, f"not JSON: {err}")]
        if not isinstance(message, dict) or not message:
            return [self.reject(MALFORMED, "a message is a JSON object such as {\"set\": {\"zoom\": 1.05}}")]
        return self.handle(message, on_preview, upload)

    def handle(self, message: Mapping[str, object], on_preview: Callable[[bool], None] | None = None,
               upload: PictureUpload | None = None) -> list[dict[str, object]]:
        errors: list[dict[str, object]] = []
        self._upload = upload
        for key, value in message.items():
            try:
                if key == "preview" and on_preview is not None:
                    on_preview(values.switch(value, "preview"))
                    continue
                command = WEB_COMMANDS.get(key)
                if command is None:
                    raise Rejected(UNKNOWN_MESSAGE, f"unknown message {key[:40]!r} (see docs/guide/live-control.md)")
                self._handlers[command](value)
                if command not in self._counted:
                    self.counters.commands += 1
            except Rejected as err:
                errors.append(self.reject(err.reason, err.detail, key[:40]))
            except Exception as err:  # an action of the session (preset load, recorder) failed: count, go on
                errors.append(self.reject(ACTION_FAILED, f"{type(err).__name__}: {err}", key[:40]))
        return errors

    def _chunk(self, data: bytes, upload: PictureUpload | None) -> list[dict[str, object]]:
        """A binary message: the next part of an announced reference picture."""
        try:
            if upload is None:
                raise Rejected(WRONG_TYPE, "binary messages are not part of the protocol here; send JSON text")
            picture = upload.add(data)
            if picture is not None:
                self.commands.reference.upload(picture)
                self.counters.commands += 1
        except Rejected as err:
            return [self.reject(err.reason, err.detail, "reference")]
        except Exception as err:  # the session refused the picture (not one, too large): one line back
            return [self.reject(WRONG_TYPE, str(err), "reference")]
        return []

    def _reference(self, value: object) -> None:
        """"off", {"names": [...], "weights": [...]}, {"grab": "input"|"output"} or {"upload": BYTES}."""
        reference = self.commands.reference
        if value == "off":
            reference.off()
            return
        if not isinstance(value, dict) or len(value) == 0:
            raise Rejected(WRONG_TYPE, "reference: expected \"off\", {\"names\": [...]}, {\"grab\": \"output\"} "
                                       "or {\"upload\": BYTES}")
        if "grab" in value:
            _known_fields("reference", value, {"grab"})
            reference.grab(value["grab"])
        elif "upload" in value:
            _known_fields("reference", value, {"upload"})
            if self._upload is None:
                raise Rejected(UNAVAILABLE, "reference upload: only over the page's WebSocket")
            if self.commands.actions.reference_upload is None:  # said before the bytes are sent
                raise Rejected(UNAVAILABLE, "reference pictures (the show loaded no IP-Adapter: --ip-adapter) are "
                                            "not available in this session")
            self._upload.begin(value["upload"], self.ctx.reference_upload_bytes)
        else:
            _known_fields("reference", value, {"names", "weights"})
            names, weights = value.get("names"), value.get("weights", [])
            if not isinstance(names, list) or not isinstance(weights, list) or (weights and len(weights) != len(names)):
                raise Rejected(WRONG_TYPE, "reference: expected {\"names\": [...], \"weights\": [...]} of one length")
            args: list[object] = []
            for i, name in enumerate(names):
                args.append(name)
                if weights:
                    args.append(weights[i])
            reference.names(blend(args))

    # ------------------------------------------------------------------ writes
    def _set(self, value: object) -> None:
        if not isinstance(value, dict) or not value:
            raise Rejected(WRONG_TYPE, "set: expected an object of parameter values, e.g. {\"zoom\": 1.05}")
        good: dict[str, ParamValue] = {}
        bad: list[Rejected] = []
        for name, raw in value.items():
            try:
                checked = self.commands.seed(raw) if name == "seed" else self.commands.param(name, raw)
                if checked is not None:  # None: the seed waits for the quantise grid
                    good[name] = checked
            except Rejected as err:
                bad.append(err)
        if good:
            self.counters.applied += self.ctx.store.set_many(good, source=SOURCE)
        if bad:  # the good entries are applied; the first bad one is reported (all are counted)
            for extra in bad[1:]:
                self.reject(extra.reason, extra.detail, "set")
            raise bad[0]

    def _prompt(self, value: object) -> None:
        if not isinstance(value, dict):
            raise Rejected(WRONG_TYPE, "prompt: expected {\"slot\": 0, \"text\": \"…\", \"weight\": 1.0}")
        _known_fields("prompt", value, {"slot", "text", "weight"})
        self.commands.prompt(value.get("slot"), value.get("text"), value.get("weight"), at_once)
        self.counters.applied += 1

    def _negative(self, value: object) -> None:
        self.commands.negative(value, at_once)
        self.counters.applied += 1

    def _lfo(self, value: object) -> None:
        if not isinstance(value, dict):
            raise Rejected(WRONG_TYPE, "lfo: expected {\"param\": …, \"shape\": …, \"rate\": …, \"depth\": …}")
        lfo = self.commands.lfo
        if value.get("off") is True:
            lfo.remove(value.get("param"))
            return
        self.commands.spec(str(value.get("param")), numeric=True, what="lfo")
        _known_fields("lfo", value, {"param", "shape", "rate", "depth", "offset", "unit"})
        lfo.attach(value.get("param"), value.get("shape", "sine"), value.get("rate", 4.0), value.get("depth", 0.0),
                   value.get("offset", 0.0), value.get("unit", "beats"))

    def _audio(self, value: object) -> None:
        """The same ranges and refusals as /vj/audio/... over OSC."""
        if not isinstance(value, dict):
            raise Rejected(WRONG_TYPE, "audio: expected {\"param\": …, \"depth\": …} or {\"onset\": …}")
        audio = self.commands.audio
        if "onset" in value:
            if len(value) > 1:
                raise Rejected(UNKNOWN_MESSAGE, "audio: onset goes alone, as {\"onset\": \"seed_step\"}")
            audio.onset(value["onset"])
            return
        name = value.get("param")
        audio.target(name)
        if value.get("off") is True:
            audio.remove(name)
            return
        _known_fields("audio", value, {"param", "source", "curve", *AUDIO_FIELDS})
        numbers = {f: value[f] for f in AUDIO_FIELDS if f in value}
        if "source" in value:
            audio.attach(name, value["source"], numbers, value.get("curve", "linear"))
        elif "curve" in value or not numbers:
            raise Rejected(WRONG_TYPE, "audio: give source to attach one, or depth / offset / attack_ms / "
                                       "release_ms to change it")
        else:
            audio.change(name, numbers)


def _known_fields(what: str, value: Mapping[str, object], known: set[str]) -> None:
    unknown = set(value) - known
    if unknown:
        raise Rejected(UNKNOWN_MESSAGE, f"{what}: unknown field {sorted(unknown)[0]!r}")


def _expected_true(what: str, value: object) -> None:
    raise Rejected(WRONG_TYPE, f"{what}: expected true, found {value!r}"[:200])


def _no_constant(name: str) -> object:
    raise ValueError(f"{name} is not a number")  # NaN / Infinity are not JSON
