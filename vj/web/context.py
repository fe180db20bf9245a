"""`WebContext`: everything the web surface reads and drives, handed over explicitly.

The session builder gives it the show's `ShowActions` (the same hooks OSC and MIDI reach) and the
read-only views the page shows; tests build it from the same real parts without an engine.
A missing action (no take, no MIDI input) is None and the page shows it as unavailable.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field

from vj.control.audio.modulators import AudioModulators
from vj.control.commands.actions import ShowActions
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
    # what the page's commands reach (vj.control.commands); the page needs its tempo, quantiser and LFO bank
    actions: ShowActions
    preset_names: Callable[[], list[str]] = list
    playing_preset: Callable[[], str] = lambda: ""
    # parameters the playing preset drives with a schedule
    scheduled: Callable[[], Collection[str]] = tuple
    record_info: Callable[[], RecordInfo] = RecordInfo
    learning: Callable[[], str | None] = lambda: None
    # the performer's switches (the session's Performer) and their states
    switches: Callable[[], Mapping[str, bool]] = dict
    # the status line's figures: fps, frame_ms, frames, dropped, errors, line
    status: Callable[[], Mapping[str, object]] = dict
    # parameters the page shows no control for (LoRA and ControlNet slots with nothing loaded)
    hidden: Collection[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        missing = [name for name in ("tempo", "quantiser", "modulators") if getattr(self.actions, name) is None]
        if missing:
            raise ValueError(f"the web page needs the session's {', '.join(missing)} in its actions")

    @property
    def tempo(self) -> TempoClock:
        assert self.actions.tempo is not None  # checked in __post_init__
        return self.actions.tempo

    @property
    def quantiser(self) -> Quantiser:
        assert self.actions.quantiser is not None
        return self.actions.quantiser

    @property
    def modulators(self) -> ModulatorBank:
        assert self.actions.modulators is not None
        return self.actions.modulators

    @property
    def audio(self) -> AudioModulators | None:
        """The session's audio modulators (stepped by --audio-in, or idle without one); None: not in this show."""
        return self.actions.audio

    @property
    def record(self) -> object | None:
        return self.actions.record

    @property
    def learn(self) -> object | None:
        return self.actions.learn

    @property
    def panic(self) -> object | None:
        return self.actions.panic
