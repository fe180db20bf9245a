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
_callbacks: dict[tuple[str, int], list[object]] = {}


def reset() -> None:
    with _lock:
        _callbacks.clear()
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
    """What the device sends: lands on the current instance only (lost while unplugged).

    Ports opened with callback= get it called on the sender's thread, as rtmidi calls it on
    its own native thread; other ports queue it for receive()/iter_pending().
    """
    with _lock:
        if name not in _present:
            return
        key = (name, _generation[name])
        q = _queues[key]
        callbacks = list(_callbacks.get(key, ()))
    if callbacks:
        for callback in callbacks:
            callback(msg)  # type: ignore[operator]
    else:
        q.put(msg)


def get_devices(**_: object) -> list[dict[str, object]]:
    """What mido's Backend.get_input_names() reads (mido 1.3)."""
    with _lock:
        return [{"name": n, "is_input": True, "is_output": True} for n in sorted(_present)]


class Input(BaseInput):
    def _open(self, callback: object = None, **_: object) -> None:
        with _lock:
            if self.name not in _present:
                raise OSError(f"no MIDI port named {self.name!r}")
            self._key = (self.name, _generation[self.name])
            self._queue = _queues[self._key]
            self._callback = callback
            if callback is not None:
                _callbacks.setdefault(self._key, []).append(callback)

    def _close(self) -> None:
        with _lock:
            if self._callback is not None and self._callback in _callbacks.get(self._key, []):
                _callbacks[self._key].remove(self._callback)

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
