"""argparse `type=` checks: a bad number is one `vj CMD: error: argument --x: ...` line, exit 2.

Each check says what was expected, so the performer can retype the flag; none loads the model.
"""

from __future__ import annotations

import argparse
import math
import random
from collections.abc import Callable

from vj.choices import CONTROL_KINDS
from vj.registry import SEED_MAX

RANDOM_SEED = -1  # Deforum's spelling of "draw a random seed"


def _number(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, found {text!r}") from None
    if not math.isfinite(value):
        raise argparse.ArgumentTypeError(f"expected a finite number, found {text!r}")
    return value


def _integer(text: str) -> int:
    try:
        return int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a whole number, found {text!r}") from None


def int_range(low: int, high: int | None = None, what: str = "") -> Callable[[str], int]:
    """A whole number in low..high (high None: no upper bound)."""
    def check(text: str) -> int:
        value = _integer(text)
        if value < low or (high is not None and value > high):
            bound = f"{low}..{high}" if high is not None else f"at least {low}"
            raise argparse.ArgumentTypeError(f"expected {what or 'a whole number'} {bound}, found {value}")
        return value
    check.__name__ = what or "integer"  # argparse names the type in its own messages
    return check


def float_range(low: float, high: float | None = None, *, low_open: bool = False,
                what: str = "") -> Callable[[str], float]:
    """A finite number in low..high; low_open: strictly above low."""
    def check(text: str) -> float:
        value = _number(text)
        if (value <= low if low_open else value < low) or (high is not None and value > high):
            lower = f"> {low:g}" if low_open else f">= {low:g}"
            bound = f"{lower} and <= {high:g}" if high is not None else lower
            raise argparse.ArgumentTypeError(f"expected {what or 'a number'} {bound}, found {text}")
        return value
    check.__name__ = what or "number"
    return check


def port(text: str) -> int:
    """A UDP/TCP port; 0 asks the system for any free port."""
    return int_range(0, 65535, "a port")(text)


def seed(text: str) -> int:
    """0..2**32-1, or -1 for a random seed (drawn by `resolve_seed`)."""
    value = _integer(text)
    if value != RANDOM_SEED and not 0 <= value <= SEED_MAX:
        raise argparse.ArgumentTypeError(f"expected a seed 0..{SEED_MAX} or -1 (random), found {value}")
    return value


def resolve_seed(value: int | None, rng: random.Random | None = None) -> int | None:
    """-1 becomes a random seed in the preset's range; anything else passes through."""
    if value != RANDOM_SEED:
        return value
    return (rng or random.SystemRandom()).randint(0, SEED_MAX)


frame_count = int_range(1, what="a frame count")
rate = float_range(0, low_open=True, what="a rate")
target_rate = float_range(0, 240, what="a target frame rate (0 = off)")
seconds = float_range(0, low_open=True, what="seconds")
crf = int_range(0, 51, what="a CRF")
pixels = int_range(1, what="pixels")


def lora(text: str) -> tuple[str, float]:
    """SOURCE[:SCALE]: a hub id, folder or .safetensors file, and its scale (default 1)."""
    source, sep, tail = text.rpartition(":")
    if sep:
        try:
            scale = float(tail)
        except ValueError:
            source, scale = text, 1.0  # a colon inside the path (C:\\...), no scale given
    else:
        source, scale = text, 1.0
    if not source.strip():
        raise argparse.ArgumentTypeError(f"expected SOURCE[:SCALE] (a LoRA id, folder or .safetensors file), "
                                         f"found {text!r}")
    if not (math.isfinite(scale) and -4.0 <= scale <= 4.0):
        raise argparse.ArgumentTypeError(f"LoRA scale must be -4..4, found {tail!r}")
    return source, scale


def controlnet(text: str) -> tuple[str, str, float]:
    """SOURCE[:KIND[:SCALE]]: a ControlNet (hub id, folder or tiny), its picture (default canny), scale (default 1)."""
    kinds = ", ".join(CONTROL_KINDS)
    parts = text.split(":")
    scale, kind = 1.0, "canny"
    if len(parts) >= 2 and parts[-1] not in CONTROL_KINDS:
        try:
            scale = float(parts[-1])
        except ValueError:
            raise argparse.ArgumentTypeError(f"--controlnet {text!r}: KIND must be one of {kinds} and SCALE a "
                                             f"number 0..2, found {parts[-1]!r}") from None
        if not (math.isfinite(scale) and 0.0 <= scale <= 2.0):
            raise argparse.ArgumentTypeError(f"--controlnet {text!r}: SCALE must be 0..2, found {parts[-1]!r}")
        parts = parts[:-1]
        if len(parts) < 2 or parts[-1] not in CONTROL_KINDS:
            raise argparse.ArgumentTypeError(f"--controlnet {text!r}: expected SOURCE:KIND:SCALE with KIND one of "
                                             f"{kinds}")
    if len(parts) >= 2:
        kind = parts.pop()
    source = ":".join(parts)
    if not source.strip():
        raise argparse.ArgumentTypeError(f"--controlnet {text!r}: expected SOURCE[:KIND[:SCALE]] (a ControlNet "
                                         "hub id, folder or tiny)")
    return source, kind, scale


def reference(text: str) -> tuple[str, float]:
    """IMAGE[:WEIGHT]: a reference picture and its weight in the blend (default 1; a number >= 0 after the last ':')."""
    image, _, tail = text.rpartition(":")
    try:
        weight = float(tail) if image else 1.0
    except ValueError:
        image, weight = "", 1.0
    if not image:
        image = text
    if not math.isfinite(weight) or weight < 0:
        raise argparse.ArgumentTypeError(f"--reference {text!r}: WEIGHT must be a number >= 0, found {tail!r}")
    if not image.strip():
        raise argparse.ArgumentTypeError(f"--reference {text!r}: expected IMAGE[:WEIGHT] (a picture file)")
    return image, weight


def sizes(text: str) -> list[tuple[int, int]]:
    """WxH[,WxH...]: frame sizes, each a multiple of 8 in 64..2048 (what a preset allows)."""
    found = []
    for part in text.split(","):
        w, sep, h = part.strip().lower().partition("x")
        if not (sep and w.isdigit() and h.isdigit()):
            raise argparse.ArgumentTypeError(f"expected sizes as WxH[,WxH...] (e.g. 512x512,768x432), found {part!r}")
        width, height = int(w), int(h)
        for side in (width, height):
            if not (64 <= side <= 2048 and side % 8 == 0):
                raise argparse.ArgumentTypeError(f"size {part!r}: each side must be a multiple of 8 in 64..2048")
        found.append((width, height))
    return found


def batches(text: str) -> list[int]:
    """B[,B...]: UNet batches, 1..8 (1 without CFG, 2 with full CFG)."""
    try:
        values = [int(part) for part in text.split(",")]
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected batches as B[,B...] (e.g. 1,2), found {text!r}") from None
    if not all(1 <= v <= 8 for v in values):
        raise argparse.ArgumentTypeError(f"each batch must be 1..8, found {text!r}")
    return sorted(set(values))
