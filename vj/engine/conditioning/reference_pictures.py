"""Reference pictures from files and uploads: a type check and a size limit, then RGB in [0, 1].

Whatever the bytes claim to be, Pillow decides what they are; only still-picture formats are
taken, and a picture is refused before decoding when its file or its pixel count is too large.
"""

from __future__ import annotations

import io
import logging
from pathlib import Path

import torch

from vj.engine.conditioning.reference_images import Reference, ReferenceConditioner
from vj.errors import VjError
from vj.snapshot import ControlEvent

log = logging.getLogger(__name__)

PICTURE_FORMATS = ("PNG", "JPEG", "WEBP", "BMP")
PICTURE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp")
MAX_PIXELS = 50_000_000  # past this a picture is more likely a decompression bomb than a cover


class PictureRefused(VjError):
    """A picture that is not one, or is too large: the message says which and what is taken."""


def check_picture_bytes(data: bytes, what: str, max_bytes: int) -> str:
    """Refuse, in one line, bytes that are too many or not a still picture (reads the header only); returns its
    format (one of PICTURE_FORMATS)."""
    from PIL import Image

    picture_from_bytes(data, what, max_bytes, decode=False)
    with Image.open(io.BytesIO(data)) as probe:
        return str(probe.format)


def picture_from_bytes(data: bytes, what: str, max_bytes: int, *, decode: bool = True) -> torch.Tensor:
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
            if not decode:
                return torch.empty(0)
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
    """A picture file as a blend entry: its header checked now (a missing or non-picture file is one line
    before the show, or back to the sender live), decoded when encoded."""
    file = Path(path).expanduser()
    try:
        data = file.read_bytes() if file.stat().st_size <= max_bytes else b"x" * (max_bytes + 1)
    except OSError as err:
        raise PictureRefused(f"reference {str(path)!r} cannot be read: {err.strerror or err}") from err
    check_picture_bytes(data, f"reference {str(path)!r}", max_bytes)
    stamp = file.stat().st_mtime_ns
    return Reference(f"{file.resolve()}@{stamp}", lambda: read_picture_file(file, max_bytes), weight)


SUFFIX_OF_FORMAT = {"PNG": ".png", "JPEG": ".jpg", "WEBP": ".webp", "BMP": ".bmp"}


def keep_upload(data: bytes, folder: Path, max_bytes: int) -> Path:
    """An uploaded picture checked, then kept as `upload-<digest>.<ext>` in `folder` (made if missing), so a
    take can name it like any file and a replay finds it; the same picture again is the same file.

    PictureRefused in one line when it is not a picture, is too large, or cannot be written there."""
    import hashlib

    suffix = SUFFIX_OF_FORMAT[check_picture_bytes(data, "uploaded reference", max_bytes)]
    path = folder.expanduser() / f"upload-{hashlib.sha1(data, usedforsecurity=False).hexdigest()[:16]}{suffix}"
    if path.is_file() and path.stat().st_size == len(data):
        return path
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        partial = path.with_name(f".{path.name}.part")
        partial.write_bytes(data)
        partial.replace(path)  # never a half-written picture under the name a take records
    except OSError as err:
        raise PictureRefused(f"uploaded reference: cannot be kept in {str(folder)!r} for the take "
                             f"({err.strerror or err})") from err
    return path


def folder_file(folder: str, name: str) -> Path:
    """The picture called `name` (with or without its extension) in the show's reference folder; never a path."""
    root = Path(folder).expanduser()
    if not folder or not root.is_dir():
        raise PictureRefused(f"reference {name!r}: the show has no reference folder ([reference] folder, "
                             "--reference-folder)")
    if Path(name).name != name or name.startswith("."):
        raise PictureRefused(f"reference {name!r}: a picture's name in the reference folder, never a path")
    found = [p for p in sorted(root.iterdir()) if p.is_file() and (p.name == name or p.stem == name)
             and p.suffix.lower() in PICTURE_SUFFIXES]
    if not found:
        raise PictureRefused(f"reference {name!r}: no such picture in the reference folder {str(root)!r}")
    return found[0]


def apply_reference_event(references: ReferenceConditioner, event: ControlEvent) -> None:
    """A "reference" event at a frame boundary: new pictures, or a grab of this frame; a picture gone since it
    was sent (a replay on another machine) is logged and the reference kept."""
    value = dict(event.value)  # type: ignore[call-overload]
    if "grab" in value:
        references.request_grab(str(value["grab"]), float(value.get("weight", 1.0)))
        return
    try:
        refs = [file_reference(str(f), float(w)) for f, w in zip(value["files"], value["weights"], strict=True)]
    except PictureRefused as err:
        log.warning("reference kept: %s", err)
        return
    references.set(refs)
