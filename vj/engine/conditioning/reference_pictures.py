"""Reference pictures from files and uploads: a type check and a size limit, then RGB in [0, 1].

Whatever the bytes claim to be, Pillow decides what they are; only still-picture formats are
taken, and a picture is refused before decoding when its file or its pixel count is too large.
"""

from __future__ import annotations

import io
from pathlib import Path

import torch

from vj.engine.conditioning.reference_images import Reference
from vj.errors import VjError

PICTURE_FORMATS = ("PNG", "JPEG", "WEBP", "BMP")
MAX_PIXELS = 50_000_000  # past this a picture is more likely a decompression bomb than a cover


class PictureRefused(VjError):
    """A picture that is not one, or is too large: the message says which and what is taken."""


def picture_from_bytes(data: bytes, what: str, max_bytes: int) -> torch.Tensor:
    """RGB [1, 3, H, W] float in [0, 1] on the CPU; PictureRefused with one line when it is not a picture."""
    from PIL import Image, UnidentifiedImageError

    if len(data) > max_bytes:
        raise PictureRefused(f"{what}: {len(data) / 1e6:.1f} MB is too large (at most {max_bytes / 1e6:g} MB)")
    try:
        with Image.open(io.BytesIO(data)) as probe:
            kind, (width, height) = probe.format, probe.size
            if kind not in PICTURE_FORMATS:
                raise PictureRefused(f"{what}: a {kind} file; expected a picture ({', '.join(PICTURE_FORMATS)})")
            if width * height > MAX_PIXELS:
                raise PictureRefused(f"{what}: {width}x{height} is too large (at most {MAX_PIXELS // 1_000_000} "
                                     "megapixels)")
            rgb = probe.convert("RGB")
    except UnidentifiedImageError as err:
        raise PictureRefused(f"{what}: not a picture ({', '.join(PICTURE_FORMATS)} expected)") from err
    except (OSError, ValueError, Image.DecompressionBombError) as err:  # truncated, corrupt, a bomb
        raise PictureRefused(f"{what}: not a readable picture ({err})") from err
    pixels = torch.frombuffer(bytearray(rgb.tobytes()), dtype=torch.uint8).view(rgb.height, rgb.width, 3)
    return (pixels.permute(2, 0, 1)[None].float() / 255.0).contiguous()


def read_picture_file(path: Path, max_bytes: int) -> torch.Tensor:
    try:
        size = path.stat().st_size
        if size > max_bytes:
            raise PictureRefused(f"reference {str(path)!r}: {size / 1e6:.1f} MB is too large "
                                 f"(at most {max_bytes / 1e6:g} MB)")
        data = path.read_bytes()
    except OSError as err:
        raise PictureRefused(f"reference {str(path)!r} cannot be read: {err.strerror or err}") from err
    return picture_from_bytes(data, f"reference {str(path)!r}", max_bytes)


FILE_LIMIT_BYTES = 256_000_000  # a file named on the command line or in the preset (uploads have their own)


def file_reference(path: str, weight: float = 1.0, max_bytes: int = FILE_LIMIT_BYTES) -> Reference:
    """A picture file as a blend entry: checked now (a missing or non-picture file is one line before
    the show), read again when encoded."""
    file = Path(path).expanduser()
    read_picture_file(file, max_bytes)
    stamp = file.stat().st_mtime_ns
    return Reference(f"{file.resolve()}@{stamp}", lambda: read_picture_file(file, max_bytes), weight)
