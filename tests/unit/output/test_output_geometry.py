"""The output geometry: fit / fill / stretch against hand-computed pixels, the size checks, the upscaler stage."""

from __future__ import annotations

import importlib.util
import sys

import numpy as np
import pytest
import torch

from vj.engine.output_geometry import OutputGeometry
from vj.engine.upscaler import SPANDREL_MISSING, Upscaler, check_upscaler_file, load_upscaler
from vj.errors import VjError
from vj.output.resized import resize_image
from vj.output_size import Fit, GeometrySpec, Placement, Resample, parse_output_size, parse_size, placement
from vj.picture_fit import fit_picture

# A 2x1 picture (width 2, height 1), one channel: black then white.
RAMP = torch.tensor([[[[0.0, 1.0]]]])


def test_placement_of_a_square_render_on_a_16_9_screen() -> None:
    assert placement((512, 512), (1920, 1080), Fit.FIT) == Placement(1080, 1080, 420, 0)  # pillarbox
    assert placement((512, 512), (1920, 1080), Fit.FILL) == Placement(1920, 1920, 0, -420)  # top and bottom cropped
    assert placement((512, 512), (1920, 1080), Fit.STRETCH) == Placement(1920, 1080, 0, 0)
    assert placement((768, 448), (1920, 1080), Fit.FIT) == Placement(1851, 1080, 34, 0)
    assert placement((768, 448), (1280, 720), Fit.FILL) == Placement(1280, 747, 0, -13)


def test_fit_letterboxes_with_black_bars_and_bilinear_pixels() -> None:
    # 2x1 into 4x4: scaled x2 to 4x2, one black row above and below. Bilinear, half-pixel centres:
    # output column i samples x = (i + 0.5) / 2 - 0.5 = -0.25, 0.25, 0.75, 1.25 -> 0, 0.25, 0.75, 1 (edges clamp).
    out = fit_picture(RAMP, (4, 4), Fit.FIT, Resample.BILINEAR)
    assert out.shape == (1, 1, 4, 4)
    expected = torch.tensor([[0, 0, 0, 0], [0, 0.25, 0.75, 1], [0, 0.25, 0.75, 1], [0, 0, 0, 0]])
    assert torch.allclose(out[0, 0], expected)


def test_fill_crops_the_centre() -> None:
    # 2x1 into 4x4: scaled x4 to 8x4, columns 2..5 kept. x = (i + 0.5) / 4 - 0.5 for i = 2..5.
    out = fit_picture(RAMP, (4, 4), Fit.FILL, Resample.BILINEAR)
    row = torch.tensor([0.125, 0.375, 0.625, 0.875])
    assert out.shape == (1, 1, 4, 4)
    assert torch.allclose(out[0, 0], row.expand(4, 4))


def test_stretch_changes_the_aspect_and_nearest_keeps_exact_pixels() -> None:
    out = fit_picture(RAMP, (4, 2), Fit.STRETCH, Resample.NEAREST)
    assert torch.equal(out[0, 0], torch.tensor([[0.0, 0, 1, 1], [0, 0, 1, 1]]))


def test_same_size_is_the_picture_itself() -> None:
    image = torch.rand(1, 3, 8, 8)
    assert fit_picture(image, (8, 8), Fit.FILL) is image


def test_the_host_resize_matches_the_device_one_on_a_known_picture() -> None:
    image = np.zeros((1, 2, 3), np.uint8)
    image[0, 1] = 200
    out = resize_image(image, (4, 4), Fit.FIT)
    assert out.shape == (4, 4, 3) and out.dtype == np.uint8
    assert out[:, :, 0].tolist() == [[0, 0, 0, 0], [0, 50, 150, 200], [0, 50, 150, 200], [0, 0, 0, 0]]


def test_the_depth_channel_gets_the_same_geometry() -> None:
    stage = OutputGeometry(GeometrySpec((4, 4), Fit.FIT))
    depth = torch.tensor([[0, 200]], dtype=torch.uint8)
    out = stage.apply_depth(depth)
    assert out.dtype == torch.uint8
    assert out.tolist() == [[0, 0, 0, 0], [0, 50, 150, 200], [0, 50, 150, 200], [0, 0, 0, 0]]


@pytest.mark.parametrize(("text", "message"), [
    ("1920", "expected WIDTHxHEIGHT such as 1920x1080, found '1920'"),
    ("0x1080", "the width must be 16..8192 pixels, found 0x1080"),
    ("1920x99999", "the height must be 16..8192 pixels, found 1920x99999"),
])
def test_a_bad_size_is_one_clear_line(text: str, message: str) -> None:
    with pytest.raises(VjError, match="--output-size: " + message):
        parse_size(text)


