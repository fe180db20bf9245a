"""Live ControlNet scales: the frame's `controlnet_<i>_scale` values for the units the show loaded.

As with the LoRA slots, the control side does not know how many units the preset carries,
so a write for an empty slot passes the store and is ignored here, with one log line per
slot. The scales are Python floats the residuals are multiplied by (`ControlNets.set_frame`):
nothing is copied to the device and nothing recompiles when they change.
"""

from __future__ import annotations

import logging

from vj.registry import MAX_CONTROLNETS, FrameParams, controlnet_scale_name

log = logging.getLogger(__name__)


class ControlNetScales:
    """Picks the loaded units' scales out of the frame's parameters; warns once per empty slot written."""

    def __init__(self, loaded: int) -> None:
        if not 0 <= loaded <= MAX_CONTROLNETS:
            raise ValueError(f"expected 0..{MAX_CONTROLNETS} ControlNet units, got {loaded}")
        self.loaded = loaded
        self._last: tuple[float, ...] | None = None  # None: the first frame, whose base values are no write
        self._warned: set[int] = set()

    def scales(self, params: FrameParams) -> tuple[float, ...]:
        """Call once per frame: the scales of units 0..loaded-1, in order."""
        wanted = params.controlnet_scales()
        if wanted != self._last:  # the common case is one tuple compare
            before = self._last
            self._last = wanted
            for index in range(self.loaded, MAX_CONTROLNETS):
                if before is not None and wanted[index] != before[index] and index not in self._warned:
                    self._warned.add(index)
                    # no value: a smoothed parameter would show where its glide is, not what was written
                    log.warning("%s ignored: the preset carries %d ControlNet unit(s)%s",
                                controlnet_scale_name(index), self.loaded,
                                f" (slots 0..{self.loaded - 1})" if self.loaded else "")
        return wanted[:self.loaded]
