"""One output at its own size: resized on the wrapper's own thread, never in `offer`."""

from __future__ import annotations

import threading

import numpy as np

from tests.helpers import CollectFrames, wait_for
from tests.unit.output_helpers import make_frame
from vj.output.resized import ResizedOutput
from vj.output_size import Fit, OutputSize


def test_an_output_gets_its_own_size_from_its_own_thread() -> None:
    inner = CollectFrames()
    threads: list[str] = []
    offer = inner.offer
    inner.offer = lambda frame: (threads.append(threading.current_thread().name), offer(frame))  # type: ignore[method-assign]
    output = ResizedOutput(inner, OutputSize("preview", (4, 4), Fit.FIT))
    output.start()
    try:
        frame = make_frame(3, width=2, height=1, value=0)
        frame.image[0, 1] = 200
        output.offer(frame)
        wait_for(lambda: len(inner.frames) == 1, timeout_s=10.0)
    finally:
        output.close()
    shown = inner.frames[0]
    assert shown.index == 3 and shown.image.shape == (4, 4, 3)
    assert shown.image[:, :, 0].tolist() == [[0, 0, 0, 0], [0, 50, 150, 200], [0, 50, 150, 200], [0, 0, 0, 0]]
    assert threads == ["vj-resize-preview"] and output.resized == 1


def test_a_frame_already_at_the_size_is_passed_as_it_is() -> None:
    inner = CollectFrames()
    output = ResizedOutput(inner, OutputSize("ndi", (64, 48)))
    output.start()
    try:
        frame = make_frame(1)
        output.offer(frame)
        wait_for(lambda: len(inner.frames) == 1, timeout_s=10.0)
    finally:
        output.close()
    assert np.shares_memory(inner.frames[0].image, frame.image)
