"""The preview the page shows: a newest-frame slot on the fan-out, JPEG-encoded on the web thread.

`offer` runs on the render thread, so it only swaps one reference: no copy, no lock, no
encode. The web thread takes the newest frame a few times a second, scales it down and
encodes it with Pillow; frames published in between are simply never looked at.
"""

from __future__ import annotations

import io

import numpy as np
from PIL import Image

from vj.frames import Frame

DEFAULT_MAX_SIDE = 384
DEFAULT_QUALITY = 70


class PreviewSlot:
    """A session output holding only the newest frame (`take` hands it out once)."""

    def __init__(self) -> None:
        self._latest: Frame | None = None
        self.offered = 0
        self.taken = 0

    def start(self) -> None:
        pass

    def offer(self, frame: Frame) -> None:
        self._latest = frame  # one reference store: atomic under the GIL, never waits
        self.offered += 1

    def take(self) -> Frame | None:
        """The newest frame if one arrived since the last call, else None."""
        frame, self._latest = self._latest, None
        if frame is not None:
            self.taken += 1
        return frame

    def close(self) -> None:
        self._latest = None

    def status(self) -> str:
        return ""


def encode_jpeg(image: np.ndarray, max_side: int = DEFAULT_MAX_SIDE, quality: int = DEFAULT_QUALITY) -> bytes:
    """RGB uint8 (h, w, 3) → JPEG bytes, scaled so the longer side is at most `max_side`."""
    picture = Image.fromarray(image, "RGB")
    longest = max(picture.size)
    if longest > max_side:
        scale = max_side / longest
        picture = picture.resize((max(1, round(picture.width * scale)), max(1, round(picture.height * scale))),
                                 Image.Resampling.BILINEAR)
    out = io.BytesIO()
    picture.save(out, "JPEG", quality=quality)
    return out.getvalue()
