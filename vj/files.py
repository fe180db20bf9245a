"""Reading user files so that a wrong file is one clear error, never a traceback."""

from __future__ import annotations

from pathlib import Path

from vj.errors import ConfigError


def is_file(path: str | Path) -> bool:
    """`Path.is_file`, but False for a string no file system accepts as a name (too long, NUL, ...).

    Such strings reach us as inline schedules and preset names; they are simply not files.
    """
    try:
        return Path(path).is_file()
    except (OSError, ValueError):
        return False


def read_utf8(path: str | Path, expected: str, max_bytes: int | None = None) -> str:
    """The file's text; a file that is not UTF-8 (or unreadable) is a ConfigError naming it.

    With `max_bytes`, a bigger file is refused before it is read whole (its size is checked first, and at
    most one byte more than the limit is read, in case it grew in between).
    """
    try:
        if max_bytes is None:
            return Path(path).read_text(encoding="utf-8")
        size = Path(path).stat().st_size
        if size <= max_bytes:
            with open(path, "rb") as file:
                data = file.read(max_bytes + 1)
            size = len(data)
        if size > max_bytes:
            raise ConfigError(str(path), "", f"{expected} of at most {max_bytes:,} bytes", f"{size:,} bytes")
        return data.decode("utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(str(path), f"byte {err.start}", f"{expected} in UTF-8 text",
                          f"the byte 0x{err.object[err.start]:02x}, not UTF-8") from err
    except OSError as err:
        raise ConfigError(str(path), "", f"a readable {expected}", err.strerror or str(err)) from err
