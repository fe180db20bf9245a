"""`vj convert` (Deforum/Astria files to a preset) and `vj schedule` (the per-frame values of schedules)."""

from __future__ import annotations

import argparse
import sys

from vj.cli.argtypes import frame_count, int_range, rate
from vj.cli.common import add_verbose_argument
from vj.config import PresetConfig
from vj.errors import ConfigError, VjError
from vj.preset_files import load_preset


def add_convert_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("settings", help="a Deforum *_settings.txt (JSON) or an Astria prompt file")
    parser.add_argument("out", help="the preset to write (.toml)")
    parser.add_argument("--prompt-crossfade", type=int_range(0, what="frames"), default=0, metavar="FRAMES",
                        help="crossfade prompts over FRAMES frames instead of Deforum's cut (sets prompt_fade_s)")
    add_verbose_argument(parser)


def cmd_convert(args: argparse.Namespace) -> int:
    from vj.deforum.convert import load_settings, write_preset

    result = load_settings(args.settings, prompt_crossfade_frames=args.prompt_crossfade)
    try:
        write_preset(result, args.out)
    except OSError as err:  # a missing folder, a read-only place, a name the file system refuses
        raise VjError(f"cannot write {args.out}: {err.strerror or err}; expected a writable "
                      f"file path in an existing folder") from err
    print(f"vj: wrote {args.out} ({len(result.data.get('schedules', {}))} schedules, "
          f"{len(result.data.get('prompt_schedule', {}))} prompt keys, "
          f"{len(result.unsupported)} settings not carried over)", file=sys.stderr)
    return 0


def add_schedule_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="a preset, a Deforum/Astria settings file, or a schedule string "
                                       "such as '0: (1.0), 30: (1.0+0.02*sin(t/10))'")
    parser.add_argument("--param", action="append", default=[], metavar="NAME",
                        help="parameter(s) to show (default: every schedule of the source)")
    parser.add_argument("--frames", metavar="A:B", help="frame range, end exclusive (default: the whole schedule)")
    parser.add_argument("--max-frames", type=frame_count,
                        help="schedule length (max_f = N-1); needed for a bare string")
    parser.add_argument("--fps", type=rate, default=24.0, help="fps for sec/beat in a bare string (default 24)")
    parser.add_argument("--seed", type=int, default=42, help="s in a bare string (default 42)")
    parser.add_argument("--csv", action="store_true", help="CSV instead of an aligned table")
    parser.add_argument("--plot", metavar="PNG", help="also draw the curves to PNG (needs matplotlib)")
    parser.add_argument("--audio", metavar="TRACK",
                        help="with a preset: the bands and onsets of a sound file per frame, and the parameters "
                             "its audio modulators drive (default: those), as `vj render --audio` would")
    add_verbose_argument(parser)


def cmd_schedule(args: argparse.Namespace) -> int:
    from vj.schedule.preview import build_table, format_table, parse_frames, plot_table

    start, stop = parse_frames(args.frames)
    source = _preset_or_settings(args.source)
    if args.audio:
        return _schedule_with_audio(args, source, start, stop)
    table = build_table(args.source if source is None else source, args.param, start, stop, args.max_frames,
                        args.fps, args.seed)
    if not table.columns and table.prompts is None:  # a preset without schedules: nothing moves
        print(f"{args.source} has no schedules: its values are constant (see them with --param NAME)")
        return 0
    sys.stdout.write(format_table(table, as_csv=args.csv))
    if args.plot:
        plot_table(table, args.plot, title=args.source if len(args.source) < 80 else "")
        print(f"vj: plotted {len(table.columns)} curve(s) to {args.plot}", file=sys.stderr)
    return 0


def _preset_or_settings(source: str) -> PresetConfig | None:
    """SOURCE as a settings file or a preset; None when it is no file (then it is a schedule string)."""
    from vj.deforum.convert import load_settings, sniff

    if sniff(source) is not None:
        return load_settings(source).preset
    try:
        return load_preset(source)
    except ConfigError as err:
        if err.found == "no such file":
            return None
        raise


def _schedule_with_audio(args: argparse.Namespace, preset: PresetConfig | None, start: int, stop: int | None) -> int:
    from vj.control.audio.files import load_track
    from vj.control.audio.offline import modulated_columns
    from vj.schedule.preview import PreviewTable, format_table, plot_table

    if preset is None:
        raise VjError(f"--audio needs a preset or settings file as SOURCE, found the schedule string {args.source!r}")
    track = load_track(args.audio)
    frames, columns = modulated_columns(preset, track, args.param, stop)
    table = PreviewTable(frames[start:], {name: col[start:] for name, col in columns.items()})
    sys.stdout.write(format_table(table, as_csv=args.csv))
    if args.plot:
        plot_table(table, args.plot, title=f"{args.source} with {args.audio}")
        print(f"vj: plotted {len(table.columns)} curve(s) to {args.plot}", file=sys.stderr)
    return 0
