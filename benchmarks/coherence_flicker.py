"""The flicker figure (`vj analyze`) of tiny-model renders stylising a moving clip, with and without the
steadiers: the feature bank, the latent blend and the similarity skip.

    .venv/bin/python benchmarks/coherence_flicker.py [--size 128] [--frames 48]

Writes two test clips (a smooth random picture sliding 2 px per frame, and the same picture standing
still; H.264), renders each with `vj render --model tiny` in child processes as the input at video_mix 0.5
(no warp) under each setting, and prints one Markdown row per file with its flicker figure and the
render's skipped frames. The tiny model's weights are random: its figures show that each setting runs
and how it moves the measure, not how a real model's pictures flicker or which setting steadies them.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a plain checkout (no pip install)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from flicker import row, write_clip  # noqa: E402

from vj.analysis.flicker import analyze_video  # noqa: E402

PRESET = """
[preset]
name = "coherence-benchmark"
[model]
source = "tiny"
device = "cpu"
[render]
width = {size}
height = {size}
fps = 24
[prompts]
[[prompts.mix]]
text = "an oil painting of a city street"
[input]
source = "{clip}"
sync = "frame"
[params]
zoom = 1.0
strength = 0.5
video_mix = 0.5
noise = 0.02
seed = 7
{params}
"""

SETTINGS = [
    ("plain", ""),
    ("bank_strength 0.5, bank_frames 2", "bank_strength = 0.5\nbank_frames = 2"),
    ("bank_strength 0.9, bank_frames 4", "bank_strength = 0.9\nbank_frames = 4"),
    ("latent_blend 0.5", "latent_blend = 0.5"),
    ("similarity_skip 0.98", "similarity_skip = 0.98"),
]


def still_clip(path: Path, size: int, frames: int) -> None:
    """The moving clip's first picture, held: `write_clip` with no slide."""
    import flicker

    shift, flicker.SHIFT = flicker.SHIFT, 0
    try:
        write_clip(path, size, frames, 24.0)
    finally:
        flicker.SHIFT = shift


def render(folder: Path, clip: Path, name: str, params: str, size: int, frames: int) -> tuple[Path, int]:
    preset = folder / f"{name}.toml"
    preset.write_text(PRESET.format(size=size, clip=clip, params=params))
    out = folder / f"{name}.mkv"
    done = subprocess.run([sys.executable, "-m", "vj.cli", "render", str(preset), "--frames", str(frames),
                           "--out", str(out), "--no-progress"], capture_output=True, text=True, timeout=1800)
    if done.returncode:
        raise SystemExit(f"render failed: {done.stderr[-2000:]}")
    skipped = re.search(r"skipped (\d+)", done.stderr)
    return out, int(skipped.group(1)) if skipped else 0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--frames", type=int, default=48)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        moving, still = folder / "moving.mp4", folder / "still.mp4"
        write_clip(moving, args.size, args.frames + 1, 24.0)
        still_clip(still, args.size, args.frames + 1)
        print(f"{args.size}x{args.size}, {args.frames} frames, tiny model (random weights), input at video_mix 0.5, "
              "strength 0.5, no warp; DIS flow; residual and raw in 8-bit levels, flow in px\n")
        print("| file | frames | residual mean | p50 | p90 | p99 | raw diff mean | flow mean | skipped |")
        print("|---|---|---|---|---|---|---|---|---|")
        for clip_name, clip in (("moving clip", moving), ("still clip", still)):
            print(row(f"the {clip_name} itself", analyze_video(clip)) + " - |")
            for index, (name, params) in enumerate(SETTINGS):
                out, skipped = render(folder, clip, f"{clip_name[:5]}-{index}", params, args.size, args.frames)
                print(row(f"{clip_name}: {name}", analyze_video(out)) + f" {skipped} |", flush=True)


if __name__ == "__main__":
    main()
