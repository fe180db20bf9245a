"""The show-wide output size made on the device, before the one copy out (vj.engine.publish).

A show renders at the size the model takes (512x512, 768x448) and the screen wants another
(1920x1080). `OutputGeometry` resizes each published frame on the device, so the one copy to
the host is already the screen's size: one pinned buffer of that size, double-buffered, and no
host sync (every size here is a Python int known before the frame runs). How the aspect is kept
(`Fit`) and the interpolation (`Resample`) are in vj.output_size; an `Upscaler` (a
super-resolution network, vj.engine.upscaler) may run first, then the interpolation from its size
to the screen's. `fit_picture` (vj.picture_fit) also runs on the host, for a per-output size.
"""

from __future__ import annotations

from typing import Protocol

import torch

from vj.output_size import GeometrySpec, Resample
from vj.picture_fit import fit_picture


class PictureModel(Protocol):
    """A super-resolution network: [1, 3, H, W] in [0, 1] -> [1, 3, H*scale, W*scale]."""

    scale: int

    def __call__(self, image: torch.Tensor) -> torch.Tensor: ...


class OutputGeometry:
    """The device stage between a frame and its copy out: the render's picture at the output size.

    `apply` takes the [1, 3, H, W] frame in [0, 1] and returns it at `size`; the depth channel an
    output shows gets the same geometry (`apply_depth`), so a matte stays on its picture.
    """

    def __init__(self, spec: GeometrySpec, upscaler: PictureModel | None = None) -> None:
        self.spec = spec
        self.size = spec.size
        self.upscaler = upscaler

    def apply(self, image: torch.Tensor) -> torch.Tensor:
        if self.upscaler is not None:
            height, width = int(image.shape[2]), int(image.shape[3])
            scale = self.upscaler.scale
            dw, dh = self.size
            if scale > 1 and (width < dw or height < dh):  # only when the screen is larger than the render
                image = self.upscaler(image)
                if tuple(image.shape[2:]) != (height * scale, width * scale):
                    raise RuntimeError(f"the upscaler made {tuple(image.shape)} of {width}x{height}; "
                                       f"expected x{scale}")
        return fit_picture(image, self.size, self.spec.fit, self.spec.resample)

    def apply_depth(self, depth: torch.Tensor) -> torch.Tensor:
        """A uint8 [H, W] depth channel at the output size (bilinear, rounded back to uint8)."""
        grey = depth.to(torch.float32)[None, None]
        resample = Resample.BILINEAR if self.spec.resample is not Resample.NEAREST else Resample.NEAREST
        fitted = fit_picture(grey, self.size, self.spec.fit, resample)
        return fitted[0, 0].round().clamp(0, 255).to(torch.uint8)


def build_output_geometry(spec: GeometrySpec, device: torch.device, dtype: torch.dtype = torch.float32
                          ) -> OutputGeometry:
    """The device stage for `spec`, with its upscaler loaded (spandrel) when one is named."""
    upscaler = None
    if spec.upscaler is not None:
        from vj.engine.upscaler import load_upscaler

        upscaler = load_upscaler(spec.upscaler, device, dtype)
    return OutputGeometry(spec, upscaler)
