"""`--input` / `[input] source`: what a source string means, checked before anything opens.

    webcam | webcam:N     camera N (cv2.VideoCapture), 0 when left out
    ndi:NAME              the NDI source NAME ("HOST (NAME)" or just NAME)
    PATH.png|jpg|...      a still image
    PATH (any other)      a video clip (anything OpenCV's FFmpeg build decodes)

`parse_source` only reads the text (configs use it); `check_source` (vj.input.open) opens the
file to say at once when it is missing or unreadable.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from vj.errors import VjError

IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


class SourceKind(StrEnum):
    WEBCAM = "webcam"
    CLIP = "clip"
    IMAGE = "image"
    NDI = "ndi"


class InputError(VjError):
    """A source that cannot be used: one line naming it and what was expected."""


@dataclass(frozen=True, slots=True)
class SourceSpec:
    kind: SourceKind
    target: str  # the camera number, the file path or the NDI name
    text: str  # as written, for messages

    @property
    def camera(self) -> int:
        return int(self.target)

    @property
    def path(self) -> Path:
        return Path(self.target)


def parse_source(text: str, what: str = "--input") -> SourceSpec:
    """The meaning of a source string, or an InputError naming what was expected."""
    raw = text.strip()
    if not raw:
        raise InputError(f"{what}: expected webcam[:N], ndi:NAME, an image or a video file, found an empty string")
    lowered = raw.lower()
    if lowered == "webcam" or lowered.startswith("webcam:"):
        number = raw.partition(":")[2].strip() or "0"
        if not number.isdigit():
            raise InputError(f"{what} {raw!r}: expected webcam:N with a camera number N >= 0 (webcam:0 is the first "
                             f"camera), found {number!r}")
        return SourceSpec(SourceKind.WEBCAM, str(int(number)), raw)
    if lowered.startswith("ndi:"):
        name = raw[4:].strip()
        if not name:
            raise InputError(f"{what} {raw!r}: expected ndi:NAME with the NDI source's name")
        return SourceSpec(SourceKind.NDI, name, raw)
    kind = SourceKind.IMAGE if Path(raw).suffix.lower() in IMAGE_SUFFIXES else SourceKind.CLIP
    return SourceSpec(kind, raw, raw)
