"""OSC adapter: an address and its arguments -> a show command (vj.control.commands).

Routing a datagram yields one `DatagramWrites`: the parameter values, the prompt / negative
writes and the rejections it produced, plus its tally. `commit()` then lands all of its store
writes inside one `store.batch()` (the values as one `set_many`), so a bundle is atomic: no
frame sees part of it. Knows nothing of sockets or of counters beyond the datagram's own tally.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from pythonosc import osc_message

from vj.control.audio.modulators import parse_audio_mod
from vj.control.audio.surface import FIELDS as AUDIO_FIELDS
from vj.control.commands import values
from vj.control.commands.actions import ShowActions
from vj.control.commands.catalogue import Command
from vj.control.commands.reasons import (
    ACTION_FAILED,
    OUT_OF_RANGE,
    UNKNOWN_ADDRESS,
    UNKNOWN_PARAM,
    WRONG_COUNT,
    WRONG_TYPE,
    Rejected,
    Rejection,
)
from vj.control.commands.show import ShowCommands, Write
from vj.control.osc.addresses import PREFIX
from vj.control.osc.pickup import OscPickup
from vj.prompt_mix import MAX_PROMPTS
from vj.registry import slot_index
from vj.store import ParamStore

SOURCE = "osc"

# The address heads that carry a command: /vj/<head> ... (a parameter's own name is SET_PARAM).
OSC_COMMANDS: Mapping[str, Command] = {
    "<param>": Command.SET_PARAM, "norm": Command.SET_PARAM, "lora": Command.LORA_SCALE,
    "controlnet": Command.CONTROLNET_SCALE, "prompt": Command.PROMPT_TEXT, "prompt/<i>/weight": Command.PROMPT_WEIGHT,
    "negative": Command.NEGATIVE, "preset": Command.PRESET, "model": Command.MODEL, "release": Command.RELEASE,
    "record": Command.RECORD,
    "learn": Command.LEARN, "blackout": Command.BLACKOUT, "freeze": Command.FREEZE, "panic": Command.PANIC,
    "tap": Command.TAP, "bpm": Command.BPM, "quantise": Command.QUANTISE, "lfo": Command.LFO,
    "audio": Command.AUDIO, "audio/onset": Command.AUDIO_ONSET, "reopen_preview": Command.REOPEN_PREVIEW,
    "reference": Command.REFERENCE,
}


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


class OscRouter:
    """Routes messages to show commands; a command only validates and collects writes (or calls an
    action), so a burst costs microseconds per message."""

    def __init__(self, store: ParamStore, actions: ShowActions, pickup: OscPickup | None = None) -> None:
        self.store = store
        self.commands = ShowCommands(store, actions, SOURCE)
        self.pickup = pickup
        c = self.commands
        self._handlers: dict[Command, Callable[[list[object]], object]] = {
            Command.PRESET: lambda args: c.preset(_one_arg(args)),
            Command.MODEL: lambda args: c.model(_one_arg(args)),
            Command.RELEASE: lambda args: c.release(_one_arg(args)),
            Command.RECORD: lambda args: c.record(_record_value(_one_arg(args))),
            Command.TAP: lambda args: c.tap() if len(args) <= 1 else _too_many("tap takes no argument (or one)"),
            Command.BPM: lambda args: c.bpm(_one_arg(args)),
            Command.QUANTISE: lambda args: c.quantise(_one_arg(args)),
            Command.LEARN: lambda args: c.learn(_one_arg(args)),
            Command.BLACKOUT: lambda args: c.blackout(_toggle("blackout", args)),
            Command.FREEZE: lambda args: c.freeze(_toggle("freeze", args)),
            Command.PANIC: self._panic,
            Command.REOPEN_PREVIEW: lambda args: c.reopen_preview() if len(args) <= 1 else _too_many(
                "reopen_preview takes no argument (or one, ignored)"),
            Command.REFERENCE: c.reference.from_args,
        }

    @property
    def actions(self) -> ShowActions:
        return self.commands.actions

    def route(self, messages: list[osc_message.OscMessage]) -> DatagramWrites:
        """Route every message of one datagram; nothing of it reaches the store until `commit`."""
        writes = DatagramWrites()
        for msg in messages:
            try:
                self._route(msg.address, list(msg.params), writes)
            except Rejected as err:
                reason = UNKNOWN_ADDRESS if err.reason == UNKNOWN_PARAM else err.reason  # the name is the address
                writes.rejections.append(Rejection(msg.address, reason, err.detail))
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
            self.store.set_many(writes.values, source=SOURCE)
        writes.unchanged += unchanged
        writes.applied += len(writes.values) - unchanged

    def _route(self, address: str, args: list[object], writes: DatagramWrites) -> None:
        if not address.startswith(PREFIX):
            raise Rejected(UNKNOWN_ADDRESS, "addresses start with /vj/ (see `vj osc-map`)")
        parts = address[len(PREFIX):].split("/")
        head = parts[0]
        c = self.commands
        registry = self.store.registry
        if head in registry and len(parts) == 1:
            value = c.seed(_one_arg(args)) if head == "seed" else c.param(head, _one_arg(args))
            if value is None:
                writes.commands += 1  # the seed lands later, on the grid: counted as a scheduled command
            else:
                writes.put(head, value)
            return
        # /vj/norm/<param> is the OSCQuery tree's form; /vj/<param>/norm the older one, still routed
        norm = parts[1] if head == "norm" and len(parts) == 2 else head if parts[1:] == ["norm"] else None
        if norm is not None and norm in registry:
            writes.put(norm, c.param_normalised(norm, _one_arg(args)))
            return
        if head in ("lora", "controlnet") and len(parts) == 3 and parts[2] == "scale":  # /vj/lora/<i>/scale
            name = c.lora_scale(parts[1]) if head == "lora" else c.controlnet_scale(parts[1])
            writes.put(name, c.param(name, _one_arg(args)))
            return
        if head == "prompt" and len(parts) in (2, 3):
            self._prompt(parts, args, writes)
            return
        if head == "negative" and len(parts) == 1:
            c.negative(_one_arg(args), writes.store_writes.append)
            writes.applied += 1
            return
        command = OSC_COMMANDS.get(head) if len(parts) == 1 else None
        handler = self._handlers.get(command) if command is not None else None
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

    def _prompt(self, parts: list[str], args: list[object], writes: DatagramWrites) -> None:
        slot = slot_index(parts[1], MAX_PROMPTS)
        if slot is None:  # ASCII digits out of range are a slot too far; anything else ("٣", "x") no address
            numeral = parts[1].isascii() and parts[1].isdigit()
            raise Rejected(OUT_OF_RANGE if numeral else UNKNOWN_ADDRESS,
                           f"prompt slot: expected 0..{MAX_PROMPTS - 1}, found {parts[1][:12]!r}")
        if len(parts) == 2 or parts[2] == "text":  # /vj/prompt/<i>/text: the tree's form of /vj/prompt/<i>
            self.commands.prompt(slot, _one_arg(args), None, writes.store_writes.append)
            writes.applied += 1
            return
        if parts[2] != "weight":
            raise Rejected(UNKNOWN_ADDRESS, "prompt addresses are /vj/prompt/<i>/text and /vj/prompt/<i>/weight")
        index = values.prompt_slot(slot)
        weight = values.prompt_weight(_one_arg(args))

        def tallied(write: Write) -> None:
            # Whether it changes is only known inside the batch, so it is tallied there.
            def write_weight() -> None:
                before = self.store.prompts()
                write()
                if index < len(before.entries) and before.entries[index].weight == weight:
                    writes.unchanged += 1
                else:
                    writes.applied += 1

            writes.store_writes.append(write_weight)

        self.commands.prompt(index, None, weight, tallied)

    def _lfo(self, parts: list[str], args: list[object]) -> None:
        lfo = self.commands.lfo
        name = parts[0]
        if len(parts) == 2:
            if parts[1] not in ("depth", "rate"):
                raise Rejected(UNKNOWN_ADDRESS, "lfo sub-addresses are set, depth and rate")
            lfo.change(name, parts[1], _one_arg(args))
        elif len(args) == 1 and args[0] in ("off", 0):
            lfo.remove(name)
        elif not 3 <= len(args) <= 4:
            raise Rejected(WRONG_COUNT, "expected <shape> <rate_beats> <depth> [offset] or 'off'")
        else:
            lfo.attach(name, args[0], args[1], args[2], args[3] if len(args) == 4 else 0.0)

    def _audio(self, parts: list[str], args: list[object]) -> None:
        """/vj/audio/<param> <source> <depth> [attack_ms release_ms [curve]] | off; .../depth; /vj/audio/onset."""
        audio = self.commands.audio
        name = parts[0]
        if name == "onset" and len(parts) == 1:
            audio.onset(_one_arg(args))
        elif len(parts) == 2:
            if parts[1] not in AUDIO_FIELDS:
                raise Rejected(UNKNOWN_ADDRESS, "audio sub-addresses are set, depth, offset, attack_ms and release_ms")
            audio.change(name, {parts[1]: _one_arg(args)})
        elif len(args) == 1 and args[0] in ("off", 0):
            audio.remove(name)
        else:
            self._audio_attach(name, args)

    def _audio_attach(self, name: str, args: list[object]) -> None:
        audio, _ = self.commands.audio.target(name)
        try:
            mod = parse_audio_mod(args, audio.sources)  # the positional form: <source> <depth> [attack release [curve]]
        except ValueError as err:
            raise Rejected(WRONG_COUNT if "expected <source>" in str(err) else WRONG_TYPE, str(err)) from None
        self.commands.audio.attach(name, mod.source, {"depth": mod.depth, "attack_ms": mod.attack_ms,
                                                      "release_ms": mod.release_ms}, mod.curve.value)

    def _panic(self, args: list[object]) -> None:
        """A push button sends 1 on press and 0 on release: only the press (or no argument) fires."""
        if len(args) > 1:
            raise Rejected(WRONG_COUNT, "panic takes no argument (or 1 / 0 from a push button)")
        if self.actions.panic is None or not args or args[0] not in (0, False):
            self.commands.panic()


def _one_arg(args: list[object]) -> object:
    if len(args) != 1:
        raise Rejected(WRONG_COUNT, f"expected 1 argument, found {len(args)}")
    return args[0]


def _too_many(detail: str) -> None:
    raise Rejected(WRONG_COUNT, detail)


def _record_value(value: object) -> bool:
    """/vj/record takes 1 or 0 (a switch, never a toggle)."""
    if isinstance(value, bool) or (isinstance(value, (int, float)) and value in (0, 1)):
        return bool(value)
    raise Rejected(WRONG_TYPE, f"record: expected 1 or 0, found {value!r}")


def _toggle(what: str, args: list[object]) -> bool | None:
    """/vj/blackout 1|0 sets it; with no argument it toggles."""
    if len(args) > 1:
        raise Rejected(WRONG_COUNT, f"{what}: expected 1, 0 or no argument (toggle), found {len(args)} arguments")
    return values.switch(args[0], what) if args else None
