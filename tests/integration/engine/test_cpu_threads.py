"""Live on a CPU, the render thread gets every intra-op thread and the other torch users get one.

(Why: vj.engine.cpu_threads. Two multi-threaded OpenMP teams on two cores halved the render rate.)
"""

from __future__ import annotations

import time
from collections.abc import Iterator

import pytest
import torch

from tests.helpers import CollectFrames
from vj.engine import cpu_threads
from vj.engine.conditioning.prompt_conditioner import EmbeddingCache
from vj.frames import Frame
from vj.session import LiveSession


@pytest.fixture
def restore_main_threads() -> Iterator[None]:
    before = torch.get_num_threads()
    yield
    torch.set_num_threads(before)


class ThreadsSeen(CollectFrames):
    """An output whose offer() runs on the render thread: it notes the intra-op threads there."""

    def __init__(self) -> None:
        super().__init__()
        self.seen: list[int] = []

    def offer(self, frame: Frame) -> None:
        self.seen.append(torch.get_num_threads())


def test_a_live_session_gives_the_render_thread_the_cores(tiny_backend, tiny_preset, restore_main_threads,  # noqa: ANN001
                                                          monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(cpu_threads, "RENDER_THREADS", 3)  # not this machine's count: proves the claim
    session = LiveSession(tiny_preset, backend=tiny_backend)
    assert torch.get_num_threads() == 1  # the main thread keeps off
    probe = ThreadsSeen()
    session.add_output(probe)
    session.start(max_frames=3)
    try:
        deadline = time.monotonic() + 30
        while len(probe.seen) < 3 and time.monotonic() < deadline:
            time.sleep(0.02)
    finally:
        session.stop()
    assert probe.seen[:3] == [3, 3, 3]


def test_the_prompt_encoder_thread_uses_one_thread(restore_main_threads) -> None:  # noqa: ANN001
    torch.set_num_threads(2)
    seen: list[int] = []

    def encode(text: str) -> torch.Tensor:
        seen.append(torch.get_num_threads())
        return torch.zeros(1, 4, 8)

    cache = EmbeddingCache(encode, background=True)
    try:
        assert cache.get("a prompt") is None  # queued for the background thread
        deadline = time.monotonic() + 5
        while cache.get("a prompt") is None and time.monotonic() < deadline:
            time.sleep(0.01)
    finally:
        cache.close()
    assert seen == [1]
