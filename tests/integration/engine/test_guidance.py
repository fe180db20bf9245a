"""Guidance modes on the tiny model: residual CFG against the formula worked by hand, full CFG
against the doubled-batch call the engine made before, and the UNet batch each mode runs."""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np
import pytest
import torch

from tests.helpers import CollectFrames
from vj.config import ModelConfig, PresetConfig
from vj.engine.conditioning.guidance import GuidedModel, unet_batches
from vj.session import render_offline

G = 3.0  # guidance
DELTA = 0.8


def _latents(seed: int) -> torch.Tensor:
    return torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(seed))


@pytest.fixture()
def conds(tiny_backend):  # noqa: ANN001, ANN201
    return tiny_backend.encode_prompt("a cat"), tiny_backend.encode_prompt("blurry")


@pytest.fixture()
def batches(tiny_backend, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[int]]:  # noqa: ANN001
    """The batch of every UNet call made while the test runs."""
    seen: list[int] = []
    real = tiny_backend._predict_call

    def counting(sample: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        seen.append(int(sample.shape[0]))
        return real(sample, *rest)

    monkeypatch.setattr(tiny_backend, "_predict_call", counting)
    yield seen


def _alpha(backend, t: int) -> float:  # noqa: ANN001
    return float(backend.schedule.alphas_cumprod[t])


def test_rcfg_self_is_the_residual_formula(tiny_backend, conds, batches) -> None:  # noqa: ANN001
    cond, negative = conds
    start, x1, x2 = _latents(1), _latents(2), _latents(3)
    model = GuidedModel(tiny_backend, cond, negative, G, mode="rcfg-self", delta=DELTA, reference=start)
    got1, got2 = model(x1, 999), model(x2, 499)

    # By hand. Step 1: the noise x1 holds over the starting latents, scaled by delta, is the negative.
    a1 = _alpha(tiny_backend, 999)
    text1 = tiny_backend.predict_noise(x1, 999, cond)
    negative1 = DELTA * (x1 - a1**0.5 * start) / (1 - a1) ** 0.5
    want1 = negative1 + G * (text1 - negative1)
    # Step 2: the same over the clean latents step 1's guided output implies.
    x0_after_1 = (x1 - (1 - a1) ** 0.5 * want1) / a1**0.5
    a2 = _alpha(tiny_backend, 499)
    text2 = tiny_backend.predict_noise(x2, 499, cond)
    negative2 = DELTA * (x2 - a2**0.5 * x0_after_1) / (1 - a2) ** 0.5
    want2 = negative2 + G * (text2 - negative2)

    assert torch.allclose(got1, want1, atol=1e-5) and torch.allclose(got2, want2, atol=1e-5)
    assert not torch.allclose(got1, text1, atol=1e-3)  # guidance did something
    assert batches == [1, 1, 1, 1]  # the model's two calls, then the two by hand: batch 1 throughout


def test_rcfg_initialize_evaluates_the_negative_prompt_on_the_first_step_only(tiny_backend, conds,  # noqa: ANN001
                                                                           batches) -> None:  # noqa: ANN001
    cond, negative = conds
    start, x1, x2 = _latents(1), _latents(2), _latents(3)
    model = GuidedModel(tiny_backend, cond, negative, G, mode="rcfg-initialize", delta=DELTA, reference=start)
    got1, got2 = model(x1, 999), model(x2, 499)
    assert batches == [1, 1, 1]  # text + negative on the first step, text alone on the second

    a1, a2 = _alpha(tiny_backend, 999), _alpha(tiny_backend, 499)
    text1, uncond1 = tiny_backend.predict_noise(x1, 999, cond), tiny_backend.predict_noise(x1, 999, negative)
    want1 = uncond1 + G * (text1 - uncond1)
    x0_after_1 = (x1 - (1 - a1) ** 0.5 * want1) / a1**0.5
    text2 = tiny_backend.predict_noise(x2, 499, cond)
    negative2 = DELTA * (x2 - a2**0.5 * x0_after_1) / (1 - a2) ** 0.5
    want2 = negative2 + G * (text2 - negative2)
    assert torch.allclose(got1, want1, atol=1e-5) and torch.allclose(got2, want2, atol=1e-5)


def test_full_cfg_is_the_doubled_batch_call(tiny_backend, conds, batches) -> None:  # noqa: ANN001
    cond, negative = conds
    x = _latents(2)
    got = GuidedModel(tiny_backend, cond, negative, G, mode="full", delta=DELTA, reference=_latents(1))(x, 999)
    assert batches == [2]
    # What the engine computed before the guidance modes: the UNet on [x; x] with [negative; text].
    with torch.inference_mode():
        out = tiny_backend.unet(torch.cat([x, x]), torch.tensor(999),
                                encoder_hidden_states=torch.cat([negative.embeddings, cond.embeddings])).sample
    uncond, text = out.chunk(2)
    assert torch.allclose(got, uncond + G * (text - uncond), atol=1e-5)


@pytest.mark.parametrize("mode", ["rcfg-self", "rcfg-initialize", "full"])
def test_guidance_up_to_1_is_one_plain_call(tiny_backend, conds, batches, mode: str) -> None:  # noqa: ANN001
    cond, negative = conds
    x = _latents(2)
    got = GuidedModel(tiny_backend, cond, negative, 1.0, mode=mode, delta=DELTA, reference=_latents(1))(x, 999)
    assert torch.equal(got, tiny_backend.predict_noise(x, 999, cond))
    assert batches == [1, 1]


def test_only_full_cfg_needs_a_second_batch() -> None:
    assert unet_batches("rcfg-self", embeds_guidance=False) == (1,)
    assert unet_batches("rcfg-initialize", embeds_guidance=False) == (1,)
    assert unet_batches("full", embeds_guidance=False) == (1, 2)
    assert unet_batches("full", embeds_guidance=True) == (1,)  # LCM-distilled: guidance is an embedding


def test_an_unknown_mode_is_refused(tiny_backend, conds) -> None:  # noqa: ANN001
    with pytest.raises(ValueError, match="rcfg-self, rcfg-initialize, full; found 'half'"):
        GuidedModel(tiny_backend, *conds, G, mode="half", delta=1.0, reference=_latents(1))


def _render_mode(backend, preset: PresetConfig, mode: str, steps: int) -> np.ndarray:  # noqa: ANN001
    preset = preset.replace(model=ModelConfig(source="tiny", device="cpu", cfg=mode),
                            params={**preset.params, "guidance": 4.0, "steps": steps})
    out = CollectFrames()
    render_offline(preset, frames=2, outputs=[out], backend=backend)
    return out.frames[-1].image.astype(int)


def test_each_mode_renders_its_own_pictures(tiny_backend, tiny_preset: PresetConfig) -> None:  # noqa: ANN001
    # Two steps: rcfg-initialize evaluates the real negative on the first and the virtual one after.
    pictures = {mode: _render_mode(tiny_backend, tiny_preset, mode, 2) for mode in ("rcfg-self", "rcfg-initialize",
                                                                                    "full")}
    for a, b in (("rcfg-self", "rcfg-initialize"), ("rcfg-self", "full"), ("rcfg-initialize", "full")):
        assert np.abs(pictures[a] - pictures[b]).mean() > 1.0, (a, b)
    # One step: rcfg-initialize's only step is full CFG (two batch-1 calls instead of one batch-2
    # call: equal up to float rounding, which the thread count decides, so no bit-for-bit claim).
    one = {mode: _render_mode(tiny_backend, tiny_preset, mode, 1) for mode in ("rcfg-initialize", "full")}
    assert np.abs(one["rcfg-initialize"] - one["full"]).max() <= 1
