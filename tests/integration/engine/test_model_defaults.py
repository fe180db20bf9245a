"""What a model brings with it: the sampler of its saved scheduler and an LCM UNet's guidance.

A tiny LCM-distilled model (a UNet with `time_cond_proj_dim`, an `LCMScheduler`) is saved
to a real diffusers folder and loaded the way `--model FOLDER` loads it.
"""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from vj.config import ModelConfig, PresetConfig
from vj.engine.backends import load_backend
from vj.engine.backends.diffusers import DiffusersBackend
from vj.engine.backends.model_defaults import LCM_DISTILLED_GUIDANCE
from vj.session import LiveSession, build_store


@pytest.fixture(scope="module")
def lcm_folder(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from vj.engine.families.models.tiny import build_tiny_pipeline

    folder = tmp_path_factory.mktemp("tiny-lcm")
    build_tiny_pipeline(lcm=True).save_pretrained(str(folder))
    return folder


@pytest.fixture(scope="module")
def lcm_backend(lcm_folder: Path) -> DiffusersBackend:
    return load_backend(ModelConfig(source=str(lcm_folder), device="cpu"))


@pytest.mark.parametrize("guidance", [1.0, 1.5, 4.0, 8.0, 15.0])
def test_guidance_embedding_is_diffusers_own(lcm_backend: DiffusersBackend, guidance: float) -> None:
    """Ours == LatentConsistencyModelPipeline.get_guidance_scale_embedding as its __call__ uses it."""
    from diffusers.pipelines.latent_consistency_models import LatentConsistencyModelPipeline

    pipe = LatentConsistencyModelPipeline(
        vae=lcm_backend.vae, text_encoder=lcm_backend.text_encoder, tokenizer=lcm_backend.tokenizer,
        unet=lcm_backend.unet, scheduler=__import__("diffusers").LCMScheduler(), safety_checker=None,
        feature_extractor=None, requires_safety_checker=False)
    dim = lcm_backend.unet.config.time_cond_proj_dim
    expected = pipe.get_guidance_scale_embedding(torch.tensor(guidance - 1).repeat(1), embedding_dim=dim)
    ours = lcm_backend._guidance_embedding(guidance)
    assert ours is not None and ours.shape == expected.shape == (1, dim)
    assert torch.allclose(ours, expected, atol=1e-6)
    # and the UNet output the engine gets is the one diffusers' pipeline would get
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1))
    cond = lcm_backend.encode_prompt("a cat")
    with torch.inference_mode():
        theirs = lcm_backend.unet(latents, torch.tensor(999), encoder_hidden_states=cond.embeddings,
                                  timestep_cond=expected).sample
    assert torch.allclose(lcm_backend.predict_noise(latents, 999, cond, guidance), theirs, atol=1e-5)


def test_lcm_model_picks_lcm_and_its_guidance(lcm_backend: DiffusersBackend, tiny_preset: PresetConfig,
                                              caplog: pytest.LogCaptureFixture) -> None:
    preset = tiny_preset.replace(params={k: v for k, v in tiny_preset.params.items()
                                         if k not in ("sampler", "guidance")})
    with caplog.at_level(logging.INFO, logger="vj.session.presets"):
        store = build_store(preset, lcm_backend)
    values = store.snapshot(0, 0.0, 0.0).values
    assert values["sampler"] == "lcm"
    assert values["guidance"] == LCM_DISTILLED_GUIDANCE
    said = [r.getMessage() for r in caplog.records if "from the model" in r.getMessage()]
    assert len(said) == 1 and "sampler = lcm" in said[0] and "guidance = 8.0" in said[0]


def test_what_the_preset_or_command_line_sets_wins(lcm_backend: DiffusersBackend,
                                                   tiny_preset: PresetConfig) -> None:
    preset = tiny_preset.replace(params={**tiny_preset.params, "sampler": "euler_a"})
    preset = preset.with_overrides(guidance=3.0)
    values = build_store(preset, lcm_backend).snapshot(0, 0.0, 0.0).values
    assert (values["sampler"], values["guidance"]) == ("euler_a", 3.0)


def test_a_preset_switch_keeps_the_model_defaults(lcm_backend: DiffusersBackend,
                                                  tiny_preset: PresetConfig) -> None:
    session = LiveSession(tiny_preset, backend=lcm_backend, offline=True)
    assert session.store.snapshot(0, 0.0, 0.0).values["sampler"] == "lcm"
    session.apply_preset(tiny_preset.replace(name="other", params={"zoom": 1.01}))
    values = session.store.snapshot(1, 0.0, 0.0).values
    assert values["sampler"] == "lcm" and values["guidance"] == LCM_DISTILLED_GUIDANCE


def test_the_euler_tiny_model_brings_nothing(tiny_backend: DiffusersBackend) -> None:
    assert dict(tiny_backend.param_defaults) == {}
