"""The LFO and audio-modulator commands: attach, change, remove (and the onset action).

The ranges are the preset's: an LFO's rate and depth are checked by `LfoConfig`'s own field
checks, an audio modulator's fields by `vj.control.audio.surface` (the table OSCQuery and the
page show), so a live change can never reach a value a preset file could not hold.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace

from vj.config import LfoConfig
from vj.config_audio import AUDIO_CURVES
from vj.control.audio.modulators import AudioMod, AudioModulators
from vj.control.audio.surface import FIELDS as AUDIO_FIELDS
from vj.control.audio.surface import out_of_range as audio_out_of_range
from vj.control.commands import values
from vj.control.commands.actions import ShowActions
from vj.control.commands.reasons import (
    OUT_OF_RANGE,
    UNAVAILABLE,
    UNKNOWN_CHOICE,
    UNKNOWN_MESSAGE,
    UNKNOWN_PARAM,
    WRONG_TYPE,
    Rejected,
)
from vj.control.midi.curves import Curve
from vj.control.modulators import Lfo, ModulatorBank, parse_lfo
from vj.registry import ParamSpec
from vj.store import ParamStore

LFO_FIELDS = ("depth", "rate")  # what a running LFO's change may set


def _numeric(store: ParamStore, name: object, what: str) -> ParamSpec:
    spec = store.registry.get(name) if isinstance(name, str) else None
    if spec is None or not spec.numeric:
        raise Rejected(UNKNOWN_PARAM, f"{what}: {str(name)[:80]!r} is not a numeric parameter")
    return spec


class _OnTheShow:
    def __init__(self, store: ParamStore, actions: ShowActions) -> None:
        self.store = store
        self.actions = actions


class LfoCommands(_OnTheShow):

    def _bank(self) -> ModulatorBank:
        if self.actions.modulators is None:
            raise Rejected(UNAVAILABLE, "no modulator bank in this session")
        return self.actions.modulators

    def attach(self, name: object, shape: object, rate: object, depth: object, offset: object = 0.0,
               unit: object = "beats") -> None:
        spec = _numeric(self.store, name, "lfo")
        bank = self._bank()
        numbers = {key: values.number(v, f"lfo {key}") for key, v in (("rate", rate), ("depth", depth),
                                                                        ("offset", offset))}
        for key in LFO_FIELDS:
            values.config_value(LfoConfig, key, numbers[key], f"lfo {key}")
        try:
            lfo = parse_lfo(shape, numbers["rate"], numbers["depth"], numbers["offset"], unit)
        except ValueError as err:
            raise Rejected(WRONG_TYPE, str(err)) from None
        bank.assign(spec.name, lfo)

    def change(self, name: object, field: str, value: object) -> None:
        """Depth or rate of the LFO already on `name`."""
        spec = _numeric(self.store, name, "lfo")
        if field not in LFO_FIELDS:
            raise Rejected(UNKNOWN_MESSAGE, f"lfo: a running LFO's {' and '.join(LFO_FIELDS)} change, not {field!r}")
        number = values.config_value(LfoConfig, field, values.number(value, f"lfo {field}"), f"lfo {field}")
        if not self._bank().update(spec.name, **{field: number}):
            raise Rejected(UNAVAILABLE, f"no LFO on {spec.name}; attach one with a shape, rate and depth")

    def remove(self, name: object) -> None:
        spec = _numeric(self.store, name, "lfo")
        self._bank().remove(spec.name)

    def touch(self, name: str, field: str, value: float) -> bool:
        """A knob on an LFO's depth or rate: changes it, or the first touch attaches one (a sine over one bar)."""
        spec = _numeric(self.store, name, "lfo")
        bank = self._bank()
        number = values.config_value(LfoConfig, field, values.number(value, f"lfo {field}"), f"lfo {field}")
        fresh = replace(Lfo(), **{field: number})  # type: ignore[arg-type]
        return bank.update(spec.name, **{field: number}) or bank.assign(spec.name, fresh)


class AudioCommands(_OnTheShow):

    def _audio(self) -> AudioModulators:
        if self.actions.audio is None:
            raise Rejected(UNAVAILABLE, "no audio modulators in this session")
        return self.actions.audio

    def _checked(self, spec: ParamSpec, fields: Mapping[str, object]) -> dict[str, float]:
        numbers = {f: values.number(v, f"audio {f}") for f, v in fields.items()}
        for field, number in numbers.items():
            if field not in AUDIO_FIELDS:
                raise Rejected(UNKNOWN_MESSAGE, f"audio: unknown field {field!r}")
            wrong = audio_out_of_range(spec, field, number)
            if wrong is not None:
                raise Rejected(OUT_OF_RANGE, wrong)
        return numbers

    def target(self, name: object) -> tuple[AudioModulators, ParamSpec]:
        """The session's audio modulators and the numeric parameter `name` (refused otherwise)."""
        return self._audio(), _numeric(self.store, name, "audio")

    def attach(self, name: object, source: object, fields: Mapping[str, object], curve: object = "linear") -> None:
        """Follow `source` (a band, level or onset) with depth / offset / attack_ms / release_ms and a curve."""
        audio, spec = self.target(name)
        numbers = self._checked(spec, fields)
        if source not in audio.sources:
            raise Rejected(UNKNOWN_CHOICE, f"audio source: expected one of {', '.join(audio.sources)}, "
                                           f"found {str(source)[:40]!r}")
        if curve not in AUDIO_CURVES:
            raise Rejected(UNKNOWN_CHOICE, f"audio curve: expected one of {', '.join(AUDIO_CURVES)}, "
                                           f"found {str(curve)[:40]!r}")
        fresh = replace(AudioMod(str(source), 0.0), **numbers, curve=Curve(curve))  # type: ignore[arg-type]
        audio.assign(spec.name, fresh)

    def change(self, name: object, fields: Mapping[str, object]) -> None:
        audio = self._audio()
        spec = _numeric(self.store, name, "audio")
        numbers = self._checked(spec, fields)
        if not numbers:
            raise Rejected(WRONG_TYPE, "audio: give depth / offset / attack_ms / release_ms to change")
        if not audio.update(spec.name, **numbers):
            raise Rejected(UNAVAILABLE, f"no audio modulator on {spec.name}; attach one with a source")

    def remove(self, name: object) -> None:
        audio = self._audio()
        audio.remove(_numeric(self.store, name, "audio").name)

    def touch(self, name: str, depth: float) -> bool:
        """A knob on a modulator's depth: changes it, or the first touch attaches one to the first band."""
        audio, spec = self.target(name)
        number = self._checked(spec, {"depth": depth})["depth"]
        return audio.update(spec.name, depth=number) or audio.assign(
            spec.name, AudioMod(audio.analysis.band_names[0], number))

    def onset(self, action: object) -> None:
        audio = self._audio()
        words = values.text(action, "audio onset")
        try:
            audio.set_onset_action(words)
        except ValueError as err:
            raise Rejected(UNKNOWN_CHOICE, str(err)) from None
