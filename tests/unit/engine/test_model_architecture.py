"""A local folder vj cannot run is refused from its config files alone, before weights load."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.helpers import run_vj
from vj.config import ModelConfig
from vj.engine.backends import load_backend
from vj.engine.families.lookup import family_of_folder
from vj.errors import BackendUnavailable

SD_INDEX = {"_class_name": "StableDiffusionPipeline", "_diffusers_version": "0.27.0",
            "unet": ["diffusers", "UNet2DConditionModel"], "vae": ["diffusers", "AutoencoderKL"],
            "scheduler": ["diffusers", "EulerDiscreteScheduler"], "text_encoder": ["transformers", "CLIPTextModel"],
            "tokenizer": ["transformers", "CLIPTokenizer"]}
SDXL_UNET = {"_class_name": "UNet2DConditionModel", "addition_embed_type": "text_time",
             "addition_time_embed_dim": 256, "cross_attention_dim": 2048, "in_channels": 4,
             "projection_class_embeddings_input_dim": 2816, "transformer_layers_per_block": [1, 2, 10]}
SD15_UNET = {"_class_name": "UNet2DConditionModel", "cross_attention_dim": 768, "in_channels": 4,
             "addition_embed_type": None}


def _folder(tmp_path: Path, unet: dict[str, object]) -> Path:
    folder = tmp_path / "converted"
    (folder / "unet").mkdir(parents=True)
    (folder / "model_index.json").write_text(json.dumps(SD_INDEX), encoding="utf-8")
    (folder / "unet" / "config.json").write_text(json.dumps(unet), encoding="utf-8")
    return folder


def test_sdxl_unet_under_an_sd_index_is_refused(tmp_path: Path) -> None:
    folder = _folder(tmp_path, SDXL_UNET)
    with pytest.raises(BackendUnavailable, match=r"SDXL UNet.*text_time.*2048.*StableDiffusionXLPipeline"):
        load_backend(ModelConfig(source=str(folder), device="cpu"))


@pytest.mark.parametrize("key", ["addition_embed_type", "cross_attention_dim"])
def test_either_sdxl_mark_is_enough(tmp_path: Path, key: str) -> None:
    unet = {**SD15_UNET, key: SDXL_UNET[key]}
    with pytest.raises(BackendUnavailable, match="SDXL UNet"):
        family_of_folder(str(_folder(tmp_path, unet)))


def test_an_sd15_unet_passes_the_check(tmp_path: Path) -> None:
    family_of_folder(str(_folder(tmp_path, SD15_UNET)))


def test_unreadable_model_index_is_one_message(tmp_path: Path) -> None:
    folder = _folder(tmp_path, SD15_UNET)
    (folder / "model_index.json").write_bytes(b"\xff\xfe not json")
    with pytest.raises(BackendUnavailable, match="model_index.json is not readable JSON"):
        family_of_folder(str(folder))


def test_the_cli_says_it_in_one_line(tmp_path: Path) -> None:
    result = run_vj("render", "drift", "--model", str(_folder(tmp_path, SDXL_UNET)), "--device", "cpu",
                    "--width", "64", "--height", "64", "--out", str(tmp_path / "x.mp4"))
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    errors = [line for line in result.stderr.splitlines() if line.startswith("vj: error:")]
    assert len(errors) == 1 and "SDXL UNet" in errors[0], result.stderr


@pytest.mark.parametrize("kind", ["FluxPipeline", "StableDiffusion3Pipeline", "StableVideoDiffusionPipeline",
                                  "WanPipeline"])
def test_sd3_flux_and_video_are_refused_saying_what_vj_runs(tmp_path: Path, kind: str) -> None:
    folder = _folder(tmp_path, SD15_UNET)
    (folder / "model_index.json").write_text(json.dumps({**SD_INDEX, "_class_name": kind}), encoding="utf-8")
    with pytest.raises(BackendUnavailable) as caught:
        load_backend(ModelConfig(source=str(folder), device="cpu"))
    message = str(caught.value)
    assert kind in message and "SDXL" in message and "not supported" in message and "\n" not in message


def test_an_sdxl_folder_is_an_xl_model(tmp_path: Path) -> None:
    folder = _folder(tmp_path, SDXL_UNET)
    index = {**SD_INDEX, "_class_name": "StableDiffusionXLPipeline"}
    (folder / "model_index.json").write_text(json.dumps(index), encoding="utf-8")
    assert family_of_folder(str(folder)).name == "xl"  # type: ignore[union-attr]
    assert family_of_folder(str(_folder(tmp_path / "sd", SD15_UNET))).name == "sd"  # type: ignore[union-attr]
