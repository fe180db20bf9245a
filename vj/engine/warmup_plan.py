"""Which variants a show warms up before its first frame: sizes × UNet batches × step counts.

Under `torch.compile` with CUDA graphs every new shape compiles and captures; under AOT it
builds a package; under TensorRT it needs an engine. None of that may happen mid-show, so
every shape the show may use runs once before it: every render size it may switch to, the
UNet batches its guidance mode uses (vj.engine.conditioning.guidance.unet_batches), and its step counts.
"""

from __future__ import annotations

from collections.abc import Iterable

from vj.engine.backends.base import Variant
from vj.engine.conditioning.guidance import unet_batches


def plan_variants(sizes: Iterable[tuple[int, int]], steps: Iterable[int], *, cfg: str,
                  embeds_guidance: bool) -> tuple[Variant, ...]:
    """Every (width, height) × batch × steps, each once, in a stable order."""
    step_counts = sorted(set(steps))
    if not step_counts or min(step_counts) < 1:
        raise ValueError(f"warm-up needs step counts of 1 or more, found {step_counts}")
    return tuple(sorted({Variant(w, h, batch, n) for w, h in set(sizes)
                         for batch in unet_batches(cfg, embeds_guidance=embeds_guidance) for n in step_counts}))
