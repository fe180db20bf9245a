"""The feature bank, the latent blend and the similarity skip in the real frame at full size, on `meta`:
SD 1.5's and SDXL's UNets with the bank's processors in every self-attention layer, an input picture,
live changes of every coherence parameter, and no host read, no host→device copy in the steady state,
and rings whose shape and memory do not change as they fill."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch
from PIL import Image

from tests.contract.engine_run import SIZE, contract_preset, pipeline_parts, sd_vae, start, steady_frame
from tests.contract.meta_models import DTYPE, META, _on_meta, sdxl_pipeline
from vj.engine.backends.diffusers import DiffusersBackend
from vj.engine.coherence.feature_bank import SLOTS, BankAttnProcessor, FeatureBank
from vj.session.inputs import build_inputs


def sd15_parts() -> Any:
    """SD 1.5's UNet (runwayml/stable-diffusion-v1-5's config) and its CLIP ViT-L text encoder."""
    from diffusers import UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    unet = _on_meta(lambda: UNet2DConditionModel(block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=768,
                                                 attention_head_dim=8, sample_size=64))
    text = _on_meta(lambda: CLIPTextModel(CLIPTextConfig(
        hidden_size=768, intermediate_size=3072, num_attention_heads=12, num_hidden_layers=12,
        hidden_act="quick_gelu", projection_dim=768, vocab_size=49408, max_position_embeddings=77)))
    return pipeline_parts(unet, text, sd_vae(), lcm=False)


@pytest.fixture(scope="module")
def picture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("bank") / "camera.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (SIZE, SIZE, 3), dtype=np.uint8)).save(path)
    return path


def _run_with_bank(pipe: Any, name: str, picture: Path) -> None:
    b = DiffusersBackend(pipe, name=name, device=META, dtype=DTYPE)
    bank = FeatureBank.install(b)
    layers = [p for p in b.unet.attn_processors.values() if isinstance(p, BankAttnProcessor)]
    assert len(layers) == len(bank.processors) > 10
    params = dict(steps=2, guidance=1.0, video_mix=0.5, bank_strength=0.0, bank_frames=2, latent_blend=0.0,
                  similarity_skip=0.0)
    preset = contract_preset(params, f'[input]\nsource = "{picture}"\n')
    _, inputs = build_inputs(preset, None, offline=True)
    run = start(b, params, preset=preset, inputs=inputs, bank=bank)
    run.engine.render_frame()  # text to image
    run.engine.render_frame()  # img2img: allocates the rings for this size
    held = bank.bytes_held()
    shapes = [tuple(p.keys.shape) for p in bank.processors]
    assert all(s[0] == SLOTS and s[1] == 1 for s in shapes)
    for strength, frames, blend in ((0.8, 3, 0.3), (0.2, 4, 0.0), (1.0, 1, 0.6)):  # every one a live change
        run.engine.store.set("bank_strength", strength)
        run.engine.store.set("bank_frames", frames)
        run.engine.store.set("latent_blend", blend)
        before = len(run.unet_calls)
        steady_frame(run)
        assert len(run.unet_calls) - before == 2  # the counted frame really ran the UNet
    assert bank.bytes_held() == held and [tuple(p.keys.shape) for p in bank.processors] == shapes
    assert held < 3 * 2**30, f"{held / 2**20:.0f} MiB of rings"
    # A held frame: the skip measures and re-publishes on the device too.
    run.engine.store.set("similarity_skip", 0.9)
    run.engine.coherence.skip.observe(1.0)  # as if the still picture's measure had come back
    before = len(run.unet_calls)
    steady_frame(run)
    assert len(run.unet_calls) == before and run.engine.stats.skipped == 1


@pytest.mark.timeout(600)
def test_sd15_frame_with_the_bank_makes_no_transfer_and_no_host_read(picture: Path) -> None:
    _run_with_bank(sd15_parts(), "sd15-architecture", picture)


@pytest.mark.timeout(900)
def test_sdxl_frame_with_the_bank_makes_no_transfer_and_no_host_read(picture: Path) -> None:
    _run_with_bank(sdxl_pipeline(), "sdxl-architecture", picture)


def test_the_rings_are_on_the_device_in_the_unets_dtype() -> None:
    parts = sd15_parts()
    b = DiffusersBackend(parts, name="sd15-architecture", device=META, dtype=DTYPE)
    bank = FeatureBank.install(b)
    bank.resize(SIZE // 8, SIZE // 8)
    for p in bank.processors:
        assert p.keys.device == META and p.keys.dtype == DTYPE and p.values.shape == p.keys.shape
    assert bank.controls.strength.device == META and bank.controls.bias.dtype == torch.float32


@pytest.mark.timeout(900)
def test_the_memory_estimate_counts_the_rings_the_bank_holds(tmp_path: Path) -> None:
    from tests.contract.memory_trace import config_folder
    from vj.engine.memory_estimate import MemoryPlan, estimate_memory

    pipe = sdxl_pipeline()
    parts = {"unet": pipe.unet, "text_encoder": pipe.text_encoder, "text_encoder_2": pipe.text_encoder_2,
             "vae": pipe.vae}
    folder = config_folder(tmp_path / "sdxl", "StableDiffusionXLPipeline", parts)
    plan = MemoryPlan(model=str(folder), dtype=DTYPE, sizes=((1024, 1024), (512, 512)), feature_bank=True)
    found = {p.component: p.nbytes for p in estimate_memory(plan).parts}
    without = {p.component for p in estimate_memory(MemoryPlan(model=str(folder), dtype=DTYPE,
                                                               sizes=((1024, 1024),))).parts}
    b = DiffusersBackend(pipe, name="sdxl-architecture", device=META, dtype=DTYPE)
    bank = FeatureBank.install(b)
    bank.resize(128, 128)  # the largest size warmed: the rings are one set, at one size
    assert found["feature bank"] == bank.bytes_held() and "feature bank" not in without
    assert 1.5 * 2**30 < bank.bytes_held() < 2.5 * 2**30  # the guide's "about 2 GiB" for SDXL at 1024
