"""An in-memory mido backend (there is no ALSA sequencer here): ports share one queue per name.

`plug(name)` makes a port appear in get_input_names(); `unplug(name)` makes it vanish, and an
input opened before the unplug goes silent, as real rtmidi ports do (mido never reports it).
Select with `mido.Backend("tests.unit.memory_midi_backend")`.
"""

from __future__ import annotations

import queue
import threading

import mido
from mido.ports import BaseInput, BaseOutput

_lock = threading.Lock()
_present: set[str] = set()
_generation: dict[str, int] = {}
_queues: dict[tuple[str, int], queue.Queue[mido.Message]] = {}


def reset() -> None:
    with _lock:
        _present.clear()
        _generation.clear()
        _queues.clear()


def plug(name: str) -> None:
    """Connect a device; each plug-in is a new device instance with its own queue."""
    with _lock:
        _present.add(name)
        _generation[name] = _generation.get(name, 0) + 1
        _queues[(name, _generation[name])] = queue.Queue()


def unplug(name: str) -> None:
    with _lock:
        _present.discard(name)


def send(name: str, msg: mido.Message) -> None:
    """What the device sends: lands on the current instance only (lost while unplugged)."""
    with _lock:
        if name not in _present:
            return
        q = _queues[(name, _generation[name])]
    q.put(msg)


def get_devices(**_: object) -> list[dict[str, object]]:
    """What mido's Backend.get_input_names() reads (mido 1.3)."""
    with _lock:
        return [{"name": n, "is_input": True, "is_output": True} for n in sorted(_present)]


class Input(BaseInput):
    def _open(self, **_: object) -> None:
        with _lock:
            if self.name not in _present:
                raise OSError(f"no MIDI port named {self.name!r}")
            self._queue = _queues[(self.name, _generation[self.name])]

    def _receive(self, block: bool = True) -> mido.Message | None:
        try:
            return self._queue.get(block=block, timeout=0.1 if block else None)
        except queue.Empty:
            return None


class Output(BaseOutput):
    def _open(self, **_: object) -> None:
        with _lock:
            if self.name not in _present:
                raise OSError(f"no MIDI port named {self.name!r}")

    def _send(self, msg: mido.Message) -> None:
        send(self.name, msg)
