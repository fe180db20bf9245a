"""Similarity skip: when the input picture barely changed, hold the last output instead of diffusing.

StreamDiffusion's stochastic similarity filter, for a loop that never waits on the device. Each
frame with an input picture measures, on the device, the cosine similarity between that picture
and the last one a diffusion was run on (the reference). The measure rides to the host inside the
frame's one publish copy (`FramePublisher`'s signal), so the host learns it when that frame is
handed out: after the frame itself unpipelined (CPU), one frame later pipelined (GPU). The
decision for a frame is then taken from the newest similarity already known, a frame or two old:

    p(skip) = max(0, 1 - (1 - similarity) / (1 - similarity_skip))

drawn against a uniform number hashed from the frame index (a replay of the same pictures skips
the same frames), with at most `similarity_skip_max` frames skipped in a row.

The trade-off, against selecting the held output with `torch.where` on the device: that keeps the
decision exact to the frame but still runs the whole diffusion, so it saves no device time, which
is what the filter is for. Deciding from a similarity one or two frames old saves the diffusion;
what it costs is that when the camera starts to move, one or two frames more are held before the
loop diffuses again (the first measured change stops the skipping).

"Input" is the outside picture (camera, clip, NDI), and only while it reaches the frame (video_mix
above 0, or ControlNets that see it). In pure feedback nothing is skipped: the picture there is the
model's own output, and a still feedback picture is exactly when diffusion is what moves it.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

_COMPARE = 64  # pictures are compared as 64x64 means: cheap, and the same whatever the render size
_HASH_MULT = 0x9E3779B97F4A7C15
_MASK = (1 << 64) - 1


def uniform_for(frame_index: int) -> float:
    """A number in [0, 1) fixed by the frame index (splitmix64): the skip's reproducible draw."""
    z = (frame_index * _HASH_MULT + _HASH_MULT) & _MASK
    z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & _MASK
    z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & _MASK
    z ^= z >> 31
    return (z >> 11) / float(1 << 53)


def skip_probability(similarity: float, threshold: float) -> float:
    """StreamDiffusion's rule: 0 at or below the threshold, rising to 1 at identical pictures."""
    if threshold <= 0.0 or threshold >= 1.0 or similarity != similarity:  # off, or a NaN measure
        return 0.0
    return max(0.0, 1.0 - (1.0 - similarity) / (1.0 - threshold))


class SimilaritySkip:
    """The device-side measure and the host-side decision of the similarity skip."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._reference: torch.Tensor | None = None  # [3·64·64], centred: the last diffused input
        self._unknown = torch.full((1,), float("nan"), device=device)  # sent while nothing can be measured
        self._known: float | None = None  # the newest similarity read back
        self.in_a_row = 0
        self.skipped = 0

    @staticmethod
    def _flat(picture: torch.Tensor) -> torch.Tensor:
        pooled = F.adaptive_avg_pool2d(picture.float(), (_COMPARE, _COMPARE))
        return (pooled * 2.0 - 1.0).reshape(-1)  # centred: a cosine of [0, 1] pictures is always near 1

    def measure(self, picture: torch.Tensor | None) -> torch.Tensor:
        """The similarity of `picture` to the reference, on the device (NaN when there is nothing to compare)."""
        if picture is None or self._reference is None:
            return self._unknown
        return F.cosine_similarity(self._flat(picture), self._reference, dim=0).reshape(1)

    def diffused(self, picture: torch.Tensor | None) -> None:
        """A diffusion ran on `picture`: it becomes the reference the next pictures are compared with."""
        self.in_a_row = 0
        if picture is None:
            return
        flat = self._flat(picture)
        if self._reference is None:
            self._reference = flat.clone()
        else:
            self._reference.copy_(flat)

    def observe(self, similarity: float | None) -> None:
        """A frame's similarity arrived with its pixels (None or NaN: it carried no measure)."""
        if similarity is not None and similarity == similarity:
            self._known = similarity

    def should_skip(self, threshold: float, max_in_a_row: int, frame_index: int) -> bool:
        """Whether this frame holds the last output; counts it when it does."""
        if self._known is None or self._reference is None or self.in_a_row >= max_in_a_row:
            return False
        if uniform_for(frame_index) >= skip_probability(self._known, threshold):
            return False
        self.in_a_row += 1
        self.skipped += 1
        return True

    def reset(self) -> None:
        """Forget the reference and the measure (a feedback restart): the next frame diffuses."""
        self._reference = None
        self._known = None
        self.in_a_row = 0
