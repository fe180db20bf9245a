"""Control latency: an OSC packet leaving the client -> the first published frame whose snapshot has it.

Runs a real LiveSession (tiny random model on CPU by default) with the real OSC server on
loopback. Each message carries a unique value; a sink on the fan-out stamps every published
frame, and the frame's `snapshot.events` says which writes landed in it. Reported per size:

- ms: from just before `send()` to the publication of the first frame that includes the write;
- store ms: from `send()` to the write being in the ParamStore (the OSC path alone);
- frames late: frames published after the write reached the store that did *not* include it
  (the frame already being rendered when it arrived). Target: never more than one.

Usage: .venv/bin/python benchmarks/control_latency.py [--sizes 64 128] [--messages 300]
Prints a table; it asserts nothing (speed targets are not tests).
"""

from __future__ import annotations

import argparse
import platform
import random
import statistics
import threading
import time

from pythonosc.udp_client import SimpleUDPClient

from vj.config import ModelConfig, parse_preset
from vj.control.osc import OscControl
from vj.engine.backends import load_backend
from vj.engine.cpu_threads import keep_off_the_render_cores
from vj.frames import Frame
from vj.session import LiveSession

PRESET = """
[model]
source = "tiny"
device = "cpu"
[render]
width = {size}
height = {size}
fps = 24
[[prompts.mix]]
text = "a tunnel of neon light"
"""


class StampingSink:
    """A fan-out output that records (publish time, frame index, contrast values written) per frame."""

    def __init__(self) -> None:
        self.frames: list[tuple[float, int, set[float]]] = []
        self.dropped = 0

    def start(self) -> None:
        pass

    def offer(self, frame: Frame) -> None:
        now = time.perf_counter()
        values = {round(float(e.value), 3) for e in frame.snapshot.events  # type: ignore[arg-type]
                  if e.kind == "set" and e.name == "contrast"}
        self.frames.append((now, frame.index, values))

    def close(self) -> None:
        pass

    def status(self) -> str:
        return ""


def percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    k = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[k]


def measure(size: int, messages: int, backend: object) -> dict[str, float]:
    preset = parse_preset(PRESET.format(size=size), "bench.toml")
    session = LiveSession(preset, backend=backend)  # type: ignore[arg-type]
    sink = StampingSink()
    session.add_output(sink)
    osc = OscControl(session.store, port=0)
    arrivals: dict[float, float] = {}
    osc.add_listener(lambda address, value: arrivals.setdefault(round(float(value), 3),  # type: ignore[arg-type]
                                                                time.perf_counter()))
    session.add_control(osc)
    session.start()
    rng = random.Random(1)
    sent: dict[float, float] = {}
    try:
        time.sleep(1.0)  # warm-up frames
        client = SimpleUDPClient("127.0.0.1", osc.port)
        for k in range(messages):
            value = round(0.5 + k * 0.001, 3)  # unique and in range; float32 keeps 3 decimals
            time.sleep(rng.uniform(0.01, 0.09))  # off the frame grid on purpose
            t = time.perf_counter()
            client.send_message("/vj/contrast", value)
            sent[value] = t
        time.sleep(1.0)
    finally:
        session.stop()
    frames = sink.frames
    ms: list[float] = []
    store_ms: list[float] = []
    late: list[int] = []
    missing = 0
    for value, t_send in sent.items():
        matches = [i for i, (_, _, vals) in enumerate(frames) if value in vals]
        if not matches or value not in arrivals:
            missing += 1
            continue
        i = matches[0]
        ms.append((frames[i][0] - t_send) * 1000.0)
        t_arr = arrivals[value]
        store_ms.append((t_arr - t_send) * 1000.0)
        late.append(sum(1 for t_pub, _, _ in frames[:i] if t_pub > t_arr))
    frame_times = [b[0] - a[0] for a, b in zip(frames, frames[1:], strict=False)]
    return {"size": size, "frames": len(frames), "frame_ms": statistics.median(frame_times) * 1000.0,
            "n": len(ms), "missing": missing, "p50_ms": percentile(ms, 50), "p99_ms": percentile(ms, 99),
            "max_ms": max(ms), "p50_frames": percentile([float(x) for x in late], 50),
            "p99_frames": percentile([float(x) for x in late], 99), "max_frames": float(max(late)),
            "osc_bad": float(osc.counters.rejected_total()),
            "store_p50_ms": percentile(store_ms, 50), "store_p99_ms": percentile(store_ms, 99)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--sizes", type=int, nargs="+", default=[64, 128])
    parser.add_argument("--messages", type=int, default=300)
    args = parser.parse_args()
    keep_off_the_render_cores()  # as `vj run` does before it loads the model (LiveSession)
    backend = load_backend(ModelConfig(source="tiny", device="cpu"))
    print(f"# control latency, tiny model on CPU ({platform.processor() or platform.machine()}, "
          f"{threading.active_count()} threads at start), {args.messages} OSC messages per size")
    header = (f"{'size':>5} {'frame ms':>9} {'msgs':>5} {'lost':>5} {'store p50':>9} {'store p99':>9} "
              f"{'p50 ms':>8} {'p99 ms':>8} {'max ms':>8} {'p50 fr':>7} {'p99 fr':>7} {'max fr':>7}")
    print(header)
    for size in args.sizes:
        r = measure(size, args.messages, backend)
        print(f"{r['size']:>5} {r['frame_ms']:>9.1f} {r['n']:>5} {r['missing']:>5} {r['store_p50_ms']:>9.2f} "
              f"{r['store_p99_ms']:>9.2f} {r['p50_ms']:>8.1f} "
              f"{r['p99_ms']:>8.1f} {r['max_ms']:>8.1f} {r['p50_frames']:>7.0f} {r['p99_frames']:>7.0f} "
              f"{r['max_frames']:>7.0f}")


if __name__ == "__main__":
    main()
