"""The input stage: an outside picture (`--input`, an init image) brought into the init image.

Three things come from outside the feedback loop, all optional:

- a live or clip picture (`InputFrames`), mixed into the prepared init image by the
  `video_mix` parameter (0 = pure feedback, 1 = pure input: Deforum's Video Input mode,
  where each frame is img2img of the video frame);
- an init image: the very first frame is img2img of it, at its own strength (Deforum's
  `init_image` / `strength`), instead of text-to-image;
- a colour anchor: colour coherence can match toward the input picture (refreshed on
  every diffused frame) or toward a fixed image, instead of the first generated frame.

The input picture is the one extra per-frame copy an input costs: host → device through a
pinned buffer with `non_blocking`, then resized and centre-cropped to the render size on
the device (aspect kept). A picture the source already gave is not uploaded again.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from enum import StrEnum

import numpy as np
import torch
import torch.nn.functional as F

from vj.choices import ColourSpace
from vj.engine.colour import ColourStats, colour_stats
from vj.frames import InputFrames
from vj.store import ParamSnapshot


class ColourAnchor(StrEnum):
    """What colour coherence matches toward."""

    FRAME = "frame"  # the first generated frame (Deforum's default)
    INPUT = "input"  # the input picture of each diffused frame (Deforum's "Video Input" coherence)
    IMAGE = "image"  # a fixed image (Deforum's "Image" coherence)


COLOUR_ANCHORS = tuple(a.value for a in ColourAnchor)


@dataclass(frozen=True, slots=True)
class EngineInputs:
    """What the session hands the engine from outside the loop (images RGB uint8 HxWx3)."""

    frames: InputFrames | None = None
    init_image: np.ndarray | None = None
    init_strength: float = 0.8  # Deforum's `strength` of the init image: fraction of it kept
    colour_anchor: ColourAnchor = ColourAnchor.FRAME
    anchor_image: np.ndarray | None = None

    def __post_init__(self) -> None:
        if not 0.0 <= self.init_strength <= 1.0:
            raise ValueError(f"init image strength: expected 0..1, found {self.init_strength}")
        if self.colour_anchor is ColourAnchor.IMAGE and self.anchor_image is None:
            raise ValueError("colour anchor 'image' needs an anchor image")


def fit_to(image: torch.Tensor, width: int, height: int) -> torch.Tensor:
    """Scale NCHW `image` to cover width x height (aspect kept), then crop the centre."""
    h, w = image.shape[-2:]
    if (w, h) == (width, height):
        return image
    scale = max(width / w, height / h)
    new_w, new_h = max(width, round(w * scale)), max(height, round(h * scale))
    scaled = F.interpolate(image, size=(new_h, new_w), mode="bilinear", align_corners=False, antialias=True)
    top, left = (new_h - height) // 2, (new_w - width) // 2
    return scaled[..., top:top + height, left:left + width]


class _Uploader:
    """numpy HWC uint8 → device NCHW float in [0, 1], through a pinned buffer on CUDA."""

    def __init__(self, device: torch.device) -> None:
        self.device = device
        self._pinned: torch.Tensor | None = None
        self._copied: torch.cuda.Event | None = None
        self.uploads = 0

    def __call__(self, pixels: np.ndarray) -> torch.Tensor:
        if pixels.dtype != np.uint8 or pixels.ndim != 3 or pixels.shape[2] != 3:
            raise ValueError(f"input picture: expected RGB uint8 HxWx3, found {pixels.dtype} {pixels.shape}")
        self.uploads += 1
        host = torch.from_numpy(np.ascontiguousarray(pixels))
        if self.device.type != "cuda":
            return host.to(self.device).permute(2, 0, 1).unsqueeze(0).float().div_(255.0)
        if self._pinned is None or self._pinned.shape != host.shape:
            self._pinned = torch.empty(host.shape, dtype=torch.uint8, pin_memory=True)
            self._copied = None
        elif self._copied is not None:
            self._copied.synchronize()  # the last copy out of this buffer was queued a frame ago: long done
        self._pinned.copy_(host)
        on_device = self._pinned.to(self.device, non_blocking=True)
        self._copied = torch.cuda.Event()
        self._copied.record()
        return on_device.permute(2, 0, 1).unsqueeze(0).float().div_(255.0)


class InputStage:
    """Brings the outside pictures into each diffused frame (a no-op without any)."""

    def __init__(self, inputs: EngineInputs | None, device: torch.device) -> None:
        self.inputs = inputs or EngineInputs()
        self._upload = _Uploader(device)
        self._last_pixels: np.ndarray | None = None
        self._picture: torch.Tensor | None = None
        self._fixed: dict[tuple[str, int, int], torch.Tensor] = {}
        self._fixed_anchor: ColourStats | None = None

    @property
    def uploads(self) -> int:
        return self._upload.uploads

    def picture(self, snap: ParamSnapshot, width: int, height: int) -> torch.Tensor | None:
        """This frame's input picture at the render size, or None (no input, or none yet)."""
        frames = self.inputs.frames
        if frames is None:
            return None
        pixels = frames.frame_for(snap.frame_index, snap.time_s)
        if pixels is None:
            return self._picture_at(width, height)
        if pixels is not self._last_pixels:
            self._last_pixels = pixels
            self._picture = fit_to(self._upload(pixels), width, height)
        return self._picture_at(width, height)

    @property
    def last_picture(self) -> torch.Tensor | None:
        """The input picture of the last diffused frame (None: no input, or none yet)."""
        return self._picture

    def _picture_at(self, width: int, height: int) -> torch.Tensor | None:
        picture = self._picture
        if picture is not None and tuple(picture.shape[-2:]) != (height, width):  # the size changed live
            picture = self._picture = fit_to(picture, width, height)
        return picture

    def _image(self, which: str, pixels: np.ndarray, width: int, height: int) -> torch.Tensor:
        """A fixed image (init, anchor) at the render size, uploaded once per size."""
        key = (which, width, height)
        found = self._fixed.get(key)
        if found is None:
            found = self._fixed[key] = fit_to(self._upload(pixels), width, height)
        return found

    def anchor(self, current: ColourStats | None, picture: torch.Tensor | None,
               space: ColourSpace, width: int, height: int) -> ColourStats | None:
        """The colour anchor for this frame's coherence (unchanged for the `frame` policy)."""
        policy = self.inputs.colour_anchor
        if space is ColourSpace.NONE or policy is ColourAnchor.FRAME:
            return current
        if policy is ColourAnchor.INPUT:
            return colour_stats(picture, space) if picture is not None else current
        if self._fixed_anchor is None or self._fixed_anchor.space != space:
            assert self.inputs.anchor_image is not None  # EngineInputs checks it
            self._fixed_anchor = colour_stats(self._image("anchor", self.inputs.anchor_image, width, height), space)
        return self._fixed_anchor

    def init(self, init: torch.Tensor | None, picture: torch.Tensor | None, snap: ParamSnapshot, *,
             first: bool, width: int, height: int) -> tuple[torch.Tensor | None, ParamSnapshot]:
        """The init image to diffuse, and the snapshot to diffuse it with.

        On the first frame an init image replaces text-to-image, at its own strength. Then the
        input picture is mixed in by `video_mix`; at 0 the init is left exactly as it was.
        """
        if first and self.inputs.init_image is not None:
            init = self._image("init", self.inputs.init_image, width, height)
            snap = replace(snap, values={**snap.values, "strength": self.inputs.init_strength})
        mix = snap.params.video_mix
        if picture is None or mix <= 0.0:
            return init, snap
        if init is None or mix >= 1.0:
            return picture, snap
        return torch.lerp(init, picture, mix), snap
