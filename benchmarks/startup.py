"""Start-up time of the commands that do not render, each in a fresh child process.

`python benchmarks/startup.py [--runs N]` prints a table: median and range of N runs per
command (wall clock, interpreter start included). Set PYTHONPATH to choose which checkout
is measured. No assertions: speed is reported, never tested.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time

COMMANDS: list[list[str]] = [
    ["--help"],
    ["params"],
    ["presets"],
    ["osc-map"],
    ["schedule", "0: (1.0), 30: (1.0+0.02*sin(t/10))", "--max-frames", "60"],
]


def time_command(argv: list[str], runs: int) -> list[float]:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "vj.cli", *argv], stdout=subprocess.DEVNULL,
                       stderr=subprocess.DEVNULL, check=False)
        times.append(time.perf_counter() - start)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=7, help="runs per command (default 7)")
    args = parser.parse_args()
    bare = [0.0] * args.runs
    for i in range(args.runs):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", "pass"], check=False)
        bare[i] = time.perf_counter() - start
    print(f"python {sys.version.split()[0]}, {args.runs} runs each; bare interpreter "
          f"{statistics.median(bare) * 1000:.0f} ms")
    print(f"| {'command':<34} | {'median s':>8} | {'min s':>6} | {'max s':>6} |")
    print(f"|{'-' * 36}|{'-' * 10}|{'-' * 8}|{'-' * 8}|")
    for argv in COMMANDS:
        times = time_command(argv, args.runs)
        label = "vj " + " ".join(a if len(a) < 20 else "'...'" for a in argv)
        print(f"| {label:<34} | {statistics.median(times):>8.2f} | {min(times):>6.2f} | {max(times):>6.2f} |")


if __name__ == "__main__":
    main()
