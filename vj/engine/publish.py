"""Publishing a frame: uint8 on the device, one copy into a ring of host buffers, checked on arrival.

The conversion to uint8 HWC runs on the device, and a finite-pixels flag rides in the same
buffer as one extra byte, so the host learns whether a frame is usable from the one copy it
makes anyway (no extra synchronisation). A depth channel an output shows rides there too,
rather than in a blocking copy of its own that would drain the pipeline every frame; so does the
picture at the render size when the outputs get another size and the recording keeps the render's,
and a float32 `signal` the engine measured on the device (the similarity skip's picture similarity).

In-betweens (`in_betweens` k > 0, `--output-rate-mode blend`): k pictures between the previous
frame and this one, at weights 1/(k+1) ... k/(k+1), blended on the device from the two uint8
pictures (the previous one is still in the other ring slot) and carried in the same copy, so an
output ticking at 60 Hz shows a device-made blend without a copy or a sum of its own.
On CUDA the copy runs on its own stream into
pinned memory with an event; pipelined, `submit` hands back the *previous* frame once its
event has completed and returns while this one is still being computed and copied, so
the GPU never idles while the host fans a frame out. At most one frame is in flight.
Elsewhere (CPU) the same steps run with a synchronous copy; `pipelined=True` still defers
each frame by one, which is how the tests hold the pipelined bookkeeping to the
unpipelined frames.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Generic, TypeVar

import numpy as np
import torch

from vj.picture_blend import blend_pictures, blend_weight

T = TypeVar("T")
_RING = 2  # the frame being copied out and the one being computed


@dataclass
class _Slot(Generic[T]):
    staged: torch.Tensor  # device uint8 [H·W·3 (+ H·W) (+ h·w·3) (+ k·H·W·3) (+ 4) + 1]: the pixels, the
    # depth, the render-size picture, the in-betweens and the signal if any, then the finite flag
    scratch: torch.Tensor  # device float [H, W, 3]: the scaled pixels before the cast
    source_scratch: torch.Tensor | None  # device float [h, w, 3]: the render-size picture, when it rides along
    host: torch.Tensor  # host uint8, as `staged`, pinned on CUDA
    event: torch.cuda.Event | None = None
    ticket: T | None = None


@dataclass(frozen=True, slots=True)
class Published(Generic[T]):
    """A frame whose copy has arrived: its ticket, its RGB pixels (None: not finite), its depth channel."""

    ticket: T
    pixels: np.ndarray | None
    depth: np.ndarray | None = None  # uint8 [H, W], when submitted with one
    source: np.ndarray | None = None  # uint8 [h, w, 3]: the render-size picture, when submitted with one
    signal: float | None = None  # the float32 value submitted with the frame, when one was
    in_betweens: tuple[np.ndarray, ...] = ()  # uint8 [H, W, 3] each: the previous frame blended into this one


class FramePublisher(Generic[T]):
    """Device image → host uint8 pixels, in submission order, with a ticket of the caller's."""

    def __init__(self, device: torch.device, *, pipelined: bool | None = None, in_betweens: int = 0) -> None:
        self.device = device
        self.in_betweens = in_betweens  # pictures blended between consecutive frames on the device (0: none)
        self.pipelined = device.type == "cuda" if pipelined is None else pipelined
        self._cuda = device.type == "cuda"
        self._copy_stream = torch.cuda.Stream(device) if self._cuda else None
        self._slots: list[_Slot[T]] = []
        self._size: tuple[int, int] | None = None
        self._with_depth = False
        self._source_size: tuple[int, int] | None = None
        self._with_signal = False
        self._in_betweens = 0  # as allocated
        self._previous: _Slot[T] | None = None  # the slot holding the last frame's pixels (blended from)
        self._next = 0
        self._pending: list[_Slot[T]] = []  # submitted, not yet handed back, oldest first

    @property
    def in_flight(self) -> int:
        return len(self._pending)

    def submit(self, image: torch.Tensor, ticket: T, depth: torch.Tensor | None = None,
               source: torch.Tensor | None = None, signal: torch.Tensor | None = None) -> list[Published[T]]:
        """Start publishing a [1, 3, H, W] float image in [0, 1]; returns the frames now complete.

        `depth`: a uint8 [H, W] channel on the device that rides in the same copy (no copy of its own);
        `source`: a second [1, 3, h, w] picture (the render's, before the output geometry), likewise;
        `signal`: a one-element float32 tensor on the device that rides there too.
        """
        done: list[Published[T]] = []
        height, width = int(image.shape[2]), int(image.shape[3])
        source_size = (int(source.shape[2]), int(source.shape[3])) if source is not None else None
        if (self._size != (height, width) or self._with_depth != (depth is not None)
                or self._source_size != source_size or self._with_signal != (signal is not None)
                or self._in_betweens != self.in_betweens):
            done = self.flush()
            self._allocate(height, width, with_depth=depth is not None, source_size=source_size,
                           with_signal=signal is not None)
        slot = self._slots[self._next]
        self._next = (self._next + 1) % len(self._slots)
        self._stage(image, slot)
        if source is not None:
            assert slot.source_scratch is not None
            start = height * width * (4 if depth is not None else 3)
            _to_uint8(source, slot.source_scratch, slot.staged[start:start + slot.source_scratch.numel()])
        if depth is not None:
            if tuple(depth.shape) != (height, width):
                raise ValueError(f"the depth channel is {tuple(depth.shape)}; expected the frame's {(height, width)}")
            pixels = height * width * 3
            slot.staged[pixels:pixels + height * width].view(height, width).copy_(depth)
        if self._in_betweens:
            self._stage_in_betweens(slot)
        self._previous = slot
        if signal is not None:
            slot.staged[-5:-1].copy_(signal.reshape(1).to(torch.float32).view(torch.uint8))
        slot.ticket = ticket
        self._copy_out(slot)
        self._pending.append(slot)
        keep = 1 if self.pipelined else 0
        while len(self._pending) > keep:
            done.append(self._finish(self._pending.pop(0)))
        return done

    def flush(self) -> list[Published[T]]:
        """Wait for and hand back every frame still in flight (end of a run, a resize)."""
        done = [self._finish(slot) for slot in self._pending]
        self._pending.clear()
        return done

    def discard(self) -> int:
        """Drop the frames in flight unpublished (they were made from a frame found bad); how many."""
        dropped = len(self._pending)
        for slot in self._pending:
            if slot.event is not None:
                slot.event.synchronize()  # its buffer is reused next: the copy must be over
            slot.ticket = None
        self._pending.clear()
        self._previous = None  # the next frame does not follow on from a dropped one
        return dropped

    def release(self) -> int:
        """Discard the frames in flight and let go of the ring buffers (reallocated by the next `submit`)."""
        dropped = self.discard()
        self._slots = []
        self._size = None
        self._next = 0
        return dropped

    # ------------------------------------------------------------------ the steps
    def _allocate(self, height: int, width: int, *, with_depth: bool = False,
                  source_size: tuple[int, int] | None = None, with_signal: bool = False) -> None:
        extra = source_size[0] * source_size[1] * 3 if source_size is not None else 0
        extra += self.in_betweens * height * width * 3
        count = height * width * (4 if with_depth else 3) + extra + (4 if with_signal else 0) + 1
        pin = self._cuda
        self._slots = [_Slot(staged=torch.empty(count, dtype=torch.uint8, device=self.device),
                             scratch=torch.empty(height, width, 3, device=self.device),
                             source_scratch=(torch.empty(*source_size, 3, device=self.device)
                                             if source_size is not None else None),
                             host=torch.empty(count, dtype=torch.uint8, pin_memory=pin))
                       for _ in range(_RING)]
        self._size = (height, width)
        self._with_depth = with_depth
        self._source_size = source_size
        self._with_signal = with_signal
        self._in_betweens = self.in_betweens
        self._previous = None
        self._next = 0

    def _in_betweens_start(self) -> int:
        assert self._size is not None
        height, width = self._size
        start = height * width * (4 if self._with_depth else 3)
        if self._source_size is not None:
            start += self._source_size[0] * self._source_size[1] * 3
        return start

    def _stage_in_betweens(self, slot: _Slot[T]) -> None:
        """On the device: the previous frame's uint8 pixels blended into this one's at i/(k+1), i = 1..k.

        The first frame (and the first after a resize or a dropped frame) has no previous one: its
        in-betweens are the frame itself, so an output simply holds it."""
        assert self._size is not None
        height, width = self._size
        count = height * width * 3
        newer = slot.staged[:count].view(height, width, 3)
        older = self._previous.staged[:count].view(height, width, 3) if self._previous is not None else newer
        start = self._in_betweens_start()
        for i in range(1, self._in_betweens + 1):
            out = slot.staged[start + (i - 1) * count:start + i * count].view(height, width, 3)
            blend_pictures(older, newer, blend_weight(i / (self._in_betweens + 1)), out=out)

    def _stage(self, image: torch.Tensor, slot: _Slot[T]) -> None:
        """On the device: pixels ×255, rounded, clamped, cast to uint8 HWC, and the finite flag."""
        _to_uint8(image, slot.scratch, slot.staged[:slot.scratch.numel()])
        slot.staged[-1:].copy_(torch.isfinite(image).all().view(1))

    def _copy_out(self, slot: _Slot[T]) -> None:
        """The one device→host copy of a frame (asynchronous on CUDA, behind an event)."""
        if self._copy_stream is None:
            slot.host.copy_(slot.staged)
            return
        compute = torch.cuda.current_stream(self.device)
        self._copy_stream.wait_stream(compute)
        with torch.cuda.stream(self._copy_stream):
            slot.host.copy_(slot.staged, non_blocking=True)
            slot.event = torch.cuda.Event()
            slot.event.record(self._copy_stream)

    def _finish(self, slot: _Slot[T]) -> Published[T]:
        if slot.event is not None:
            slot.event.synchronize()  # the frame's one host wait; its copy is usually long done
            slot.event = None
        ticket, slot.ticket = slot.ticket, None
        assert ticket is not None
        if not slot.host[-1]:
            return Published(ticket, None)
        assert self._size is not None
        height, width = self._size
        count = height * width * 3
        pixels = slot.host[:count].view(height, width, 3).numpy().copy()  # the ring buffer is reused
        depth = slot.host[count:count + height * width].view(height, width).numpy().copy() if self._with_depth else None
        source = None
        if self._source_size is not None:
            start = height * width * (4 if self._with_depth else 3)
            sh, sw = self._source_size
            source = slot.host[start:start + sh * sw * 3].view(sh, sw, 3).numpy().copy()
        signal = float(slot.host[-5:-1].numpy().view(np.float32)[0]) if self._with_signal else None
        start = self._in_betweens_start()
        in_betweens = tuple(slot.host[start + i * count:start + (i + 1) * count].view(height, width, 3).numpy().copy()
                            for i in range(self._in_betweens))
        return Published(ticket, pixels, depth, source, signal, in_betweens)


def _to_uint8(image: torch.Tensor, scratch: torch.Tensor, staged: torch.Tensor) -> None:
    """[1, 3, H, W] in [0, 1] -> ×255, rounded, clamped, uint8 HWC into `staged` (all on the device)."""
    torch.mul(image[0].permute(1, 2, 0), 255, out=scratch)
    scratch.round_().clamp_(0, 255)
    staged.view(scratch.shape).copy_(scratch)
