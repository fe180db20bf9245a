"""The render loop's running statistics (frame rate, per-stage timings, errors), read by the status line."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class EngineStats:
    frames: int = 0
    diffused: int = 0
    errors: int = 0
    non_finite: int = 0  # frames held back because a pixel was NaN or infinite
    skipped: int = 0  # frames that held the last output because the input picture barely changed
    fps: float = 0.0
    frame_ms: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=dict)
    last_error: str = ""
    oom: int = 0  # device out-of-memory errors survived mid-show (vj.engine.oom_recovery)
    oom_undone: int = 0  # of those, how many undid a size change
    oom_note: str = ""  # what the last one did, for the status line

    def update(self, frame_s: float, stage_ms: dict[str, float]) -> None:
        # Exponential moving averages: a steady readout for the one-second status line.
        a = 0.1 if self.frames > 1 else 1.0
        self.frame_ms += a * (frame_s * 1000 - self.frame_ms)
        self.fps = 1000.0 / self.frame_ms if self.frame_ms > 0 else 0.0
        for name, ms in stage_ms.items():
            self.stage_ms[name] = self.stage_ms.get(name, ms) + a * (ms - self.stage_ms.get(name, ms))
