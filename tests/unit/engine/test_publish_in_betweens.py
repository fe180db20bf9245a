"""In-betweens made on the device: the previous frame blended into this one, carried in the frame's one copy."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vj.engine.publish import FramePublisher
from vj.picture_blend import blend_images, blend_weight


def _pixels(image: torch.Tensor) -> np.ndarray:
    return (image[0].permute(1, 2, 0) * 255).round().clamp(0, 255).to(torch.uint8).numpy()


@pytest.mark.parametrize("pipelined", [False, True])
def test_each_frame_carries_the_previous_one_blended_into_it_at_even_steps(pipelined: bool) -> None:
    publisher: FramePublisher[int] = FramePublisher(torch.device("cpu"), pipelined=pipelined, in_betweens=3)
    torch.manual_seed(3)
    images = [torch.rand(1, 3, 4, 6) for _ in range(4)]
    done = [p for i, image in enumerate(images) for p in publisher.submit(image, i)] + publisher.flush()
    assert [p.ticket for p in done] == [0, 1, 2, 3]
    first = done[0]
    assert len(first.in_betweens) == 3 and all(np.array_equal(b, first.pixels) for b in first.in_betweens)
    for before, after in zip(done, done[1:], strict=False):  # weights 1/4, 2/4, 3/4 of the newer frame
        assert before.pixels is not None and after.pixels is not None
        assert np.array_equal(after.pixels, _pixels(images[after.ticket]))
        expected = [blend_images(before.pixels, after.pixels, blend_weight(i / 4)) for i in (1, 2, 3)]
        assert all(np.array_equal(got, want) for got, want in zip(after.in_betweens, expected, strict=True))
        assert after.in_betweens[1].dtype == np.uint8 and after.in_betweens[1].shape == (4, 6, 3)


def test_they_sit_after_the_depth_and_the_render_picture_and_before_the_signal() -> None:
    publisher: FramePublisher[int] = FramePublisher(torch.device("cpu"), pipelined=False, in_betweens=1)
    depth = torch.arange(24, dtype=torch.uint8).view(4, 6)
    source = torch.rand(1, 3, 2, 2)
    black, white = torch.zeros(1, 3, 4, 6), torch.ones(1, 3, 4, 6)
    publisher.submit(black, 0, depth, source, torch.tensor([0.25]))
    (frame,) = publisher.submit(white, 1, depth, source, torch.tensor([0.75]))
    assert frame.pixels is not None and int(frame.pixels.min()) == 255
    assert frame.depth is not None and np.array_equal(frame.depth, depth.numpy())
    assert frame.source is not None and np.array_equal(frame.source, _pixels(source))
    assert frame.signal == 0.75
    (halfway,) = frame.in_betweens
    assert np.all(halfway == 128)  # (0·64 + 255·64 + 64) >> 7


def test_a_dropped_frame_or_a_new_size_starts_over_without_blending_across() -> None:
    publisher: FramePublisher[int] = FramePublisher(torch.device("cpu"), pipelined=False, in_betweens=1)
    publisher.submit(torch.zeros(1, 3, 4, 6), 0)
    publisher.discard()  # the engine dropped what was in flight (a non-finite frame): nothing follows on from it
    (after_drop,) = publisher.submit(torch.ones(1, 3, 4, 6), 1)
    assert np.all(after_drop.in_betweens[0] == 255)
    (resized,) = publisher.submit(torch.zeros(1, 3, 8, 6), 2)  # another size: a new ring, no previous picture
    assert resized.in_betweens[0].shape == (8, 6, 3) and np.all(resized.in_betweens[0] == 0)


def test_none_are_made_or_copied_unless_asked_for() -> None:
    publisher: FramePublisher[int] = FramePublisher(torch.device("cpu"), pipelined=False)
    publisher.submit(torch.zeros(1, 3, 4, 6), 0)
    (frame,) = publisher.submit(torch.ones(1, 3, 4, 6), 1)
    assert frame.in_betweens == () and publisher._slots[0].staged.numel() == 4 * 6 * 3 + 1
    publisher.in_betweens = 2  # switched on live: the next frame reallocates the ring for them
    (frame,) = publisher.submit(torch.ones(1, 3, 4, 6), 2)
    assert len(frame.in_betweens) == 2 and publisher._slots[0].staged.numel() == 3 * 4 * 6 * 3 + 1
