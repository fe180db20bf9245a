"""The `vj` command line: run live, render offline, list presets and parameters.

Errors a performer can fix (a bad preset, a model that cannot load, a missing device) end
with one clear `vj: error: …` line and exit status 2, never a traceback.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence

from vj.config import COMPILE_MODES, PresetConfig, list_presets, load_preset
from vj.errors import VjError

log = logging.getLogger("vj")

EXIT_USAGE = 2


# ---------------------------------------------------------------------- shared arguments
def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("model and picture (override the preset)")
    g.add_argument("--model", help="Hugging Face id, local diffusers folder, .safetensors file, or 'tiny' "
                                   "(built-in random model for tests and the offline demo)")
    g.add_argument("--tiny-vae", help="TAESD id or path (e.g. madebyollin/taesd) to replace the VAE")
    g.add_argument("--width", type=int)
    g.add_argument("--height", type=int)
    g.add_argument("--fps", type=float, help="reference fps of motion and the output rate")
    g.add_argument("--steps", type=int, help="denoising steps, 1-4")
    g.add_argument("--seed", type=int)
    g.add_argument("--device", help="auto (cuda, then mps, then cpu), cuda, cuda:N, mps or cpu")
    g.add_argument("--compile", nargs="?", const="auto", choices=COMPILE_MODES, metavar="MODE",
                   help="compile the UNet and VAE: auto (the default when the flag is given: jit on CUDA, aot "
                        "elsewhere), jit (torch.compile, CUDA graphs on GPU), aot (AOTInductor packages cached "
                        "on disk: fastest on CPU), off")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def preset_from_args(args: argparse.Namespace) -> PresetConfig:
    return apply_common_overrides(load_preset(args.preset), args)


def apply_common_overrides(preset: PresetConfig, args: argparse.Namespace) -> PresetConfig:
    # Left out, --compile keeps the preset's own setting.
    return preset.with_overrides(model=args.model, width=args.width, height=args.height, fps=args.fps,
                                 steps=args.steps, seed=args.seed, device=args.device, tiny_vae=args.tiny_vae,
                                 compile=args.compile)


# ---------------------------------------------------------------------- vj run
def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    """Flags of `vj run`. Outputs and controls add theirs here."""
    parser.add_argument("preset", help="a preset file or the name of a shipped preset (see `vj presets`)")
    stop = parser.add_mutually_exclusive_group()
    stop.add_argument("--frames", type=int, help="stop after N frames")
    stop.add_argument("--duration", type=float, help="stop after S seconds")
    parser.add_argument("--record", metavar="FILE", help="record the output (.mkv or .mp4) with PyAV")
    parser.add_argument("--record-codec", default="libx264", help="encoder (default libx264)")
    parser.add_argument("--record-crf", type=int, default=20, help="x264 quality, lower is better (default 20)")
    parser.add_argument("--record-preset", default="veryfast", help="x264 speed preset (default veryfast)")
    add_common_arguments(parser)
    for hook in RUN_ARGUMENT_HOOKS:
        hook(parser)


# Components that attach to a live session from parsed `vj run` arguments (OSC, MIDI,
# virtual camera, preview...). Each takes (session, args).
LiveAttacher = Callable[["object", argparse.Namespace], None]
LIVE_ATTACHERS: list[LiveAttacher] = []


def attach_live_extras(session: object, args: argparse.Namespace) -> None:
    # --record is wired by vj.output.cli_commands (a paced live take plus its control timeline).
    for attach in LIVE_ATTACHERS:
        attach(session, args)


def cmd_run(args: argparse.Namespace) -> int:
    from vj.session import LiveSession

    preset = preset_from_args(args)
    print(f"vj: loading {preset.model.source} for preset {preset.name!r} "
          f"({preset.render.width}x{preset.render.height} @ {preset.render.fps:g} fps)", file=sys.stderr)
    session = LiveSession(preset, fixed_size=args.width is not None or args.height is not None)
    attach_live_extras(session, args)
    print(f"vj: running on {session.backend.device} - Ctrl-C to stop", file=sys.stderr)
    try:
        session.run(duration_s=args.duration, frames=args.frames, on_status=lambda line: print(line, flush=True))
    except KeyboardInterrupt:
        session.stop()
    print(f"vj: stopped after {session.engine.stats.frames} frames; {session.status_line()}", file=sys.stderr)
    return 0


# ---------------------------------------------------------------------- vj render
def add_render_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("preset", nargs="?", help="a preset file or the name of a shipped preset")
    parser.add_argument("--frames", type=int, help="frames to render (default: the preset's render.frames)")
    parser.add_argument("--out", required=True, help="output video (.mp4, .mkv or .mov), H.264")
    parser.add_argument("--crf", type=int, default=17, help="x264 quality (default 17, as Deforum)")
    parser.add_argument("--x264-preset", default="medium", help="x264 speed preset (default medium)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_common_arguments(parser)
    for hook in RENDER_ARGUMENT_HOOKS:
        hook(parser)


# Loaders for `vj render SOURCE` inputs that are not vj presets (Deforum settings files...):
# each returns a PresetConfig or None when the file is not theirs.
RENDER_SOURCES: list[Callable[[str], PresetConfig | None]] = []


def render_preset_from_args(args: argparse.Namespace) -> PresetConfig:
    if args.preset is None:
        raise VjError("vj render needs a PRESET (or a settings file)")
    for loader in RENDER_SOURCES:
        preset = loader(args.preset)
        if preset is not None:
            break
    else:
        preset = load_preset(args.preset)
    return apply_common_overrides(preset, args)


def cmd_render(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from vj.engine.backends import load_backend
    from vj.output.recorder import VideoRecorder
    from vj.session import render_offline

    preset = render_preset_from_args(args)
    frames = args.frames or preset.render.frames
    if frames < 1:
        raise VjError(f"--frames must be at least 1, found {frames}")
    render = preset.render
    recorder = VideoRecorder(args.out, width=render.width, height=render.height, fps=render.fps, live=False,
                             crf=args.crf, preset=args.x264_preset)
    print(f"vj: rendering {frames} frames of {preset.name!r} with {preset.model.source} "
          f"({render.width}x{render.height} @ {render.fps:g} fps) to {args.out}", file=sys.stderr)
    backend = load_backend(preset.model)
    with tqdm(total=frames, unit="frame", disable=args.no_progress, file=sys.stderr) as bar:
        done = render_offline(preset, frames=frames, outputs=[recorder], backend=backend,
                              on_frame=lambda _f: bar.update(1))
    print(f"vj: wrote {recorder.frames_written} frames to {args.out}", file=sys.stderr)
    return 0 if done == frames and recorder.frames_written == frames else 1


# ---------------------------------------------------------------------- listings
def cmd_presets(args: argparse.Namespace) -> int:
    for path in list_presets():
        preset = load_preset(str(path))
        print(f"{path.stem:<16} {preset.description}")
    return 0


def cmd_params(args: argparse.Namespace) -> int:
    from vj.params import REGISTRY

    print(f"{'name':<24} {'group':<10} {'default':>10}  {'range':<24} {'unit':<10} description")
    for spec in REGISTRY.values():
        rng = "|".join(spec.choices) if spec.choices else f"{spec.minimum:g}..{spec.maximum:g}"
        print(f"{spec.name:<24} {spec.group:<10} {spec.default!s:>10}  {rng:<24} {spec.unit:<10} {spec.description}")
    return 0


# ---------------------------------------------------------------------- entry point
Command = Callable[[argparse.Namespace], int]
# (name, help, add_arguments, run): helpers for other issues append their subcommands here.
COMMANDS: list[tuple[str, str, Callable[[argparse.ArgumentParser], None], Command]] = [
    ("run", "play live: render continuously to the outputs", add_run_arguments, cmd_run),
    ("render", "render offline, every frame, to a video file", add_render_arguments, cmd_render),
    ("presets", "list the shipped presets", lambda p: None, cmd_presets),
    ("params", "list every parameter with its range and unit", lambda p: None, cmd_params),
]


# Modules that extend the CLI on import (append to COMMANDS, LIVE_ATTACHERS, RENDER_SOURCES,
# or wrap add_run_arguments/add_render_arguments): one per area, so each owner edits its own.
PLUGIN_MODULES = (
    "vj.control.live_cli",  # OSC, OSCQuery, MIDI, tempo (issue 3)
    "vj.output.cli_commands",  # virtual camera, preview, timeline, replay (issue 4)
    "vj.control.deforum_cli",  # schedules, settings import, convert, schedule preview (issue 5)
)
RUN_ARGUMENT_HOOKS: list[Callable[[argparse.ArgumentParser], None]] = []
RENDER_ARGUMENT_HOOKS: list[Callable[[argparse.ArgumentParser], None]] = []


def _load_plugins() -> None:
    """Import the modules that add subcommands, flags and render sources."""
    import importlib

    for name in PLUGIN_MODULES:  # all ship with vj: a missing one is a broken install, not optional
        importlib.import_module(name)


def build_parser() -> argparse.ArgumentParser:
    _load_plugins()
    parser = argparse.ArgumentParser(prog="vj", description="Real-time diffusion feedback VJ engine.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name, help_text, add_arguments, run in COMMANDS:
        p = sub.add_parser(name, help=help_text, description=help_text)
        add_arguments(p)
        p.set_defaults(func=run)
    return parser


def _configure_logging(verbose: bool) -> None:
    logging.basicConfig(level=logging.DEBUG if verbose else logging.INFO,
                        format="%(asctime)s %(levelname)-7s %(name)s: %(message)s", datefmt="%H:%M:%S")
    os.environ.setdefault("TRANSFORMERS_VERBOSITY", "error")
    for noisy in ("diffusers", "transformers", "urllib3", "httpx", "huggingface_hub"):
        logging.getLogger(noisy).setLevel(logging.ERROR if not verbose else logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging(getattr(args, "verbose", False))
    try:
        return int(args.func(args))
    except VjError as err:
        print(f"vj: error: {err}", file=sys.stderr)
        return EXIT_USAGE


if __name__ == "__main__":
    # `python -m vj.cli` runs this file as __main__; the plugins register on the module
    # vj.cli, so call that module's main (otherwise their flags and hooks are missing).
    from vj.cli import main as _main

    sys.exit(_main())
