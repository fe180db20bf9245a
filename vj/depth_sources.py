"""Depth model names: what `[depth] model` and --depth-model accept, checked without torch.

A source is a Hugging Face id, a local folder, `tiny` (a random Depth Anything built from
config), `none` (a flat plane, Deforum's use_depth_warping = false), '' (the default:
Depth Anything V2 Small, or `tiny` with the tiny diffusion model) or one of Deforum's
`depth_algorithm` names, mapped to the nearest model transformers can run.
"""

from __future__ import annotations

import re
from pathlib import Path

DEFAULT_DEPTH_MODEL = "depth-anything/Depth-Anything-V2-Small-hf"
TINY_DEPTH = "tiny"
NO_DEPTH = "none"

# Deforum's depth_algorithm names (lower case) → the nearest model transformers can run.
# AdaBins and LeReS have no transformers port: the nearest of the same kind stands in.
DEFORUM_DEPTH_ALGORITHMS: dict[str, str] = {
    "midas-3-hybrid": "Intel/dpt-hybrid-midas",
    "midas+adabins (old)": "Intel/dpt-hybrid-midas",
    "zoe": "Intel/zoedepth-nyu-kitti",
    "zoe+adabins (old)": "Intel/zoedepth-nyu-kitti",
    "adabins": "Intel/zoedepth-nyu-kitti",  # metric depth trained on NYU/KITTI, like AdaBins
    "leres": DEFAULT_DEPTH_MODEL,  # relative depth from one image, like LeReS
    "depth-anything": "LiheYoung/depth-anything-small-hf",
    "depth-anything-v2-small": DEFAULT_DEPTH_MODEL,
}
_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")


def resolve_depth_source(name: str, diffusion_model: str) -> str:
    """The depth model to load for a `[depth] model` value and the diffusion model's source."""
    name = name.strip()
    if not name:
        return TINY_DEPTH if diffusion_model == TINY_DEPTH else DEFAULT_DEPTH_MODEL
    return DEFORUM_DEPTH_ALGORITHMS.get(name.lower(), name)


def check_depth_source(name: str) -> str | None:
    """None when `name` can name a depth model; otherwise what was expected."""
    stripped = name.strip()
    if not stripped or stripped in (TINY_DEPTH, NO_DEPTH) or stripped.lower() in DEFORUM_DEPTH_ALGORITHMS:
        return None
    if Path(stripped).expanduser().is_dir() or _HF_ID.match(stripped):
        return None
    return ("a Hugging Face id (owner/name), a local model folder, 'tiny', 'none' or a Deforum depth_algorithm "
            f"({', '.join(sorted(DEFORUM_DEPTH_ALGORITHMS))})")
