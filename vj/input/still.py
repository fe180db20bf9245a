"""A still image (PNG, JPEG, ...) as input or init image: read once, the same picture every frame."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from vj.input.spec import InputError


def load_image(path: str | Path, what: str = "--input") -> np.ndarray:
    """RGB uint8 HxWx3 of an image file, or an InputError naming the file and the problem."""
    from PIL import Image, UnidentifiedImageError

    p = Path(path)
    if not p.is_file():
        raise InputError(f"{what} {p}: no such file (expected an image: PNG, JPEG, WebP, BMP or TIFF)")
    try:
        with Image.open(p) as image:
            return np.array(image.convert("RGB"), dtype=np.uint8)  # a writable copy: torch reads it zero-copy
    except (UnidentifiedImageError, OSError, ValueError) as err:
        raise InputError(f"{what} {p}: not a readable image ({err})") from None


class StillImage:
    """The input protocol over one picture; nothing to run, nothing to lose."""

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.image = load_image(path)

    def start(self) -> None:
        """Nothing to do: the picture is in memory."""

    def close(self) -> None:
        """Nothing to release."""

    def status(self) -> str:
        return f"input {self.path.name} (still)"

    def frame_for(self, index: int, time_s: float) -> np.ndarray | None:
        return self.image
