"""Checks that an output file can be written, run before the model loads.

PyAV opens the file lazily (at the first packet), so a bad path would otherwise surface
only after the model has loaded and the first frame is rendered, inside a writer thread.
The check creates the file (or a probe in the nearest existing folder) and removes it
again, which is the one test that also catches read-only mounts and pseudo file systems
such as /proc, where the permission bits say yes.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path

from vj.errors import VjError

CONTAINERS = {".mkv": "matroska", ".mp4": "mp4", ".mov": "mov"}


class OutputPathError(VjError):
    """An output file cannot be written where it was asked for."""


def check_video_path(path: str | os.PathLike[str], what: str) -> Path:
    """`what` names the flag (`--out`, `--record`): the error says which one was wrong."""
    path = Path(path)
    if path.suffix.lower() not in CONTAINERS:
        raise OutputPathError(f"{what} {path}: expected a .mkv, .mp4 or .mov file name")
    check_writable(path, what)
    return path


def check_writable(path: str | os.PathLike[str], what: str) -> None:
    """Raise `OutputPathError` unless `path` can be created (or overwritten) as a file."""
    path = Path(path)
    if path.is_dir():
        raise OutputPathError(f"{what} {path}: is a folder, expected a file name")
    folder = path.parent
    while not folder.exists() and folder != folder.parent:
        folder = folder.parent  # the writer creates the missing folders below this one
    if not folder.is_dir():
        raise OutputPathError(f"{what} {path}: {folder} is not a folder")
    try:
        if folder == path.parent:
            existed = path.exists()
            with path.open("ab"):
                pass
            if not existed:
                path.unlink()
        else:
            fd, probe = tempfile.mkstemp(dir=folder, prefix=".vj-probe-")
            os.close(fd)
            os.unlink(probe)
    except OSError as err:
        raise OutputPathError(f"{what} {path}: cannot write there ({err.strerror or err}); "
                              f"expected a file in a writable folder") from err
