"""CPU threads: the render thread gets every core, any other thread that runs torch ops gets one.

PyTorch's OpenMP pool belongs to the thread that calls it. When a second thread (the main
thread after loading the model, the prompt encoder) also owns a multi-threaded team, libgomp
sees more threads than cores and stops spinning between parallel regions, so every small op
pays a sleep and a wake-up. Measured on the 2-core dev machine: the tiny model rendered at
19 fps on the render thread against 43 fps on the main thread, at 64 px. With the other
threads at one intra-op thread each, the render thread runs as fast as the main thread did.
On a GPU the ops are kernel launches and none of this matters: a live session applies it to
CPU rendering only, so loading a model for a GPU keeps every core.

A render on the calling thread (`vj render`, a replay) takes every core for its length with
`on_the_render_cores()`: torch's thread count is partly process-wide, so after a live session in
the same process it could be 1, and a render's float sums (so its pixels) would depend on what
ran before it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch

# torch's default (the cores it may use), read before any of the calls below lowers it.
RENDER_THREADS = torch.get_num_threads()


def keep_off_the_render_cores() -> None:
    """Call on a non-render thread before it runs torch ops (loading, prompt encoding)."""
    torch.set_num_threads(1)


def claim_the_render_cores() -> None:
    """Call first thing on the render thread."""
    torch.set_num_threads(RENDER_THREADS)


@contextmanager
def on_the_render_cores() -> Iterator[None]:
    """Render on the calling thread with every core; the thread count it had comes back after."""
    before = torch.get_num_threads()
    torch.set_num_threads(RENDER_THREADS)
    try:
        yield
    finally:
        torch.set_num_threads(before)
