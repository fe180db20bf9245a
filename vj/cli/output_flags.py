"""The output size and rate flags of `vj run` and `vj render`, and what they build (vj.output_size).

A bad size is one `vj CMD: error: argument --output-size: ...` line before anything loads. The
show-wide size must be even: it reaches the recording (H.264 4:2:0), NDI and the virtual camera.
"""

from __future__ import annotations

import argparse

from vj.errors import VjError
from vj.output_size import (
    OUTPUT_NAMES,
    Fit,
    GeometrySpec,
    OutputSize,
    Resample,
    check_size,
    parse_output_size,
    parse_size,
)

RECORD_SIZES = ("output", "render")
RATE_MODES = ("repeat", "blend")


def _show_size(text: str) -> tuple[int, int]:
    try:
        width, height = parse_size(text, "")
        check_size(width, height, "", even=True)
    except VjError as err:
        raise argparse.ArgumentTypeError(str(err)) from None
    return width, height


def _one_output_size(text: str) -> OutputSize:
    try:
        return parse_output_size(text, "")
    except VjError as err:
        raise argparse.ArgumentTypeError(str(err)) from None


def add_output_size_arguments(parser: argparse.ArgumentParser, *, live: bool) -> None:
    g = parser.add_argument_group("output size and rate")
    g.add_argument("--output-size", type=_show_size, metavar="WxH",
                   help="hand every output (and the " + ("recording" if live else "file") + ") pictures of this "
                        "size, e.g. 1920x1080, made on the device before the copy out (default: the render size)")
    g.add_argument("--output-fit", choices=[f.value for f in Fit], default=Fit.FIT.value,
                   help="how the render meets another aspect: fit (black bars, default), fill (crop), stretch")
    g.add_argument("--output-resample", choices=[r.value for r in Resample], default=Resample.BILINEAR.value,
                   help="the interpolation to the output size (default bilinear; area is the cleanest downscale)")
    g.add_argument("--upscaler", metavar="WEIGHTS",
                   help="a local super-resolution weights file (ESRGAN, Real-ESRGAN, SwinIR, ...) run on the "
                        "device before the resample, with --output-size larger than the render (pip install "
                        "'vj[upscale]')")
    if not live:
        return
    g.add_argument("--output-size-for", type=_one_output_size, action="append", default=[],
                   metavar="OUTPUT=WxH[:FIT]",
                   help=f"one output at its own size, resized on its own thread ({', '.join(OUTPUT_NAMES)}); "
                        "repeatable, e.g. --output-size-for preview=640x360")
    g.add_argument("--record-size", choices=RECORD_SIZES, default="output",
                   help="the recording at the output size (default) or at the render size (that picture rides "
                        "in the same copy out)")
    g.add_argument("--output-rate-mode", choices=RATE_MODES, default="repeat",
                   help="between engine frames, outputs repeat the last frame (default) or blend the two latest "
                        "(smooth motion at a display rate above the engine's; one engine frame of latency)")


def geometry_spec(args: argparse.Namespace) -> GeometrySpec | None:
    """The show-wide geometry the flags ask for (None: every output gets the render size)."""
    size = getattr(args, "output_size", None)
    if size is None:
        if getattr(args, "upscaler", None):
            raise VjError("--upscaler runs only with --output-size: give the size it upscales to")
        return None
    return GeometrySpec(size, Fit(args.output_fit), Resample(args.output_resample), upscaler=args.upscaler or None,
                        keep_render_copy=getattr(args, "record_size", "output") == "render")


def output_sizes(args: argparse.Namespace) -> tuple[OutputSize, ...]:
    sizes = tuple(getattr(args, "output_size_for", None) or ())
    names = [s.output for s in sizes]
    doubled = sorted({n for n in names if names.count(n) > 1})
    if doubled:
        raise VjError(f"--output-size-for: {', '.join(doubled)} given more than once")
    return sizes


def check_geometry_before_load(spec: GeometrySpec | None) -> None:
    """The upscaler's file and spandrel, before the model loads."""
    if spec is not None and spec.upscaler is not None:
        from vj.engine.upscaler import check_upscaler_file

        check_upscaler_file(spec.upscaler)
