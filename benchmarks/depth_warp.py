"""Per-stage cost of the 3D warp with depth: depth estimation (tiny and Depth Anything V2 Small) and the warp.

Stages, each timed alone on the same random frame (median of --repeats runs after one warm-up):

- depth model: resize to the depth resolution, normalise, the model's forward, resize back;
- normalise: min/max, 1024-bin histogram equalisation (the part after the model);
- warp: the 3D sampling grid from the camera and the grid_sample read, flat plane or per-pixel depth,
  bilinear or bicubic.

The Depth Anything V2 Small row is its architecture (24.8 M parameters) with random weights: the
weights cannot be downloaded here, and the cost does not depend on them.

Usage: .venv/bin/python benchmarks/depth_warp.py [--size 512] [--resolutions 252 518] [--repeats 5] [--threads N]
Prints a table; it asserts nothing (speed targets are not tests).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable

import torch

from vj.engine.warp.depth_estimator import (
    DepthEstimator,
    build_tiny_depth_model,
    depth_model_from_module,
    normalised_nearness,
)
from vj.engine.warp.warp3d import Camera3D, warp_3d, z_from_nearness


def median_ms(fn: Callable[[], object], repeats: int) -> float:
    fn()  # warm-up: caches, lazy allocations
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        fn()
        times.append((time.perf_counter() - start) * 1000)
    return statistics.median(times)


def depth_anything_small() -> DepthEstimator:
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation

    torch.manual_seed(0)
    module = DepthAnythingForDepthEstimation(DepthAnythingConfig())  # V2 Small's architecture
    return DepthEstimator(depth_model_from_module(module, "Depth Anything V2 Small (random weights)"), ema=0.0)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512, help="frame size (square), default 512")
    parser.add_argument("--resolutions", type=int, nargs="+", default=[252, 518], help="depth model input sizes")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--skip-small", action="store_true", help="leave out Depth Anything V2 Small")
    parser.add_argument("--threads", type=int, help="torch intra-op threads (on a loaded shared VM, 1 avoids "
                                                    "every small op waiting for a second thread to be scheduled)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    frame = torch.rand(1, 3, args.size, args.size)
    rows: list[tuple[str, str, float]] = []
    with torch.inference_mode():
        models = [("tiny Depth Anything (121 k params)",
                   DepthEstimator(build_tiny_depth_model(torch.device("cpu"), torch.float32), ema=0.0))]
        if not args.skip_small:
            models.append(("Depth Anything V2 Small arch (24.8 M)", depth_anything_small()))
        for name, estimator in models:
            for resolution in args.resolutions:
                estimator.resolution = resolution
                rows.append(("depth model", f"{name} @ {resolution}", median_ms(lambda e=estimator: e.estimate(frame),
                                                                                 args.repeats)))
        raw = torch.rand(1, 1, args.size, args.size)
        rows.append(("normalise", "min/max + 1024-bin equalisation", median_ms(
            lambda: normalised_nearness(raw, metric=False), args.repeats)))
        z = z_from_nearness(normalised_nearness(raw, metric=False), 1.0)
        camera = Camera3D(2.0, 1.0, 1.75, 0.5, 0.4, 0.3)
        for depth_name, depth in (("flat plane", None), ("per-pixel depth", z)):
            for sampling in ("bilinear", "bicubic"):
                rows.append(("warp", f"{depth_name}, {sampling}", median_ms(
                    lambda d=depth, s=sampling: warp_3d(frame, camera, "replicate", d, s), args.repeats)))
    print(f"3D warp with depth, {args.size}x{args.size} frame, CPU: {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} cores, torch {torch.__version__}, {torch.get_num_threads()} threads, "
          f"median of {args.repeats}")
    print(f"| {'stage':<12} | {'what':<52} | {'ms':>9} |")
    print(f"|{'-' * 14}|{'-' * 54}|{'-' * 11}|")
    for stage, what, ms in rows:
        print(f"| {stage:<12} | {what:<52} | {ms:9.1f} |")


if __name__ == "__main__":
    main()
