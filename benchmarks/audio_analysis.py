"""Audio analysis cost: what the `vj-audio` thread spends per block (FFT bands + onset flux) and per
modulator step, against the real time each block lasts. Prints a table; no assertions.

Times are CPU time of this process (`time.process_time`), so a machine shared with other jobs
reports what the analysis costs rather than how long it waited for a core; `--wall` for wall time."""

from __future__ import annotations

import argparse
import time

import numpy as np

from vj.config_audio import AnalysisConfig
from vj.control.audio.analysis import BandAnalyser
from vj.control.audio.modulators import AudioMod, AudioModulators
from vj.control.modulators import ModulatorBank
from vj.control.tempo import TempoClock
from vj.store import ParamStore

MODULATED = ("zoom", "angle", "translation_x", "translation_y", "strength", "noise", "contrast", "guidance")


CLOCK = time.process_time


def per_block_us(fn, blocks: list[np.ndarray], rounds: int) -> float:  # noqa: ANN001
    """Best of `rounds` passes over `blocks`: microseconds per block."""
    best = float("inf")
    for _ in range(rounds):
        start = CLOCK()
        for block in blocks:
            fn(block)
        best = min(best, CLOCK() - start)
    return best / len(blocks) * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rate", type=int, default=48000)
    parser.add_argument("--seconds", type=float, default=5.0, help="sound analysed per pass")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--wall", action="store_true", help="wall-clock time instead of CPU time")
    args = parser.parse_args()
    global CLOCK
    CLOCK = time.perf_counter if args.wall else time.process_time
    rng = np.random.default_rng(0)
    sound = (0.3 * rng.standard_normal(int(args.rate * args.seconds))).astype(np.float32)
    print(f"rate {args.rate} Hz, {args.seconds:g} s of noise per pass, best of {args.rounds}, "
          f"{'wall' if args.wall else 'CPU'} time")
    print(f"| {'block':>6} | {'window':>6} | {'block ms':>8} | {'analyse us':>10} | {'+ 8 mods us':>11} | "
          f"{'% of real time':>14} |")
    print(f"|{'-' * 8}|{'-' * 8}|{'-' * 10}|{'-' * 12}|{'-' * 13}|{'-' * 16}|")
    for window in (1024, 2048, 4096):
        for block in (256, 512, 1024, 2048):
            if block > window:
                continue
            blocks = [sound[i:i + block] for i in range(0, len(sound) - block, block)]
            cfg = AnalysisConfig(window=window)
            analyser = BandAnalyser(cfg, args.rate)
            analyse = per_block_us(analyser.push, blocks, args.rounds)
            store = ParamStore()
            mods = AudioModulators(store, ModulatorBank(store, TempoClock()), cfg)
            for i, name in enumerate(MODULATED):
                mods.assign(name, AudioMod(cfg.sources[i % len(cfg.sources)], 0.01))
            both = per_block_us(lambda b: mods.step(analyser.push(b), len(b) / args.rate),  # noqa: B023
                                blocks, args.rounds)
            real_us = block / args.rate * 1e6
            print(f"| {block:>6} | {window:>6} | {block / args.rate * 1000:>8.2f} | {analyse:>10.1f} | "
                  f"{both:>11.1f} | {both / real_us * 100:>13.2f}% |")
    fps = 24.0
    frame = round(args.rate / fps)
    blocks = [sound[i:i + frame] for i in range(0, len(sound) - frame, frame)]
    analyser = BandAnalyser(AnalysisConfig(), args.rate)
    us = per_block_us(analyser.push, blocks, args.rounds)
    print(f"offline (vj render --audio): one {fps:g} fps frame ({frame} samples) analysed in {us:.1f} us")


if __name__ == "__main__":
    main()
