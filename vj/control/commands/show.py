"""`ShowCommands`: every show command, validated once and carried out, whichever transport sent it.

A transport adapter (OSC router, web protocol, MIDI mapper, preview keys) decodes its input and
calls one method here; the method checks the values with `vj.control.commands.values` (the
preset parser's rules), then writes the store or calls the session's hook (`ShowActions`).
A refusal raises `Rejected` (reason from `vj.control.commands.reasons`); the adapter counts it.

Store writes that must land together (an OSC bundle, one web message) are handed to the
adapter's `land` callable instead of being made here; prompt text, the negative and the seed
wait for the quantise grid when it is on, whatever the transport.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import TypeVar

from vj.control.commands import values
from vj.control.commands.actions import ShowActions
from vj.control.commands.modulation import AudioCommands, LfoCommands
from vj.control.commands.reasons import (
    OUT_OF_RANGE,
    OVERSIZED,
    REFUSED,
    UNAVAILABLE,
    UNKNOWN_CHOICE,
    UNKNOWN_PARAM,
    WRONG_TYPE,
    Rejected,
)
from vj.control.commands.reference import ReferenceCommands
from vj.control.tempo import MAX_BPM, MIN_BPM, Quantise
from vj.registry import (
    MAX_CONTROLNETS,
    MAX_LORAS,
    ParamSpec,
    ParamValue,
    controlnet_scale_name,
    lora_scale_name,
    slot_index,
)
from vj.store import ParamStore

Write = Callable[[], object]
Land = Callable[[Write], None]  # how the adapter lands a store write now (at once, or in its batch)
T = TypeVar("T")

MAX_PRESET_NAME = 256
# Still picture: what reset_motion writes (a live override, released like any other).
NEUTRAL_MOTION: Mapping[str, float] = {"zoom": 1.0, "angle": 0.0, "translation_x": 0.0, "translation_y": 0.0}


def at_once(write: Write) -> None:
    write()


class ShowCommands:
    """The show's commands for one transport (`source` names it in the store's events and the timeline)."""

    def __init__(self, store: ParamStore, actions: ShowActions, source: str) -> None:
        self.store = store
        self.actions = actions
        self.source = source
        self.lfo = LfoCommands(store, actions)
        self.audio = AudioCommands(store, actions)
        self.reference = ReferenceCommands(actions)

    # ------------------------------------------------------------------ parameter values
    def spec(self, name: str, *, numeric: bool = False, what: str = "") -> ParamSpec:
        """The parameter's spec; UNKNOWN_PARAM when there is none (or, with `numeric`, it is a choice)."""
        spec = self.store.registry.get(name)
        if spec is None or (numeric and not spec.numeric):
            kind = "a numeric parameter" if numeric else "a parameter"
            raise Rejected(UNKNOWN_PARAM, f"{what or 'parameter'}: {name[:80]!r} is not {kind}")
        return spec

    def param(self, name: str, value: object) -> ParamValue:
        return values.param(self.spec(name), value)

    def param_normalised(self, name: str, value: object) -> ParamValue:
        return values.param_normalised(self.spec(name), value)

    def lora_scale(self, slot: str) -> str:
        """The parameter behind LoRA slot `slot` ("0".."3")."""
        return self._slot_scale(slot, MAX_LORAS, lora_scale_name, "LoRA")

    def controlnet_scale(self, slot: str) -> str:
        """The parameter behind ControlNet unit `slot` ("0".."3")."""
        return self._slot_scale(slot, MAX_CONTROLNETS, controlnet_scale_name, "ControlNet")

    def _slot_scale(self, slot: str, count: int, name_of: Callable[[int], str], what: str) -> str:
        index = slot_index(slot, count)
        name = name_of(index) if index is not None else ""
        if name not in self.store.registry:
            raise Rejected(OUT_OF_RANGE, f"{what} slot must be 0..{count - 1}, found {slot[:12]!r}")
        return name

    def seed(self, value: object) -> ParamValue | None:
        """A validated seed for the caller's batch; None when quantise is on and it waits for the grid."""
        if isinstance(value, float) and math.isfinite(value) and not value.is_integer():
            raise Rejected(WRONG_TYPE, f"seed: expected an integer, found {value!r}")
        seed = self.param("seed", value)
        quantiser = self.actions.quantiser
        if quantiser is not None and quantiser.mode is not Quantise.OFF:
            quantiser.submit(lambda: self.store.set("seed", seed, source=self.source))
            return None
        return seed

    def reset_motion(self) -> int:
        return self.store.set_many(dict(NEUTRAL_MOTION), source=self.source)

    # ------------------------------------------------------------------ prompts
    def prompt(self, slot: object, text: object | None, weight: object | None, land: Land) -> None:
        """Text and / or weight of a prompt slot. Text lands on the grid (with its weight, in one frame);
        a weight alone moves like a fader: at once."""
        index = values.prompt_slot(slot)
        words = values.text(text, "prompt text") if text is not None else None
        amount = values.prompt_weight(weight) if weight is not None else None
        if words is None and amount is None:
            raise Rejected(WRONG_TYPE, "prompt: give text, weight or both")
        store = self.store
        if words is None:
            land(lambda: store.set_prompt_weight(index, amount, source=self.source))
            return

        def write() -> None:
            with store.batch():
                store.set_prompt(index, words, source=self.source)
                if amount is not None:
                    store.set_prompt_weight(index, amount, source=self.source)

        self._on_grid(write, land)

    def negative(self, text: object, land: Land) -> None:
        words = values.text(text, "negative")
        self._on_grid(lambda: self.store.set_negative(words, source=self.source), land)

    def _on_grid(self, write: Write, land: Land) -> None:
        """Prompt text and the negative wait for the beat when quantise is on."""
        quantiser = self.actions.quantiser
        if quantiser is not None and quantiser.mode is not Quantise.OFF:
            quantiser.submit(write)
        else:
            land(write)

    # ------------------------------------------------------------------ presets
    def preset(self, value: object) -> None:
        """A preset by name or number (shipped, or in --presets-dir; never a path)."""
        if isinstance(value, bool) or not isinstance(value, (str, int)):
            raise Rejected(WRONG_TYPE, f"preset: expected a name or number, found {value!r}"[:200])
        if isinstance(value, str) and len(value) > MAX_PRESET_NAME:
            raise Rejected(OVERSIZED, f"preset name longer than {MAX_PRESET_NAME} characters")
        switch = self._hook(self.actions.preset, "preset switching")
        if switch(str(value)) is None:
            raise Rejected(REFUSED, f"no preset named {str(value)[:80]!r} (shipped names, or --presets-dir)")

    def model(self, value: object) -> None:
        """Switch the model: loaded and warmed beside the playing one, then crossfaded on the grid."""
        source = values.text(value, "model")
        if len(source) > MAX_PRESET_NAME:
            raise Rejected(OVERSIZED, f"model name longer than {MAX_PRESET_NAME} characters")
        if self._hook(self.actions.model, "model switching")(source) is None:
            raise Rejected(REFUSED, f"model {source[:80]!r} refused (a built-in tiny model or one the show's "
                                    "presets name; one switch at a time)")

    def preset_file(self, name: str) -> None:
        """A preset the performer's own mapping file names (a name or a path)."""
        self._hook(self.actions.preset_file, "preset switching")(name)

    def preset_number(self, number: int) -> None:
        self._hook(self.actions.preset_number, "preset switching")(number)

    def preset_step(self, delta: int) -> object:
        return self._hook(self.actions.preset_step, "preset switching")(delta)

    def release(self, name: object) -> None:
        target = values.text(name, "release")
        if target == "all":
            self.store.release_all(source=self.source)
            return
        if target != "prompt" and target not in self.store.registry:
            raise Rejected(UNKNOWN_PARAM, f"release: unknown parameter {target[:80]!r}")
        self.store.release(target, source=self.source)

    # ------------------------------------------------------------------ the performer's switches
    def record(self, on: object) -> None:
        self._hook(self.actions.record, "recording (no recorder in this session)")(values.switch(on, "record"))

    def toggle_record(self, assumed: bool = False) -> bool:
        """Record on if off, off if on (by the take's state; `assumed` where the session gives none);
        returns whether it records now."""
        record = self._hook(self.actions.record, "recording (no recorder in this session)")
        was = self.actions.is_recording() if self.actions.is_recording is not None else assumed
        record(not was)
        return self.actions.is_recording() if self.actions.is_recording is not None else not was

    def blackout(self, on: object | None) -> object:
        """On (True / 1), off (False / 0) or toggled (None); returns what the performer says it is now."""
        return self._hook(self.actions.blackout, "blackout")(None if on is None else values.switch(on, "blackout"))

    def freeze(self, on: object | None) -> object:
        return self._hook(self.actions.freeze, "freeze")(None if on is None else values.switch(on, "freeze"))

    def panic(self) -> None:
        self._hook(self.actions.panic, "panic")()

    def reopen_preview(self) -> None:
        self._hook(self.actions.reopen_preview, "the preview window")()

    def learn(self, target: object) -> None:
        words = values.text(target, "learn")
        learn = self._hook(self.actions.learn, "MIDI learn (it needs an open MIDI input: vj run --midi)")
        if not learn(words):
            raise Rejected(UNKNOWN_CHOICE, f"learn: {words[:80]!r} is not a mappable target")

    # ------------------------------------------------------------------ tempo
    def tap(self) -> None:
        self._hook(self.actions.tempo, "the tempo clock").tap()

    def bpm(self, value: object) -> None:
        bpm = values.number(value, "bpm")
        tempo = self._hook(self.actions.tempo, "the tempo clock")
        if not tempo.set_bpm(bpm, source=self.source):
            raise Rejected(OUT_OF_RANGE, f"bpm: expected {MIN_BPM:g}..{MAX_BPM:g}, found {bpm:g}")

    def quantise(self, value: object) -> None:
        words = values.text(value, "quantise")
        quantiser = self._hook(self.actions.quantiser, "the tempo clock")
        try:
            quantiser.mode = Quantise(words.lower())
        except ValueError:
            raise Rejected(UNKNOWN_CHOICE, f"quantise: expected one of {', '.join(q.value for q in Quantise)}, "
                                           f"found {words[:40]!r}") from None

    # ------------------------------------------------------------------ helpers
    @staticmethod
    def _hook(hook: T | None, what: str) -> T:
        if hook is None:
            raise Rejected(UNAVAILABLE, f"{what} is not available in this session")
        return hook
