"""Deforum's outside pictures → vj's `[input]` table: Video Input mode, init images, colour sources.

- `animation_mode = "Video Input"`: every frame is img2img of the next extracted video frame
  (`video_init_path`, every `extract_nth_frame`-th frame from `extract_from_frame` to
  `extract_to_frame`), at the strength schedule, with no feedback of the previous output
  and cadence 1. In vj: the clip is the input, read one picture per render frame (sync
  "frame", once: the last frame holds), `video_mix` 1 and cadence 1; the render is as long
  as the extracted frames when `max_frames` asks for more, as Deforum caps it.
- `use_init` with `init_image`: the first frame is img2img of that image at `strength`
  (the fraction of it kept), instead of text-to-image. Shared files often name a URL or a
  path on their author's machine: the name is kept as written (schedules do not need the
  picture), and `vj render` says how to go on when it cannot open it (`init_image_problem`).
- `color_coherence = "Video Input"` / `"Image"`: colours match toward the video frame (each
  frame) or `color_coherence_image_path`, in LAB (what Deforum's matcher falls back to).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from vj.errors import ConfigError

VIDEO_INPUT = "video input"
VIDEO_KEYS = ("video_init_path", "extract_nth_frame", "extract_from_frame", "extract_to_frame")
INIT_KEYS = ("use_init", "init_image", "strength", "strength_0_no_init")


def _path(value: Any, source: str, key: str) -> str:
    """A local file named in the settings (beside the settings file when relative and found there)."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(source, key, "a file path", value)
    text = value.strip()
    if text.startswith(("http://", "https://")):
        raise ConfigError(source, key, "a local file (vj downloads nothing: save it and give its path)", text)
    path = Path(text)
    beside = Path(source).parent / path
    if not path.is_absolute() and not path.is_file() and beside.is_file():
        path = beside
    if not path.is_file():
        raise ConfigError(source, key, "an existing file", f"{text} (no such file)")
    return str(path)


def is_url(text: str) -> bool:
    return text.strip().lower().startswith(("http://", "https://"))


def _init_image(value: Any, source: str, notes: list[str]) -> str:
    """The init image's local file (beside the settings file when relative and found there), or the name as
    written when there is none here: a URL, or a path on the author's machine."""
    if not isinstance(value, str) or not value.strip():
        raise ConfigError(source, "init_image", "a file path or URL", value)
    text = value.strip()
    if not is_url(text):
        path = Path(text)
        beside = Path(source).parent / path
        if not path.is_absolute() and not path.is_file() and beside.is_file():
            return str(beside)
        if path.is_file():
            return str(path)
    notes.append(f"init_image {text}: {init_image_problem(text)}; kept as written (vj render asks what to do)")
    return text


def init_image_problem(text: str) -> str:
    """Why this init image cannot be opened here ('' when it can)."""
    if is_url(text):
        return "a URL (vj downloads nothing unless asked with --fetch)"
    if len(text) > 2 and text[1] == ":" and text[2] in "\\/" and text[0].isalpha():
        return "a Windows path, from the machine the file was made on"
    return "" if Path(text).is_file() else "no such file here"


def _int(value: Any, source: str, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise ConfigError(source, key, "an integer", value)
    try:
        number = float(value)
    except ValueError:
        raise ConfigError(source, key, "an integer", value) from None
    if not math.isfinite(number) or not number.is_integer():
        raise ConfigError(source, key, "an integer", value)
    return int(number)


def convert_inputs(merged: Mapping[str, Any], source: str, use: Callable[[str], Any], *, mode: str,
                   frames: int, unsupported: dict[str, Any], notes: list[str]) -> tuple[dict[str, Any],
                                                                                    dict[str, Any], int]:
    """(the `[input]` table, params it implies, the render's frame count) for one settings file."""
    table: dict[str, Any] = {}
    params: dict[str, Any] = {}
    if mode.strip().lower() == VIDEO_INPUT:
        if not merged.get("video_init_path"):
            raise ConfigError(source, "video_init_path", "a video file for animation_mode 'Video Input'",
                              merged.get("video_init_path"))
        path = _path(use("video_init_path"), source, "video_init_path")
        every = max(_int(merged.get("extract_nth_frame", 1), source, "extract_nth_frame"), 1)
        first = max(_int(merged.get("extract_from_frame", 0), source, "extract_from_frame"), 0)
        last = _int(merged.get("extract_to_frame", -1), source, "extract_to_frame")
        for key in VIDEO_KEYS[1:]:
            if key in merged:
                use(key)
        table.update(source=path, mode="once", sync="frame", every_nth=every, from_frame=first,
                     to_frame=max(last, -1))
        params.update(video_mix=1.0, cadence=1)
        available = _extracted_frames(path, every, first, last)
        if available is not None and available < frames:
            notes.append(f"Video Input: {path} gives {available} frames (every {every} from {first}); "
                         f"rendering {available} of max_frames {frames}, as Deforum does")
            frames = max(available, 1)
        notes.append("Video Input: each frame is img2img of the video frame (video_mix 1, cadence 1)")
        if merged.get("use_mask_video"):
            unsupported["use_mask_video"] = merged["use_mask_video"]
    if merged.get("use_init") and str(merged.get("init_image") or "").strip():
        use("use_init")
        table["init_image"] = _init_image(use("init_image"), source, notes)
        strength = merged.get("strength", 0.8)
        if isinstance(strength, bool) or not isinstance(strength, (int, float)) or not 0 <= strength <= 1:
            raise ConfigError(source, "strength", "the init image's strength, 0..1", strength)
        if "strength" in merged:
            use("strength")
        table["init_strength"] = float(strength)
    coherence = str(merged.get("color_coherence", "")).strip().lower()
    if coherence == "video input":
        if "source" in table:
            table["color_anchor"] = "input"
        else:
            unsupported["color_coherence"] = merged["color_coherence"]
            notes.append("color_coherence 'Video Input' needs a video (Video Input mode); colours anchor on frame 0")
        every_n = merged.get("color_coherence_video_every_N_frames", 1)
        if every_n not in (1, "1"):
            unsupported["color_coherence_video_every_N_frames"] = every_n
    elif coherence == "image":
        table["color_anchor"] = "image"
        table["color_image"] = _path(merged.get("color_coherence_image_path"), source, "color_coherence_image_path")
        use("color_coherence_image_path")
    # What Deforum ignores in this file's modes is used up too: it renders the same without it.
    for key in (*VIDEO_KEYS, *INIT_KEYS, "color_coherence_image_path", "color_coherence_video_every_N_frames"):
        if key in merged and key not in unsupported:
            use(key)
    return table, params, frames


def _extracted_frames(path: str, every: int, first: int, last: int) -> int | None:
    """How many frames Deforum would extract (None when the container does not say how long it is)."""
    from vj.input.video import probe_clip

    count = probe_clip(path).frames
    if count <= 0:
        return None
    end = count if last < 0 else min(count, last + 1)
    return max(len(range(first, end, every)), 0)