def test_per_output_sizes_are_checked_for_that_output() -> None:
    spec = parse_output_size("preview=641x360:fill")  # a window takes any size
    assert (spec.output, spec.size, spec.fit) == ("preview", (641, 360), Fit.FILL)
    with pytest.raises(VjError, match="ndi: 641x360 cannot be encoded .*try 642x360"):
        parse_output_size("ndi=641x360")
    with pytest.raises(VjError, match="OUTPUT one of vcam, ndi, ndi-depth, spout, syphon, preview, found 'tv=1x1'"):
        parse_output_size("tv=1x1")
    with pytest.raises(VjError, match="expected fit, fill or stretch after the size, found 'zoom'"):
        parse_output_size("vcam=1280x720:zoom")


class DoubleNearest(torch.nn.Module):
    """A real x2 upscaling network: a 1x1 convolution to 12 channels, then a pixel shuffle (as ESPCN)."""

    def __init__(self) -> None:
        super().__init__()
        self.conv = torch.nn.Conv2d(3, 12, 1, bias=False)
        with torch.no_grad():  # each input channel copied to its 4 sub-pixels: nearest-neighbour x2
            self.conv.weight.zero_()
            for c in range(3):
                self.conv.weight[c * 4:(c + 1) * 4, c] = 1.0
        self.shuffle = torch.nn.PixelShuffle(2)

    def forward(self, image: torch.Tensor) -> torch.Tensor:
        return self.shuffle(self.conv(image))


def test_the_upscaler_runs_before_the_resample_to_the_screen() -> None:
    image = torch.zeros(1, 3, 2, 2)
    image[0, :, 0, 1] = 1.0  # one white pixel top right
    stage = OutputGeometry(GeometrySpec((4, 4), Fit.FIT, Resample.NEAREST), Upscaler(DoubleNearest(), 2))
    out = stage.apply(image)
    assert out.shape == (1, 3, 4, 4)
    expected = torch.tensor([[0.0, 0, 1, 1], [0, 0, 1, 1], [0, 0, 0, 0], [0, 0, 0, 0]])
    assert torch.equal(out[0, 0], expected)  # the network's own x2, not a resample (bilinear would blur)
    smaller = OutputGeometry(GeometrySpec((2, 2)), Upscaler(DoubleNearest(), 2))
    assert torch.equal(smaller.apply(image), image)  # no upscaling to a screen the render already covers


def test_an_upscaler_that_does_not_scale_as_it_says_is_refused() -> None:
    stage = OutputGeometry(GeometrySpec((8, 8)), Upscaler(torch.nn.Identity(), 2))
    with pytest.raises(RuntimeError, match="expected x2"):
        stage.apply(torch.zeros(1, 3, 2, 2))


def test_a_missing_upscaler_file_or_spandrel_is_one_line(tmp_path, monkeypatch: pytest.MonkeyPatch) -> None:  # noqa: ANN001
    with pytest.raises(VjError, match="--upscaler: '.*nope.pth' is not a file"):
        check_upscaler_file(str(tmp_path / "nope.pth"))
    weights = tmp_path / "x2.pth"
    torch.save(DoubleNearest().state_dict(), weights)
    monkeypatch.setitem(sys.modules, "spandrel", None)  # as if not installed
    with pytest.raises(VjError) as refused:
        check_upscaler_file(str(weights))
    assert str(refused.value).startswith(SPANDREL_MISSING) and "\n" not in str(refused.value)


@pytest.mark.skipif(importlib.util.find_spec("spandrel") is None,
                    reason="spandrel is not installed (it needs torchvision, whose PyPI wheels do not import "
                           "against this CPU torch); pip install 'vj[upscale]'")
def test_spandrel_loads_an_upscaler_from_a_weights_file(tmp_path) -> None:  # noqa: ANN001
    import spandrel  # noqa: F401
    from spandrel.architectures.ESRGAN import ESRGAN

    weights = tmp_path / "esrgan-x2.pth"
    torch.save(ESRGAN(in_nc=3, out_nc=3, num_filters=8, num_blocks=1, scale=2).state_dict(), weights)
    upscaler = load_upscaler(str(weights), torch.device("cpu"))
    assert upscaler.scale == 2
    out = OutputGeometry(GeometrySpec((32, 32)), upscaler).apply(torch.rand(1, 3, 16, 16))
    assert out.shape == (1, 3, 32, 32) and float(out.min()) >= 0.0 and float(out.max()) <= 1.0
