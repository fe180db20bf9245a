"""`vj render --continue CLIP`: carry an offline render on from its last frame, into a new file.

Every `vj render` leaves two files beside its video: the timeline (`clip.jsonl`: the whole
preset with its resolved seed, and one line per frame) and the engine's resume state
(`clip.resume.pt`: vj.engine.resume_state). Continuing reads both, rebuilds the store at the
next frame index and renders on, so the first new frame is exactly the one the longer
render would have made. The new file holds the new frames only (its own timeline starts at
that index), so it plays on seamlessly after CLIP and can itself be continued.
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vj.config import PresetConfig
from vj.engine.resume_state import load_engine_state
from vj.errors import VjError
from vj.output.timeline import Timeline, read_timeline, timeline_path_for

RESUME_SUFFIX = ".resume.pt"
# Flags that would change the picture: a continuation takes all of them from the timeline.
_FIXED_BY_THE_TIMELINE = ("preset", "model", "tiny_vae", "width", "height", "fps", "steps", "seed", "guidance",
                          "sampler", "strength", "dtype", "input", "input_mode", "video_mix", "init_image",
                          "init_strength")


def resume_state_path_for(video: str | Path) -> Path:
    """`clip.mp4` -> `clip.resume.pt` (same folder)."""
    path = Path(video)
    return path.with_name(path.stem + RESUME_SUFFIX)


@dataclass(frozen=True, slots=True)
class Continuable:
    video: Path
    timeline: Timeline
    state_path: Path
    next_frame: int


def check_continuable(clip: str | Path, out: str | Path) -> Continuable:
    """What `--continue CLIP` needs, checked before the model loads (one line for what is missing)."""
    video = Path(clip)
    if video.resolve() == Path(out).resolve():
        raise VjError(f"--continue {clip}: --out must be a new file (the render goes on in a file of its own)")
    timeline_path = timeline_path_for(video)
    if not timeline_path.is_file():
        raise VjError(f"--continue {clip}: no timeline {timeline_path.name} beside it (every `vj render` writes one "
                      "next to its video)")
    timeline = read_timeline(timeline_path)
    if timeline.header.get("kind") != "render":
        raise VjError(f"--continue {clip}: {timeline_path.name} is a live take's timeline; re-render it with "
                      "`vj render --replay`")
    if not timeline.complete or not timeline.frames:
        raise VjError(f"--continue {clip}: the render that wrote {timeline_path.name} did not finish (no end line); "
                      "render it again")
    state_path = resume_state_path_for(video)
    if not state_path.is_file():
        raise VjError(f"--continue {clip}: no resume state {state_path.name} beside it (it is written when a render "
                      "finishes)")
    return Continuable(video, timeline, state_path, timeline.frames[-1].index + 1)


def continued_preset(continued: Continuable, args: argparse.Namespace) -> PresetConfig:
    given = [name for name in _FIXED_BY_THE_TIMELINE if getattr(args, name, None) is not None]
    if given:
        flag = "PRESET" if given[0] == "preset" else "--" + given[0].replace("_", "-")
        raise VjError(f"vj render --continue takes the preset and every picture setting from the timeline of "
                      f"{continued.video.name}: leave out {flag}")
    return continued.timeline.preset


def load_resume_state(continued: Continuable) -> dict[str, Any]:
    try:
        state = load_engine_state(continued.state_path)
    except Exception as err:  # a truncated or foreign file: say which, not a traceback
        raise VjError(f"--continue {continued.video}: {continued.state_path.name} cannot be read "
                      f"({type(err).__name__}: {err})") from None
    if int(state.get("index", -1)) != continued.next_frame:
        raise VjError(f"--continue {continued.video}: {continued.state_path.name} is at frame {state.get('index')}, "
                      f"the timeline ends before frame {continued.next_frame} (the files are from different renders)")
    return state
