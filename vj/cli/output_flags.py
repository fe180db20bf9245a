"""The output size and rate flags of `vj run` and `vj render`, and what they build (vj.output_size).

A bad size is one `vj CMD: error: argument --output-size: ...` line before anything loads. The
show-wide size must be even: it reaches the recording (H.264 4:2:0), NDI and the virtual camera.
"""

from __future__ import annotations

import argparse

from vj.errors import VjError
from vj.output_size import (
    OUTPUT_NAMES,
    RATE_MODES,
    Fit,
    GeometrySpec,
    OutputSize,
    Resample,
    check_size,
    parse_output_size,
    parse_size,
)

RECORD_SIZES = ("output", "render")
MAX_IN_BETWEENS = 4  # 60 Hz from an engine down to 12 fps: more buys no smoother picture, only copy bytes
DEFAULT_IN_BETWEENS = 1  # 25-40 fps into 60 Hz: one tick or two per frame, the halfway picture serves both


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
                        "(smooth motion at a display rate above the engine's; one engine frame of latency): "
                        "blend makes the in-between pictures on the device, in the frame's one copy out; "
                        "blend-host blends on each output's thread (no extra copy, a sum per tick on the CPU)")
    g.add_argument("--output-blend-steps", type=_in_betweens, metavar="N",
                   help=f"with --output-rate-mode blend: pictures the device makes between two engine frames, 1 to "
                        f"{MAX_IN_BETWEENS} (default {DEFAULT_IN_BETWEENS}; 2 suits an engine below 25 fps into "
                        "60 Hz); each adds one output-size picture to the copy out")


def _in_betweens(text: str) -> int:
    try:
        count = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number 1 to {MAX_IN_BETWEENS}, found {text!r}") from None
    if not 1 <= count <= MAX_IN_BETWEENS:
        raise argparse.ArgumentTypeError(f"expected 1 to {MAX_IN_BETWEENS} pictures between frames, found {count}")
    return count


def in_betweens(args: argparse.Namespace) -> int:
    """Pictures the device makes between two frames: --output-blend-steps with the device blend, else 0."""
    steps = getattr(args, "output_blend_steps", None)
    mode = getattr(args, "output_rate_mode", "repeat")
    if steps is not None and mode != "blend":
        raise VjError(f"--output-blend-steps: only with --output-rate-mode blend (found {mode})")
    if mode != "blend":
        return 0
    return DEFAULT_IN_BETWEENS if steps is None else steps


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
