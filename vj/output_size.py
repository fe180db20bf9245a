"""What the outputs' size is asked to be, without torch: the flags and configs check it before anything loads.

The show-wide output size (`GeometrySpec`) is made on the device (vj.engine.output_geometry) before
the one copy out; a per-output size (`OutputSize`) is made on the host, on that output's thread
(vj.output.resized). `placement` is the integer maths both share: where a picture of one size lands
on a screen of another, for each `Fit`.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from vj.errors import VjError

MAX_SIDE = 8192  # beyond 8K: a typo, not a screen
MIN_SIDE = 16


class Fit(StrEnum):
    """How a picture of one aspect meets a screen of another."""

    FIT = "fit"  # the whole picture, black bars (letterbox / pillarbox)
    FILL = "fill"  # the whole screen, the overflow cropped (centred)
    STRETCH = "stretch"  # both sides scaled on their own: the aspect changes


class Resample(StrEnum):
    """The interpolation from the picture's size to the screen's."""

    BILINEAR = "bilinear"
    BICUBIC = "bicubic"  # sharper, overshoots a little (clamped when published)
    AREA = "area"  # the average of the covered pixels: the cleanest downscale
    NEAREST = "nearest"  # blocky, exact pixels (pixel art)


_SIZE = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*$")


def parse_size(text: str, what: str = "--output-size") -> tuple[int, int]:
    """'1920x1080' -> (1920, 1080), checked for any output (see `check_size`)."""
    match = _SIZE.match(text)
    if match is None:
        raise VjError(f"{_prefix(what)}expected WIDTHxHEIGHT such as 1920x1080, found {text!r}")
    width, height = int(match.group(1)), int(match.group(2))
    check_size(width, height, what, even=False)
    return width, height


def check_size(width: int, height: int, what: str, *, even: bool) -> None:
    """Refuse a size no output can take; `even`: the output encodes 4:2:0 or 4:2:2 (H.264, NDI, v4l2)."""
    for side, value in (("width", width), ("height", height)):
        if not MIN_SIDE <= value <= MAX_SIDE:
            raise VjError(f"{_prefix(what)}the {side} must be {MIN_SIDE}..{MAX_SIDE} pixels, found {width}x{height}")
    if even and (width % 2 or height % 2):
        raise VjError(f"{_prefix(what)}{width}x{height} cannot be encoded (H.264 and NDI take even sizes only); "
                      f"try {width + width % 2}x{height + height % 2}")


def _prefix(what: str) -> str:
    return f"{what}: " if what else ""


@dataclass(frozen=True, slots=True)
class Placement:
    """Where the scaled picture lands: scaled to (width, height), then cropped or padded to the screen."""

    width: int  # the picture's size after scaling
    height: int
    left: int  # > 0: black columns on the left (fit); < 0: columns cropped away (fill)
    top: int


def placement(src: tuple[int, int], dst: tuple[int, int], fit: Fit) -> Placement:
    """How a (width, height) picture meets a (width, height) screen; pure integer maths, no device."""
    (sw, sh), (dw, dh) = src, dst
    if fit is Fit.STRETCH:
        return Placement(dw, dh, 0, 0)
    scale = min(dw / sw, dh / sh) if fit is Fit.FIT else max(dw / sw, dh / sh)
    width, height = max(round(sw * scale), 1), max(round(sh * scale), 1)
    if fit is Fit.FIT:  # rounding may not overshoot the screen
        width, height = min(width, dw), min(height, dh)
    else:
        width, height = max(width, dw), max(height, dh)
    if fit is Fit.FIT:
        return Placement(width, height, (dw - width) // 2, (dh - height) // 2)
    return Placement(width, height, -((width - dw) // 2), -((height - dh) // 2))  # the odd pixel cropped last


@dataclass(frozen=True, slots=True)
class GeometrySpec:
    """What the show-wide output geometry is asked to be (flags, a library caller)."""

    size: tuple[int, int]  # (width, height)
    fit: Fit = Fit.FIT
    resample: Resample = Resample.BILINEAR
    upscaler: str | None = None  # a local weights file for a super-resolution model (loaded with spandrel)
    keep_render_copy: bool = False  # the recording keeps the render size: that picture rides in the same copy



OUTPUT_NAMES = ("vcam", "ndi", "ndi-depth", "spout", "syphon", "preview")
# Between engine frames an output repeats the last one, or blends the two latest: from in-betweens the device
# made (`blend`) or on its own thread (`blend-host`).
RATE_MODES = ("repeat", "blend", "blend-host")
EVEN_ONLY = ("vcam", "ndi", "ndi-depth")  # 4:2:0 / 4:2:2 pixel formats


@dataclass(frozen=True, slots=True)
class OutputSize:
    """One output's own size, made from the show-wide picture on that output's thread."""

    output: str  # one of OUTPUT_NAMES
    size: tuple[int, int]
    fit: Fit = Fit.FIT


def parse_output_size(text: str, what: str = "--output-size-for") -> OutputSize:
    """'ndi=1280x720' or 'preview=800x600:fill' -> OutputSize, checked for that output."""
    name, sep, rest = text.partition("=")
    name = name.strip()
    if not sep or name not in OUTPUT_NAMES:
        raise VjError(f"{_prefix(what)}expected OUTPUT=WIDTHxHEIGHT[:fit|fill|stretch] with OUTPUT one of "
                      f"{', '.join(OUTPUT_NAMES)}, found {text!r}")
    size_text, _, fit_text = rest.partition(":")
    fit_text = fit_text.strip() or Fit.FIT.value
    if fit_text not in {f.value for f in Fit}:
        raise VjError(f"{_prefix(what)}expected fit, fill or stretch after the size, found {fit_text!r} in {text!r}")
    width, height = parse_size(size_text, f"{what} {name}".strip())
    check_size(width, height, f"{what} {name}".strip(), even=name in EVEN_ONLY)
    return OutputSize(name, (width, height), Fit(fit_text))
