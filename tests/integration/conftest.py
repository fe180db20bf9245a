"""Fixtures shared by the integration tests."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vj.engine.models.tiny import build_tiny_pipeline

LORA_TARGETS = ["to_q", "to_k", "to_v", "to_out.0"]


@pytest.fixture(scope="session")
def lora_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A rank-4 LoRA for the tiny UNet with random non-zero weights (peft's default init makes B zero),
    saved as diffusers saves LoRAs: no download."""
    pytest.importorskip("peft")
    from diffusers import StableDiffusionPipeline
    from diffusers.utils import convert_state_dict_to_diffusers
    from peft import LoraConfig as PeftLoraConfig
    from peft.utils import get_peft_model_state_dict

    unet = build_tiny_pipeline().unet
    torch.manual_seed(1)
    unet.add_adapter(PeftLoraConfig(r=4, lora_alpha=4, target_modules=LORA_TARGETS, init_lora_weights=False))
    folder = tmp_path_factory.mktemp("lora")
    layers = convert_state_dict_to_diffusers(get_peft_model_state_dict(unet))
    StableDiffusionPipeline.save_lora_weights(str(folder), unet_lora_layers=layers, safe_serialization=True)
    return folder / "pytorch_lora_weights.safetensors"
