"""A missing virtual camera or NDI sender: a short status every second, the detail logged once."""

from __future__ import annotations

import logging
from typing import Any

import pytest

from tests.unit.output_helpers import FakeTime, make_frame
from vj.output.ndi import NdiFormat, NdiOutput, NdiSender
from vj.output.vcam import VirtualCameraOutput

# What pyvirtualcam says with no loopback device, and then some: the status must not carry it.
LONG_ERROR = ("'v4l2loopback' backend: No v4l2 loopback device found at /dev/video[0-99]. Did you run "
              "'modprobe v4l2loopback'? See also pyvirtualcam's documentation. " + "x" * 300)


def test_a_missing_virtual_camera_keeps_the_status_short_and_logs_once(caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeTime()

    def missing(**_kwargs: Any) -> Any:
        raise RuntimeError(LONG_ERROR)

    cam = VirtualCameraOutput(10.0, retry_s=0.5, camera_factory=missing, clock=fake.clock, wait=fake.wait)
    cam.offer(make_frame(0))
    statuses = []
    with caplog.at_level(logging.DEBUG, logger="vj"):
        for _ in range(10):  # 10 s of ticks: about 20 retries, one status line a second
            cam.paced.run(max_ticks=10)
            statuses.append(cam.status())
    assert cam.open_failures >= 15
    assert all(len(s) < 120 for s in statuses), max(statuses, key=len)
    assert statuses[-1] == "vcam unavailable (RuntimeError, see the log), retrying every 0.5 s"
    detailed = [r for r in caplog.records if LONG_ERROR in r.getMessage()]
    assert len(detailed) == 1 and "What to do" in detailed[0].getMessage()


def test_a_short_open_error_stays_readable_in_the_status() -> None:
    fake = FakeTime()

    def missing(**_kwargs: Any) -> Any:
        raise RuntimeError("no device")

    cam = VirtualCameraOutput(10.0, camera_factory=missing, clock=fake.clock, wait=fake.wait)
    cam.offer(make_frame(0))
    cam.paced.run(max_ticks=2)
    assert cam.status() == "vcam unavailable (RuntimeError: no device), retrying every 5 s"


def test_a_failing_ndi_sender_keeps_the_status_short() -> None:
    fake = FakeTime()

    def failing(_name: str, _fmt: NdiFormat, _fps: float) -> NdiSender:
        raise RuntimeError(LONG_ERROR)

    out = NdiOutput(10.0, sender_factory=failing, clock=fake.clock, wait=fake.wait)
    out.offer(make_frame(0))
    out.paced.run(max_ticks=5)
    assert len(out.status()) < 120 and out.status().startswith("ndi unavailable (RuntimeError, see the log)")
