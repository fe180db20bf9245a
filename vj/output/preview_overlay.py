"""What the preview draws over the picture: the help (top), the status (bottom: fps, bpm, REC), a REC dot.

Text is sized to fit the window: the font scale is the largest (up to a readable maximum) at which
the widest line fits the width and every line fits the band, at any frame size. Small frames are
shown enlarged (whole-number factor, nearest neighbour) so the text on them stays readable.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX
MAX_SCALE = 0.7
MIN_DISPLAY_SIDE = 240  # px: below this the frame is enlarged for the window
MARGIN = 6


def display_factor(width: int, height: int, min_side: int = MIN_DISPLAY_SIDE) -> int:
    """Whole-number enlargement so the window's short side is at least `min_side` (1 for normal sizes)."""
    return max(1, math.ceil(min_side / max(min(width, height), 1)))


def enlarge(image: np.ndarray, factor: int) -> np.ndarray:
    return image if factor == 1 else np.repeat(np.repeat(image, factor, axis=0), factor, axis=1)


@dataclass(frozen=True, slots=True)
class TextBlock:
    scale: float
    line_h: int
    baselines: tuple[int, ...]  # y of each line's baseline
    height: int  # of the band behind the text


def fit_text(lines: list[str], width: int, height: int, *, bottom: bool = False) -> TextBlock:
    """Font scale and line positions so every line fits inside width x height (from the top or bottom edge)."""
    (w1, h1), base1 = max((cv2.getTextSize(t, FONT, 1.0, 1) for t in lines), key=lambda s: s[0][0])
    per_line = (h1 + base1) * 1.35  # line spacing at scale 1
    avail_w = max(width - 2 * MARGIN, 1)
    scale = min(MAX_SCALE, avail_w / max(w1, 1), max(height - MARGIN, 1) / (per_line * len(lines)))
    while scale > 0.05 and not _fits(lines, scale, avail_w):
        scale *= 0.95  # getTextSize is not exactly linear in the scale
    line_h = max(int(per_line * scale), 1)
    band = min(line_h * len(lines) + MARGIN, height)
    top = height - band if bottom else 0
    _, base = cv2.getTextSize("Ag", FONT, scale, 1)
    baselines = tuple(top + line_h * (i + 1) - base for i in range(len(lines)))
    return TextBlock(scale, line_h, baselines, band)


def _fits(lines: list[str], scale: float, width: int) -> bool:
    return all(cv2.getTextSize(t, FONT, scale, 1)[0][0] <= width for t in lines)


def _draw_block(out: np.ndarray, lines: list[str], *, bottom: bool, reserve: int = 0) -> int:
    height, width = out.shape[:2]
    block = fit_text(lines, width, max(height - reserve, 1), bottom=bottom)
    rows = slice(height - block.height, height) if bottom else slice(0, block.height)
    out[rows] = (out[rows] * 0.35).astype(np.uint8)
    for y, text in zip(block.baselines, lines, strict=True):
        cv2.putText(out, text, (MARGIN, y), FONT, block.scale, (255, 255, 255), 1, cv2.LINE_AA)
    return block.height


def draw_overlay(image_bgr: np.ndarray, lines: list[str], *, recording: bool,
                 status: str | None = None) -> np.ndarray:
    """Help lines on a darkened top band, the status on a bottom band, a red dot while recording (a copy)."""
    out = image_bgr.copy()
    height, width = out.shape[:2]
    reserved = _draw_block(out, [status], bottom=True) if status else 0
    if lines:
        _draw_block(out, lines, bottom=False, reserve=reserved)
    if recording:
        radius = max(min(width, height) // 40, 3)
        cv2.circle(out, (width - 2 * radius - 4, 2 * radius + 4), radius, (0, 0, 255), -1)
    return out


def status_text(fps: float | None, bpm: float | None, recording: bool) -> str:
    parts = [f"{fps:.1f} fps" if fps is not None else "", f"{bpm:.1f} bpm" if bpm is not None else "",
             "REC" if recording else ""]
    return "  ".join(p for p in parts if p)
