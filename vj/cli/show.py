"""`vj show SHOWFILE`: several engines, each a `vj run` of its own, played as one show."""

from __future__ import annotations

import argparse
import sys
import time

from vj.cli.argtypes import seconds
from vj.cli.common import add_verbose_argument
from vj.cli.signals import signals_stop_the_show


def add_show_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("showfile", help="a show file (TOML): [show] and one [engines.NAME] table per engine")
    parser.add_argument("--duration", type=seconds, help="stop after S seconds")
    parser.add_argument("--check", action="store_true",
                        help="check the show file (keys, names, ports, outputs, devices, presets) and stop")
    add_verbose_argument(parser)


def cmd_show(args: argparse.Namespace) -> int:
    from vj.show.build import build_show
    from vj.show.checks import check_show_before_start
    from vj.show.showfile import load_show_file

    show_file = load_show_file(args.showfile)
    check_show_before_start(show_file)
    if args.check:
        names = ", ".join(e.name for e in show_file.engines)
        print(f"vj: {args.showfile}: {len(show_file.engines)} engines ({names}): ok")
        return 0
    show = build_show(show_file, on_page=lambda url: print(f"vj: show page on {url}", file=sys.stderr, flush=True))
    print(f"vj: show {args.showfile}: starting {len(show.engines)} engines", file=sys.stderr, flush=True)
    show.start()
    started = time.monotonic()
    next_status = started + 1.0
    with signals_stop_the_show() as signalled:
        try:
            while not signalled.event.is_set():
                now = time.monotonic()
                if args.duration is not None and now - started >= args.duration:
                    break
                if now >= next_status:
                    print(show.status_line(), flush=True)
                    next_status += 1.0
                signalled.event.wait(0.05)
        except KeyboardInterrupt:
            pass
        codes = show.stop()
    by = f" by {signalled.name}" if signalled.name else ""
    summary = ", ".join(f"{name} exit {code}" for name, code in codes.items())
    print(f"vj: show stopped{by}; {summary}", file=sys.stderr)
    return 0 if all(code in (0, None) for code in codes.values()) else 1
