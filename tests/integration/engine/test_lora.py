"""LoRAs on the tiny model: a real peft adapter, saved as diffusers saves LoRAs, loaded back
through the backend's loader; fused output, scale 0, live re-fuse and bad sources."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from vj.config import LoraConfig, ModelConfig
from vj.engine.backends import load_backend
from vj.engine.backends.lora import FusedLoras, LoraSpec, check_lora_source
from vj.engine.families.models.tiny import build_tiny_pipeline
from vj.errors import BackendUnavailable

pytest.importorskip("peft")

def _unet_out(pipe_or_unet: object) -> torch.Tensor:
    unet = getattr(pipe_or_unet, "unet", pipe_or_unet)
    torch.manual_seed(5)
    x, context = torch.randn(1, 4, 8, 8), torch.randn(1, 77, 32)
    with torch.no_grad():
        return unet(x, torch.tensor(500), encoder_hidden_states=context).sample  # type: ignore[operator]


def test_fused_lora_matches_the_unfused_adapter(lora_file: Path) -> None:
    unfused = build_tiny_pipeline()
    unfused.load_lora_weights(str(lora_file.parent), weight_name=lora_file.name, adapter_name="a")
    unfused.set_adapters(["a"], [0.7])
    fused = build_tiny_pipeline()
    FusedLoras(fused, [LoraSpec(str(lora_file), 0.7)])
    plain = _unet_out(build_tiny_pipeline())
    expected = _unet_out(unfused)
    got = _unet_out(fused)
    assert (expected - plain).abs().max() > 1e-3  # the LoRA does change the output
    torch.testing.assert_close(got, expected, atol=1e-5, rtol=1e-5)
    # the weights themselves are merged: no adapter runs beside them
    assert any(getattr(m, "merged", False) for m in fused.unet.modules())


def test_scale_zero_equals_no_lora_and_live_scale_refuses(lora_file: Path) -> None:
    plain = load_backend(ModelConfig(source="tiny", device="cpu", dtype="float32"))
    zero = load_backend(ModelConfig(source="tiny", device="cpu", dtype="float32",
                                    loras=(LoraConfig(source=str(lora_file), scale=0.0),)))
    torch.testing.assert_close(_unet_out(zero.unet), _unet_out(plain.unet), atol=1e-6, rtol=0)
    # a live change re-fuses in place and lands where a fresh fuse at that scale would
    zero.set_lora_scale(0, 0.7)
    fresh = build_tiny_pipeline()
    FusedLoras(fresh, [LoraSpec(str(lora_file), 0.7)])
    torch.testing.assert_close(_unet_out(zero.unet), _unet_out(fresh), atol=1e-5, rtol=1e-5)
    zero.set_lora_scale(0, 0.0)
    torch.testing.assert_close(_unet_out(zero.unet), _unet_out(plain.unet), atol=1e-5, rtol=0)
    with pytest.raises(ValueError, match="LoRA scale must be"):
        zero.set_lora_scale(0, 9.0)
    with pytest.raises(ValueError, match="no LoRA is loaded"):
        plain.set_lora_scale(0, 1.0)


def test_lcm_lora_picks_the_lcm_sampler(lora_file: Path, tmp_path: Path) -> None:
    named = tmp_path / "lcm-lora-tiny.safetensors"
    named.write_bytes(lora_file.read_bytes())
    backend = load_backend(ModelConfig(source="tiny", device="cpu", loras=(LoraConfig(source=str(named)),)))
    assert backend.param_defaults["sampler"].value == "lcm"
    assert "LCM-LoRA" in backend.param_defaults["sampler"].why


@pytest.mark.parametrize("case", ["missing", "not_safetensors", "garbage", "no_lora_keys", "empty_folder", "bad_id"])
def test_bad_lora_is_refused_before_the_model_loads(case: str, tmp_path: Path) -> None:
    from safetensors.torch import save_file

    source = {"missing": str(tmp_path / "nope.safetensors"), "bad_id": "not a hub id"}.get(case, "")
    if case == "not_safetensors":
        source = str(tmp_path / "weights.bin")
        Path(source).write_bytes(b"\0" * 16)
    elif case == "garbage":
        source = str(tmp_path / "broken.safetensors")
        Path(source).write_bytes(b"this is not safetensors")
    elif case == "no_lora_keys":
        source = str(tmp_path / "checkpoint.safetensors")
        save_file({"conv.weight": torch.zeros(2, 2)}, source)
    elif case == "empty_folder":
        source = str(tmp_path)
    with pytest.raises(BackendUnavailable) as caught:
        check_lora_source(source)
    message = str(caught.value)
    assert "\n" not in message and "LoRA" in message
    # the LoRA is checked first: a model that does not exist is never reached
    with pytest.raises(BackendUnavailable, match="LoRA"):
        load_backend(ModelConfig(source=str(tmp_path / "no-model-here"), device="cpu",
                                 loras=(LoraConfig(source=source),)))


def test_lora_flag_parses_source_and_scale() -> None:
    from vj.cli.argtypes import lora

    assert lora("latent-consistency/lcm-lora-sdv1-5") == ("latent-consistency/lcm-lora-sdv1-5", 1.0)
    assert lora("style.safetensors:0.6") == ("style.safetensors", 0.6)
    assert lora(r"C:\loras\style.safetensors") == (r"C:\loras\style.safetensors", 1.0)
    with pytest.raises(Exception, match="-4..4"):
        lora("style.safetensors:9")
