"""The memory estimate against full-size architectures on `meta`: sd-turbo, SDXL (sdxl-turbo), ControlNets and
Depth Anything V2 Small.

Weights: the estimate reads only config files (written here from the full-size models, no weights) and must
equal the meta-built parameter counts times the dtype's bytes exactly. Activations: the modelled peaks of the
UNet and the VAE must lie within stated bounds of the traced peak of the real forward on `meta` (the code's own
tensor lifetimes, attention as the memory-efficient kernels allocate it). Neither is a GPU measurement.
"""

from __future__ import annotations

from functools import partial
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.contract import meta_models
from tests.contract.memory_trace import config_folder, model_folder, traced_peak
from vj.engine.memory_estimate import (
    VAE_WORKING,
    MemoryPlan,
    depth_peak_elements,
    estimate_memory,
    parameter_count,
    unet_skip_elements,
    unet_working_elements,
    vae_peak_elements,
)
from vj.engine.warp.depth_estimator import model_input_size

# The modelled activation peak over the traced one: at least this (the model is not far below the code's
# real tensor lifetimes) and at most this (not so far above that it refuses shows that fit).
LOWER_BOUND, UPPER_BOUND = 0.97, 1.5
F16 = torch.float16


@pytest.fixture(scope="module")
def sd_turbo() -> dict[str, Any]:
    unet = meta_models.sd21_unet()
    return {"unet": unet, "text_encoder": meta_models.openclip_h_text_encoder(), "vae": meta_models.sd_vae()}


@pytest.fixture(scope="module")
def sdxl() -> dict[str, Any]:
    pipe = meta_models.sdxl_pipeline()
    return {"unet": pipe.unet, "text_encoder": pipe.text_encoder, "text_encoder_2": pipe.text_encoder_2,
            "vae": pipe.vae}


def _weights(estimate: Any) -> dict[str, int]:
    return {p.component: p.nbytes for p in estimate.parts if p.kind == "weights"}


def test_memory_estimate_weights_equal_sd_turbo_on_meta_with_controlnets_and_depth(
        tmp_path: Path, sd_turbo: dict[str, Any]) -> None:
    folder = config_folder(tmp_path / "sd-turbo", "StableDiffusionPipeline", sd_turbo)
    controlnet = meta_models.controlnet_of(sd_turbo["unet"])
    depth = meta_models.depth_anything_v2_small()
    control_folder = model_folder(tmp_path / "controlnet", controlnet)
    depth_folder = model_folder(tmp_path / "depth", depth)
    plan = MemoryPlan(model=str(folder), dtype=F16, sizes=((512, 512),),
                      controlnets=(str(control_folder), str(control_folder)), depth=(str(depth_folder),))
    estimate = estimate_memory(plan)
    assert estimate.complete, estimate.unknown
    expected = {"UNet": parameter_count(sd_turbo["unet"]) * 2,
                "text encoder": parameter_count(sd_turbo["text_encoder"]) * 2,
                "VAE": parameter_count(sd_turbo["vae"]) * 2, "ControlNet 0": parameter_count(controlnet) * 2,
                "ControlNet 1": parameter_count(controlnet) * 2, "depth model": parameter_count(depth) * 2}
    assert _weights(estimate) == expected
    # sd-turbo's published counts (RESULTS.md): UNet 865.9 M, text encoder 340.4 M, VAE 83.7 M; DA-V2 Small 24.8 M
    assert round(expected["UNet"] / 2e6, 1) == 865.9 and round(expected["text encoder"] / 2e6, 1) == 340.4
    assert round(expected["VAE"] / 2e6, 1) == 83.7 and round(expected["depth model"] / 2e6, 1) == 24.8


def test_memory_estimate_weights_equal_sdxl_on_meta_with_its_vae_in_float32(
        tmp_path: Path, sdxl: dict[str, Any]) -> None:
    folder = config_folder(tmp_path / "sdxl-turbo", "StableDiffusionXLPipeline", sdxl)
    controlnet = meta_models.controlnet_of(sdxl["unet"])
    plan = MemoryPlan(model=str(folder), dtype=F16, sizes=((512, 512),),
                      controlnets=(str(model_folder(tmp_path / "controlnet", controlnet)),))
    estimate = estimate_memory(plan)
    assert estimate.complete, estimate.unknown
    assert _weights(estimate) == {
        "UNet": parameter_count(sdxl["unet"]) * 2, "text encoder 1": parameter_count(sdxl["text_encoder"]) * 2,
        "text encoder 2": parameter_count(sdxl["text_encoder_2"]) * 2,
        "VAE": parameter_count(sdxl["vae"]) * 4,  # force_upcast: SDXL's VAE runs in float32 under float16
        "ControlNet 0": parameter_count(controlnet) * 2}
    assert parameter_count(sdxl["unet"]) == 2_567_463_684


