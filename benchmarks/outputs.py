"""Per-frame cost of the output fan-out and the recorder's encode rate; prints a table.

Fan-out stages per frame: device->host copy (torch float image -> uint8 numpy, as the
engine's publish stage does it), RGB->BGR for the preview, hand-off into a FrameQueue and
the outputs' one-frame mailbox. Recorder: libx264 encode fps through VideoRecorder.write_now.
Run: .venv/bin/python benchmarks/outputs.py
"""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
import torch

from vj.frames import FanOut, Frame, FrameQueue
from vj.output.pacing import LatestFrame
from vj.output.preview import to_bgr
from vj.output.recorder import VideoRecorder
from vj.prompt_mix import PromptMix
from vj.registry import REGISTRY
from vj.store import ParamSnapshot


def _ms(fn, n: int) -> float:  # noqa: ANN001
    fn()
    start = time.perf_counter()
    for _ in range(n):
        fn()
    return (time.perf_counter() - start) / n * 1000


def main() -> None:
    snap = ParamSnapshot(0, 0.0, 1 / 24, {name: spec.default for name, spec in REGISTRY.items()}, PromptMix())
    print(f"{'size':>6} {'to host ms':>11} {'RGB->BGR ms':>12} {'hand-off ms':>12} {'encode fps (veryfast)':>22}"
          f" {'encode fps (ultrafast)':>23}")
    for size in (512, 1024):
        image = torch.rand(1, 3, size, size)
        host = torch.empty(size, size, 3, dtype=torch.uint8)

        def to_host(image: torch.Tensor = image, host: torch.Tensor = host) -> np.ndarray:
            pixels = (image[0].permute(1, 2, 0) * 255).round_().clamp_(0, 255).to(torch.uint8)
            host.copy_(pixels)
            return host.numpy().copy()

        pixels = to_host()
        frame = Frame(0, 0.0, pixels, snap)
        fanout = FanOut()
        fanout.add(FrameQueue(2, name="a"))
        fanout.add(LatestFrame())
        fanout.add(LatestFrame())
        host_ms = _ms(to_host, 30)
        bgr_ms = _ms(lambda: to_bgr(pixels), 30)  # noqa: B023
        hand_ms = _ms(lambda: fanout.offer(frame), 2000)  # noqa: B023
        rates = []
        for preset in ("veryfast", "ultrafast"):
            with tempfile.TemporaryDirectory() as tmp:
                rec = VideoRecorder(Path(tmp) / "b.mkv", width=size, height=size, fps=24, preset=preset)
                rec.start()
                frames = [np.ascontiguousarray(np.roll(pixels, i * 7, axis=1)) for i in range(8)]
                n = 48 if size == 512 else 24
                start = time.perf_counter()
                for i in range(n):
                    rec.write_now(frames[i % 8], pts=i)
                rec.close()
                rates.append(n / (time.perf_counter() - start))
        print(f"{size:>6} {host_ms:>11.2f} {bgr_ms:>12.2f} {hand_ms:>12.4f} {rates[0]:>22.1f} {rates[1]:>23.1f}")


if __name__ == "__main__":
    torch.set_num_threads(2)
    main()
