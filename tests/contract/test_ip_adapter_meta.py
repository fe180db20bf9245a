"""The IP-Adapter inside the real frame at full size on `meta`: SD 1.5 with h94's ip-adapter_sd15 (ViT-H image
encoder) and SDXL with ip-adapter_sdxl (ViT-bigG), in float16. The image projection and the live-scale
attention run in every UNet call; a scale change, a new picture fading in, CFG's batch of two and a grab of
the output run in steady-state frames with no host→device copy and no host read (meta raises on one)."""

from __future__ import annotations

from typing import Any

import pytest
import torch

from tests.contract.engine_run import SIZE, start, steady_frame
from tests.contract.ip_adapter_models import (
    VIT_BIGG,
    VIT_H,
    clip_l_text_encoder,
    image_encoder,
    load_meta_ip_adapter,
    sd15_unet,
)
from tests.contract.meta_models import META, pipeline_parts, sd_vae, sdxl_pipeline
from vj.choices import CfgMode
from vj.engine.backends.diffusers import DiffusersBackend
from vj.engine.conditioning.reference_images import Reference


def _picture(height: int = 600, width: int = 800) -> Reference:
    return Reference(f"meta-{height}x{width}", lambda: torch.empty(1, 3, height, width, device=META))


@pytest.fixture(scope="module")
def sd15() -> Any:
    unet = sd15_unet()
    load_meta_ip_adapter(unet, embed_dim=VIT_H[-1])
    parts = pipeline_parts(unet, clip_l_text_encoder(), sd_vae(), lcm=False)
    parts.image_encoder = image_encoder(VIT_H)
    return parts


@pytest.fixture(scope="module")
def sdxl() -> Any:
    pipe = sdxl_pipeline()
    load_meta_ip_adapter(pipe.unet, embed_dim=VIT_BIGG[-1])
    pipe.image_encoder = image_encoder(VIT_BIGG)
    return pipe


def _image_inputs(backend: DiffusersBackend) -> list[dict[str, Any]]:
    seen: list[dict[str, Any]] = []
    backend.unet.register_forward_pre_hook(lambda module, args, kwargs: seen.append(kwargs["added_cond_kwargs"]),
                                           with_kwargs=True)
    return seen


@pytest.mark.timeout(600)
@pytest.mark.parametrize(("cfg", "guidance", "batch"), [(CfgMode.RCFG_SELF, 1.0, 1), (CfgMode.FULL, 2.0, 2)],
                         ids=["no CFG", "full CFG"])
def test_sd15_ip_adapter_frames_make_no_transfer(sd15, cfg: str, guidance: float, batch: int) -> None:  # noqa: ANN001
    backend = DiffusersBackend(sd15, name="sd15 architecture", device=META, dtype=torch.float16)
    assert backend.references is not None and backend.references.encoder.hidden_states is False
    seen = _image_inputs(backend)
    run = start(backend, dict(steps=1, guidance=guidance, ip_adapter_scale=0.6, reference_fade_s=0.5), cfg)
    refs = run.engine.references
    assert refs is not None
    refs.prime([_picture()])
    run.engine.render_frame()
    run.engine.render_frame()
    run.engine.store.set("ip_adapter_scale", 0.9)  # a live scale: a fill on the device
    refs.set([_picture(512, 512), Reference("other", lambda: torch.empty(1, 3, 720, 1280, device=META), 2.0)])
    steady_frame(run)  # the new blend fading in
    steady_frame(run)
    refs.request_grab("output")
    steady_frame(run)  # the grab: a device copy, encoded on the device
    assert refs.grabs == 1 and refs.names == ("grab-output-4",)
    embeds, scale = seen[-1]["image_embeds"]
    assert embeds[0].shape == (batch, 1, VIT_H[-1]) and embeds[0].device == META and embeds[0].dtype == torch.float16
    assert scale.shape == () and scale.device == META
    assert all(f.image.shape == (SIZE, SIZE, 3) for f in run.sink.frames)


@pytest.mark.timeout(900)
def test_sdxl_ip_adapter_frames_make_no_transfer(sdxl) -> None:  # noqa: ANN001
    backend = DiffusersBackend(sdxl, name="sdxl architecture", device=META, dtype=torch.float16)
    assert backend.family.name == "xl" and backend.references is not None
    seen = _image_inputs(backend)
    run = start(backend, dict(steps=1, guidance=1.0, ip_adapter_scale=0.5, reference_fade_s=0.5))
    refs = run.engine.references
    assert refs is not None
    refs.prime([_picture()])
    run.engine.render_frame()
    run.engine.render_frame()
    run.engine.store.set("ip_adapter_scale", 1.2)
    refs.set([_picture(512, 512)])
    steady_frame(run)
    added = seen[-1]
    embeds, scale = added["image_embeds"]
    assert embeds[0].shape == (1, 1, VIT_BIGG[-1]) and scale.device == META
    assert added["text_embeds"].shape == (1, 1280) and added["time_ids"].shape == (1, 6)
