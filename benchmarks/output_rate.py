"""Output size and rate: the device resize, the one copy out, the host blend, and a 60 Hz paced output measured.

Prints two tables. Per frame on this machine's CPU (the "device" here is the CPU, so the copy is
a memcpy and the resize runs on the same cores): the output geometry's resize of a render to the
output size, the staging to uint8 and the one copy out (vj.engine.publish), the host blend of two
output frames (vj.picture_blend), the staging and copy with one in-between made on the "device"
(`--output-rate-mode blend`, vj.engine.publish) and a per-output host resize (vj.output.resized).
Then a real `PacedOutput` at 60 Hz fed at an engine rate, blending from the device's in-betweens
or on the host, for a few seconds: the ticks it delivered, the ticks it skipped, how many showed a
device in-between, and the spread of the intervals between sends. The GPU cost model built on
these numbers is in benchmarks/RESULTS.md ("Output size and rate").

Run: .venv/bin/python benchmarks/output_rate.py [--seconds 3] [--engine-fps 30]
"""

from __future__ import annotations

import argparse
import threading
import time

import numpy as np
import torch

from benchmarks._timing import percentile
from vj.engine.publish import FramePublisher
from vj.frames import Frame
from vj.output.frame_blend import blend_on_ticks
from vj.output.pacing import PacedOutput
from vj.output.resized import resize_image
from vj.output_size import Fit, Resample
from vj.picture_blend import blend_images
from vj.picture_fit import fit_picture
from vj.prompt_mix import PromptMix
from vj.registry import REGISTRY
from vj.store import ParamSnapshot

RENDERS = [(512, 512), (768, 448), (1024, 576)]
OUTPUTS = [(1280, 720), (1920, 1080), (3840, 2160)]


def _ms(fn, n: int) -> float:  # noqa: ANN001
    fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1000


def per_frame_table() -> None:
    print(f"{'render':>10} {'output':>10} {'MB/frame':>9} {'resize ms':>10} {'stage+copy ms':>14} "
          f"{'blend ms':>9} {'+1 in-between ms':>17} {'host resize to 720p ms':>23}")
    publisher: FramePublisher[int] = FramePublisher(torch.device("cpu"), pipelined=False)
    with_in_between: FramePublisher[int] = FramePublisher(torch.device("cpu"), pipelined=False, in_betweens=1)
    for rw, rh in RENDERS:
        image = torch.rand(1, 3, rh, rw)
        for ow, oh in OUTPUTS:
            n = 10 if ow * oh > 3_000_000 else 20
            resize = _ms(lambda image=image, size=(ow, oh): fit_picture(image, size, Fit.FIT, Resample.BILINEAR), n)
            fitted = fit_picture(image, (ow, oh), Fit.FIT, Resample.BILINEAR)
            copy = _ms(lambda fitted=fitted: publisher.submit(fitted, 0), n)
            in_between = _ms(lambda fitted=fitted: with_in_between.submit(fitted, 0), n)
            a = np.random.randint(0, 255, (oh, ow, 3), np.uint8)
            b = np.random.randint(0, 255, (oh, ow, 3), np.uint8)
            blend = _ms(lambda a=a, b=b: blend_images(a, b, 45), n)
            host = _ms(lambda a=a: resize_image(a, (1280, 720), Fit.FIT), n) if (ow, oh) != (1280, 720) else 0.0
            print(f"{rw}x{rh:<5} {ow}x{oh:<5} {ow * oh * 3 / 1e6:>9.2f} {resize:>10.2f} {copy:>14.2f} "
                  f"{blend:>9.2f} {in_between:>17.2f} {host:>23.2f}")


def paced_run(seconds: float, engine_fps: float, size: tuple[int, int], in_betweens: int) -> None:
    """A real 60 Hz paced output, blending, fed at `engine_fps` by a thread: what it delivered.

    `in_betweens` > 0: each frame comes with that many in-betweens as the device makes them (so the
    output picks one per tick); 0: the output blends on the host."""
    snap = ParamSnapshot(0, 0.0, 1 / 24, {name: spec.default for name, spec in REGISTRY.items()}, PromptMix())
    sent: list[float] = []
    out = PacedOutput("bench-60hz", 60.0, lambda _f, _fresh: sent.append(time.perf_counter()))
    mailbox = blend_on_ticks(out)
    width, height = size
    pictures = [np.full((height, width, 3), v, np.uint8) for v in (40, 200)]
    made = tuple(np.full((height, width, 3), 120, np.uint8) for _ in range(in_betweens))
    stop = threading.Event()

    def engine() -> None:
        index = 0
        start = time.perf_counter()
        while not stop.is_set():
            out.offer(Frame(index, index / engine_fps, pictures[index % 2], snap, in_betweens=made))
            index += 1
            stop.wait(max(start + index / engine_fps - time.perf_counter(), 0.0))

    producer = threading.Thread(target=engine, daemon=True)
    out.start()
    producer.start()
    time.sleep(seconds)
    stop.set()
    out.stop()
    producer.join()
    gaps = [(b - a) * 1000 for a, b in zip(sent, sent[1:], strict=False)]
    expected = int(seconds * 60)
    where = f"device x{in_betweens}" if in_betweens else "host"
    print(f"{width}x{height:<5} {engine_fps:>6g} {where:>9} {expected:>9} {out.counters.sent:>9} "
          f"{out.counters.skipped_ticks:>8} {mailbox.blended:>8} {mailbox.from_device:>8} {percentile(gaps, 50):>8.2f} "
          f"{percentile(gaps, 99):>8.2f} {max(gaps):>8.2f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--engine-fps", type=float, action="append")
    args = parser.parse_args()
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; per frame, on the CPU:")
    per_frame_table()
    print(f"\n60 Hz paced output, blending, for {args.seconds:g} s (real clock and threads):")
    print(f"{'output':>10} {'engine':>6} {'blend':>9} {'due ticks':>9} {'sent':>9} {'skipped':>8} {'blended':>8} "
          f"{'device':>8} {'p50 ms':>8} {'p99 ms':>8} {'max ms':>8}")
    for fps in args.engine_fps or [30.0, 40.0]:
        for size in [(1280, 720), (1920, 1080)]:
            for in_betweens in (1, 0):
                paced_run(args.seconds, fps, size, in_betweens)


if __name__ == "__main__":
    main()
