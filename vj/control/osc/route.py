"""OSC address -> handler: validates arguments and writes into the ParamStore or calls the session's actions.

Routing a datagram yields one `DatagramWrites`: the parameter values, the prompt / negative
writes and the rejections it produced, plus its tally. `commit()` then lands all of its store
writes inside one `store.batch()` (the values as one `set_many`), so a bundle is atomic: no
frame sees part of it. Knows nothing of sockets or of counters beyond the datagram's own tally.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field

from pythonosc import osc_message

from vj.control.audio.modulators import AudioModulators, parse_audio_mod
from vj.control.audio.surface import FIELDS as AUDIO_FIELDS
from vj.control.audio.surface import out_of_range as audio_out_of_range
from vj.control.modulators import ModulatorBank, check_lfo_field, parse_lfo
from vj.control.osc.addresses import PREFIX
from vj.control.osc.pickup import OscPickup
from vj.control.osc.reasons import (
    ACTION_FAILED,
    NOT_FINITE,
    OUT_OF_RANGE,
    OVERSIZED,
    REFUSED,
    UNAVAILABLE,
    UNKNOWN_ADDRESS,
    WRONG_COUNT,
    WRONG_TYPE,
    Rejection,
)
from vj.control.tempo import Quantise, Quantiser, TempoClock
from vj.errors import ParamRejected
from vj.prompt_mix import MAX_PROMPT_CHARS, MAX_PROMPT_WEIGHT, MAX_PROMPTS
from vj.registry import (
    MAX_CONTROLNETS,
    MAX_LORAS,
    ParamSpec,
    controlnet_scale_name,
    lora_scale_name,
    slot_index,
)
from vj.store import ParamStore


@dataclass
class OscActions:
    """What OSC may do besides writing parameters; a missing action answers 'unavailable'.

    preset(name) -> str | None switches preset (None: refused) (the session applies it at a frame boundary);
    record(on) starts or stops the recorder; learn(target) arms MIDI learn (False if refused);
    blackout(on) / freeze(on) set (or with None toggle) the performer's switches; panic() recalls the preset.
    """

    preset: Callable[[str], object] | None = None
    record: Callable[[bool], object] | None = None
    learn: Callable[[str], bool] | None = None
    blackout: Callable[[bool | None], object] | None = None  # True on, False off, None toggle
    freeze: Callable[[bool | None], object] | None = None
    panic: Callable[[], object] | None = None
    tempo: TempoClock | None = None
    modulators: ModulatorBank | None = None
    quantiser: Quantiser | None = None
    audio: AudioModulators | None = None


@dataclass
class DatagramWrites:
    """What one datagram's messages leave behind. Every routed message ends in exactly one of
    applied / unchanged / commands / rejections (prompt weights and values are tallied at commit)."""

    values: dict[str, object] = field(default_factory=dict)  # parameter writes: one `set_many`
    store_writes: list[Callable[[], object]] = field(default_factory=list)  # prompts, negative
    rejections: list[Rejection] = field(default_factory=list)
    applied: int = 0
    unchanged: int = 0
    commands: int = 0

    def put(self, name: str, value: object) -> None:
        """Collect a parameter write; a later write to the same name in one bundle wins."""
        if name in self.values:
            self.unchanged += 1  # superseded inside the bundle: it never reaches the store
        self.values[name] = value


class Rejected(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


class OscRouter:
    """Routes messages to handlers; handlers only validate and collect writes (or call an action),
    so a burst costs microseconds per message."""

    def __init__(self, store: ParamStore, actions: OscActions, pickup: OscPickup | None = None) -> None:
        self.store = store
        self.actions = actions
        self.pickup = pickup
        self._commands: dict[str, Callable[[list[object]], None]] = {
            "preset": self._cmd_preset,
            "release": self._cmd_release,
            "record": self._cmd_record,
            "tap": self._cmd_tap,
            "bpm": self._cmd_bpm,
            "quantise": self._cmd_quantise,
            "learn": self._cmd_learn,
            "blackout": lambda args: self._switch("blackout", self.actions.blackout, args),
            "freeze": lambda args: self._switch("freeze", self.actions.freeze, args),
            "panic": self._cmd_panic,
        }

    def route(self, messages: list[osc_message.OscMessage]) -> DatagramWrites:
        """Route every message of one datagram; nothing of it reaches the store until `commit`."""
        writes = DatagramWrites()
        for msg in messages:
            try:
                self._route(msg.address, list(msg.params), writes)
            except Rejected as err:
                writes.rejections.append(Rejection(msg.address, err.reason, err.detail))
            except Exception as err:  # an injected action (preset switch, recorder) failed: count, go on
                writes.rejections.append(Rejection(msg.address, ACTION_FAILED, f"{type(err).__name__}: {err}"))
        return writes

    def commit(self, writes: DatagramWrites) -> None:
        """Land the datagram's store writes together inside one `store.batch()` and tally them."""
        if self.pickup is not None and writes.values:
            admitted = self.pickup.admit(writes.values)
            writes.unchanged += len(writes.values) - len(admitted)  # held by pickup: nothing changes
            writes.values = admitted
        if not writes.values and not writes.store_writes:
            return
        with self.store.batch():
            for write in writes.store_writes:
                write()
            if not writes.values:
                return
            live = self.store.live_overrides()
            unchanged = sum(1 for k, v in writes.values.items() if live.get(k) == v)
            self.store.set_many(writes.values, source="osc")
        writes.unchanged += unchanged
        writes.applied += len(writes.values) - unchanged

    def _route(self, address: str, args: list[object], writes: DatagramWrites) -> None:
        if not address.startswith(PREFIX):
            raise Rejected(UNKNOWN_ADDRESS, "addresses start with /vj/ (see `vj osc-map`)")
        parts = address[len(PREFIX):].split("/")
        head = parts[0]
        registry = self.store.registry
        if head in registry and len(parts) == 1:
            spec = registry[head]
            value = _one_arg(args)
            if head == "seed":
                self._seed(spec, value, writes)
                return
            writes.put(head, _validated(spec, value))
            return
        # /vj/norm/<param> is the OSCQuery tree's form; /vj/<param>/norm the older one, still routed
        norm = parts[1] if head == "norm" and len(parts) == 2 else head if parts[1:] == ["norm"] else None
        if norm is not None and norm in registry:
            head = norm
            x = _number(_one_arg(args))
            try:
                writes.put(head, registry[head].from_normalised(x))
            except ParamRejected as err:
                raise Rejected(err.reason, str(err)) from None
            return
        if head == "lora" and len(parts) == 3 and parts[2] == "scale":  # /vj/lora/<i>/scale: lora_<i>_scale
            slot = slot_index(parts[1], MAX_LORAS)
            name = lora_scale_name(slot) if slot is not None else ""
            if name not in registry:
                raise Rejected(OUT_OF_RANGE, f"LoRA slot must be 0..{MAX_LORAS - 1}, found {parts[1][:12]!r}")
            writes.put(name, _validated(registry[name], _one_arg(args)))
            return
        if head == "controlnet" and len(parts) == 3 and parts[2] == "scale":  # /vj/controlnet/<i>/scale
            slot = slot_index(parts[1], MAX_CONTROLNETS)
            name = controlnet_scale_name(slot) if slot is not None else ""
            if name not in registry:
                raise Rejected(OUT_OF_RANGE,
                               f"ControlNet slot must be 0..{MAX_CONTROLNETS - 1}, found {parts[1][:12]!r}")
            writes.put(name, _validated(registry[name], _one_arg(args)))
            return
        if head == "prompt" and len(parts) in (2, 3):
            self._prompt(parts, args, writes)
            return
        if head == "negative" and len(parts) == 1:
            text = _string(_one_arg(args))
            self._quantised(lambda: self.store.set_negative(text, source="osc"), writes)
            writes.applied += 1
            return
        handler = self._commands.get(head) if len(parts) == 1 else None
        if handler is not None:
            handler(args)
            writes.commands += 1
            return
        if head == "lfo" and len(parts) in (2, 3):
            self._lfo(parts[1:] if parts[2:] != ["set"] else parts[1:2], args)  # .../set: the tree's form
            writes.commands += 1
            return
        if head == "audio" and len(parts) in (2, 3):
            self._audio(parts[1:] if parts[2:] != ["set"] else parts[1:2], args)
            writes.commands += 1
            return
        raise Rejected(UNKNOWN_ADDRESS, "no such address (see `vj osc-map`)")

    def _audio(self, parts: list[str], args: list[object]) -> None:
        """/vj/audio/<param> <source> <depth> [attack_ms release_ms [curve]] | off; .../depth; /vj/audio/onset."""
        audio = self.actions.audio
        if audio is None:
            raise Rejected(UNAVAILABLE, "no audio modulators in this session")
        name = parts[0]
        if name == "onset" and len(parts) == 1:
            try:
                audio.set_onset_action(_string(_one_arg(args)))
            except ValueError as err:
                raise Rejected(WRONG_TYPE, str(err)) from None
            return
        if name not in self.store.registry or not self.store.registry[name].numeric:
            raise Rejected(UNKNOWN_ADDRESS, f"audio: {name!r} is not a numeric parameter")
        spec = self.store.registry[name]
        if len(parts) == 2:
            if parts[1] not in AUDIO_FIELDS:
                raise Rejected(UNKNOWN_ADDRESS, "audio sub-addresses are set, depth, offset, attack_ms and release_ms")
            number = _number(_one_arg(args))
            wrong = audio_out_of_range(spec, parts[1], number)
            if wrong is not None:
                raise Rejected(OUT_OF_RANGE, wrong)
            if not audio.update(name, **{parts[1]: number}):
                raise Rejected(UNAVAILABLE, f"no audio modulator on {name}; attach one with "
                                            f"/vj/audio/{name} <source> <depth>")
            return
        if len(args) == 1 and args[0] in ("off", 0):
            audio.remove(name)
            return
        try:
            mod = parse_audio_mod(args, audio.sources)
        except ValueError as err:
            raise Rejected(WRONG_COUNT if "expected <source>" in str(err) else WRONG_TYPE, str(err)) from None
        for what in ("depth", "attack_ms", "release_ms"):  # the same ranges as the sub-addresses
            wrong = audio_out_of_range(spec, what, getattr(mod, what))
            if wrong is not None:
                raise Rejected(OUT_OF_RANGE, wrong)
        audio.assign(name, mod)

    def _seed(self, spec: ParamSpec, value: object, writes: DatagramWrites) -> None:
        if isinstance(value, float) and math.isfinite(value) and not value.is_integer():
            raise Rejected(WRONG_TYPE, f"seed: expected an integer, found {value!r}")
        seed = _validated(spec, value)
        quantiser = self.actions.quantiser
        if quantiser is not None and quantiser.mode is not Quantise.OFF:
            quantiser.submit(lambda: self.store.set("seed", seed, source="osc"))
            writes.commands += 1  # lands later: counted as a scheduled command, not a write
            return
        writes.put("seed", seed)

    def _prompt(self, parts: list[str], args: list[object], writes: DatagramWrites) -> None:
        index = slot_index(parts[1], MAX_PROMPTS)
        if index is None:
            numeral = parts[1].isascii() and parts[1].isdigit()
            raise Rejected(OUT_OF_RANGE if numeral else UNKNOWN_ADDRESS,
                           f"prompt slot must be 0..{MAX_PROMPTS - 1}, found {parts[1][:12]!r}")
        if len(parts) == 2 or parts[2] == "text":  # /vj/prompt/<i>/text: the tree's form of /vj/prompt/<i>
            text = _string(_one_arg(args))
            self._quantised(lambda: self.store.set_prompt(index, text, source="osc"), writes)
            writes.applied += 1
            return
        if parts[2] != "weight":
            raise Rejected(UNKNOWN_ADDRESS, "prompt addresses are /vj/prompt/<i>/text and /vj/prompt/<i>/weight")
        weight = _number(_one_arg(args))
        if not 0.0 <= weight <= MAX_PROMPT_WEIGHT:
            raise Rejected(OUT_OF_RANGE, f"prompt weight: expected 0..{MAX_PROMPT_WEIGHT:g}, found {weight:g}")

        def write_weight() -> None:
            # Whether it changes is only known inside the batch, so it is tallied there.
            before = self.store.prompts()
            self.store.set_prompt_weight(index, weight, source="osc")
            if index < len(before.entries) and before.entries[index].weight == weight:
                writes.unchanged += 1
            else:
                writes.applied += 1

        writes.store_writes.append(write_weight)

    def _quantised(self, fn: Callable[[], object], writes: DatagramWrites) -> None:
        """Prompt text, negative and seed switches wait for the beat when quantise is on."""
        quantiser = self.actions.quantiser
        if quantiser is not None and quantiser.mode is not Quantise.OFF:
            quantiser.submit(fn)
        else:
            writes.store_writes.append(fn)  # lands with the datagram's other writes (see commit)

    def _lfo(self, parts: list[str], args: list[object]) -> None:
        bank = self.actions.modulators
        if bank is None:
            raise Rejected(UNAVAILABLE, "no modulator bank in this session")
        name = parts[0]
        if name not in self.store.registry or not self.store.registry[name].numeric:
            raise Rejected(UNKNOWN_ADDRESS, f"lfo: {name!r} is not a numeric parameter")
        if len(parts) == 2:
            if parts[1] not in ("depth", "rate"):
                raise Rejected(UNKNOWN_ADDRESS, "lfo sub-addresses are set, depth and rate")
            number = _lfo_number(parts[1], _one_arg(args))
            if not bank.update(name, **{parts[1]: number}):
                raise Rejected(UNAVAILABLE, f"no LFO on {name}; attach one with /vj/lfo/{name} <shape> <rate> <depth>")
            return
        if len(args) == 1 and args[0] in ("off", 0):
            bank.remove(name)
            return
        if not 3 <= len(args) <= 4:
            raise Rejected(WRONG_COUNT, "expected <shape> <rate_beats> <depth> [offset] or 'off'")
        for a in args[1:]:
            _number(a)
        try:
            lfo = parse_lfo(args[0], args[1], args[2], args[3] if len(args) == 4 else 0.0)
        except ParamRejected as err:  # a number a preset would refuse
            raise Rejected(err.reason, str(err)) from None
        except ValueError as err:
            raise Rejected(WRONG_TYPE, str(err)) from None
        bank.assign(name, lfo)

    # ------------------------------------------------------------------ commands
    def _cmd_preset(self, args: list[object]) -> None:
        value = _one_arg(args)
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise Rejected(WRONG_TYPE, f"expected a preset name or number, found {value!r}")
        if isinstance(value, str) and len(value) > 256:
            raise Rejected(OVERSIZED, "preset name longer than 256 characters")
        switch = self.actions.preset
        if switch is None:
            raise Rejected(UNAVAILABLE, "preset switching is not available in this session")
        if switch(str(value)) is None:  # the preset switcher lands it on the quantise grid itself
            raise Rejected(REFUSED, f"no preset named {str(value)[:80]!r} (shipped names, or --presets-dir)")

    def _cmd_release(self, args: list[object]) -> None:
        name = _string(_one_arg(args))
        if name == "all":
            self.store.release_all(source="osc")
            return
        if name != "prompt" and name not in self.store.registry:
            raise Rejected(UNKNOWN_ADDRESS, f"release: unknown parameter {name!r}")
        self.store.release(name, source="osc")

    def _cmd_record(self, args: list[object]) -> None:
        value = _one_arg(args)
        if isinstance(value, bool):
            on = value
        elif isinstance(value, (int, float)) and value in (0, 1):
            on = bool(value)
        else:
            raise Rejected(WRONG_TYPE, f"record: expected 1 or 0, found {value!r}")
        if self.actions.record is None:
            raise Rejected(UNAVAILABLE, "no recorder in this session (start with --record FILE)")
        self.actions.record(on)

    def _switch(self, what: str, action: Callable[[bool | None], object] | None, args: list[object]) -> None:
        """/vj/blackout 1|0 sets it; with no argument it toggles."""
        if len(args) > 1:
            raise Rejected(WRONG_COUNT, f"{what}: expected 1, 0 or no argument (toggle), found {len(args)} arguments")
        on: bool | None = None
        if args:
            value = args[0]
            if isinstance(value, bool):
                on = value
            elif isinstance(value, (int, float)) and not isinstance(value, bool) and value in (0, 1):
                on = bool(value)
            else:
                raise Rejected(WRONG_TYPE, f"{what}: expected 1, 0 or no argument (toggle), found {value!r}")
        if action is None:
            raise Rejected(UNAVAILABLE, f"{what} is not available in this session")
        action(on)

    def _cmd_panic(self, args: list[object]) -> None:
        """A push button sends 1 on press and 0 on release: only the press (or no argument) fires."""
        if len(args) > 1:
            raise Rejected(WRONG_COUNT, "panic takes no argument (or 1 / 0 from a push button)")
        if self.actions.panic is None:
            raise Rejected(UNAVAILABLE, "panic is not available in this session")
        if args and args[0] in (0, False):
            return
        self.actions.panic()

    def _cmd_tap(self, args: list[object]) -> None:
        if len(args) > 1:
            raise Rejected(WRONG_COUNT, "tap takes no argument (or one, ignored)")
        if self.actions.tempo is None:
            raise Rejected(UNAVAILABLE, "no tempo clock in this session")
        self.actions.tempo.tap()

    def _cmd_bpm(self, args: list[object]) -> None:
        bpm = _number(_one_arg(args))
        if self.actions.tempo is None:
            raise Rejected(UNAVAILABLE, "no tempo clock in this session")
        if not self.actions.tempo.set_bpm(bpm, source="osc"):
            raise Rejected(OUT_OF_RANGE, f"bpm: expected 20..300, found {bpm:g}")

    def _cmd_quantise(self, args: list[object]) -> None:
        value = _string(_one_arg(args))
        if self.actions.quantiser is None:
            raise Rejected(UNAVAILABLE, "no tempo clock in this session")
        try:
            self.actions.quantiser.mode = Quantise(value.lower())
        except ValueError:
            raise Rejected(WRONG_TYPE, f"quantise: expected one of {', '.join(q.value for q in Quantise)}") from None

    def _cmd_learn(self, args: list[object]) -> None:
        target = _string(_one_arg(args))
        if self.actions.learn is None:
            raise Rejected(UNAVAILABLE, "MIDI learn needs an open MIDI input (--midi)")
        if not self.actions.learn(target):
            raise Rejected(UNKNOWN_ADDRESS, f"learn: {target!r} is not a mappable target")


