"""The output geometry in the full-size frame on `meta`: a 1080p output is one copy of that size, double-buffered.

The resize (and an upscaling network before it) runs on the device between the frame and its one
copy out, with no host read (meta raises on one) and no host→device copy in a steady-state frame.
The copy itself is stubbed as in every contract test (meta holds no data); what it would copy is
checked: the staged buffer is exactly the output's pixels and the finite flag, and a recording at
the render size adds that picture to the same copy rather than a copy of its own.
"""

from __future__ import annotations

from typing import Any

import torch

from tests.contract.engine_run import SIZE, Run, backend, start, steady_frame
from tests.contract.meta_models import DTYPE, META
from tests.unit.output.test_output_geometry import DoubleNearest
from vj.engine.output_geometry import OutputGeometry
from vj.engine.upscaler import Upscaler
from vj.output_size import Fit, GeometrySpec, Resample

HD = (1920, 1080)
PARAMS = dict(steps=1, color_coherence="lab", zoom=1.02)


def _count_copies(run: Run, expected_bytes: int) -> list[Any]:
    staged: list[Any] = []

    def copy_out(slot: Any) -> None:
        assert slot.staged.device == META and slot.staged.dtype == torch.uint8
        assert slot.staged.shape == (expected_bytes,)
        staged.append(slot.staged)
        slot.host[-1] = 1  # "all pixels finite"

    run.engine._publisher._copy_out = copy_out  # type: ignore[method-assign]
    return staged


def _run(run: Run, expected_bytes: int) -> list[Any]:
    staged = _count_copies(run, expected_bytes)
    run.engine.render_frame()
    run.engine.render_frame()
    steady_frame(run)
    steady_frame(run)
    publisher = run.engine._publisher
    assert len(publisher._slots) == 2  # double-buffered, allocated once at the output size
    assert all(slot.host.numel() == expected_bytes for slot in publisher._slots)
    assert len(staged) == 4  # one copy a frame
    return staged


def test_a_1080p_output_is_one_copy_of_that_size_without_a_host_read(models) -> None:  # noqa: ANN001
    geometry = OutputGeometry(GeometrySpec(HD, Fit.FILL, Resample.BICUBIC))
    run = start(backend(models), PARAMS, output_geometry=geometry)
    _run(run, HD[0] * HD[1] * 3 + 1)
    assert all(f.image.shape == (HD[1], HD[0], 3) and f.render_size == (SIZE, SIZE) for f in run.sink.frames)
    assert run.engine.good_size == (SIZE, SIZE)  # what an out-of-memory undo goes back to: the render's size


def test_the_render_size_picture_rides_in_the_same_copy(models) -> None:  # noqa: ANN001
    geometry = OutputGeometry(GeometrySpec(HD, Fit.FIT, keep_render_copy=True))
    run = start(backend(models), PARAMS, output_geometry=geometry)
    _run(run, HD[0] * HD[1] * 3 + SIZE * SIZE * 3 + 1)
    frame = run.sink.frames[-1]
    assert frame.image.shape == (HD[1], HD[0], 3)
    assert frame.render_image is not None and frame.render_image.shape == (SIZE, SIZE, 3)


def test_an_upscaling_network_runs_on_the_device_before_the_resample(models) -> None:  # noqa: ANN001
    network = DoubleNearest().to(META, DTYPE)
    calls: list[torch.Tensor] = []
    network.register_forward_pre_hook(lambda module, args: calls.append(args[0]))
    geometry = OutputGeometry(GeometrySpec(HD, Fit.FIT), Upscaler(network, 2))
    run = start(backend(models), PARAMS, output_geometry=geometry)
    _run(run, HD[0] * HD[1] * 3 + 1)
    assert len(calls) == 4 and all(c.device == META and c.dtype == DTYPE and c.shape[-1] == SIZE for c in calls)


def test_the_in_betweens_for_the_display_rate_ride_in_the_same_copy(models) -> None:  # noqa: ANN001
    """`--output-rate-mode blend`: the pictures between two frames are blended on the device from the two uint8
    pictures and leave in the frame's one copy (one more 1080p picture each), with no host read or copy in."""
    geometry = OutputGeometry(GeometrySpec(HD, Fit.FIT))
    run = start(backend(models), PARAMS, output_geometry=geometry)
    run.engine.in_betweens = 2
    _run(run, HD[0] * HD[1] * 3 * 3 + 1)
    frame = run.sink.frames[-1]
    assert len(frame.in_betweens) == 2 and all(b.shape == (HD[1], HD[0], 3) for b in frame.in_betweens)
