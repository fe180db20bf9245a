"""`Conditioning` blends field by field (SDXL's pooled embedding and time ids too), and a prompt
fade writes into one preallocated buffer."""

from __future__ import annotations

import pytest
import torch

from vj.engine.conditioning.embeddings import Conditioning, running_slerp, weighted_sum
from vj.engine.conditioning.prompt_conditioner import EmbeddingCache, PromptConditioner, blend_conditionings
from vj.prompt_mix import PromptEntry, PromptMix


def _xl(seed: int) -> Conditioning:
    g = torch.Generator().manual_seed(seed)
    return Conditioning(torch.randn(1, 77, 8, generator=g), torch.randn(1, 8, generator=g),
                        torch.randn(1, 6, generator=g))


def test_every_blend_applies_to_every_field() -> None:
    a, b = _xl(1), _xl(2)
    for blended, op in ((a.lerp(b, 0.25), lambda x, y: torch.lerp(x, y, 0.25)),
                        (weighted_sum([a, b], [1.0, 3.0]), lambda x, y: x * 0.25 + y * 0.75)):
        for got, x, y in ((blended.embeddings, a.embeddings, b.embeddings), (blended.pooled, a.pooled, b.pooled),
                          (blended.time_ids, a.time_ids, b.time_ids)):
            assert got is not None and x is not None and y is not None
            assert torch.allclose(got, op(x, y), atol=1e-6)
    spherical = a.slerp(b, 0.5)
    assert spherical.pooled is not None and a.pooled is not None and b.pooled is not None
    assert spherical.pooled.norm() > torch.lerp(a.pooled, b.pooled, 0.5).norm()  # slerp keeps the norm up
    assert torch.equal(running_slerp([a], [0.3]).embeddings, a.embeddings)


def test_sd_conditionings_carry_no_sdxl_fields() -> None:
    a, b = Conditioning(torch.ones(1, 2, 3)), Conditioning(torch.zeros(1, 2, 3))
    mixed = blend_conditionings([a, b], [1.0, 1.0])
    assert mixed.pooled is None and mixed.time_ids is None and torch.allclose(mixed.embeddings, a.embeddings / 2)
    assert a.cat(b).batch == 2 and a.repeated(3).embeddings.shape == (3, 2, 3)


def test_different_model_families_do_not_blend() -> None:
    with pytest.raises(ValueError, match="pooled is set in only one"):
        Conditioning(torch.ones(1, 2, 3)).lerp(_xl(1), 0.5)


def test_a_fade_writes_into_one_buffer_and_a_new_fade_starts_from_the_screen() -> None:
    encoded = {text: _xl(seed) for seed, text in enumerate(("a", "b", "c", ""), start=1)}
    cache = EmbeddingCache(lambda text: encoded[text], background=False)
    prompts = PromptConditioner(cache)
    mix = {text: PromptMix((PromptEntry(text, 1.0),), "") for text in ("a", "b", "c")}
    first = prompts.conditioning(mix["a"], 0.0, 1.0)
    assert first is not None and torch.equal(first[0].embeddings, encoded["a"].embeddings)
    during = [prompts.conditioning(mix["b"], s, 1.0) for s in (0.0, 0.25, 0.5)]
    assert all(d is not None for d in during)
    buffers = {id(d[0]) for d in during if d is not None} | {d[0].embeddings.data_ptr() for d in during if d}
    assert len(buffers) == 2  # one Conditioning object, one tensor storage, for every frame of the fade
    half = during[-1]
    assert half is not None and half[0].pooled is not None
    assert torch.allclose(half[0].embeddings, torch.lerp(encoded["a"].embeddings, encoded["b"].embeddings, 0.5))
    on_screen = half[0].embeddings.clone()
    # A new prompt mid-fade glides from what is on screen, though the buffer keeps moving.
    switched = prompts.conditioning(mix["c"], 0.5, 1.0)
    assert switched is not None and torch.allclose(switched[0].embeddings, on_screen)
    later = prompts.conditioning(mix["c"], 1.0, 1.0)
    assert later is not None
    assert torch.allclose(later[0].embeddings, torch.lerp(on_screen, encoded["c"].embeddings, 0.5), atol=1e-6)
    done = prompts.conditioning(mix["c"], 2.0, 1.0)
    assert done is not None and torch.equal(done[0].embeddings, encoded["c"].embeddings) and not prompts.fading


def test_a_restored_conditioner_carries_on_its_fade() -> None:
    encoded = {text: _xl(seed) for seed, text in enumerate(("a", "b", ""), start=1)}
    mix = {text: PromptMix((PromptEntry(text, 1.0),), "") for text in ("a", "b")}
    saved = PromptConditioner(EmbeddingCache(lambda text: encoded[text], background=False))
    saved.conditioning(mix["a"], 0.0, 1.0)
    saved.conditioning(mix["b"], 0.5, 1.0)  # a fade from "a" to "b" starts at 0.5 s
    restored = PromptConditioner(EmbeddingCache(lambda text: encoded[text], background=False))
    restored.restore(saved.state(), torch.device("cpu"))
    got, expected = restored.conditioning(mix["b"], 1.0, 1.0), saved.conditioning(mix["b"], 1.0, 1.0)
    assert got is not None and expected is not None and restored.fading
    assert all(torch.equal(g.embeddings, e.embeddings) for g, e in zip(got, expected, strict=True))
    assert torch.allclose(got[0].embeddings, torch.lerp(encoded["a"].embeddings, encoded["b"].embeddings, 0.5))
