"""Schedule costs: compile (parse + vectorised evaluation) per schedule, and the per-frame lookup
the render thread pays. Prints a table; no assertions (see TEAM.md)."""

from __future__ import annotations

import time

from vj.schedule.keyframes import ScheduleContext, compile_schedule
from vj.schedule.prompts import parse_prompt_schedule

CASES = [
    ("zoom", "0: (1.0025+0.002*sin(1.25*3.14*t/30))"),
    ("angle", '0: (0), 10: (3*sin(2*3.14*t/30)), 400: (where(t < 500, -1.5, 0.5)), "max_f": (0)'),
    ("strength", ", ".join(f"{i * 10}: ({0.4 + (i % 5) / 20})" for i in range(1000))),
]


def best(fn, repeat: int = 5) -> float:  # noqa: ANN001
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        times.append(time.perf_counter() - start)
    return min(times)


def main() -> None:
    print(f"{'schedule':<10} {'frames':>8} {'compile ms':>11} {'lookup us/frame':>16}")
    for frames in (1_000, 100_000):
        ctx = ScheduleContext(frames)
        for name, text in CASES:
            ms = best(lambda: compile_schedule(text, name, ctx)) * 1000  # noqa: B023
            fn = compile_schedule(text, name, ctx)
            n = 100_000
            us = best(lambda: [fn(i) for i in range(n)], 3) / n * 1e6  # noqa: B023
            print(f"{name:<10} {frames:>8} {ms:>11.2f} {us:>16.3f}")
    ps = parse_prompt_schedule({"0": "a :1 AND b :`t/max_f`"}, ScheduleContext(10_000))
    us = best(lambda: [ps(i) for i in range(10_000)], 3) / 10_000 * 1e6
    print(f"{'prompt':<10} {10_000:>8} {'':>11} {us:>16.3f}  (per-frame PromptMix, one backtick weight)")


if __name__ == "__main__":
    main()
