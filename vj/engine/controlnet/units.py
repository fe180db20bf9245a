"""ControlNet: extra UNet residuals computed from a conditioning picture each frame.

Each unit is a diffusers `ControlNetModel` with a kind of picture (`canny` edges, `depth`
nearness, the `input` picture, the `feedback` of the previous frame) and a scale. The
engine sets the frame's pictures (`ControlNets.set_frame`) once per diffused frame; the
backend's `predict_noise` asks for the summed residuals at every UNet call. The models run
at conditioning scale 1 and each unit's weight (its live scale, controlnet_<i>_scale, times
the master gain, controlnet_scale) multiplies its residuals outside the model as a Python
float, so a live scale change never recompiles a compiled model and reads nothing back from
the device. Everything stays on the device.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import torch
import torch.nn.functional as F

from vj.choices import ControlKind
from vj.engine.warp.depth_estimator import DepthEstimator

# Luma weights (Rec. 601) for the edge detector's grey picture.
_LUMA = (0.299, 0.587, 0.114)
CANNY_THRESHOLD = 0.2  # of the frame's strongest gradient: weaker gradients are not edges

Residuals = tuple[tuple[torch.Tensor, ...], torch.Tensor]


class _SobelKernels:
    """The Sobel and luma kernels, made once per device and dtype (no host→device copy per frame)."""

    def __init__(self) -> None:
        self._cache: dict[tuple[torch.device, torch.dtype], tuple[torch.Tensor, torch.Tensor]] = {}

    def get(self, device: torch.device, dtype: torch.dtype) -> tuple[torch.Tensor, torch.Tensor]:
        key = (device, dtype)
        if key not in self._cache:
            gx = torch.tensor([[-1.0, 0.0, 1.0], [-2.0, 0.0, 2.0], [-1.0, 0.0, 1.0]])
            sobel = torch.stack([gx, gx.T])[:, None]  # [2, 1, 3, 3]: d/dx, d/dy
            luma = torch.tensor(_LUMA).view(1, 3, 1, 1)
            self._cache[key] = (sobel.to(device=device, dtype=dtype), luma.to(device=device, dtype=dtype))
        return self._cache[key]


_KERNELS = _SobelKernels()


def canny_edges(image: torch.Tensor, threshold: float = CANNY_THRESHOLD) -> torch.Tensor:
    """RGB [1, 3, H, W] in [0, 1] → white edges on black, [1, 3, H, W].

    A light Canny: Sobel gradient magnitude of the grey picture, relative to the frame's
    strongest gradient (a device reduction, no host read), thresholded. The border is
    replicated, so a flat picture has no edges at its sides.
    """
    sobel, luma = _KERNELS.get(image.device, image.dtype)
    grey = (image * luma).sum(dim=1, keepdim=True)
    grad = F.conv2d(F.pad(grey, (1, 1, 1, 1), mode="replicate"), sobel)
    magnitude = grad.square().sum(dim=1, keepdim=True).sqrt()
    strongest = magnitude.amax(dim=(-2, -1), keepdim=True).clamp_min(1e-6)
    edges = (magnitude > strongest * threshold).to(image.dtype)
    return edges.expand(-1, 3, -1, -1)


class ControlNetResiduals(torch.nn.Module):
    """A ControlNet's residuals at conditioning scale 1 (the scale is applied outside)."""

    def __init__(self, controlnet: Any, added_names: tuple[str, ...] = ()) -> None:
        """`added_names`: the model family's extra UNet inputs, which its ControlNets take too."""
        super().__init__()
        self.controlnet = controlnet
        self.added_names = added_names
        # An LCM UNet's guidance embedding reaches the ControlNet only if it was made to take it.
        self.takes_time_cond = controlnet.config.get("time_cond_proj_dim") is not None

    def forward(self, sample: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor, hint: torch.Tensor,
                added_inputs: tuple[torch.Tensor, ...] = (),
                timestep_cond: torch.Tensor | None = None) -> tuple[torch.Tensor, ...]:
        added = dict(zip(self.added_names, added_inputs, strict=True)) if self.added_names else None
        down, mid = self.controlnet(sample, timestep, encoder_hidden_states=context, controlnet_cond=hint,
                                    conditioning_scale=1.0,
                                    timestep_cond=timestep_cond if self.takes_time_cond else None,
                                    added_cond_kwargs=added, return_dict=False)
        return (*down, mid)


@dataclass
class ControlUnit:
    kind: ControlKind
    scale: float
    call: Any  # ControlNetResiduals, eager or compiled


