"""The frame-rate governor's decisions: measured fps in, the next quality level out. Pure, no engine.

A level is one rung of a ladder declared before the show (`plan_levels`): level 0 is the
preset; each level down is cheaper than the one before, in this order:

1. the frame size, among the smaller sizes warmed before the show (largest first);
2. the denoising steps, one at a time down to 1;
3. with a depth model loaded, its refresh: a new depth estimate every 2×, then 4× as many frames;
4. the diffusion cadence, one more frame between diffusions at a time (fewer model runs).

`FpsGovernor` steps down one level when the measured rate stays below `down_below` × target,
and up one level when it stays above `up_above` × target (two thresholds: a rate between them
changes nothing). A level is kept at least `dwell_s` after a change, and a reading must hold
for `confirm` readings in a row. A step up that has to be undone soon after (the dearer level
could not hold the target) doubles the wait before the next try at that level, so a rate that
straddles two levels settles instead of oscillating.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass, replace


@dataclass(frozen=True, slots=True)
class GovernorLevel:
    width: int
    height: int
    steps: int
    cadence: int
    depth_every_n: int | None = None  # None: no depth model to step

    def describe(self) -> str:
        depth = f" depth every {self.depth_every_n}" if self.depth_every_n is not None else ""
        return f"{self.width}x{self.height} steps {self.steps}{depth} cadence {self.cadence}"


def smaller_sizes(width: int, height: int, *, allowed: Callable[[int, int], bool],
                  scales: Iterable[float] = (0.75, 0.5), multiple: int = 8) -> tuple[tuple[int, int], ...]:
    """The cheaper sizes the governor may step to: `scales` of the size, rounded down to `multiple`,
    those `allowed` (the model's size rule), largest first, each once."""
    out: list[tuple[int, int]] = []
    for scale in scales:
        size = (int(width * scale) // multiple * multiple, int(height * scale) // multiple * multiple)
        if size[0] > 0 and size[1] > 0 and size != (width, height) and size not in out and allowed(*size):
            out.append(size)
    return tuple(sorted(out, key=lambda s: s[0] * s[1], reverse=True))


def plan_levels(width: int, height: int, steps: int, cadence: int, sizes: Iterable[tuple[int, int]], *,
                depth_every_n: int | None = None, max_cadence: int = 4,
                max_depth_every_n: int = 240) -> tuple[GovernorLevel, ...]:
    """Level 0 (the preset), then size, steps, depth refresh and cadence: each level one step cheaper.

    `depth_every_n`: the depth model's refresh (None: no depth model, no depth levels)."""
    levels = [GovernorLevel(width, height, steps, cadence, depth_every_n)]
    for w, h in sorted(set(sizes), key=lambda s: s[0] * s[1], reverse=True):
        if w * h < width * height:
            levels.append(replace(levels[-1], width=w, height=h))
    for n in range(steps - 1, 0, -1):
        levels.append(replace(levels[-1], steps=n))
    if depth_every_n is not None:
        for factor in (2, 4):
            every_n = min(depth_every_n * factor, max_depth_every_n)
            if every_n != levels[-1].depth_every_n:
                levels.append(replace(levels[-1], depth_every_n=every_n))
    for c in range(cadence + 1, max(max_cadence, cadence) + 1):
        levels.append(replace(levels[-1], cadence=c))
    return tuple(levels)


class FpsGovernor:
    """Hysteresis over a ladder of `levels` levels (0 = full quality, levels - 1 = cheapest)."""

    def __init__(self, target_fps: float, levels: int, *, down_below: float = 0.9, up_above: float = 1.25,
                 dwell_s: float = 2.0, confirm: int = 2, retry_window_s: float | None = None) -> None:
        if target_fps <= 0:
            raise ValueError(f"target fps must be above 0, got {target_fps}")
        if levels < 1:
            raise ValueError(f"the governor needs at least one level, got {levels}")
        if not 0 < down_below < 1 < up_above:
            raise ValueError(f"thresholds must be down_below < 1 < up_above, got {down_below}, {up_above}")
        self.target_fps = target_fps
        self.levels = levels
        self.down_below, self.up_above = down_below, up_above
        self.dwell_s, self.confirm = dwell_s, confirm
        self.retry_window_s = 3 * dwell_s if retry_window_s is None else retry_window_s
        self.level = 0
        self._changed_s: float | None = None
        self._slow = self._fast = 0
        self._last_up_s: float | None = None
        self._up_wait_s = dwell_s  # the wait before a step up; doubles after each failed one

    def observe(self, now_s: float, fps: float) -> int:
        """One measured rate at `now_s` (monotonic seconds) → the level to run now."""
        self._slow = self._slow + 1 if fps < self.target_fps * self.down_below else 0
        self._fast = self._fast + 1 if fps > self.target_fps * self.up_above else 0
        since = float("inf") if self._changed_s is None else now_s - self._changed_s
        if self._slow >= self.confirm and since >= self.dwell_s and self.level < self.levels - 1:
            if self._last_up_s is not None and now_s - self._last_up_s <= self.retry_window_s:
                self._up_wait_s *= 2  # the level above could not hold the target: try it less often
            self._change(now_s, +1)
        elif self._fast >= self.confirm and since >= self._up_wait_s and self.level > 0:
            self._last_up_s = now_s
            self._change(now_s, -1)
        return self.level

    def _change(self, now_s: float, by: int) -> None:
        self.level += by
        self._changed_s = now_s
        self._slow = self._fast = 0  # readings from before the change say nothing of the new level
