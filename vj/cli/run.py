"""`vj run`: play live, with the controls (OSC, OSCQuery, MIDI, tempo) and outputs the flags ask for."""

from __future__ import annotations

import argparse
import dataclasses
import sys
from typing import TYPE_CHECKING

from vj.cli.argtypes import crf, frame_count, seconds, target_rate
from vj.cli.common import add_common_arguments, preset_from_args
from vj.cli.dry_run import add_memory_arguments, check_memory, print_dry_run
from vj.cli.output_flags import add_output_size_arguments
from vj.cli.preflight import check_run_before_load
from vj.cli.run_flags import (
    add_audio_arguments,
    add_live_control_arguments,
    add_output_arguments,
    add_web_arguments,
    show_config,
)
from vj.cli.signals import signals_stop_the_show
from vj.cli.warmup import warm_up_with_progress

if TYPE_CHECKING:  # the session (and torch with it) loads only when `vj run` runs
    from vj.config import PresetConfig
    from vj.session.live import LiveSession


def add_run_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("preset", help="a preset file or the name of a shipped preset (see `vj presets`)")
    stop = parser.add_mutually_exclusive_group()
    stop.add_argument("--frames", type=frame_count, help="stop after N frames")
    stop.add_argument("--duration", type=seconds, help="stop after S seconds")
    parser.add_argument("--record", metavar="FILE", help="record the output (.mkv or .mp4) with PyAV")
    parser.add_argument("--record-codec", default="libx264", help="encoder (default libx264)")
    parser.add_argument("--record-crf", type=crf, default=20, help="x264 quality, lower is better (default 20)")
    parser.add_argument("--record-preset", default="veryfast", help="x264 speed preset (default veryfast)")
    parser.add_argument("--target-fps", type=target_rate, metavar="N",
                        help="hold N frames a second by stepping size, steps, depth refresh and cadence down "
                             "(and back up); 0 = off (default: the preset's [render] target_fps)")
    add_common_arguments(parser)
    add_live_control_arguments(parser)
    add_output_arguments(parser)
    add_output_size_arguments(parser, live=True)
    add_web_arguments(parser)
    add_audio_arguments(parser)
    add_memory_arguments(parser)


def attach_run_components(session: LiveSession, args: argparse.Namespace) -> None:
    """The controls and outputs `vj run`'s flags ask for, attached to the session."""
    from vj.session.live_show import attach_show

    attach_show(session, show_config(args), on_page=_say_page)


def cmd_run(args: argparse.Namespace) -> int:
    config = show_config(args)
    monitor = None
    if config.outputs.preview:  # before the session imports PyAV, and before the model loads
        from vj.output.preview_gui import prepare_preview

        monitor = prepare_preview(config.outputs.preview_monitor)
    from vj.engine.backends.sizes import check_size_before_load
    from vj.session.controlnet import check_controlnets_before_load
    from vj.session.depth import check_depth_before_load
    from vj.session.live import LiveSession
    from vj.session.live_show import attach_show, check_show
    from vj.session.reference import check_reference_before_load

    preset = preset_from_args(args)
    if args.target_fps is not None:
        preset = preset.replace(render=dataclasses.replace(preset.render, target_fps=args.target_fps))
    check_size_before_load(preset.model, preset.render.width, preset.render.height)
    check_depth_before_load(preset, wanted=config.outputs.wants_depth)
    check_controlnets_before_load(preset)
    check_reference_before_load(preset)
    check_run_before_load(args)
    from vj.input.open import check_inputs

    inputs = check_inputs(preset.input)  # a missing file or a bad source: one line, before the model loads
    check_show(config, preset)
    from vj.session.memory_check import warm_sizes

    fixed_size = args.width is not None or args.height is not None
    sizes = warm_sizes(preset, program_presets(args), fixed_size=fixed_size)
    report = check_memory(preset, args, sizes=sizes, wants_depth=config.outputs.wants_depth)
    if args.dry_run and report is not None:
        return print_dry_run("run", preset, report, show=config)
    print(f"vj: loading {preset.model.source} for preset {preset.name!r} "
          f"({preset.render.width}x{preset.render.height} @ {preset.render.fps:g} fps)", file=sys.stderr)
    session = LiveSession(preset, fixed_size=fixed_size, inputs=inputs,
                          publish_depth=config.outputs.wants_depth, fixed_model=args.model is not None)
    try:
        attach_show(session, config, monitor=monitor, on_page=_say_page)
        warm_up_with_progress(session, program_presets(args))
    except BaseException:
        session.stop()  # outputs and controls attached but not started: close them
        raise
    print(f"vj: running on {session.backend.device} - Ctrl-C to stop", file=sys.stderr)
    with signals_stop_the_show() as signalled:
        try:
            session.run(duration_s=args.duration, frames=args.frames, on_status=lambda line: print(line, flush=True),
                        stop=signalled.event)
        except KeyboardInterrupt:
            session.stop()
    by = f" by {signalled.name}" if signalled.name else ""
    print(f"vj: stopped{by} after {session.engine.stats.frames} frames; {session.status_line()}", file=sys.stderr)
    return _recording_exit_status(session)


def _say_page(url: str) -> None:
    print(f"vj: control page on {url}", file=sys.stderr, flush=True)


def program_presets(args: argparse.Namespace) -> list[PresetConfig]:
    """The presets a --midi-map's program changes can switch to (their sizes are warmed up too)."""
    if not getattr(args, "midi_map", None):
        return []
    from vj.control.midi.mapping_file import load_mapping
    from vj.preset_files import load_preset

    return [load_preset(name) for name in load_mapping(args.midi_map).program_presets]


def _recording_exit_status(session: LiveSession) -> int:
    """A take that could not be written fails the run (the show itself went on)."""
    take = session.take
    if take is None or not take.failed:
        return 0
    for failure in take.failures:
        print(f"vj: error: recording failed: {failure}", file=sys.stderr)
    return 1
