"""The feature bank and the latent blend through the whole engine on the tiny model: strength 0 renders
bit for bit as without the bank, a strength changes the picture, the rings keep their size and memory as
they fill, and both work with an input clip and with the feedback loop."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from vj.engine.backends import load_backend
from vj.engine.coherence.feature_bank import SLOTS, BankAttnProcessor, FeatureBank
from vj.frames import Frame

pytest.importorskip("cv2", reason="the test clips are written with OpenCV's blur")

from tests.integration.analysis.videos import moving, write_video  # noqa: E402
from tests.integration.coherence.renders import preset_with, render  # noqa: E402


@pytest.fixture
def fresh_backend():  # noqa: ANN201
    """A tiny backend of its own: installing the bank replaces its UNet's self-attention processors."""
    from vj.config import ModelConfig

    return load_backend(ModelConfig(source="tiny", device="cpu"))


def same(a: list[Frame], b: list[Frame]) -> bool:
    return all(np.array_equal(x.image, y.image) for x, y in zip(a, b, strict=True))


def test_strength_0_renders_bit_for_bit_as_without_the_bank(tiny_backend, fresh_backend, tmp_path: Path) -> None:  # noqa: ANN001
    clip = write_video(tmp_path / "moving.mp4", moving(12, shift=4))
    for source, mix in ((clip, 0.6), (None, 0.0)):  # an input clip, and the feedback loop alone
        plain = render(preset_with(source, video_mix=mix), tiny_backend, 6)
        off = render(preset_with(source, video_mix=mix, bank_strength=0.0), fresh_backend, 6)
        on = render(preset_with(source, video_mix=mix, bank_strength=0.9, bank_frames=3), fresh_backend, 6)
        kinds = {name.rsplit(".", 2)[-2]: type(p) for name, p in fresh_backend.unet.attn_processors.items()}
        assert kinds["attn1"] is BankAttnProcessor and kinds["attn2"] is not BankAttnProcessor
        assert same(plain, off)
        assert np.array_equal(plain[0].image, on[0].image)  # nothing in the bank yet on the first frame
        assert not any(np.array_equal(a.image, b.image) for a, b in zip(plain[1:], on[1:], strict=True))


def test_the_latent_blend_at_0_is_exact_and_above_0_pulls_toward_the_last_frame(tiny_backend, tmp_path: Path) -> None:  # noqa: ANN001
    clip = write_video(tmp_path / "moving.mp4", moving(12, shift=4))
    plain = render(preset_with(clip, video_mix=0.6), tiny_backend, 6)
    off = render(preset_with(clip, video_mix=0.6, latent_blend=0.0), tiny_backend, 6)
    on = render(preset_with(clip, video_mix=0.6, latent_blend=0.7), tiny_backend, 6)
    assert same(plain, off)
    assert np.array_equal(plain[0].image, on[0].image)
    change = [np.abs(a.image.astype(int) - b.image.astype(int)).mean() for a, b in zip(plain, plain[1:], strict=False)]
    blended = [np.abs(a.image.astype(int) - b.image.astype(int)).mean() for a, b in zip(on, on[1:], strict=False)]
    assert np.mean(blended) < np.mean(change)


def test_the_rings_keep_their_shape_and_memory_as_they_fill(fresh_backend) -> None:  # noqa: ANN001
    bank = FeatureBank.install(fresh_backend)
    assert FeatureBank.install(fresh_backend).processors == bank.processors  # installed once per UNet
    bank.resize(8, 8)
    held = bank.bytes_held()
    shapes = [p.keys.shape for p in bank.processors]
    pointers = [p.keys.data_ptr() for p in bank.processors]
    assert held > 0 and all(s[0] == SLOTS for s in shapes)
    latents = torch.randn(1, 4, 8, 8)
    cond = fresh_backend.encode_prompt("a forest")
    for frame in range(SLOTS * 3):
        bank.begin_frame(8, 8, 0.5, 1 + frame % 4)
        fresh_backend.predict_noise(latents, 500, cond)
        valid = int((bank.controls.bias == 0).sum())
        assert valid == min(frame, 1 + frame % 4), frame
    assert bank.bytes_held() == held and [p.keys.shape for p in bank.processors] == shapes
    assert [p.keys.data_ptr() for p in bank.processors] == pointers  # written in place, never reallocated
    bank.resize(16, 8)  # a new size: new rings, empty
    assert not bool(bank.controls.any_valid) and bank.bytes_held() == 2 * held
