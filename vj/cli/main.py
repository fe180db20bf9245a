"""The `vj` command line: every subcommand, listed in one place.

Errors a performer can fix (a bad preset, a model that cannot load, a missing device) end
with one clear `vj: error: …` line and exit status 2, never a traceback. Commands that do
not render import neither torch nor the engine, so they answer at once.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from vj.cli.analyze import add_analyze_arguments, cmd_analyze
from vj.cli.build_engines import add_build_engines_arguments, cmd_build_engines
from vj.cli.common import add_verbose_argument
from vj.cli.deforum import add_convert_arguments, add_schedule_arguments, cmd_convert, cmd_schedule
from vj.cli.listings import cmd_audio_devices, cmd_midi_ports, cmd_osc_map, cmd_params, cmd_presets
from vj.cli.midi_learn import add_midi_learn_arguments, cmd_midi_learn
from vj.cli.render import add_render_arguments, cmd_render
from vj.cli.run import add_run_arguments, cmd_run
from vj.cli.show import add_show_arguments, cmd_show
from vj.cli.warmup import add_warmup_arguments, cmd_warmup
from vj.errors import VjError

log = logging.getLogger("vj")

EXIT_USAGE = 2
EXIT_BROKEN_PIPE = 141  # 128 + SIGPIPE: what a C tool reports when `| head` stops reading


@dataclass(frozen=True, slots=True)
class Command:
    name: str
    help: str
    run: Callable[[argparse.Namespace], int]
    add_arguments: Callable[[argparse.ArgumentParser], None] = add_verbose_argument


COMMANDS: tuple[Command, ...] = (
    Command("run", "play live: render continuously to the outputs", cmd_run, add_run_arguments),
    Command("show", "play several engines (each a vj run) as one show, from one OSC port, page and tempo",
            cmd_show, add_show_arguments),
    Command("render", "render offline, every frame, to a video file", cmd_render, add_render_arguments),
    Command("warmup", "run every size, batch and step count a show may use once (fills the compile caches)",
            cmd_warmup, add_warmup_arguments),
    Command("build-engines", "export the model to ONNX and build TensorRT engines for the given sizes",
            cmd_build_engines, add_build_engines_arguments),
    Command("presets", "list the shipped presets", cmd_presets),
    Command("params", "list every parameter with its range and unit", cmd_params),
    Command("osc-map", "print the OSC address map", cmd_osc_map),
    Command("midi-ports", "list MIDI inputs and the shipped controller profiles", cmd_midi_ports),
    Command("audio-devices", "list sound inputs for vj run --audio-in (needs vj[audio])", cmd_audio_devices),
    Command("midi-learn", "map controls interactively: move a control, name a target; the TOML is written",
            cmd_midi_learn, add_midi_learn_arguments),
    Command("convert", "convert a Deforum settings file or Astria prompt file to a vj preset", cmd_convert,
            add_convert_arguments),
    Command("schedule", "print (and plot) the per-frame values of schedules", cmd_schedule, add_schedule_arguments),
    Command("analyze", "measure how much a recording flickers (optical-flow warped frame difference)",
            cmd_analyze, add_analyze_arguments),
)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="vj", description="Real-time diffusion feedback VJ engine.")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for command in COMMANDS:
        p = sub.add_parser(command.name, help=command.help, description=command.help)
        command.add_arguments(p)
        p.set_defaults(func=command.run)
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
        status = int(args.func(args))
        sys.stdout.flush()  # a closed pipe shows here for output still buffered
        return status
    except VjError as err:
        print(f"vj: error: {err}", file=sys.stderr)
        return EXIT_USAGE
    except BrokenPipeError:
        # The reader (`| head`) has what it wanted: stop quietly, and keep Python's exit-time
        # flush of the dead pipe from printing a second error.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return EXIT_BROKEN_PIPE
