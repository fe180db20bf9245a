"""`WebContext`: everything the web surface reads and drives, handed over explicitly.

`vj run` builds it from the session's fields (store, tempo, quantiser, LFO bank, audio
modulators, preset switcher, take, MIDI mapper); tests build it from the same real parts without an engine.
A missing action (no take, no MIDI input) is None and the page shows it as unavailable.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from vj.control.audio.modulators import AudioModulators
from vj.control.modulators import ModulatorBank
from vj.control.tempo import Quantiser, TempoClock
from vj.store import ParamStore


@dataclass(frozen=True, slots=True)
class RecordInfo:
    """What the page shows of the take: on/off, the file being written, how many takes so far."""

    available: bool = False
    on: bool = False
    name: str = ""
    takes: int = 0


@dataclass
class WebContext:
    store: ParamStore
    tempo: TempoClock
    quantiser: Quantiser
    modulators: ModulatorBank
    # switch to a shipped preset by name (the session's PresetSwitcher.by_name: quantised)
    switch_preset: Callable[[str], object] | None = None
    preset_names: Callable[[], list[str]] = list
    playing_preset: Callable[[], str] = lambda: ""
    # parameters the playing preset drives with a schedule
    scheduled: Callable[[], Collection[str]] = tuple
    record: Callable[[bool], object] | None = None
    record_info: Callable[[], RecordInfo] = RecordInfo
    learn: Callable[[str], bool] | None = None
    learning: Callable[[], str | None] = lambda: None
    # the performer's switches (the session's Performer): blackout(on), freeze(on), panic(), and their states
    blackout: Callable[[bool | None], object] | None = None
    freeze: Callable[[bool | None], object] | None = None
    panic: Callable[[], object] | None = None
    switches: Callable[[], Mapping[str, bool]] = dict
    # the status line's figures: fps, frame_ms, frames, dropped, errors, line
    status: Callable[[], Mapping[str, object]] = dict
    # parameters the page shows no control for (LoRA and ControlNet slots with nothing loaded)
    hidden: Collection[str] = field(default_factory=frozenset)
    # the session's audio modulators (stepped by --audio-in, or idle without one); None: not in this session
    audio: AudioModulators | None = None
