"""`vj analyze`: how much a recording flickers, to compare settings on a real model."""

from __future__ import annotations

import argparse
import sys

from vj.cli.argtypes import int_range
from vj.cli.common import add_verbose_argument


def add_analyze_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="a take or render written by vj (.mkv, .mp4), or any video "
                                                     "FFmpeg decodes; a vj timeline (.jsonl) beside it adds which "
                                                     "frames were diffused and which held")
    parser.add_argument("--json", action="store_true", help="print the figures as JSON (for scripts)")
    parser.add_argument("--every", type=int_range(1, what="frames"), default=1, metavar="N",
                        help="analyse every Nth frame only (default 1: all; pairs are then N frames apart)")
    parser.add_argument("--max-frames", type=int_range(2, what="frames"), metavar="N",
                        help="stop after N analysed frames (default: the whole file)")
    parser.add_argument("--flow", choices=("dis", "farneback"), default="dis",
                        help="optical flow: dis (OpenCV's dense inverse search, the default) or farneback")
    parser.add_argument("--per-pair", action="store_true", help="also list each pair's figures")
    parser.add_argument("--no-timeline", action="store_true", help="ignore a vj timeline beside FILE")
    add_verbose_argument(parser)


def cmd_analyze(args: argparse.Namespace) -> int:
    from vj.analysis.flicker import analyze_video
    from vj.analysis.report import format_table, to_json

    report = analyze_video(args.file, every=args.every, max_frames=args.max_frames, method=args.flow,
                           use_timeline=not args.no_timeline)
    text = to_json(report, per_pair=args.per_pair) if args.json else format_table(report, per_pair=args.per_pair)
    sys.stdout.write(text)
    return 0
