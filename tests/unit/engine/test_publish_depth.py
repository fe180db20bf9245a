"""A depth channel rides in the frame's one copy to the host: same buffer, same event, no copy of its own."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from vj.engine.publish import FramePublisher


def test_the_depth_comes_out_with_its_frame_and_the_layout_follows_it() -> None:
    publisher: FramePublisher[int] = FramePublisher(torch.device("cpu"), pipelined=True)
    image = torch.rand(1, 3, 4, 6)
    depth = torch.arange(24, dtype=torch.uint8).view(4, 6)
    assert publisher.submit(image, 0, depth) == []  # pipelined: handed out one frame later
    (first,) = publisher.submit(image, 1, depth)
    assert first.ticket == 0 and first.pixels is not None and first.pixels.shape == (4, 6, 3)
    assert first.depth is not None and np.array_equal(first.depth, depth.numpy())
    assert np.array_equal(first.pixels, (image[0].permute(1, 2, 0) * 255).round().to(torch.uint8).numpy())
    (second,) = publisher.submit(image, 2)  # depth switched off: the frame in flight still has its own
    assert second.ticket == 1 and second.depth is not None
    (third,) = publisher.flush()
    assert third.ticket == 2 and third.depth is None


def test_a_depth_of_another_size_is_refused_by_name() -> None:
    publisher: FramePublisher[int] = FramePublisher(torch.device("cpu"))
    with pytest.raises(ValueError, match=r"depth channel is \(2, 2\); expected the frame's \(4, 6\)"):
        publisher.submit(torch.rand(1, 3, 4, 6), 0, torch.zeros(2, 2, dtype=torch.uint8))
