"""SDXL's full-size architecture on the `meta` device in float16: the backend's prompt encoding,
noise prediction, encode and decode run with no device or dtype mismatch and no host read.

Nothing is allocated (meta tensors have no data), so this checks at full size what the tiny
model cannot: SDXL's widths (2048-wide context, 1280 pooled, 2816 added-embedding input), the
fp16 UNet beside the float32 VAE that `force_upcast` asks for, and time ids made on the device.
"""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.contract.engine_run import SIZE, start, steady_frame
from tests.contract.meta_models import controlnet_of, sdxl_pipeline
from vj.config import ControlNetConfig
from vj.engine.backends.controlnet_load import load_controlnets
from vj.engine.backends.diffusers import DiffusersBackend


@pytest.fixture(scope="module")
def sdxl() -> Any:
    return sdxl_pipeline()


def sdxl_backend(pipe: Any) -> DiffusersBackend:
    return DiffusersBackend(pipe, name="sdxl-architecture", device=torch.device("meta"), dtype=torch.float16)


@pytest.mark.timeout(600)
def test_sdxl_full_size_runs_on_meta_in_float16(sdxl) -> None:  # noqa: ANN001
    backend = sdxl_backend(sdxl)
    assert backend.family.name == "xl" and backend.vae_dtype == torch.float32  # force_upcast honoured for an XL model
    assert sum(p.numel() for p in backend.unet.parameters()) > 2.5e9
    cond = backend.encode_prompt("a neon tunnel")
    assert cond.embeddings.shape == (1, 77, 2048) and cond.embeddings.dtype == torch.float16
    assert cond.pooled is not None and cond.pooled.shape == (1, 1280) and cond.pooled.device.type == "meta"
    image = torch.empty(1, 3, 512, 512, device="meta")
    latents = backend.encode_image(image)
    assert latents.shape == (1, 4, 64, 64) and latents.dtype == torch.float16
    noise = backend.predict_noise(latents.expand(2, -1, -1, -1), 999, cond.repeated(2))
    assert noise.shape == (2, 4, 64, 64) and noise.dtype == torch.float32 and noise.device.type == "meta"
    decoded = backend.decode(latents)
    assert decoded.shape == (1, 3, 512, 512) and decoded.dtype == torch.float32


@pytest.mark.timeout(600)
def test_an_sdxl_controlnet_frame_makes_no_transfer(sdxl) -> None:  # noqa: ANN001
    """A full-size SDXL ControlNet (pooled text and time ids reach it) in the real frame, on `meta`."""
    backend = sdxl_backend(sdxl)
    controlnet = controlnet_of(backend.unet)
    assert sum(p.numel() for p in controlnet.parameters()) > 1.2e9 and controlnet.config.cross_attention_dim == 2048
    seen: list[dict[str, Any]] = []
    handle = controlnet.register_forward_pre_hook(lambda module, args, kwargs: seen.append(kwargs), with_kwargs=True)
    try:
        units = [ControlNetConfig(source="diffusers/controlnet-canny-sdxl-1.0", conditioning="canny", scale=0.5)]
        controls = load_controlnets(units, backend, load_model=lambda unit, on: controlnet)
        run = start(backend, dict(steps=1, guidance=1.0), controls=controls)
        run.engine.render_frame()
        run.engine.render_frame()
        run.engine.store.set("controlnet_scale", 0.7)
        before = len(seen)
        steady_frame(run)
    finally:
        handle.remove()
    (call,) = seen[before:]
    added = call["added_cond_kwargs"]
    assert added["text_embeds"].shape == (1, 1280) and added["time_ids"].shape == (1, 6)
    assert added["time_ids"].device.type == "meta" and call["controlnet_cond"].shape == (1, 3, SIZE, SIZE)
