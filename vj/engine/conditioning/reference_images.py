"""Reference pictures → the IP-Adapter's image embedding and scale, blended, cached and faded in.

A picture is encoded once by the adapter's CLIP image encoder (resized and centre-cropped on the
device, so a grabbed frame never leaves it) and cached by its name. Several pictures blend as
prompts do: a normalised weighted sum of their embeddings. A new set never cuts: the embedding
glides from what is on screen to the new blend over `reference_fade_s`; the first picture fades
in from no reference (the effective scale rising from 0), and clearing fades it out.

Live, encoding runs on a background thread and the frame keeps the previous reference until
the new one is ready (no stall); offline it is synchronous, so renders repeat exactly. The
scale is a 0-dim device tensor changed by `fill_` with a Python float: no host→device copy and,
being an input of the UNet call, no recompile (vj.engine.conditioning.ip_adapter_attention).
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

log = logging.getLogger(__name__)

# CLIP's normalisation (every public IP-Adapter's image encoder was trained with it).
CLIP_MEAN = (0.48145466, 0.4578275, 0.40821073)
CLIP_STD = (0.26862954, 0.26130258, 0.27577711)

PictureLoader = Callable[[], torch.Tensor]  # → RGB [1, 3, H, W] in [0, 1], on any device


@dataclass(frozen=True, slots=True)
class Reference:
    """One picture of a blend: `name` keys the cache (a file's path and time, a grab's frame), `load` makes it."""

    name: str
    load: PictureLoader
    weight: float = 1.0


class ReferenceEncoder:
    """RGB [1, 3, H, W] in [0, 1] → the embedding the adapter's projection takes, [1, 1, ...] on the device."""

    def __init__(self, image_encoder: Any, projection: Any, device: torch.device, dtype: torch.dtype) -> None:
        from diffusers.models.embeddings import ImageProjection

        self.model = image_encoder
        self.device, self.dtype = device, dtype
        self.size = int(image_encoder.config.image_size)
        # diffusers' rule: a plain IP-Adapter projects the pooled image embedding, the others the
        # penultimate hidden states.
        self.hidden_states = not isinstance(projection.image_projection_layers[0], ImageProjection)
        self._mean = torch.tensor(CLIP_MEAN).view(1, 3, 1, 1).to(device)
        self._std = torch.tensor(CLIP_STD).view(1, 3, 1, 1).to(device)

    def preprocess(self, image: torch.Tensor) -> torch.Tensor:
        """Shorter side to the encoder's size (bicubic, antialiased), centre crop, CLIP normalisation."""
        x = image.to(device=self.device, dtype=torch.float32)
        height, width = int(x.shape[-2]), int(x.shape[-1])
        scale = self.size / min(height, width)
        size = (max(self.size, round(height * scale)), max(self.size, round(width * scale)))
        x = F.interpolate(x, size=size, mode="bicubic", antialias=True, align_corners=False).clamp(0, 1)
        top, left = (size[0] - self.size) // 2, (size[1] - self.size) // 2
        x = x[..., top:top + self.size, left:left + self.size]
        return ((x - self._mean) / self._std).to(self.dtype)

    @torch.inference_mode()
    def encode(self, image: torch.Tensor) -> torch.Tensor:
        out = self.model(self.preprocess(image), output_hidden_states=self.hidden_states)
        embedding = out.hidden_states[-2] if self.hidden_states else out.image_embeds
        return embedding[:, None].contiguous()

    def blank(self) -> torch.Tensor:
        """The embedding of no picture (zeros), to shape the inputs before any reference."""
        return torch.zeros_like(self.encode(torch.zeros(1, 3, self.size, self.size, device=self.device)))


class _Fade:
    """From one blend (and presence) to another over a time, started at the first frame that sees it."""

    def __init__(self, blank: torch.Tensor) -> None:
        self.from_embeds, self.to_embeds = blank, blank
        self.from_presence = self.to_presence = 0.0
        self.start_s: float | None = None

    def begin(self, current: tuple[torch.Tensor, float], embeds: torch.Tensor, presence: float) -> None:
        self.from_embeds, self.from_presence = current
        self.to_embeds, self.to_presence = embeds, presence
        if self.from_presence == 0.0:  # from no reference: the new picture fades in by the scale alone
            self.from_embeds = embeds
        if presence == 0.0:  # to no reference: fade out by the scale, keeping the picture
            self.to_embeds = self.from_embeds
        self.start_s = None

    def at(self, time_s: float, fade_s: float) -> tuple[torch.Tensor, float]:
        if self.start_s is None:
            self.start_s = time_s
        a = 1.0 if fade_s <= 0 else min(max((time_s - self.start_s) / fade_s, 0.0), 1.0)
        if a >= 1.0:
            return self.to_embeds, self.to_presence
        embeds = self.to_embeds if self.from_embeds is self.to_embeds else torch.lerp(
            self.from_embeds, self.to_embeds, a)
        return embeds, self.from_presence + (self.to_presence - self.from_presence) * a


