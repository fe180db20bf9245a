"""A bounded count of things served at once: take a slot or be refused, give it back when done.

The OSCQuery server bounds two things this way (its connections and its LISTEN WebSockets), each
read by the status line while threads of their own take and give back slots.
"""

from __future__ import annotations

import threading


class Admission:
    """At most `limit` holders at once; a try beyond that is refused and counted."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.active = 0  # slots held now
        self.refused = 0  # tries refused because `limit` slots were held
        self._lock = threading.Lock()

    def try_enter(self) -> bool:
        """Takes a slot and says True, or counts a refusal and says False."""
        with self._lock:
            if self.active >= self.limit:
                self.refused += 1
                return False
            self.active += 1
            return True

    def leave(self) -> None:
        """Gives back a slot taken by a `try_enter` that said True."""
        with self._lock:
            self.active -= 1
