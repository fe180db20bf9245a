"""`vj convert` and `vj schedule`, and Deforum/Astria files as `vj render` sources (CLI plugin)."""

from __future__ import annotations

import argparse
import sys

from vj.cli import COMMANDS, RENDER_SOURCES
from vj.control import deforum_settings
from vj.control.schedule_preview import build_table, format_table, parse_frames, plot_table


def add_convert_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("settings", help="a Deforum *_settings.txt (JSON) or an Astria prompt file")
    parser.add_argument("out", help="the preset to write (.toml)")
    parser.add_argument("--prompt-crossfade", type=int, default=0, metavar="FRAMES",
                        help="crossfade prompts over FRAMES frames instead of Deforum's cut (sets prompt_fade_s)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def cmd_convert(args: argparse.Namespace) -> int:
    result = deforum_settings.load_settings(args.settings, prompt_crossfade_frames=args.prompt_crossfade)
    deforum_settings.write_preset(result, args.out)
    print(f"vj: wrote {args.out} ({len(result.data.get('schedules', {}))} schedules, "
          f"{len(result.data.get('prompt_schedule', {}))} prompt keys, "
          f"{len(result.unsupported)} settings not carried over)", file=sys.stderr)
    return 0


def add_schedule_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("source", help="a preset, a Deforum/Astria settings file, or a schedule string "
                                       "such as '0: (1.0), 30: (1.02*sin(t/10))'")
    parser.add_argument("--param", action="append", default=[], metavar="NAME",
                        help="parameter(s) to show (default: every schedule of the source)")
    parser.add_argument("--frames", metavar="A:B", help="frame range, end exclusive (default: the whole schedule)")
    parser.add_argument("--max-frames", type=int, help="schedule length (max_f = N-1); needed for a bare string")
    parser.add_argument("--fps", type=float, default=24.0, help="fps for sec/beat in a bare string (default 24)")
    parser.add_argument("--seed", type=int, default=42, help="s in a bare string (default 42)")
    parser.add_argument("--csv", action="store_true", help="CSV instead of an aligned table")
    parser.add_argument("--plot", metavar="PNG", help="also draw the curves to PNG (needs matplotlib)")
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def cmd_schedule(args: argparse.Namespace) -> int:
    start, stop = parse_frames(args.frames)
    table = build_table(args.source, args.param, start, stop, args.max_frames, args.fps, args.seed)
    sys.stdout.write(format_table(table, as_csv=args.csv))
    if args.plot:
        plot_table(table, args.plot, title=args.source if len(args.source) < 80 else "")
        print(f"vj: plotted {len(table.columns)} curve(s) to {args.plot}", file=sys.stderr)
    return 0


COMMANDS.append(("convert", "convert a Deforum settings file or Astria prompt file to a vj preset",
                 add_convert_arguments, cmd_convert))
COMMANDS.append(("schedule", "print (and plot) the per-frame values of schedules", add_schedule_arguments,
                 cmd_schedule))
RENDER_SOURCES.append(deforum_settings.render_source)
