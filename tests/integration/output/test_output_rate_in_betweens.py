"""`vj run --output-rate-mode blend` on a live tiny-model session: the engine publishes each frame with the
previous one blended into it on the device, and a real 60 Hz paced output shows those pictures between frames."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import CollectFrames, wait_for
from vj.cli.main import build_parser
from vj.cli.run import attach_run_components
from vj.config import PresetConfig
from vj.output.frame_blend import BlendingMailbox, blend_on_ticks
from vj.output.pacing import PacedOutput
from vj.picture_blend import blend_images, blend_weight
from vj.session import LiveSession

FLAGS = ["--no-osc", "--no-oscquery", "--no-zeroconf", "--no-web", "--output-size", "96x64"]


@pytest.fixture
def session(tiny_backend, tiny_preset: PresetConfig, tmp_path: Path) -> Iterator[LiveSession]:  # noqa: ANN001
    live = LiveSession(tiny_preset, backend=tiny_backend)
    args = build_parser().parse_args(["run", "tiny.toml", *FLAGS, "--output-rate-mode", "blend",
                                      "--output-blend-steps", "2"])
    attach_run_components(live, args)
    yield live
    live.stop()


def test_each_frame_carries_the_device_in_betweens_and_a_60_hz_output_shows_them(session: LiveSession) -> None:
    assert session.engine.in_betweens == 2
    sink = CollectFrames()
    session.add_output(sink)
    shown: list[np.ndarray] = []
    paced = PacedOutput("test-60hz", 60.0, lambda frame, _fresh: shown.append(frame.image))
    mailbox: BlendingMailbox = blend_on_ticks(paced)
    session.add_output(paced)
    session.start()
    wait_for(lambda: len(sink.frames) >= 8 and mailbox.from_device >= 3, timeout_s=120.0)
    session.stop()
    frames = sink.frames
    assert all(f.image.shape == (64, 96, 3) and len(f.in_betweens) == 2 for f in frames)
    for before, after in zip(frames, frames[1:], strict=False):
        assert after.index == before.index + 1
        for i, made in enumerate(after.in_betweens, start=1):  # the device's sums equal the host's reference
            assert np.array_equal(made, blend_images(before.image, after.image, blend_weight(i / 3))), after.index
    pictures = {bytes(f.image) for f in frames} | {bytes(b) for f in frames for b in f.in_betweens}
    assert mailbox.blended == mailbox.from_device  # no blend was summed on the host
    assert all(bytes(image) in pictures for image in shown)  # every tick showed a frame or a device in-between


def test_the_host_blend_is_chosen_by_name_and_makes_no_in_betweens(tiny_backend, tiny_preset: PresetConfig  # noqa: ANN001
                                                                     ) -> None:
    live = LiveSession(tiny_preset, backend=tiny_backend)
    try:
        attach_run_components(live, build_parser().parse_args(["run", "tiny.toml", *FLAGS, "--output-rate-mode",
                                                               "blend-host"]))
        assert live.engine.in_betweens == 0
    finally:
        live.stop()
