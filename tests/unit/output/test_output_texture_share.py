"""Spout / Syphon outputs with a fake sender (neither can run on Linux): pacing, conversion, reopen, platform."""

from __future__ import annotations

import logging

import numpy as np
import pytest

from tests.unit.output_helpers import FakeTime, make_frame
from vj.output.texture_share import SPOUT, SYPHON, TextureShareOutput, to_rgba


class FakeSender:
    def __init__(self, log: list[tuple[str, int, int]], name: str, width: int, height: int) -> None:
        self.sent: list[np.ndarray] = []
        self.closed = False
        log.append((name, width, height))
        self.log = log

    def send(self, rgba: np.ndarray) -> None:
        self.sent.append(rgba.copy())

    def close(self) -> None:
        self.closed = True


def make_output(kind=SPOUT, fps: float = 10.0, fail_opens: int = 0):  # noqa: ANN001, ANN201
    fake = FakeTime()
    opened: list[tuple[str, int, int]] = []
    senders: list[FakeSender] = []
    failures = {"left": fail_opens}

    def factory(name: str, width: int, height: int) -> FakeSender:
        if failures["left"]:
            failures["left"] -= 1
            raise RuntimeError("no DirectX device")
        sender = FakeSender(opened, name, width, height)
        senders.append(sender)
        return sender

    out = TextureShareOutput(kind, fps, name="stage", sender_factory=factory, platform=kind.platform,
                             clock=fake.clock, wait=fake.wait, retry_s=1.0)
    out.paced.start_s = fake.now
    return out, fake, opened, senders


def test_rgb_becomes_opaque_rgba_in_a_reused_buffer() -> None:
    image = np.arange(2 * 3 * 3, dtype=np.uint8).reshape(2, 3, 3)
    rgba = to_rgba(image)
    assert rgba.shape == (2, 3, 4) and np.array_equal(rgba[..., :3], image) and (rgba[..., 3] == 255).all()
    again = to_rgba(image[::-1].copy(), rgba)
    assert again is rgba and np.array_equal(again[..., :3], image[::-1])
    with pytest.raises(ValueError, match="RGB or RGBA uint8"):
        to_rgba(np.zeros((2, 3), np.uint8))


@pytest.mark.parametrize("kind", [SPOUT, SYPHON], ids=["spout", "syphon"])
def test_paced_at_the_output_rate_holding_the_last_frame(kind) -> None:  # noqa: ANN001
    out, fake, opened, senders = make_output(kind)
    out.offer(make_frame(7, value=70))
    out.paced.run(max_ticks=3)  # one fresh frame, then the same frame held twice
    assert opened == [("stage", 64, 48)]
    sent = senders[0].sent
    assert len(sent) == 3 and all(int(s[0, 0, 0]) == 70 and int(s[0, 0, 3]) == 255 for s in sent)
    assert out.paced.counters.repeated == 2
    assert fake.now - 1000.0 == pytest.approx(0.2)  # three ticks at 10 fps: 0, 0.1, 0.2 s
    assert "sent 3" in out.status() and "'stage' 64x48" in out.status()


def test_a_new_size_reopens_the_sender_and_a_failed_open_is_retried_not_fatal(caplog) -> None:  # noqa: ANN001
    out, fake, opened, senders = make_output(fail_opens=1)
    out.offer(make_frame(1))
    with caplog.at_level(logging.ERROR):
        out.paced.run(max_ticks=1)
    assert opened == [] and "could not be opened" in caplog.text
    assert "unavailable (RuntimeError: no DirectX device)" in out.status()
    out.paced.run(max_ticks=12)  # a second later it opens
    assert opened == [("stage", 64, 48)]
    out.offer(make_frame(2, width=32, height=16))
    out.paced.run(max_ticks=1)
    assert opened[-1] == ("stage", 32, 16) and senders[0].closed and out.reopens == 1
    out.close()
    assert senders[-1].closed


@pytest.mark.parametrize("kind, elsewhere", [(SPOUT, "linux"), (SYPHON, "win32")], ids=["spout", "syphon"])
def test_off_with_one_clear_line_on_another_platform(kind, elsewhere, caplog) -> None:  # noqa: ANN001
    out = TextureShareOutput(kind, 24.0, platform=elsewhere)
    with caplog.at_level(logging.ERROR):
        out.start()
        out.offer(make_frame(1))
        out.close()
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 1
    assert f"{kind.name} output is off" in lines[0] and kind.platform_label in lines[0] and elsewhere in lines[0]
    assert out.status() == f"{kind.name.lower()} off"


def test_a_missing_package_names_the_extra(caplog) -> None:  # noqa: ANN001
    out = TextureShareOutput(SPOUT, 24.0, platform="win32")  # SpoutGL is not installed here
    with caplog.at_level(logging.ERROR):
        out.start()
    assert "pip install 'vj[spout]'" in caplog.text and "SpoutGL" in caplog.text
    assert not out.paced.running
