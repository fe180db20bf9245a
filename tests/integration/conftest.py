"""Fixtures shared by the integration tests."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
import torch

from vj.control.oscquery import OscQueryServer
from vj.control.tempo import TempoClock
from vj.engine.families.models.tiny import build_tiny_pipeline
from vj.store import ParamStore

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


@pytest.fixture
def oscquery_served() -> Iterator[tuple[OscQueryServer, ParamStore]]:
    """An OSCQuery server on a free loopback port (no zeroconf) over a store with zoom at 1.02, at 128 BPM."""
    store = ParamStore(base={"zoom": 1.02})
    server = OscQueryServer(store, osc_host="127.0.0.1", osc_port=9000, http_port=0, tempo=TempoClock(128.0),
                            advertise=False)
    server.start()
    yield server, store
    server.close()
