"""OSC pickup after a preset recall: a sender that resends every channel does not undo the recall.

TouchDesigner (and most OSC patches) resend every channel on every cook, so right after a
recall its unchanged values would become live again at once. Like MIDI's soft takeover, after
`arm()` an OSC parameter the sender had been driving is held until the sender means it:

- `change` (default): the value differs from the one it was sending at the recall;
- `cross`: the value reaches or crosses the recalled value (choices: any change);
- `off`: no pickup, every write lands.

Parameters OSC never wrote are not held: a first touch lands at once.
"""

from __future__ import annotations

import threading
from collections.abc import Mapping
from enum import StrEnum

from vj.store import ParamStore


class PickupMode(StrEnum):
    CHANGE = "change"
    CROSS = "cross"
    OFF = "off"


class OscPickup:
    """Gates one datagram's parameter writes; `arm()` may be called from any thread."""

    def __init__(self, store: ParamStore, mode: PickupMode = PickupMode.CHANGE) -> None:
        self.store = store
        self.mode = mode
        self.held = 0  # writes held back since start (status, tests)
        self._lock = threading.Lock()
        self._sent: dict[str, object] = {}  # the last value OSC sent for each parameter
        self._armed: dict[str, tuple[object, object]] = {}  # name -> (sent at the recall, recalled value)

    def arm(self) -> None:
        """After a recall: hold every parameter OSC was driving until the sender moves it."""
        if self.mode is PickupMode.OFF:
            return
        with self._lock:
            self._armed = {name: (sent, self.store.target(name)) for name, sent in self._sent.items()}

    def waiting(self) -> list[str]:
        with self._lock:
            return sorted(self._armed)

    def admit(self, values: Mapping[str, object]) -> dict[str, object]:
        """The writes that may land now; the rest are held (and remembered as sent)."""
        with self._lock:
            admitted: dict[str, object] = {}
            for name, value in values.items():
                previous = self._sent.get(name)
                self._sent[name] = value
                armed = self._armed.get(name)
                if armed is not None and not self._picks_up(value, previous, *armed):
                    self.held += 1
                    continue
                self._armed.pop(name, None)
                admitted[name] = value
            return admitted

    def _picks_up(self, value: object, previous: object, at_recall: object, recalled: object) -> bool:
        numeric = all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (value, previous, recalled))
        if self.mode is PickupMode.CROSS and numeric:
            assert isinstance(value, (int, float)) and isinstance(previous, (int, float))
            assert isinstance(recalled, (int, float))
            return (previous - recalled) * (value - recalled) <= 0  # reached, or went past it
        return value != at_recall
