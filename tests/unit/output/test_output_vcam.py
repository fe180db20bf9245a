"""Virtual camera through a pyvirtualcam backend registered for the test (no /dev/video* here)."""

from __future__ import annotations

import logging
from typing import Any, ClassVar

import numpy as np
import pytest
import pyvirtualcam

from tests.unit.output_helpers import FakeTime, make_frame
from vj.output.vcam import LINUX_MODPROBE, VirtualCameraOutput, setup_hint


class RecordingBackend:
    """A pyvirtualcam backend that keeps what it receives (environment.md §9)."""

    opened: ClassVar[list[RecordingBackend]] = []
    clock: ClassVar[FakeTime | None] = None

    def __init__(self, *, width: int, height: int, fps: float, fourcc: int, device: str | None, **kw: Any) -> None:
        self.width, self.height, self.fps, self.fourcc = width, height, fps, fourcc
        self.frames: list[np.ndarray] = []
        self.times: list[float] = []
        self.closed = False
        RecordingBackend.opened.append(self)

    def device(self) -> str:
        return "fake0"

    def native_fourcc(self) -> None:
        return None

    def send(self, frame: np.ndarray) -> None:
        self.frames.append(frame.copy())
        self.times.append(RecordingBackend.clock.now if RecordingBackend.clock else 0.0)

    def close(self) -> None:
        self.closed = True


pyvirtualcam.register_backend("vjtest", RecordingBackend)


@pytest.fixture
def fake() -> FakeTime:
    RecordingBackend.opened.clear()
    RecordingBackend.clock = FakeTime()
    return RecordingBackend.clock


def _factory(**kwargs: Any) -> pyvirtualcam.Camera:
    return pyvirtualcam.Camera(**{**kwargs, "backend": "vjtest"})


def test_frames_arrive_rgb_at_the_right_size_and_rate_with_repeats(fake: FakeTime) -> None:
    cam = VirtualCameraOutput(30.0, camera_factory=_factory, clock=fake.clock, wait=fake.wait)
    produced = [0]
    start = fake.now

    def engine(now: float) -> None:  # a 12 fps engine feeding a 30 fps camera
        while start + produced[0] / 12.0 <= now:
            cam.offer(make_frame(produced[0], width=64, height=48))
            produced[0] += 1

    fake.hooks.append(engine)
    engine(fake.now)
    cam.paced.run(max_ticks=30)
    (backend,) = RecordingBackend.opened
    assert (backend.width, backend.height, backend.fps) == (64, 48, 30.0)
    assert backend.fourcc == pyvirtualcam.camera.encode_fourcc(pyvirtualcam.PixelFormat.RGB.value)
    assert len(backend.frames) == 30
    first = backend.frames[0]
    assert first.size == 64 * 48 * 3  # pyvirtualcam hands backends flattened frames
    pixels = first.reshape(48, 64, 3)
    assert tuple(pixels[0, 0]) == (0, 100, 200)  # R, G, B in that order: no BGR swap
    gaps = np.diff(backend.times)
    assert np.allclose(gaps, 1 / 30)
    red = [int(f.reshape(48, 64, 3)[0, 0, 0]) for f in backend.frames]
    assert red == sorted(red) and len(set(red)) == 12  # each engine frame shown, held in between
    assert cam.paced.counters.repeated == 18
    assert "sent 30, repeated 18" in cam.status()


def test_a_new_frame_size_reopens_the_camera(fake: FakeTime) -> None:
    cam = VirtualCameraOutput(10.0, camera_factory=_factory, clock=fake.clock, wait=fake.wait)
    cam.offer(make_frame(0, width=64, height=48))
    cam.paced.run(max_ticks=2)
    cam.offer(make_frame(1, width=96, height=64))
    cam.paced.run(max_ticks=2)
    first, second = RecordingBackend.opened
    assert first.closed and (first.width, first.height) == (64, 48) and len(first.frames) == 2
    assert (second.width, second.height) == (96, 64) and second.frames[0].size == 96 * 64 * 3
    assert cam.reopens == 1
    cam.close()
    assert second.closed


def test_no_device_keeps_the_show_going_and_says_what_to_do(fake: FakeTime, caplog: pytest.LogCaptureFixture
                                                              ) -> None:
    attempts: list[dict[str, Any]] = []

    def missing(**kwargs: Any) -> Any:
        attempts.append(kwargs)
        raise RuntimeError("'v4l2loopback' backend: No v4l2 loopback device found at /dev/video[0-99]")

    cam = VirtualCameraOutput(10.0, backend="v4l2loopback", device="/dev/video7", retry_s=1.0,
                              camera_factory=missing, clock=fake.clock, wait=fake.wait)
    cam.offer(make_frame(0))
    with caplog.at_level(logging.ERROR, logger="vj.output.vcam"):
        cam.paced.run(max_ticks=25)  # 2.5 s of ticks
    assert attempts[0] == {"width": 64, "height": 48, "fps": 10.0, "backend": "v4l2loopback", "device": "/dev/video7"}
    assert len(attempts) == 3  # retried once per retry_s, not every tick
    assert len(caplog.records) == 1  # logged once, not every retry
    assert "What to do" in caplog.text and "The show goes on" in caplog.text
    assert not cam.is_open and "unavailable (RuntimeError" in cam.status()
    assert cam.paced.counters.errors == 0


def test_real_pyvirtualcam_without_a_device_is_not_fatal(fake: FakeTime) -> None:
    cam = VirtualCameraOutput(10.0, backend="v4l2loopback", device="/dev/video-vj-test-missing",
                              clock=fake.clock, wait=fake.wait)
    cam.offer(make_frame(0))
    cam.paced.run(max_ticks=2)
    assert not cam.is_open and cam.open_failures == 1 and cam.last_error


def test_setup_hint_per_os() -> None:
    assert LINUX_MODPROBE in setup_hint("Linux") and "exclusive_caps=1" in LINUX_MODPROBE
    assert "OBS" in setup_hint("Windows") and "unitycapture" in setup_hint("Windows")
    assert "OBS" in setup_hint("Darwin")


def test_unknown_backend_is_refused() -> None:
    with pytest.raises(ValueError, match="expected one of auto, v4l2loopback, obs, unitycapture"):
        VirtualCameraOutput(30.0, backend="spout")


def test_a_device_lost_mid_show_is_reopened_later(fake: FakeTime) -> None:
    cam = VirtualCameraOutput(10.0, retry_s=0.5, camera_factory=_factory, clock=fake.clock, wait=fake.wait)
    cam.offer(make_frame(0))
    cam.paced.run(max_ticks=1)
    first = RecordingBackend.opened[0]

    def broken(frame: np.ndarray) -> None:
        raise OSError("No such device")

    first.send = broken  # type: ignore[method-assign]
    cam.paced.run(max_ticks=8)
    assert cam.paced.counters.errors == 1 and len(RecordingBackend.opened) == 2
    assert len(RecordingBackend.opened[1].frames) >= 2