class ControlNets:
    """The loaded units and this frame's conditioning pictures."""

    def __init__(self, units: Sequence[ControlUnit], device: torch.device) -> None:
        if not units:
            raise ValueError("ControlNets needs at least one unit")
        self.units = tuple(units)
        self.device = device
        self._hints: tuple[torch.Tensor, ...] | None = None
        self._weights = tuple(unit.scale for unit in self.units)
        self._blank: torch.Tensor | None = None
        self._zeros: dict[tuple[tuple[int, ...], torch.dtype], tuple[torch.Tensor, ...]] = {}
        self.depth: DepthEstimator | None = None  # its own estimator: the 3D warp's blends other frames

    @property
    def kinds(self) -> tuple[ControlKind, ...]:
        return tuple(unit.kind for unit in self.units)

    def blank(self, width: int, height: int, dtype: torch.dtype = torch.float32) -> torch.Tensor:
        """A black picture (before the first frame has one), made once per size."""
        if self._blank is None or tuple(self._blank.shape[-2:]) != (height, width) or self._blank.dtype != dtype:
            self._blank = torch.zeros(1, 3, height, width, device=self.device, dtype=dtype)
        return self._blank

    @property
    def weights(self) -> tuple[float, ...]:
        """What each unit's residuals are multiplied by this frame (its scale times the gain)."""
        return self._weights

    def set_frame(self, hints: Sequence[torch.Tensor], gain: float = 1.0,
                  scales: Sequence[float] | None = None) -> None:
        """This frame's pictures ([1, 3, H, W] in [0, 1], one per unit), the master gain, and each unit's
        scale (the live controlnet_<i>_scale values; None: the units' configured scales)."""
        if len(hints) != len(self.units):
            raise ValueError(f"expected {len(self.units)} ControlNet pictures, got {len(hints)}")
        self._weights = self._weights_of(gain, scales)
        self._hints = tuple(hints)

    def prepare_frame(self, *, picture: torch.Tensor | None, previous: torch.Tensor | None,
                      init: torch.Tensor | None, width: int, height: int, gain: float = 1.0,
                      scales: Sequence[float] | None = None) -> None:
        """The frame's weights, then the pictures of the units that run: one at weight 0 is skipped
        (no edge or depth picture, no forward), so fading a ControlNet out saves its cost too."""
        weights = self._weights_of(gain, scales)
        self._hints = tuple(self.pictures(picture=picture, previous=previous, init=init, width=width,
                                          height=height, active=[weight != 0.0 for weight in weights]))
        self._weights = weights

    def _weights_of(self, gain: float, scales: Sequence[float] | None) -> tuple[float, ...]:
        if scales is None:
            scales = [unit.scale for unit in self.units]
        elif len(scales) != len(self.units):
            raise ValueError(f"expected {len(self.units)} ControlNet scales, got {len(scales)}")
        return tuple(float(scale) * gain for scale in scales)

    def residuals(self, sample: torch.Tensor, timestep: torch.Tensor, context: torch.Tensor,
                  added: tuple[torch.Tensor, ...] = (), timestep_cond: torch.Tensor | None = None) -> Residuals:
        """Every unit's residuals, scaled and summed; a unit at weight 0 does not run.

        With every unit at 0 the UNet still gets residuals, zeros of the shapes this sample
        gives, so a compiled UNet keeps its graph (one without residuals would be another).
        """
        if self._hints is None:
            raise RuntimeError("ControlNet residuals asked for before the frame's pictures were set")
        total: list[torch.Tensor] | None = None
        key = (tuple(sample.shape), sample.dtype)
        for unit, hint, weight in zip(self.units, self._hints, self._weights, strict=True):
            if weight == 0.0 and (total is not None or key in self._zeros):
                continue
            hint = hint.to(sample.dtype).expand(sample.shape[0], -1, -1, -1)
            outs = unit.call(sample, timestep, context, hint, added, timestep_cond=timestep_cond)
            if key not in self._zeros:
                self._zeros[key] = tuple(torch.zeros_like(out) for out in outs)
            # weight is a Python float applied outside the (maybe compiled) model: no recompile when it changes
            scaled = [out * weight for out in outs]
            total = scaled if total is None else [a + b for a, b in zip(total, scaled, strict=True)]
        if total is None:  # every unit at 0, this shape seen before
            total = list(self._zeros[key])
        return tuple(total[:-1]), total[-1]

    def pictures(self, *, picture: torch.Tensor | None, previous: torch.Tensor | None,
                 init: torch.Tensor | None, width: int, height: int,
                 active: Sequence[bool] | None = None) -> list[torch.Tensor]:
        """Each unit's conditioning picture for this frame, made on the device.

        `picture`: the input picture; `previous`: the previous frame, warped as the init is;
        `init`: what is diffused. Edges and depth are of the input picture when there is one,
        else of the previous frame (or the init image on the first frame). With nothing to
        show yet (the first text-to-image frame), a unit sees black; so does one `active` leaves out.
        """
        source = next((x for x in (picture, previous, init) if x is not None), None)
        out = []
        for index, kind in enumerate(self.kinds):
            found = {ControlKind.INPUT: picture, ControlKind.FEEDBACK: previous}.get(kind, source)
            if found is None or (active is not None and not active[index]):
                out.append(self.blank(width, height))
            elif kind is ControlKind.CANNY:
                out.append(canny_edges(found.float()))
            elif kind is ControlKind.DEPTH:
                if self.depth is None:
                    raise RuntimeError("a depth ControlNet runs without a depth estimator")
                out.append(self.depth.nearness(found).expand(-1, 3, -1, -1))
            else:
                out.append(found)
        return out
