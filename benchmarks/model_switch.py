"""How long the frames stall while a model switch loads: the background path against holding the frame.

    .venv/bin/python benchmarks/model_switch.py [--size 64] [--runs 3] [--to tiny-xl]

A live session on `--model tiny` switches to `--to` with the model command, once by each path: loaded
beside the playing model (the default when both fit) and with the last frame held while it loads (the
path when both do not fit, forced with a free-memory figure of 1 byte). Prints one Markdown row per run:
the time from the request to the switch's frame, the longest gap between two published frames in that
time, and the frames published meanwhile.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a plain checkout (no pip install)

from vj.config import parse_preset  # noqa: E402
from vj.frames import Frame  # noqa: E402
from vj.session import LiveSession  # noqa: E402
from vj.session.model_switch import ModelSwitcher  # noqa: E402


class Times:
    def __init__(self) -> None:
        self.frames: list[tuple[int, float]] = []

    def start(self) -> None: ...

    def close(self) -> None: ...

    def status(self) -> str:
        return ""

    def offer(self, frame: Frame) -> None:
        self.frames.append((frame.index, time.monotonic()))


def one_switch(size: int, to: str, hold: bool) -> str:
    preset = parse_preset(f'[model]\nsource = "tiny"\ndevice = "cpu"\n[render]\nwidth = {size}\nheight = {size}\n'
                          'fps = 24\n[[prompts.mix]]\ntext = "a tunnel of neon light"\n', "bench.toml")
    session = LiveSession(preset)
    if hold:
        session.models = ModelSwitcher(session, free=lambda device: 1)
    times = Times()
    session.add_output(times)
    session.start()
    try:
        while len(times.frames) < 24:
            time.sleep(0.01)
        asked = time.monotonic()
        session.models.by_source(to)
        while not session.engine.models.switched:
            time.sleep(0.01)
        switch = session.engine.models.switched[0].frame
        while times.frames[-1][0] < switch:
            time.sleep(0.01)
    finally:
        session.stop()
    during = [t for i, t in times.frames if t >= asked and i <= switch]
    before = max(t for _, t in times.frames if t < asked)
    stamps = [before, *during]
    gap = max(b - a for a, b in zip(stamps, stamps[1:], strict=False))
    landed = next(t for i, t in times.frames if i == switch)
    path = "hold the frame" if hold else "load beside"
    return f"| {path} | {size}x{size} | {landed - asked:.2f} | {gap:.2f} | {len(during) - 1} |"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=64)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--to", default="tiny-xl")
    args = parser.parse_args()
    print("| path | size | request to switch (s) | longest gap (s) | frames meanwhile |")
    print("|---|---|---|---|---|")
    for _ in range(args.runs):
        for hold in (False, True):
            print(one_switch(args.size, args.to, hold), flush=True)


if __name__ == "__main__":
    main()
