"""The canny ControlNet picture: edges on a shape's border, nothing inside or outside it."""

from __future__ import annotations

import torch

from vj.engine.controlnet.units import canny_edges


def white_square(size: int = 32, lo: int = 10, hi: int = 22) -> torch.Tensor:
    image = torch.zeros(1, 3, size, size)
    image[..., lo:hi, lo:hi] = 1.0
    return image


def test_a_white_square_gives_edges_on_its_border_only() -> None:
    edges = canny_edges(white_square())
    assert edges.shape == (1, 3, 32, 32)
    assert torch.equal(edges[:, 0], edges[:, 1]) and torch.equal(edges[:, 0], edges[:, 2])
    grey = edges[0, 0]
    assert set(grey.unique().tolist()) <= {0.0, 1.0}
    # The border rows/columns (the square's outermost pixels and the black ones beside them) are edges...
    for r in (9, 10, 21, 22):
        assert grey[r, 12:20].eq(1).all(), r
    for c in (9, 10, 21, 22):
        assert grey[12:20, c].eq(1).all(), c
    # ...and nothing two or more pixels away from it, inside or outside.
    assert grey[12:20, 12:20].eq(0).all()
    ring = torch.ones(32, 32, dtype=torch.bool)
    ring[8:24, 8:24] = False
    assert grey[ring].eq(0).all()


def test_a_flat_picture_has_no_edges_even_at_its_sides() -> None:
    assert canny_edges(torch.full((1, 3, 16, 24), 0.7)).eq(0).all()


def test_weak_gradients_are_below_the_threshold() -> None:
    image = white_square()
    image[..., 0:4, 0:4] = 0.05  # a faint patch: 5 % of the square's contrast
    grey = canny_edges(image)[0, 0]
    assert grey[0:6, 0:6].eq(0).all()
    assert grey[9, 12:20].eq(1).all()
