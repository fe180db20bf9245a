"""What a backend needs to know about a prompt: a small frozen bundle of tensors.

SD 1.x/2.x need only the text encoder's token embeddings; SDXL adds a pooled embedding and
its size/crop "time ids". Prompt blending, slerp and fades work field by field, so a mix of
prompts or a fade is the same operation for every model family.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, fields

import torch

from vj.engine.conditioning.seeds import slerp


@dataclass(frozen=True, slots=True)
class Conditioning:
    """Encoded prompt: `embeddings` [B, tokens, dim]; SDXL's `pooled` [B, dim] and `time_ids` [B, 6]."""

    embeddings: torch.Tensor
    pooled: torch.Tensor | None = None
    time_ids: torch.Tensor | None = None

    @property
    def batch(self) -> int:
        return int(self.embeddings.shape[0])

    def map(self, fn: Callable[[torch.Tensor], torch.Tensor]) -> Conditioning:
        """`fn` applied to every field that is set."""
        return Conditioning(fn(self.embeddings), None if self.pooled is None else fn(self.pooled),
                            None if self.time_ids is None else fn(self.time_ids))

    def zip_with(self, other: Conditioning, fn: Callable[[torch.Tensor, torch.Tensor], torch.Tensor]) -> Conditioning:
        """`fn(mine, theirs)` field by field; both must set the same fields (same model family)."""
        for name, mine, theirs in zip(CONDITIONING_FIELDS, self._tensors(), other._tensors(), strict=True):
            if (mine is None) != (theirs is None):
                raise ValueError(f"conditionings of different model families: {name} is set in only one")

        def both(a: torch.Tensor | None, b: torch.Tensor | None) -> torch.Tensor | None:
            return None if a is None or b is None else fn(a, b)

        return Conditioning(fn(self.embeddings, other.embeddings), both(self.pooled, other.pooled),
                            both(self.time_ids, other.time_ids))

    def lerp(self, other: Conditioning, t: float) -> Conditioning:
        return self.zip_with(other, lambda a, b: torch.lerp(a, b, t))

    def slerp(self, other: Conditioning, t: float) -> Conditioning:
        return self.zip_with(other, lambda a, b: slerp(a, b, t))

    def lerp_into(self, out: Conditioning, other: Conditioning, t: float) -> Conditioning:
        """`lerp` written into `out`'s preallocated tensors (no allocation per frame); returns `out`."""
        for mine, theirs, dest in zip(self._tensors(), other._tensors(), out._tensors(), strict=True):
            if mine is not None and theirs is not None and dest is not None:
                torch.lerp(mine, theirs, t, out=dest)
        return out

    def copy_into(self, out: Conditioning) -> Conditioning:
        """This conditioning's values written into `out`'s tensors (same layout); returns `out`."""
        for mine, dest in zip(self._tensors(), out._tensors(), strict=True):
            if mine is not None and dest is not None:
                dest.copy_(mine)
        return out

    def empty_like(self) -> Conditioning:
        """Uninitialised tensors of the same shapes, dtypes and device (a fade's buffer)."""
        return self.map(torch.empty_like)

    def same_layout(self, other: Conditioning) -> bool:
        """Same fields, shapes, dtypes and devices: `other` can be written into this one's buffers."""
        return all((a is None and b is None) or (a is not None and b is not None and a.shape == b.shape
                                                  and a.dtype == b.dtype and a.device == b.device)
                   for a, b in zip(self._tensors(), other._tensors(), strict=True))

    def repeated(self, batch: int) -> Conditioning:
        """A batch-1 conditioning repeated to `batch` (contiguous, as compiled calls want it)."""
        return self.map(lambda t: t.expand(batch, *t.shape[1:]).contiguous())

    def cat(self, other: Conditioning) -> Conditioning:
        """Batch-concatenated [self; other] (full CFG's doubled batch)."""
        return self.zip_with(other, lambda a, b: torch.cat([a, b]))

    def _tensors(self) -> tuple[torch.Tensor | None, torch.Tensor | None, torch.Tensor | None]:
        return self.embeddings, self.pooled, self.time_ids


CONDITIONING_FIELDS = tuple(f.name for f in fields(Conditioning))


def weighted_sum(conditionings: Sequence[Conditioning], weights: Sequence[float]) -> Conditioning:
    """Σ wᵢ·cᵢ / Σ wᵢ, field by field."""
    if not conditionings:
        raise ValueError("weighted_sum needs at least one conditioning")
    total = sum(weights)
    if total <= 0:
        raise ValueError(f"prompt weights must sum to more than 0, found {list(weights)}")
    out = conditionings[0].map(lambda t: t * (weights[0] / total))
    for cond, w in zip(conditionings[1:], weights[1:], strict=True):
        out = out.zip_with(cond, lambda a, b, w=w: a + b * (w / total))  # type: ignore[misc]
    return out


def running_slerp(conditionings: Sequence[Conditioning], weights: Sequence[float]) -> Conditioning:
    """Successive slerps: after k prompts the accumulator holds their weight-proportional blend."""
    if not conditionings:
        raise ValueError("running_slerp needs at least one conditioning")
    if sum(weights) <= 0:
        raise ValueError(f"prompt weights must sum to more than 0, found {list(weights)}")
    out, acc = conditionings[0], weights[0]
    for cond, w in zip(conditionings[1:], weights[1:], strict=True):
        acc += w
        out = out.slerp(cond, w / acc)
    return out
