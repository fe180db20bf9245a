"""What the engine carries from one frame into the next, as values (to save a render and continue it).

`FeedbackState` is the loop's own part: the frame index, the two latest images of the cadence,
the cadence counters, the colour anchor and the seed of the last diffused frame. The engine keeps
one and updates it in place each frame (`Engine.feedback`); `CarriedState` holds a copy of it
plus the state each component exports (seeds, noise morph, prompt fade). The tensors are the
engine's own, not copies: serialise or copy them before the next frame (vj.engine.resume_state).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F

from vj.engine.colour import ColourStats
from vj.engine.conditioning.prompt_conditioner import PromptState
from vj.engine.conditioning.seeds import NoiseState, SeedState


@dataclass(slots=True)
class FeedbackState:
    index: int = 0  # the next frame's
    turbo_prev: torch.Tensor | None = None  # the cadence's older image (None: no cross-fade)
    turbo_next: torch.Tensor | None = None  # the newest diffused image, warped since
    cadence_left: int = 0  # frames until the next diffusion (0: the next frame diffuses)
    block_cadence: int = 1  # the cadence the current block runs at
    anchor: ColourStats | None = None  # colour coherence's target
    last_seed: int = 0  # of the last diffused frame (the cadence's in-between frames keep it)

    def resize(self, height: int, width: int) -> None:
        """The fed-back images at a new frame size (a preset switch), bilinear."""
        if self.turbo_prev is not None:
            self.turbo_prev = _resized(self.turbo_prev, height, width)
        if self.turbo_next is not None:
            self.turbo_next = _resized(self.turbo_next, height, width)

    def on(self, device: torch.device) -> FeedbackState:
        """The same state with its tensors on `device`."""
        anchor = self.anchor
        return FeedbackState(
            self.index, _on(self.turbo_prev, device), _on(self.turbo_next, device), self.cadence_left,
            self.block_cadence,
            None if anchor is None else ColourStats(anchor.space, anchor.mean.to(device), anchor.std.to(device)),
            self.last_seed)


@dataclass(frozen=True, slots=True)
class CarriedState:
    feedback: FeedbackState
    seeds: SeedState
    noise: NoiseState
    prompts: PromptState


def _on(t: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    return None if t is None else t.to(device)


def _resized(image: torch.Tensor, height: int, width: int) -> torch.Tensor:
    return F.interpolate(image, size=(height, width), mode="bilinear", align_corners=False)
