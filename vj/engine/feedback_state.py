"""What the engine carries from one frame into the next, as values (to save a render and continue it).

`FeedbackState` is the loop's own part: the frame index, the two latest images of the cadence,
the cadence counters, the colour anchor and the seed of the last diffused frame. `CarriedState`
adds the state each component exports (seeds, noise morph, prompt fade). The tensors are the
engine's own, not copies: serialise or copy them before the next frame (vj.engine.resume_state).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch

from vj.engine.colour import ColourStats
from vj.engine.conditioning.prompt_conditioner import PromptState
from vj.engine.conditioning.seeds import NoiseState, SeedState


@dataclass(frozen=True, slots=True)
class FeedbackState:
    index: int  # the next frame's
    turbo_prev: torch.Tensor | None  # the cadence's older image (None: no cross-fade)
    turbo_next: torch.Tensor | None  # the newest diffused image, warped since
    cadence_left: int
    block_cadence: int
    anchor: ColourStats | None
    last_seed: int

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
