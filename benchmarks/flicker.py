"""The flicker figure (`vj analyze`) of tiny-model renders of a shipped preset on a moving test clip.

    .venv/bin/python benchmarks/flicker.py [--size 128] [--frames 48] [--preset zoom-tunnel]

Writes a test clip (a smooth random picture sliding 2 px per frame, H.264), renders PRESET with
`vj render --model tiny` in child processes — feedback only, and stylising the clip as input at
`--video-mix` 0.5 and 1 — and prints one Markdown row per file: the clip itself, then each render.
The tiny model's weights are random: its figures show that the measure runs and how settings move
it, not how a real model's pictures flicker.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a plain checkout (no pip install)

from vj.analysis.flicker import FlickerReport, analyze_video  # noqa: E402

SHIFT = 2


def write_clip(path: Path, size: int, frames: int, fps: float) -> None:
    import av  # after OpenCV: the two wheels bundle X libraries under one name

    rng = np.random.default_rng(0)
    wide = cv2.GaussianBlur(rng.uniform(0, 255, (size, size + SHIFT * frames, 3)).astype(np.float32), (0, 0), 4.0)
    wide = ((wide - wide.min()) / (wide.max() - wide.min()) * 255).astype(np.uint8)
    with av.open(str(path), mode="w") as container:
        stream = container.add_stream("libx264", rate=int(fps))
        stream.width = stream.height = size
        stream.pix_fmt = "yuv420p"
        stream.options = {"crf": "17", "preset": "ultrafast"}
        for i in range(frames):
            picture = np.ascontiguousarray(wide[:, i * SHIFT:i * SHIFT + size])
            container.mux(stream.encode(av.VideoFrame.from_ndarray(picture, format="rgb24")))
        container.mux(stream.encode())


def render(out: Path, preset: str, size: int, frames: int, extra: list[str]) -> None:
    done = subprocess.run([sys.executable, "-m", "vj.cli", "render", preset, "--model", "tiny", "--width", str(size),
                           "--height", str(size), "--frames", str(frames), "--out", str(out), "--no-progress",
                           *extra], capture_output=True, text=True, timeout=1800)
    if done.returncode:
        raise SystemExit(f"render failed: {done.stderr[-2000:]}")


def row(name: str, report: FlickerReport) -> str:
    r, raw, flow = report.residual, report.raw, report.flow
    return (f"| {name} | {report.frames_decoded} | {r.mean:.2f} | {r.percentiles[50.0]:.2f} | "
            f"{r.percentiles[90.0]:.2f} | {r.percentiles[99.0]:.2f} | {raw.mean:.2f} | {flow.mean:.2f} |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--frames", type=int, default=48)
    parser.add_argument("--preset", default="zoom-tunnel")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        clip = folder / "clip.mp4"
        write_clip(clip, args.size, args.frames, 24.0)
        runs = [("the input clip itself", clip, None)]
        for name, extra in (("feedback only", []), ("clip input, video_mix 0.5", ["--input", str(clip),
                                                                                  "--video-mix", "0.5"]),
                            ("clip input, video_mix 1", ["--input", str(clip), "--video-mix", "1"])):
            out = folder / f"{len(runs)}.mkv"
            render(out, args.preset, args.size, args.frames, extra)
            runs.append((f"{args.preset}, tiny, {name}", out, extra))
        print(f"{args.size}x{args.size}, {args.frames} frames, DIS flow; residual and raw in 8-bit levels, "
              "flow in px\n")
        print("| file | frames | residual mean | p50 | p90 | p99 | raw diff mean | flow mean |")
        print("|---|---|---|---|---|---|---|---|")
        for name, path, _ in runs:
            print(row(name, analyze_video(path)))


if __name__ == "__main__":
    main()