def _one_arg(args: list[object]) -> object:
    if len(args) != 1:
        raise Rejected(WRONG_COUNT, f"expected 1 argument, found {len(args)}")
    return args[0]


def _number(value: object) -> float:
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        raise Rejected(WRONG_TYPE, f"expected a number, found {type(value).__name__}")
    if not math.isfinite(value):
        raise Rejected(NOT_FINITE, f"expected a finite number, found {value!r}")
    return float(value)


def _lfo_number(field_name: str, value: object) -> float:
    """An LFO rate or depth by the preset's rule for it."""
    try:
        return check_lfo_field(field_name, _number(value))
    except ParamRejected as err:
        raise Rejected(err.reason, str(err)) from None


def _string(value: object) -> str:
    if not isinstance(value, str):
        raise Rejected(WRONG_TYPE, f"expected a string, found {type(value).__name__}")
    if len(value) > MAX_PROMPT_CHARS:
        raise Rejected(OVERSIZED, f"string of {len(value)} characters (at most {MAX_PROMPT_CHARS})")
    return value


def _validated(spec: ParamSpec, value: object) -> object:
    if isinstance(value, str) and spec.numeric:
        raise Rejected(WRONG_TYPE, f"{spec.name}: expected a number, found a string")
    if isinstance(value, str) and len(value) > MAX_PROMPT_CHARS:
        raise Rejected(OVERSIZED, f"string of {len(value)} characters")
    try:
        return spec.validate(value)
    except ParamRejected as err:
        raise Rejected(err.reason, str(err)) from None
