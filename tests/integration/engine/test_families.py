"""Every family in `FAMILIES` meets the protocol the same way, on its own tiny model.

A new family added to the tuple is checked here without a new test: its tiny model is found
as its own family by every detector, its UNet takes exactly the extra inputs it names, and a
backend built on it predicts noise of the latents' shape.
"""

from __future__ import annotations

import pytest
import torch

from vj.config import ModelConfig
from vj.engine.backends import load_backend
from vj.engine.backends.diffusers import DiffusersBackend
from vj.engine.families.family import ModelFamily
from vj.engine.families.lookup import FAMILIES, family_named, family_of_pipeline, family_of_unet, tiny_family


def test_names_and_tiny_sources_are_unique() -> None:
    assert len({f.name for f in FAMILIES}) == len({f.tiny_source for f in FAMILIES}) == len(FAMILIES)
    for family in FAMILIES:
        assert family_named(family.name) is family and tiny_family(family.tiny_source) is family
    with pytest.raises(ValueError, match="no model family 'sd3'"):
        family_named("sd3")


@pytest.fixture(scope="module", params=FAMILIES, ids=[f.name for f in FAMILIES])
def family_backend(request: pytest.FixtureRequest) -> tuple[ModelFamily, DiffusersBackend]:
    family: ModelFamily = request.param
    backend = load_backend(ModelConfig(source=family.tiny_source, device="cpu"))
    assert isinstance(backend, DiffusersBackend)
    return family, backend


def test_its_tiny_model_is_detected_as_it(family_backend: tuple[ModelFamily, DiffusersBackend]) -> None:
    family, backend = family_backend
    pipe = family.build_tiny_pipeline()
    assert family_of_unet(pipe.unet.config) is family and backend.family is family
    assert family_of_pipeline("tiny", type(pipe).__name__) is family


def test_the_unet_takes_the_extra_inputs_it_names(family_backend: tuple[ModelFamily, DiffusersBackend]) -> None:
    family, backend = family_backend
    examples = family.example_extra_inputs(backend.text_encoders, 64, 64, 2, backend.device, backend.dtype)
    assert tuple(examples) == family.extra_input_names
    cond = backend.encode_prompt("a tunnel of neon light").repeated(2)
    latents = torch.randn(2, backend.latent_channels, 8, 8, generator=torch.Generator().manual_seed(0))
    extra = family.extra_inputs(cond, backend._size_conditioning(latents), 2)
    assert [tuple(t.shape) for t in extra] == [tuple(t.shape) for t in examples.values()]
    with torch.no_grad():
        out = family.noise_predictor(backend.unet)(latents, torch.tensor([500.0]), cond.embeddings, *extra)
    assert out.shape == latents.shape and torch.isfinite(out).all()
    torch.testing.assert_close(backend.predict_noise(latents, 500, cond), out.float())
