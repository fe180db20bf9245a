"""`WebContext`: everything the web surface reads and drives, handed over explicitly.

The session builder gives it the show's `ShowActions` (the same hooks OSC and MIDI reach) and the
read-only views the page shows; tests build it from the same real parts without an engine.
A missing action (no take, no MIDI input) is None and the page shows it as unavailable.
"""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping
from dataclasses import dataclass, field
from typing import TypeVar

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
    # the models a switch may name (a built-in tiny model or one the show's presets name), and the playing one
    model_names: Callable[[], list[str]] = list
    playing_model: Callable[[], str] = lambda: ""
    # parameters the playing preset drives with a schedule
    scheduled: Callable[[], Collection[str]] = tuple
    record_info: Callable[[], RecordInfo] = RecordInfo
    learning: Callable[[], str | None] = lambda: None
    reference_upload_bytes: int = 8_000_000  # the largest reference picture a page may upload
    # the performer's switches (the session's Performer) and their states
    switches: Callable[[], Mapping[str, bool]] = dict
    # the status line's figures: fps, frame_ms, frames, dropped, errors, oom, oom_note, skipped, line
    status: Callable[[], Mapping[str, object]] = dict
    # parameters the page shows no control for (LoRA and ControlNet slots with nothing loaded)
    hidden: Collection[str] = field(default_factory=frozenset)

    def __post_init__(self) -> None:
        missing = [name for name in ("tempo", "quantiser", "modulators") if getattr(self.actions, name) is None]
        if missing:
            raise ValueError(f"the web page needs the session's {', '.join(missing)} in its actions")

    @property
    def tempo(self) -> TempoClock:
        return _present(self.actions.tempo)

    @property
    def quantiser(self) -> Quantiser:
        return _present(self.actions.quantiser)

    @property
    def modulators(self) -> ModulatorBank:
        return _present(self.actions.modulators)


T = TypeVar("T")


def _present(part: T | None) -> T:
    assert part is not None  # checked in WebContext.__post_init__
    return part
