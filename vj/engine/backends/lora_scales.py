"""Live LoRA scales: the frame's `lora_<i>_scale` values reach the backend at a frame boundary.

The control side does not know how many LoRAs the model carries, so a write for an empty
slot passes the store and is ignored here, with one log line per slot. A backend that
cannot change a scale (compile = "aot" bakes the fused weights in) refuses once: the
refusal is logged, kept for the status line, and not retried every frame.
"""

from __future__ import annotations

import logging
from typing import Any

from vj.registry import MAX_LORAS, FrameParams, lora_scale_name

log = logging.getLogger(__name__)


class LoraScaleApplier:
    """Compares the frame's LoRA scales with what the backend holds; re-fuses only on a change."""

    def __init__(self, backend: Any) -> None:
        self.backend = backend
        loras = getattr(backend, "loras", None)
        held = list(loras.scales) if loras is not None else []
        self.loaded = len(held)
        # What was last applied (or decided on) per slot; None: nothing yet, take the frame's value.
        self._applied: list[float | None] = [*held, *[None] * (MAX_LORAS - len(held))][:MAX_LORAS]
        self._last: tuple[float, ...] | None = None
        self._warned: set[int] = set()
        self.refusal = ""  # the status line shows it

    def apply(self, params: FrameParams) -> None:
        """Call at a frame boundary, before anything of the frame runs on the backend."""
        wanted = params.lora_scales()
        if wanted == self._last:  # the common case: one tuple compare, nothing on the device
            return
        self._last = wanted
        for index, scale in enumerate(wanted):
            before = self._applied[index]
            if before == scale:
                continue
            self._applied[index] = scale
            if index >= self.loaded:
                if before is not None and index not in self._warned:  # the first frame's base value is no write
                    self._warned.add(index)
                    log.warning("%s = %g ignored: the model carries %d LoRA(s) (slots 0..%d)",
                                lora_scale_name(index), scale, self.loaded, self.loaded - 1)
                continue
            try:
                self.backend.set_lora_scale(index, scale)
            except ValueError as err:  # aot, or a backend without live scales: refuse once, keep showing it
                if not self.refusal:
                    log.warning("LoRA scale change refused: %s", err)
                self.refusal = f"lora scale refused ({err})"
            else:
                log.info("LoRA %d scale %g (re-fused)", index, scale)
