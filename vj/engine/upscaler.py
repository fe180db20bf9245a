"""A super-resolution network for the output geometry, loaded with spandrel from a local weights file.

spandrel (the optional extra `vj[upscale]`) recognises the architecture of an upscaling
checkpoint (ESRGAN, Real-ESRGAN compact, SwinIR, ...) from its weights and builds the model;
vj never downloads one. The network runs on the render's device, in the render's dtype where
the architecture supports it, between the frame and the plain resample to the screen's size.
"""

from __future__ import annotations

import logging
from pathlib import Path

import torch

from vj.errors import VjError

log = logging.getLogger(__name__)

SPANDREL_MISSING = "--upscaler needs spandrel, which is not installed: pip install 'vj[upscale]'"


class Upscaler:
    """A [1, 3, H, W] -> [1, 3, H*scale, W*scale] network in [0, 1], run without autograd."""

    def __init__(self, model: torch.nn.Module, scale: int, name: str = "upscaler") -> None:
        if scale < 1:
            raise ValueError(f"an upscaler's scale must be >= 1, found {scale}")
        self.model = model.eval()
        self.scale = int(scale)
        self.name = name
        self._dtype = next((p.dtype for p in model.parameters()), torch.float32)

    def __call__(self, image: torch.Tensor) -> torch.Tensor:
        with torch.inference_mode():
            return self.model(image.to(self._dtype)).to(image.dtype).clamp(0.0, 1.0)


def check_upscaler_file(path: str) -> Path:
    """Before anything loads: the file is there, and spandrel can be imported."""
    file = Path(path)
    if not file.is_file():
        raise VjError(f"--upscaler: {path!r} is not a file (expected a local super-resolution weights file, "
                      ".pth or .safetensors)")
    try:
        import spandrel  # noqa: F401
    except ImportError as err:
        raise VjError(f"{SPANDREL_MISSING} ({err})") from None
    return file


def load_upscaler(path: str, device: torch.device, dtype: torch.dtype = torch.float32) -> Upscaler:
    """The network in `path`, on `device`; a file spandrel does not know, or not an image model, is refused."""
    file = check_upscaler_file(path)
    import spandrel

    try:
        descriptor = spandrel.ModelLoader(device=device).load_from_file(str(file))
    except Exception as err:  # spandrel's own errors for an unknown architecture or a broken file
        raise VjError(f"--upscaler: spandrel cannot load {path!r}: {type(err).__name__}: {err}") from None
    if not isinstance(descriptor, spandrel.ImageModelDescriptor):
        raise VjError(f"--upscaler: {path!r} is a {type(descriptor).__name__}, not an image upscaler")
    if dtype == torch.float16 and descriptor.supports_half:
        descriptor.model.half()
    elif dtype == torch.bfloat16 and descriptor.supports_bfloat16:
        descriptor.model.bfloat16()
    log.info("upscaler %s x%d from %s", descriptor.architecture.name, descriptor.scale, file.name)
    return Upscaler(descriptor.model.to(device), descriptor.scale, descriptor.architecture.name)
