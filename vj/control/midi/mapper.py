"""Applying a MIDI mapping at run time: messages -> ParamStore writes and session actions.

Soft takeover (pickup) after a preset recall, learn (the next control moved is bound to a
target), buttons (momentary / toggle / trigger), program changes and MIDI clock.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace

import mido

from vj.control._ratelog import RateLimitedLog
from vj.control.commands.actions import ShowActions
from vj.control.commands.catalogue import Command
from vj.control.commands.counters import CommandCounters
from vj.control.commands.reasons import ACTION_FAILED, OUT_OF_RANGE, STORE_REJECTED, Rejected
from vj.control.commands.show import ShowCommands
from vj.control.midi.curves import CcMode, apply_curve, fourteen_bit, invert_curve, relative_ticks
from vj.control.midi.mapping_file import ButtonMapping, ButtonMode, CcMapping, MidiMapping
from vj.control.midi.targets import (
    Action,
    AudioDepthTarget,
    LearnTarget,
    LfoTarget,
    ParamTarget,
    PromptWeightTarget,
    Target,
    parse_learn_target,
)
from vj.control.modulators import Lfo
from vj.errors import ParamRejected
from vj.prompt_mix import MAX_PROMPT_WEIGHT
from vj.registry import ParamKind
from vj.store import ParamStore

log = logging.getLogger(__name__)

SOURCE = "midi"


# The show commands a mapping reaches: a button's action, and what its other entries carry.
MIDI_ACTIONS: Mapping[Action, Command] = {
    Action.NEXT_PRESET: Command.PRESET_STEP, Action.PREVIOUS_PRESET: Command.PRESET_STEP,
    Action.RESET_MOTION: Command.RESET_MOTION, Action.TAP: Command.TAP, Action.RECORD: Command.RECORD,
    Action.RELEASE_ALL: Command.RELEASE, Action.BLACKOUT: Command.BLACKOUT, Action.FREEZE: Command.FREEZE,
    Action.PANIC: Command.PANIC, Action.LEARN: Command.LEARN,
}
MIDI_COMMANDS: Mapping[str, Command] = {
    **{f"button {action.value}": command for action, command in MIDI_ACTIONS.items()},
    "cc <param>": Command.SET_PARAM, "cc lora_<i>_scale": Command.LORA_SCALE,
    "cc controlnet_<i>_scale": Command.CONTROLNET_SCALE, "cc prompt/<i>/weight": Command.PROMPT_WEIGHT,
    "cc lfo/<param>/<field>": Command.LFO, "cc audio/<param>/depth": Command.AUDIO,
    "program_change": Command.PRESET,
}


@dataclass
class MidiCounters(CommandCounters):
    unmapped: int = 0
    pickup_waiting: int = 0
    clock: int = 0


@dataclass(slots=True)
class _PickupState:
    engaged: bool = True
    last_x: float | None = None


def _matches(channel: int | None, msg_channel: int) -> bool:
    return channel is None or channel == msg_channel


class MidiMapper:
    """Turns mido messages into ParamStore writes and session actions, following one mapping.

    Thread-safe (one lock): the MIDI thread calls `handle`, the session calls `arm_pickup`
    after a preset recall, OSC or a button call `learn`.
    """

    PICKUP_TOLERANCE = 1.5 / 127  # a control within ~one step of the value picks it up

    def __init__(self, mapping: MidiMapping, store: ParamStore, actions: ShowActions | None = None,
                 on_learned: Callable[[MidiMapping], None] | None = None) -> None:
        self.store = store
        self.commands = ShowCommands(store, actions or ShowActions(), SOURCE)
        c = self.commands
        self._triggers: dict[Action, Callable[[], object]] = {
            Action.NEXT_PRESET: lambda: c.preset_step(1), Action.PREVIOUS_PRESET: lambda: c.preset_step(-1),
            Action.RESET_MOTION: c.reset_motion, Action.TAP: c.tap, Action.RELEASE_ALL: lambda: c.release("all"),
            Action.BLACKOUT: lambda: c.blackout(None), Action.FREEZE: lambda: c.freeze(None), Action.PANIC: c.panic,
        }
        self.on_learned = on_learned
        self.counters = MidiCounters()
        self._lock = threading.RLock()
        self._msb: dict[tuple[int, int], int] = {}
        self._toggles: dict[int, bool] = {}
        self._recording = False
        self._learning: LearnTarget | None = None
        self._ratelog = RateLimitedLog(log)
        self._set_mapping(mapping)

    def _set_mapping(self, mapping: MidiMapping) -> None:
        self.mapping = mapping
        self._pickup = [_PickupState() for _ in mapping.cc]
        cc_index: dict[int, list[int]] = {}
        lsb_index: dict[int, list[int]] = {}
        for i, m in enumerate(mapping.cc):
            cc_index.setdefault(m.control, []).append(i)
            if m.mode is CcMode.FOURTEEN_BIT:
                lsb_index.setdefault(m.control + 32, []).append(i)
        self._cc_index = cc_index
        self._lsb_index = lsb_index

    @property
    def actions(self) -> ShowActions:
        return self.commands.actions

    # ------------------------------------------------------------------ public
    @property
    def learning(self) -> str | None:
        """The target learn is armed for, as its text; None when not learning."""
        return None if self._learning is None else str(self._learning)

    def learn(self, target: str) -> bool:
        """Arm learn: the next control moved (CC or button) is mapped to `target`; 'off' disarms."""
        with self._lock:
            if target == "off":
                self._learning = None
                return True
            parsed = parse_learn_target(target)
            if parsed is None:
                return False
            self._learning = parsed
            return True

    def arm_pickup(self) -> None:
        """After a preset recall: absolute controls wait until they reach the recalled value."""
        with self._lock:
            for m, state in zip(self.mapping.cc, self._pickup, strict=True):
                if m.pickup and m.mode in (CcMode.ABSOLUTE, CcMode.FOURTEEN_BIT):
                    state.engaged = False
                    state.last_x = None

    def handle(self, msg: mido.Message) -> None:
        """Apply one MIDI message; never raises (bad values are counted)."""
        with self._lock:
            self.counters.messages += 1
            try:
                self._handle(msg)
            except ParamRejected as err:
                self.counters.rejected[err.reason] += 1
                self.store.reject(err.reason)
            except Exception as err:  # a session action (preset, recorder) failed: count, keep playing
                self.counters.rejected[ACTION_FAILED] += 1
                self.store.reject(ACTION_FAILED)
                self._ratelog.warning(msg.type, "MIDI %s: action failed: %s: %s", msg.type, type(err).__name__, err)

    def status(self) -> str:
        c = self.counters
        text = f"midi rx {c.messages}"
        if c.rejected:
            text += f" bad {sum(c.rejected.values())}"
        if self._learning is not None:
            text += f" LEARN->{self._learning}"
        return text

    # ------------------------------------------------------------------ dispatch
    def _handle(self, msg: mido.Message) -> None:
        kind = msg.type
        if kind in ("clock", "start", "stop", "continue"):
            self.counters.clock += 1
            if self.mapping.clock and self.actions.tempo is not None:
                self.actions.tempo.midi_clock(kind)
            return
        if self._learning is not None and kind in ("control_change", "note_on") and (
                kind == "control_change" or msg.velocity > 0) and not self._is_learn_button(msg):
            self._learn_from(msg)
            return
        if kind == "control_change":
            self._on_cc(msg.channel, msg.control, msg.value)
        elif kind in ("note_on", "note_off"):
            pressed = kind == "note_on" and msg.velocity > 0  # note-on velocity 0 is a note-off
            self._on_button("note", msg.channel, msg.note, pressed)
        elif kind == "program_change":
            self._on_program(msg.program)
        else:
            self.counters.unmapped += 1

    def _on_cc(self, channel: int, control: int, value: int) -> None:
        hit = False
        for i in self._cc_index.get(control, ()):
            m = self.mapping.cc[i]
            if not _matches(m.channel, channel):
                continue
            hit = True
            if m.mode is CcMode.ABSOLUTE:
                self._absolute(i, m, value / 127.0)
            elif m.mode is CcMode.FOURTEEN_BIT:
                self._msb[(channel, control)] = value  # MSB alone means LSB = 0 (MIDI 1.0)
                self._absolute(i, m, fourteen_bit(value, 0))
            else:
                self._relative(m, relative_ticks(value, m.mode))
        for i in self._lsb_index.get(control, ()):
            m = self.mapping.cc[i]
            if not _matches(m.channel, channel):
                continue
            hit = True
            msb = self._msb.get((channel, m.control))
            if msb is not None:
                self._absolute(i, m, fourteen_bit(msb, value))
        for b in self.mapping.buttons:
            if b.kind == "cc" and b.number == control and _matches(b.channel, channel):
                hit = True
                self._button(b, value >= 64)
        if not hit:
            self.counters.unmapped += 1

    def _on_button(self, kind: str, channel: int, number: int, pressed: bool) -> None:
        hit = False
        for b in self.mapping.buttons:
            if b.kind == kind and b.number == number and _matches(b.channel, channel):
                hit = True
                self._button(b, pressed)
        if not hit:
            self.counters.unmapped += 1

    def _on_program(self, program: int) -> None:
        if not self.mapping.program_change:
            self.counters.unmapped += 1
            return
        if self.mapping.program_presets:
            if program >= len(self.mapping.program_presets):
                raise Rejected(OUT_OF_RANGE, f"program {program}: only "
                               f"{len(self.mapping.program_presets)} presets are listed")
            self.commands.preset_file(self.mapping.program_presets[program])
        else:
            self.commands.preset_number(program)
        self.counters.applied += 1

    # ------------------------------------------------------------------ targets
    def _range(self, m: CcMapping) -> tuple[float, float]:
        lo, hi = m.target.default_range()
        return (lo if m.min is None else m.min, hi if m.max is None else m.max)

    def _current(self, target: Target) -> float | None:
        if isinstance(target, ParamTarget):
            spec = self.store.registry.get(target.name)
            if spec is None:
                return None
            value = self.store.target(target.name)
            return spec.to_normalised(value) if spec.kind is ParamKind.CHOICE else float(value)  # type: ignore[arg-type]
        if isinstance(target, PromptWeightTarget):
            entries = self.store.prompts().entries
            return entries[target.index].weight if target.index < len(entries) else 0.0
        if isinstance(target, AudioDepthTarget):
            audio = self.actions.audio
            mod = audio.get(target.param) if audio is not None else None
            return mod.depth if mod is not None else 0.0
        bank = self.actions.modulators
        if bank is None:
            return None
        lfo = bank.get(target.param) or Lfo()  # no LFO yet: the knob starts from a fresh one's depth / rate
        return float(getattr(lfo, target.field))

    def _write(self, target: Target, value: float | str) -> None:
        if isinstance(target, ParamTarget):
            ok = self._write_param(target.name, value)
        elif isinstance(target, PromptWeightTarget):
            weight = min(max(float(value), 0.0), MAX_PROMPT_WEIGHT)
            ok = self.store.set_prompt_weight(target.index, weight, source=SOURCE)
        elif isinstance(target, AudioDepthTarget):
            ok = self._write_audio_depth(target, float(value))
        else:
            ok = self._write_lfo(target, float(value))
        if ok:
            self.counters.applied += 1
        else:
            self.counters.rejected[STORE_REJECTED] += 1

    def _write_param(self, name: str, value: float | str) -> bool:
        spec = self.store.registry.get(name)
        if spec is None:
            raise ParamRejected("unavailable", f"{name} is not a parameter of this session")
        if spec.kind is ParamKind.CHOICE and not isinstance(value, str):
            value = spec.from_normalised(min(max(float(value), 0.0), 1.0))
        return self.store.set(name, value, source=SOURCE)

    def _write_lfo(self, target: LfoTarget, value: float) -> bool:
        return self.commands.lfo.touch(target.param, target.field, value)

    def _write_audio_depth(self, target: AudioDepthTarget, value: float) -> bool:
        return self.commands.audio.touch(target.param, value)

    def _rounded(self, target: Target, value: float) -> float:
        """Integer parameters (seed, steps) get whole numbers."""
        if isinstance(target, ParamTarget):
            spec = self.store.registry.get(target.name)
            if spec is not None and spec.kind is ParamKind.INT:
                return round(value)
        return value

    def _absolute(self, index: int, m: CcMapping, x: float) -> None:
        """x = raw control position 0..1 -> invert -> curve -> min..max, with pickup."""
        pos = 1.0 - x if m.invert else x
        lo, hi = self._range(m)
        state = self._pickup[index]
        if not state.engaged:
            current = self._current(m.target)
            if current is None:
                state.engaged = True
            else:
                # where the control would have to be to match the current value
                y = (current - lo) / (hi - lo)
                target_pos = invert_curve(y, m.curve, m.curve_amount)
                crossed = state.last_x is not None and (state.last_x - target_pos) * (pos - target_pos) <= 0
                state.last_x = pos
                if crossed or abs(pos - target_pos) <= self.PICKUP_TOLERANCE:
                    state.engaged = True
                else:
                    self.counters.pickup_waiting += 1
                    return
        value = lo + apply_curve(pos, m.curve, m.curve_amount) * (hi - lo)
        self._write(m.target, self._rounded(m.target, value))

    def _relative(self, m: CcMapping, ticks: int) -> None:
        lo, hi = self._range(m)
        step = m.step if m.step is not None else (hi - lo) / 127.0
        current = self._current(m.target)
        if current is None:
            raise ParamRejected("unavailable", f"{m.param} has no current value to move")
        delta = (-ticks if m.invert else ticks) * step
        value = min(max(current + delta, min(lo, hi)), max(lo, hi))
        self._write(m.target, self._rounded(m.target, value))

    def _button(self, b: ButtonMapping, pressed: bool) -> None:
        if b.mode is ButtonMode.TRIGGER:
            if pressed:
                self._trigger(b)
            return
        if b.mode is ButtonMode.TOGGLE:
            if not pressed:
                return
            on = not self._toggles.get(id(b), False)
            self._toggles[id(b)] = on
        else:
            on = pressed
        target = b.target
        assert target is not None  # the file format requires one for momentary / toggle buttons
        if on:
            self._write(target, target.default_range()[1] if b.on is None else b.on)
        elif b.off is not None:
            self._write(target, b.off)
        else:
            self._release(target)

    def _release(self, target: Target) -> None:
        if isinstance(target, ParamTarget) and target.name in self.store.registry:
            self.commands.release(target.name)
        elif isinstance(target, PromptWeightTarget):
            self.store.set_prompt_weight(target.index, 0.0, source=SOURCE)
        self.counters.applied += 1

    def _trigger(self, b: ButtonMapping) -> None:
        action = b.action
        if action is Action.LEARN:  # the mapper's own learn: the next control moved is bound to the target
            self._learning = None if self._learning == b.target else b.target
        elif action is Action.RECORD:
            self._recording = self.commands.toggle_record(assumed=self._recording)
        elif action is not None:
            self._triggers[action]()
        self.counters.applied += 1

    # ------------------------------------------------------------------ learn
    def _is_learn_button(self, msg: mido.Message) -> bool:
        """The button that armed learn must not be learned itself (a CC button sends a release too)."""
        kind, number = ("cc", msg.control) if msg.type == "control_change" else ("note", msg.note)
        return any(b.action is Action.LEARN and b.kind == kind and b.number == number
                   and _matches(b.channel, msg.channel) for b in self.mapping.buttons)

    def _learn_from(self, msg: mido.Message) -> None:
        target = self._learning
        assert target is not None
        mapping = learned_mapping(self.mapping, msg, target)
        if mapping is None:
            self.counters.unmapped += 1
            return
        self._learning = None
        self._set_mapping(mapping)
        if self.on_learned is not None:
            self.on_learned(mapping)


def learned_mapping(mapping: MidiMapping, msg: mido.Message, target: LearnTarget) -> MidiMapping | None:
    """`mapping` plus (or with a replaced) entry binding the control of `msg` to `target`.

    A CC becomes an absolute continuous control for a parameter target, a trigger for an
    action target; a note becomes a toggle for a parameter target, a trigger for an action.
    Earlier entries for the same control and channel are replaced so a re-learn moves it.
    """
    if msg.type == "control_change":
        kind, number = "cc", msg.control
    elif msg.type == "note_on" and msg.velocity > 0:
        kind, number = "note", msg.note
    else:
        return None
    ccs = [m for m in mapping.cc if not (kind == "cc" and m.control == number and m.channel == msg.channel)]
    buttons = [b for b in mapping.buttons
               if not (b.kind == kind and b.number == number and b.channel == msg.channel)]
    if isinstance(target, Action):
        buttons.append(ButtonMapping(number=number, kind=kind, mode=ButtonMode.TRIGGER, channel=msg.channel,
                                     action=target))
    elif kind == "cc":
        ccs.append(CcMapping(control=number, target=target, channel=msg.channel))
    else:
        buttons.append(ButtonMapping(number=number, kind="note", mode=ButtonMode.TOGGLE, channel=msg.channel,
                                     target=target))
    return replace(mapping, cc=tuple(ccs), buttons=tuple(buttons))
