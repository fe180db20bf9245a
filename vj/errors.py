"""Errors that carry enough context for a performer to fix the problem."""

from __future__ import annotations


class VjError(Exception):
    """Base class of every error `vj` raises on purpose."""


class ConfigError(VjError):
    """A preset, mapping or settings file is wrong.

    The message names the file, the key path, what was expected and what was found.
    """

    def __init__(self, source: str, key_path: str, expected: str, found: object) -> None:
        self.source = source
        self.key_path = key_path
        self.expected = expected
        self.found = found
        where = f"{source}: {key_path}" if key_path else source
        super().__init__(f"{where}: expected {expected}, found {found!r}")


class SizeRefused(ConfigError, ValueError):
    """The model cannot render this frame size (a ValueError too: the backend protocol's refusal)."""

    def __init__(self, model: str, width: int, height: int, multiple: int, why: str,
                 nearest: tuple[tuple[int, int], ...] = ()) -> None:
        """`nearest`: the sizes it can take that come closest (the larger first), named in the message."""
        super().__init__(model, "render size", f"width and height multiples of {multiple} px ({why})",
                         f"{width}x{height}")
        self.width, self.height, self.multiple, self.nearest = width, height, multiple, nearest
        if nearest:
            sizes = " or ".join(f"{w}x{h}" for w, h in nearest)
            self.args = (f"{self.args[0]}; the nearest sizes it takes: {sizes}",)


class ParamRejected(VjError, ValueError):
    """A write to the parameter store was refused; `reason` is a short counter key."""

    def __init__(self, reason: str, message: str) -> None:
        self.reason = reason
        super().__init__(message)


class BackendUnavailable(VjError):
    """A diffusion backend or model could not be loaded; says what was tried and what to do."""


class DeviceNotConnected(VjError):
    """An output or input device is missing (virtual camera, MIDI port, display)."""


class FatalRenderError(VjError):
    """The render loop cannot continue (for example the GPU ran out of memory)."""
