"""The tiny random SDXL (`--model tiny-xl`) end to end: the code path sdxl-turbo takes."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from tests.helpers import CollectFrames
from vj.config import ModelConfig, PresetConfig, parse_preset
from vj.engine.backends import load_backend
from vj.engine.conditioning.prompt_conditioner import blend_conditionings
from vj.frames import Frame
from vj.session import render_offline


@pytest.fixture(scope="module")
def xl_backend():  # noqa: ANN201
    return load_backend(ModelConfig(source="tiny-xl", device="cpu"))


@pytest.fixture()
def xl_preset(tiny_preset: PresetConfig) -> PresetConfig:
    return tiny_preset


def _render(preset: PresetConfig, backend, frames: int) -> list[Frame]:  # noqa: ANN001
    sink = CollectFrames()
    render_offline(preset, frames=frames, outputs=[sink], backend=backend)
    return sink.frames


def test_prompt_is_two_encoders_side_by_side_and_a_pooled_embedding(xl_backend) -> None:  # noqa: ANN001
    cond = xl_backend.encode_prompt("a tunnel of neon light")
    assert xl_backend.family.name == "xl" and cond.embeddings.shape == (1, 77, 64) and cond.pooled is not None
    assert cond.pooled.shape == (1, 32)
    other = xl_backend.encode_prompt("a forest of glass trees")
    assert not torch.allclose(cond.pooled, other.pooled)  # type: ignore[arg-type]
    # the first half is the first encoder's penultimate layer, as diffusers' SDXL pipeline builds it
    ids = xl_backend._token_ids(xl_backend.tokenizer, "a tunnel of neon light")
    with torch.no_grad():
        first = xl_backend.text_encoder(ids, output_hidden_states=True).hidden_states[-2]
    torch.testing.assert_close(cond.embeddings[..., :32], first)


def test_blends_act_on_the_pooled_embedding_too(xl_backend) -> None:  # noqa: ANN001
    a, b = xl_backend.encode_prompt("neon"), xl_backend.encode_prompt("glass")
    for mode in ("linear", "slerp"):
        mid = blend_conditionings([a, b], [0.5, 0.5], mode)
        assert mid.pooled is not None and mid.pooled.shape == a.pooled.shape  # type: ignore[union-attr]
        assert not torch.allclose(mid.pooled, a.pooled) and not torch.allclose(mid.pooled, b.pooled)  # type: ignore[arg-type]
    torch.testing.assert_close(blend_conditionings([a, b], [1.0, 0.0], "linear").pooled, a.pooled)


def test_time_ids_follow_the_frame_size(xl_backend) -> None:  # noqa: ANN001
    ids = xl_backend._size_conditioning(torch.zeros(1, 4, 8, 16))
    assert ids.tolist() == [[64.0, 128.0, 0.0, 0.0, 64.0, 128.0]]
    assert xl_backend._size_conditioning(torch.zeros(2, 4, 8, 16)) is ids  # made once per size


def test_tiny_xl_renders_2d_cadence_blends_and_3d(xl_backend, xl_preset) -> None:  # noqa: ANN001
    frames = _render(xl_preset, xl_backend, 3)
    assert all(f.image.shape == (64, 64, 3) for f in frames)
    assert np.abs(frames[1].image.astype(int) - frames[2].image.astype(int)).mean() > 0.5
    two = parse_preset('[prompts]\nnegative = "blurry"\n[[prompts.mix]]\ntext = "neon"\nweight = 0.5\n'
                       '[[prompts.mix]]\ntext = "glass"\nweight = 0.5\n').prompts
    mixed = xl_preset.replace(prompts=two, params={**xl_preset.params, "cadence": 2, "guidance": 2.0})
    cad = _render(mixed, xl_backend, 4)
    assert [f.diffused for f in cad] == [True, False, True, False]
    other = xl_preset.replace(prompts=parse_preset('[[prompts.mix]]\ntext = "a forest of glass trees"\n').prompts)
    assert not np.array_equal(_render(other, xl_backend, 2)[1].image, frames[1].image)
    flight = _render(xl_preset.replace(params={**xl_preset.params, "animation_mode": "3d", "translation_z": 20.0}),
                     xl_backend, 2)
    assert all(np.isfinite(f.image).all() for f in flight)
