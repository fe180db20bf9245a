"""A page's reference-picture upload: announced with its size, then sent as binary chunks.

A WebSocket frame stays under the server's frame limit (a hostile page's huge frame still closes
only its own connection); a picture is announced by `{"reference": {"upload": BYTES}}` and
arrives in binary messages up to that many bytes. A binary message nobody announced, or more
bytes than announced, is refused and the upload dropped.
"""

from __future__ import annotations

from vj.control.commands.reasons import OUT_OF_RANGE, OVERSIZED, WRONG_TYPE, Rejected

DEFAULT_UPLOAD_BYTES = 8_000_000


class PictureUpload:
    """One page's upload in progress."""

    def __init__(self) -> None:
        self.expected = 0
        self.data = bytearray()

    @property
    def pending(self) -> bool:
        return self.expected > 0

    def begin(self, size: object, limit: int) -> None:
        if isinstance(size, bool) or not isinstance(size, int):
            raise Rejected(WRONG_TYPE, f"reference upload: expected its size in bytes, found {size!r}"[:200])
        if size <= 0:
            raise Rejected(OUT_OF_RANGE, f"reference upload: expected a size of at least 1 byte, found {size}")
        if size > limit:
            raise Rejected(OVERSIZED, f"reference upload: a picture of {size / 1e6:.1f} MB is too large "
                                      f"(at most {limit / 1e6:g} MB)")
        self.expected, self.data = size, bytearray()

    def add(self, chunk: bytes) -> bytes | None:
        """Take one binary message; the whole picture once the announced size is reached, else None."""
        if not self.pending:
            raise Rejected(WRONG_TYPE, "binary messages are a reference picture's chunks, announced first by "
                                       "{\"reference\": {\"upload\": BYTES}}; send JSON text otherwise")
        self.data.extend(chunk)
        if len(self.data) > self.expected:
            self.expected, self.data = 0, bytearray()
            raise Rejected(OVERSIZED, "reference upload: more bytes than announced; the upload was dropped")
        if len(self.data) < self.expected:
            return None
        picture = bytes(self.data)
        self.expected, self.data = 0, bytearray()
        return picture