class ReferenceConditioner:
    """The IP-Adapter's per-frame inputs: `frame` on the render thread, `set` from any thread."""

    def __init__(self, encoder: ReferenceEncoder, *, background: bool, capacity: int = 32) -> None:
        self.encoder = encoder
        self._cache: OrderedDict[str, torch.Tensor] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()
        blank = encoder.blank()
        self._fade = _Fade(blank)
        self._current: tuple[torch.Tensor, float] = (blank, 0.0)
        self._ready: tuple[torch.Tensor, float] | None = None  # a blend encoded, not yet fading in
        with torch.inference_mode():
            self.scale = torch.zeros((), device=encoder.device, dtype=encoder.dtype)
        self._scale_value = 0.0
        self.names: tuple[str, ...] = ()  # the blend on screen (or fading in)
        self.errors = 0
        self.last_error = ""
        self._generation = 0
        self.grab_wanted: tuple[str, float] | None = None  # (input|output, weight): taken at the next frame
        self.grabs = 0
        self._queue: queue.Queue[tuple[int, tuple[Reference, ...]] | None] | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._queue = queue.Queue()
            self._thread = threading.Thread(target=self._worker, name="reference-encoder", daemon=True)
            self._thread.start()

    # ---- any thread
    def set(self, references: Sequence[Reference]) -> None:
        """Blend these pictures from now on (an empty list fades the reference out)."""
        refs = tuple(references)
        if any(r.weight < 0 for r in refs) or (refs and sum(r.weight for r in refs) <= 0):
            raise ValueError("reference weights must be >= 0 with a positive sum")
        with self._lock:
            self._generation += 1
            generation = self._generation
        if self._queue is not None:
            self._queue.put((generation, refs))
        else:
            self._encode_blend(generation, refs)

    def prime(self, references: Sequence[Reference]) -> None:
        """Start with these pictures fully in (encoded now, on the caller's thread): the show's first frame."""
        refs = tuple(references)
        with self._lock:
            self._generation += 1
            generation = self._generation
        self._encode_blend(generation, refs)
        with self._lock:
            ready, self._ready = self._ready, None
        if ready is not None:
            self._current = ready
            self._fade.begin(ready, *ready)

    def request_grab(self, source: str, weight: float = 1.0) -> None:
        """Take the next frame's input picture or output as the reference (the render thread copies it)."""
        if source not in ("input", "output"):
            raise ValueError(f"grab: expected input or output, found {source!r}")
        self.grab_wanted = (source, weight)

    def take_grab(self, picture: torch.Tensor | None, output: torch.Tensor, frame_index: int) -> bool:
        """On the render thread: a copy on the device of what a pending grab asked for, encoded like a file.
        False when it asked for the input and the show has none (yet)."""
        wanted, self.grab_wanted = self.grab_wanted, None
        if wanted is None:
            return False
        source, weight = wanted
        frame = output if source == "output" else picture
        if frame is None:
            self.errors += 1
            self.last_error = "grab input: the show has no input picture (--input)"
            log.warning("%s", self.last_error)
            return False
        copy = frame.detach().clone()  # device to device: the render thread goes on with its own
        self.grabs += 1
        self.set([Reference(f"grab-{source}-{frame_index}", lambda: copy, weight)])
        return True

    def status(self) -> str:
        """For the status line: the pictures on screen (file names), the weight they act with now, and the last
        refusal; "" with no picture and nothing wrong."""
        names = [Path(name.rsplit("@", 1)[0]).name for name in self.names]  # a file's name is path@mtime
        parts = [f"ref {' + '.join(names)} x{self._scale_value:.2f}"] if names else []
        if self.errors:
            parts.append(f"ref errors {self.errors}: {self.last_error}"[:120])
        return " ".join(parts)

    def close(self) -> None:
        if self._queue is not None and self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5.0)

    def _embedding(self, ref: Reference) -> torch.Tensor:
        with self._lock:
            found = self._cache.get(ref.name)
            if found is not None:
                self._cache.move_to_end(ref.name)
                return found
        embedding = self.encoder.encode(ref.load())
        with self._lock:
            self._cache[ref.name] = embedding
            while len(self._cache) > self._capacity:
                self._cache.popitem(last=False)
        return embedding

    def _encode_blend(self, generation: int, refs: tuple[Reference, ...]) -> None:
        with torch.inference_mode():
            if refs:
                total = sum(r.weight for r in refs)
                embeds: torch.Tensor | None = None
                for ref in refs:
                    part = self._embedding(ref) * (ref.weight / total)
                    embeds = part if embeds is None else embeds + part
                assert embeds is not None
                blend: tuple[torch.Tensor, float] = (embeds.contiguous(), 1.0)
            else:
                blend = (self._current[0], 0.0)
        with self._lock:
            if generation == self._generation:  # a later set wins over one still encoding
                self._ready = blend
                self.names = tuple(r.name for r in refs)

    def _worker(self) -> None:
        assert self._queue is not None
        while (item := self._queue.get()) is not None:
            generation, refs = item
            try:
                self._encode_blend(generation, refs)
            except Exception as err:  # noqa: BLE001 - a bad picture must not end the encoder thread
                self.errors += 1
                self.last_error = f"reference {', '.join(r.name for r in refs)}: {err}"
                log.warning("%s", self.last_error)

    # ---- the render thread
    def frame(self, scale: float, fade_s: float, time_s: float) -> None:
        """Advance the fade to `time_s` and set this frame's scale (ip_adapter_scale × presence)."""
        if self._ready is not None:
            with self._lock:
                ready, self._ready = self._ready, None
            if ready is not None:
                self._fade.begin(self._current, *ready)
        self._current = self._fade.at(time_s, fade_s)
        effective = scale * self._current[1]
        if effective != self._scale_value:
            with torch.inference_mode():  # the scale is an inference tensor, as the compiled call wants it
                self.scale.fill_(effective)  # a Python scalar: a kernel argument, not a copy
            self._scale_value = effective

    def inputs(self, batch: int) -> tuple[torch.Tensor, torch.Tensor]:
        """(image embeddings at `batch`, scale) for a UNet call."""
        embeds = self._current[0]
        return (embeds if batch == 1 else embeds.expand(batch, *embeds.shape[1:])), self.scale
