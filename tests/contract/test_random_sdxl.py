"""sdxl-turbo's architecture with random weights (vj.engine.families.models.random_sdxl), what the GPU
benchmark times: at full size on `meta` it is SDXL's architecture (the contract's SDXL, parameter
for parameter) and renders the engine's frame through DiffusersBackend with no host→device copy;
the smoke version renders real frames on the CPU.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch

from tests.contract.engine_run import start, steady_frame
from tests.contract.meta_models import DTYPE, META, sdxl_pipeline, taesd
from tests.helpers import CollectFrames
from vj.config import PresetConfig
from vj.engine.backends.diffusers import DiffusersBackend
from vj.engine.families.models.random_sdxl import (
    SDXL_SMOKE,
    SDXL_TURBO,
    build_random_xl_components,
    build_random_xl_pipeline,
    count_xl_gflop,
)
from vj.session import render_offline

# What decides a UNet's compute beyond its parameter count: block layout and the added embedding.
UNET_KEYS = ("block_out_channels", "down_block_types", "up_block_types", "layers_per_block", "attention_head_dim",
             "transformer_layers_per_block", "cross_attention_dim", "use_linear_projection", "addition_embed_type",
             "addition_time_embed_dim", "projection_class_embeddings_input_dim", "in_channels", "out_channels")


def _params(module: Any) -> int:
    return sum(p.numel() for p in module.parameters())


def _config(module: Any, keys: tuple[str, ...]) -> dict[str, Any]:
    return {k: tuple(v) if isinstance(v, list | tuple) else v for k, v in module.config.items() if k in keys}


@pytest.fixture(scope="module")
def full() -> dict[str, Any]:
    return build_random_xl_components(SDXL_TURBO, META, DTYPE)


@pytest.mark.timeout(600)
def test_full_size_is_sdxls_architecture_parameter_for_parameter(full) -> None:  # noqa: ANN001
    reference = sdxl_pipeline()
    for name in ("unet", "text_encoder", "text_encoder_2", "vae"):
        assert _params(full[name]) == _params(getattr(reference, name)), name
    assert _params(full["taesd"]) == _params(taesd())
    assert _config(full["unet"], UNET_KEYS) == _config(reference.unet, UNET_KEYS)
    # sdxl-turbo's published sizes: UNet 2.567 B, CLIP ViT-L 123 M, OpenCLIP bigG with projection 695 M.
    assert _params(full["unet"]) == pytest.approx(2.567e9, rel=1e-3)
    assert _params(full["text_encoder"]) == pytest.approx(123.1e6, rel=1e-3)
    assert _params(full["text_encoder_2"]) == pytest.approx(694.7e6, rel=1e-3)
    assert full["vae"].config.scaling_factor == 0.13025 and full["vae"].config.force_upcast
    assert full["text_encoder"].config.hidden_act == "quick_gelu" and full["text_encoder_2"].config.hidden_act == "gelu"
    assert full["unet"].dtype == DTYPE and full["unet"].device == META
    assert type(full["scheduler"]).__name__ == "EulerAncestralDiscreteScheduler"
    assert full["scheduler"].config.timestep_spacing == "trailing"


@pytest.mark.timeout(600)
def test_full_size_renders_the_engines_frame_on_meta(full) -> None:  # noqa: ANN001
    pipe = build_random_xl_pipeline(full)
    assert type(pipe).__name__ == "StableDiffusionXLPipeline"
    backend = DiffusersBackend(pipe, name="sdxl-turbo architecture", device=META, dtype=DTYPE,
                               tiny_vae=full["taesd"])
    assert backend.family.name == "xl" and backend.vae_dtype == DTYPE  # TAESDXL in fp16 (no force_upcast in its config)
    seen: list[dict[str, Any]] = []
    hook = backend.unet.register_forward_pre_hook(lambda module, args, kwargs: seen.append(kwargs), with_kwargs=True)
    try:
        run = start(backend, dict(steps=1, guidance=1.0))
        run.engine.render_frame()
        run.engine.render_frame()
        steady_frame(run)
    finally:
        hook.remove()
    added = seen[-1]["added_cond_kwargs"]
    assert seen[-1]["encoder_hidden_states"].shape == (1, 77, 2048)
    assert added["text_embeds"].shape == (1, 1280) and added["time_ids"].shape == (1, 6)


def test_flop_count_runs_the_unet_with_pooled_text_and_time_ids() -> None:
    counts = count_xl_gflop(SDXL_SMOKE, 64)
    assert set(counts) == {"unet", "taesd_encode", "taesd_decode", "vae_encode", "vae_decode"}
    assert all(v > 0 for v in counts.values())


def test_smoke_renders_frames_on_the_cpu(tiny_preset: PresetConfig) -> None:
    components = build_random_xl_components(SDXL_SMOKE, "cpu", torch.float32)
    backend = DiffusersBackend(build_random_xl_pipeline(components), name="sdxl-turbo-smoke",
                               device=torch.device("cpu"), dtype=torch.float32, tiny_vae=components["taesd"])
    cond = backend.encode_prompt("a tunnel of neon light")
    assert backend.family.name == "xl" and cond.embeddings.shape == (1, 77, SDXL_SMOKE.context_width)
    assert cond.pooled is not None and cond.pooled.shape == (1, SDXL_SMOKE.text_2_width)
    sink = CollectFrames()
    render_offline(tiny_preset, frames=3, outputs=[sink], backend=backend)
    frames = [f.image for f in sink.frames]
    assert len(frames) == 3 and all(f.shape == (64, 64, 3) and f.dtype == np.uint8 for f in frames)
    assert np.abs(frames[1].astype(int) - frames[2].astype(int)).mean() > 0.5  # the model changed the picture
