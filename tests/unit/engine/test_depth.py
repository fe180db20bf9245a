"""Depth estimation for the 3D warp: the tiny Depth Anything, preprocessing, blending, sources, meta."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import torch
import torch.nn.functional as F

from vj.config import parse_preset
from vj.depth_sources import DEFAULT_DEPTH_MODEL, resolve_depth_source
from vj.engine.warp.depth_estimator import (
    DepthEstimator,
    build_tiny_depth_model,
    depth_model_from_module,
    load_depth_model,
    model_input_size,
    normalised_nearness,
)
from vj.errors import BackendUnavailable, ConfigError

CPU = torch.device("cpu")


@pytest.fixture(scope="module")
def tiny() -> DepthEstimator:
    return DepthEstimator(build_tiny_depth_model(CPU, torch.float32), resolution=56, every_n=1, ema=0.0)


def test_nearness_is_normalised_equalised_and_flat_maps_are_the_plane() -> None:
    raw = torch.tensor([[[[0.0, 1.0], [10.0, 1000.0]]]])
    d = normalised_nearness(raw, metric=False)
    assert d.shape == raw.shape and d.min() > 0 and d.max() == 1.0
    assert d.flatten().tolist() == pytest.approx([0.25, 0.5, 0.75, 1.0])  # equalised: even steps, order kept
    metric = normalised_nearness(raw + 1, metric=True)  # metric depth: larger is farther
    assert metric.flatten().argmax() == 0 and metric.flatten().argmin() == 3
    assert normalised_nearness(torch.full((1, 1, 4, 4), 7.0), metric=False).eq(1.0).all()  # z = 1: the plane
    nan = torch.tensor([[[[float("nan"), 1.0], [2.0, 3.0]]]])
    assert torch.isfinite(normalised_nearness(nan, metric=False)).all()


def test_model_input_keeps_aspect_in_patch_multiples() -> None:
    assert model_input_size(512, 512, 252, 14) == (252, 252)
    h, w = model_input_size(960, 540, 252, 14)
    assert w == 252 and h % 14 == 0 and abs(h / w - 540 / 960) < 0.06
    assert model_input_size(64, 64, 5, 14) == (14, 14)
    assert model_input_size(64, 64, 252, 14) == (70, 70)  # a small frame is not blown up


def test_the_estimate_uses_the_processors_mean_and_std(tiny: DepthEstimator) -> None:
    torch.manual_seed(1)
    image = torch.rand(1, 3, 40, 72)
    got = tiny.estimate(image)
    assert got.shape == (1, 1, 40, 72) and float(got.min()) >= 0.0 and float(got.max()) == 1.0
    # The same maths by hand: resize, normalise with ImageNet's mean/std, run, resize back.
    size = model_input_size(72, 40, 56, 14)
    x = F.interpolate(image, size=size, mode="bilinear", align_corners=False, antialias=True)
    mean = torch.tensor([0.485, 0.456, 0.406]).view(1, 3, 1, 1)
    std = torch.tensor([0.229, 0.224, 0.225]).view(1, 3, 1, 1)
    raw = tiny.model.module(pixel_values=(x - mean) / std).predicted_depth.unsqueeze(1)
    want = normalised_nearness(F.interpolate(raw, size=(40, 72), mode="bilinear", align_corners=False), False)
    assert torch.allclose(got, want, atol=1e-6)
    wrong = tiny.model.module(pixel_values=x).predicted_depth.unsqueeze(1)  # unnormalised input differs
    assert not torch.allclose(got, normalised_nearness(F.interpolate(wrong, size=(40, 72), mode="bilinear"), False))


def test_every_n_reuses_and_ema_blends() -> None:
    model = build_tiny_depth_model(CPU, torch.float32)
    torch.manual_seed(2)
    a, b = torch.rand(1, 3, 28, 28), torch.rand(1, 3, 28, 28)
    every = DepthEstimator(model, resolution=28, every_n=3, ema=0.0)
    first = every.nearness(a)
    assert every.nearness(b) is first and every.nearness(b) is first and every.estimates == 1
    assert not torch.equal(every.nearness(b), first) and every.estimates == 2
    smooth = DepthEstimator(model, resolution=28, every_n=1, ema=0.75)
    da, db = smooth.estimate(a), smooth.estimate(b)
    smooth.nearness(a)
    assert torch.allclose(smooth.nearness(b), 0.75 * da + 0.25 * db, atol=1e-6)
    smooth.nearness(torch.rand(1, 3, 42, 28))  # a new frame size starts again, unblended
    assert smooth.latest is not None and smooth.latest.shape == (1, 1, 42, 28)
    with pytest.raises(ValueError, match="every_n"):
        DepthEstimator(model, every_n=0)


def test_requested_settings_wait_for_the_next_map_and_bad_ones_change_nothing() -> None:
    model = build_tiny_depth_model(CPU, torch.float32)
    torch.manual_seed(3)
    a, b = torch.rand(1, 3, 28, 28), torch.rand(1, 3, 28, 28)
    est = DepthEstimator(model, resolution=28, every_n=1, ema=0.0)
    da, db = est.estimate(a), est.estimate(b)
    est.nearness(a)
    est.request_settings(resolution=28, every_n=2, ema=0.75)
    assert (est.every_n, est.ema) == (1, 0.0)  # taken up by the next map, on the thread that makes it
    assert torch.allclose(est.nearness(b), 0.75 * da + 0.25 * db, atol=1e-6)  # the new ema blends the old map in
    assert (est.every_n, est.ema) == (2, 0.75)
    with pytest.raises(ValueError, match="resolution >= 14"):
        est.request_settings(resolution=7, every_n=1, ema=0.0)
    est.nearness(a)
    assert (est.resolution, est.every_n, est.ema) == (28, 2, 0.75)


def test_sources_resolve_and_bad_values_are_refused_before_loading() -> None:
    assert resolve_depth_source("", "tiny") == "tiny"
    assert resolve_depth_source("", "stabilityai/sd-turbo") == DEFAULT_DEPTH_MODEL
    assert resolve_depth_source("Midas-3-Hybrid", "tiny") == "Intel/dpt-hybrid-midas"
    assert resolve_depth_source("Zoe", "tiny") == "Intel/zoedepth-nyu-kitti"
    preset = parse_preset('[depth]\nmodel = "tiny"\nevery_n = 2\nema = 0.3\nresolution = 112\n')
    assert (preset.depth.model, preset.depth.every_n, preset.depth.ema, preset.depth.resolution) == ("tiny", 2, 0.3,
                                                                                                    112)
    for bad, key in (('model = "no such thing"', "depth.model"), ("every_n = 0", "depth.every_n"),
                     ("ema = 1.0", "depth.ema"), ("resolution = 4", "depth.resolution"), ("size = 3", "depth.size")):
        with pytest.raises(ConfigError, match=key.replace(".", r"\.")):
            parse_preset(f"[depth]\n{bad}\n", "p.toml")


def test_a_hub_id_missing_from_the_cache_is_one_clear_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("HF_HUB_CACHE", str(tmp_path / "empty-cache"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(BackendUnavailable) as err:
        load_depth_model("someone/not-cached-depth", CPU, torch.float32)
    text = str(err.value)
    assert "not in the local Hugging Face cache" in text and "huggingface-cli download someone/not-cached-depth" in text
    assert "\n" not in text
    with pytest.raises(BackendUnavailable, match="no config.json"):
        load_depth_model(str(tmp_path), CPU, torch.float32)


def test_any_transformers_depth_model_loads_from_a_folder(tmp_path: Path) -> None:
    # A DPT (MiDaS's architecture), saved with its processor config, through the same path.
    from transformers import DPTConfig, DPTForDepthEstimation

    config = DPTConfig(hidden_size=32, num_hidden_layers=4, num_attention_heads=2, intermediate_size=37,
                       image_size=32, patch_size=8, backbone_out_indices=[0, 1, 2, 3], neck_hidden_sizes=[8, 8, 16, 16],
                       fusion_hidden_size=16, head_in_index=-1, reassemble_factors=[4, 2, 1, 0.5])
    DPTForDepthEstimation(config).save_pretrained(tmp_path / "dpt")
    (tmp_path / "dpt" / "preprocessor_config.json").write_text(json.dumps({"image_mean": [0.5, 0.5, 0.5],
                                                                           "image_std": [0.5, 0.5, 0.5]}))
    model = load_depth_model(str(tmp_path / "dpt"), CPU, torch.float32)
    assert model.mean == (0.5, 0.5, 0.5) and not model.metric and model.patch == 8
    assert not model.keep_aspect  # DPT's processor resizes to a square
    out = DepthEstimator(model, resolution=32).nearness(torch.rand(1, 3, 24, 40))
    assert out.shape == (1, 1, 24, 40) and torch.isfinite(out).all()
    (tmp_path / "dpt" / "preprocessor_config.json").unlink()
    with pytest.raises(BackendUnavailable, match="preprocessor_config.json"):
        load_depth_model(str(tmp_path / "dpt"), CPU, torch.float32)


def test_full_size_depth_anything_small_runs_on_meta_with_no_host_copies_after_the_first_frame() -> None:
    from transformers import DepthAnythingConfig, DepthAnythingForDepthEstimation

    from tests.unit.host_copies import count_host_copies

    torch.set_default_dtype(torch.float16)  # build as the GPU path does
    try:
        with torch.device("meta"):
            module = DepthAnythingForDepthEstimation(DepthAnythingConfig())  # Depth Anything V2 Small's shape
    finally:
        torch.set_default_dtype(torch.float32)
    assert sum(p.numel() for p in module.parameters()) > 24_000_000
    estimator = DepthEstimator(depth_model_from_module(module, "meta"), resolution=252, ema=0.5)
    image = torch.empty(1, 3, 512, 768, device="meta")
    with torch.inference_mode():
        first = estimator.nearness(image)  # may make its mean/std tensors once
        with count_host_copies() as copies:
            second = estimator.nearness(image)
    assert first.shape == second.shape == (1, 1, 512, 768) and second.device.type == "meta"
    assert second.dtype == torch.float32
    assert copies.count == 0, copies.ops
