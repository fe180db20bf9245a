"""What the render loop asks of the coherence room, in one place: the similarity skip's measure and
decision, the latent blend and the feature bank around each diffusion, and a restart after a bad frame."""

from __future__ import annotations

import logging

import torch

from vj.engine.coherence.feature_bank import FeatureBank
from vj.engine.coherence.latent_blend import LatentBlend
from vj.engine.coherence.similarity_skip import SimilaritySkip
from vj.registry import FrameParams

log = logging.getLogger(__name__)


class CoherenceStage:
    def __init__(self, device: torch.device, bank: FeatureBank | None = None) -> None:
        self.skip = SimilaritySkip(device)
        self.blend = LatentBlend()
        self.bank = bank
        if bank is not None:  # the bank of a backend used before (a replay again) holds that engine's frames
            bank.clear()
        self._said_no_bank = False

    def similarity(self, picture: torch.Tensor | None, p: FrameParams, frame_index: int, *, has_input: bool,
                   reaches: bool, due: bool) -> tuple[torch.Tensor | None, bool]:
        """The measure to send with this frame (None without an input source: every frame of a show sends
        one or none, so the publish buffers keep their layout), and whether a diffusion that is `due` holds
        the last output instead. `reaches`: the input picture reaches the frame (video_mix, ControlNets)."""
        if not has_input:
            return None, False
        signal = self.skip.measure(picture)
        held = (due and reaches and picture is not None and p.similarity_skip > 0.0
                and self.skip.should_skip(p.similarity_skip, p.similarity_skip_max, frame_index))
        return signal, held

    def start(self, latents: torch.Tensor, p: FrameParams) -> torch.Tensor:
        """Before the UNet runs: the blended start latent; the bank's slot, frames and strength set."""
        if self.bank is not None:
            self.bank.begin_frame(int(latents.shape[-2]), int(latents.shape[-1]), p.bank_strength, p.bank_frames)
        elif p.bank_strength > 0.0 and not self._said_no_bank:
            self._said_no_bank = True
            log.warning("bank_strength %.2f changes nothing: this show has no feature bank (set bank_strength "
                        "in the preset's [params], even to 0, to load it)", p.bank_strength)
        return self.blend.start(latents, p.latent_blend)

    def restart(self) -> None:
        """The feedback restarts from the last good frame: forget what was made from the bad one."""
        self.skip.reset()
        self.blend.clear()
        if self.bank is not None:
            self.bank.clear()
