"""`vj midi-learn`: move a control, name its target, and the mapping TOML is written as you go."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from vj.control.midi.ports import ALL, learn_session


def add_midi_learn_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--midi", default=ALL, metavar="NAME", help="inputs whose name contains NAME (default all)")
    parser.add_argument("--out", default="vj-midi-learned.toml",
                        help="mapping file to write (extended if it exists; default vj-midi-learned.toml)")


def _ask_target(msg: Any) -> str | None:
    from vj.control.midi.ports import describe
    from vj.control.midi.targets import parse_learn_target

    print(f"\n{describe(msg)}")
    print("  map to: a parameter (see `vj params`), prompt/<i>/weight, lfo/<param>/depth, or an action "
          "(next_preset, previous_preset, reset_motion, tap, record, release_all)")
    while True:
        answer = input("  target (empty = skip, q = quit): ").strip()
        if answer in ("q", "quit"):
            return "quit"
        if not answer or parse_learn_target(answer) is not None:
            return answer
        print(f"  {answer!r} is not a target")


def cmd_midi_learn(args: argparse.Namespace) -> int:
    try:
        count = learn_session(args.out, args.midi, _ask_target, announce=lambda line: print(line, file=sys.stderr))
    except KeyboardInterrupt:
        count = -1
    if count >= 0:
        print(f"learned {count} control(s) into {args.out}", file=sys.stderr)
    else:
        print(f"stopped; everything learned so far is in {args.out}", file=sys.stderr)
    return 0