def test_memory_estimate_tiny_vae_replaces_the_vae_and_bfloat16_keeps_sdxls_vae(
        tmp_path: Path, sdxl: dict[str, Any]) -> None:
    folder = config_folder(tmp_path / "sdxl-turbo", "StableDiffusionXLPipeline", sdxl)
    taesd = meta_models.taesd()
    plan = MemoryPlan(model=str(folder), dtype=torch.bfloat16, sizes=((512, 512),),
                      tiny_vae=str(model_folder(tmp_path / "taesdxl", taesd)))
    weights = _weights(estimate_memory(plan))
    assert "VAE" not in weights and weights["tiny VAE"] == parameter_count(taesd) * 2


@pytest.mark.parametrize(("width", "batch"), [(512, 1), (1024, 2)])
def test_memory_estimate_unet_activations_within_bounds_of_the_traced_peak(
        sd_turbo: dict[str, Any], sdxl: dict[str, Any], width: int, batch: int) -> None:
    for unet, context in ((sd_turbo["unet"], 1024), (sdxl["unet"], 2048)):
        side = width // 8
        sample = torch.empty(batch, 4, side, side, device="meta", dtype=F16)
        ctx = torch.empty(batch, 77, context, device="meta", dtype=F16)
        timestep = torch.tensor(999, device="meta")
        added = ({"text_embeds": torch.empty(batch, 1280, device="meta", dtype=F16),
                  "time_ids": torch.empty(batch, 6, device="meta", dtype=F16)} if context == 2048 else None)
        traced = traced_peak(unet, partial(unet, sample, timestep, encoder_hidden_states=ctx, added_cond_kwargs=added))
        config = dict(unet.config)
        modelled = 2 * (unet_skip_elements(config, batch, side, side)
                        + unet_working_elements(config, batch, side, side))
        assert LOWER_BOUND <= modelled / traced <= UPPER_BOUND, (context, width, batch, modelled, traced)


@pytest.mark.parametrize("width", [512, 768])
def test_memory_estimate_vae_activations_within_bounds_of_the_traced_peak(sd_turbo: dict[str, Any], width: int) -> None:
    vae = sd_turbo["vae"]
    latents = torch.empty(1, 4, width // 8, width // 8, device="meta", dtype=F16)
    image = torch.empty(1, 3, width, width, device="meta", dtype=F16)
    traced = max(traced_peak(vae, lambda: vae.decode(latents)), traced_peak(vae, lambda: vae.encode(image)))
    modelled = vae_peak_elements(dict(vae.config), width, width) * 2
    assert LOWER_BOUND <= modelled / traced <= UPPER_BOUND, (width, modelled, traced, VAE_WORKING)


@pytest.mark.parametrize(("width", "height", "resolution"), [(512, 512, 252), (1024, 576, 518)])
def test_memory_estimate_depth_activations_within_bounds_of_the_traced_peak(width: int, height: int,
                                                                           resolution: int) -> None:
    depth = meta_models.depth_anything_v2_small()
    h, w = model_input_size(width, height, resolution, 14)
    pixels = torch.empty(1, 3, h, w, device="meta", dtype=F16)
    traced = traced_peak(depth, partial(depth, pixel_values=pixels))
    modelled = depth_peak_elements(depth.config, width, height, resolution) * 2
    assert LOWER_BOUND <= modelled / traced <= UPPER_BOUND, (width, height, resolution, modelled, traced)


def test_memory_estimate_full_cfg_doubles_the_unet_batch_and_jit_adds_a_graph_pool(
        tmp_path: Path, sd_turbo: dict[str, Any]) -> None:
    folder = str(config_folder(tmp_path / "sd-turbo", "StableDiffusionPipeline", sd_turbo))
    # With TAESD the UNet is the largest stage (sd-turbo's own VAE decoder is larger at any size).
    one = estimate_memory(MemoryPlan(model=folder, dtype=F16, sizes=((1024, 1024),), tiny_vae="tiny"))
    two = estimate_memory(MemoryPlan(model=folder, dtype=F16, sizes=((1024, 1024),), batch=2, tiny_vae="tiny"))
    graphs = estimate_memory(MemoryPlan(model=folder, dtype=F16, sizes=((1024, 1024), (512, 512)), cuda_graphs=True))
    unet = {p.component: p for p in two.parts if p.kind == "activations"}
    assert "batch 2" in unet["UNet (the largest stage)"].detail
    assert two.of_kind("activations") > one.of_kind("activations") and one.of_kind("graphs") == 0
    assert graphs.of_kind("graphs") > graphs.of_kind("activations") - 8 * 3 * 1024 * 1024 * 4
