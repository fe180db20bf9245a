"""Prompt conditioning: `Conditioning`s cached by text, blended in embedding space, faded in.

Each distinct text is encoded once (never per frame). A `PromptMix` of weighted prompts
becomes one conditioning: a normalised weighted sum, or (mode "slerp") spherical steps from
one prompt to the next that keep the embedding's norm, field by field. A new mix does not
cut: the conditioning glides from what is on screen to the new blend over `prompt_fade_s`,
written into a preallocated buffer (a fade allocates nothing per frame).

Live, new texts are encoded on a background thread so the render thread never stalls on
the text encoder; the picture keeps the previous conditioning until the new one is ready.
Offline, encoding is synchronous, so renders are exactly repeatable.
"""

from __future__ import annotations

import logging
import queue
import threading
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass

import torch

from vj.choices import PROMPT_BLENDS, PromptBlend
from vj.engine.conditioning.embeddings import Conditioning, running_slerp, weighted_sum
from vj.engine.cpu_threads import keep_off_the_render_cores
from vj.prompt_mix import PromptMix

log = logging.getLogger(__name__)

EncodeFn = Callable[[str], Conditioning]


class EmbeddingCache:
    """Text → conditioning, LRU-bounded; optionally filled by a named background thread."""

    def __init__(self, encode: EncodeFn, *, background: bool, capacity: int = 128) -> None:
        self._encode = encode
        self._cache: OrderedDict[str, Conditioning] = OrderedDict()
        self._capacity = capacity
        self._lock = threading.Lock()
        self._requested: set[str] = set()
        self.hits = 0
        self.misses = 0
        self.errors = 0
        self._queue: queue.Queue[str | None] | None = None
        self._thread: threading.Thread | None = None
        if background:
            self._queue = queue.Queue()
            self._thread = threading.Thread(target=self._worker, name="prompt-encoder", daemon=True)
            self._thread.start()

    def get(self, text: str) -> Conditioning | None:
        """The conditioning if ready; otherwise None (background) or encode now (synchronous)."""
        with self._lock:
            found = self._cache.get(text)
            if found is not None:
                self._cache.move_to_end(text)
                self.hits += 1
                return found
            self.misses += 1
            if self._queue is not None:
                if text not in self._requested:
                    self._requested.add(text)
                    self._queue.put(text)
                return None
        embedding = self._encode(text)
        self._store(text, embedding)
        return embedding

    def _store(self, text: str, embedding: Conditioning) -> None:
        with self._lock:
            self._cache[text] = embedding
            self._requested.discard(text)
            while len(self._cache) > self._capacity:
                self._cache.popitem(last=False)

    def _worker(self) -> None:
        assert self._queue is not None
        keep_off_the_render_cores()
        while True:
            text = self._queue.get()
            if text is None:
                return
            try:
                with torch.inference_mode():
                    self._store(text, self._encode(text))
            except Exception:  # an I/O-side thread: log, count, carry on
                self.errors += 1
                log.exception("could not encode prompt %r", text[:80])
                with self._lock:
                    self._requested.discard(text)

    def close(self) -> None:
        if self._queue is not None and self._thread is not None:
            self._queue.put(None)
            self._thread.join(timeout=5.0)


def blend_conditionings(conditionings: list[Conditioning], weights: list[float],
                        mode: str = PromptBlend.LINEAR) -> Conditioning:
    """Blend prompt conditionings by weight. linear: Σwᵢcᵢ/Σwᵢ; slerp: successive slerps."""
    if not conditionings:
        raise ValueError("blend_conditionings needs at least one conditioning")
    if mode == PromptBlend.LINEAR or len(conditionings) == 1:
        return weighted_sum(conditionings, weights)
    if mode != PromptBlend.SLERP:
        raise ValueError(f"prompt blend mode must be {' or '.join(PROMPT_BLENDS)}, found {mode!r}")
    return running_slerp(conditionings, weights)


def blend_embeddings(embeddings: list[torch.Tensor], weights: list[float],
                     mode: str = PromptBlend.LINEAR) -> torch.Tensor:
    """`blend_conditionings` for bare embedding tensors."""
    return blend_conditionings([Conditioning(e) for e in embeddings], weights, mode).embeddings


@dataclass(frozen=True, slots=True)
class PromptState:
    """Where a `PromptConditioner` stands: the mix it follows, the one still being encoded, the fade.

    The conditionings are the conditioner's own (not copies): serialise or copy them before the next frame.
    """

    mix: PromptMix | None
    blend: str
    pending: PromptMix | None
    target: Conditioning | None
    negative: Conditioning | None
    fade_from: Conditioning | None
    current: Conditioning | None
    fade_start_s: float


def _on(c: Conditioning | None, device: torch.device) -> Conditioning | None:
    return None if c is None else c.map(lambda t: t.to(device))


class PromptConditioner:
    """Turns each frame's `PromptMix` into (conditional, negative) conditionings, with fades."""

    def __init__(self, cache: EmbeddingCache) -> None:
        self.cache = cache
        self._blend_mode: str = PromptBlend.LINEAR
        self._mix: PromptMix | None = None
        self._target: Conditioning | None = None
        self._negative: Conditioning | None = None
        self._from: Conditioning | None = None
        self._current: Conditioning | None = None
        # A fade writes each frame into `_out`; a fade that starts mid-fade copies it to `_start` first.
        self._out: Conditioning | None = None
        self._start: Conditioning | None = None
        self._fade_start_s = 0.0
        self._pending: PromptMix | None = None

    def _resolve(self, mix: PromptMix) -> tuple[Conditioning, Conditioning] | None:
        active = mix.active() or ((mix.entries[0],) if mix.entries else ())
        texts = [e.text for e in active] or [""]
        weights = [e.weight for e in active] or [1.0]
        if sum(weights) <= 0:
            weights = [1.0] * len(texts)
        embeddings = [self.cache.get(t) for t in texts]
        negative = self.cache.get(mix.negative)
        if negative is None or any(e is None for e in embeddings):
            return None
        return blend_conditionings(embeddings, weights, self._blend_mode), negative  # type: ignore[arg-type]

    def conditioning(self, mix: PromptMix, now_s: float, fade_s: float,
                     blend_mode: str = PromptBlend.LINEAR) -> tuple[Conditioning, Conditioning] | None:
        """(conditional, negative) for this frame; None only before the very first prompt is encoded."""
        if mix != self._mix or blend_mode != self._blend_mode:
            self._mix = mix
            self._blend_mode = blend_mode
            self._pending = mix
        if self._pending is not None:
            resolved = self._resolve(self._pending)
            if resolved is not None:
                self._pending = None
                target, negative = resolved
                self._from = self._fade_start(target) if fade_s > 0 else None
                self._target, self._negative = target, negative
                self._fade_start_s = now_s
        if self._target is None or self._negative is None:
            return None
        if self._from is not None:
            progress = (now_s - self._fade_start_s) / fade_s if fade_s > 0 else 1.0
            if progress >= 1.0:
                self._from = None
                self._current = self._target
            else:
                self._current = self._from.lerp_into(self._buffer("_out", self._target), self._target, progress)
        else:
            self._current = self._target
        return self._current, self._negative

    def _buffer(self, name: str, like: Conditioning) -> Conditioning:
        buffer: Conditioning | None = getattr(self, name)
        if buffer is None or not buffer.same_layout(like):
            buffer = like.empty_like()
            setattr(self, name, buffer)
        return buffer

    def _fade_start(self, target: Conditioning) -> Conditioning | None:
        """What a new fade starts from: what is on screen, kept still while `_out` moves on."""
        current = self._current
        if current is None or not current.same_layout(target):
            return None
        if current is not self._out:
            return current  # a cached blend: nothing writes to it
        return current.copy_into(self._buffer("_start", current))

    @property
    def fading(self) -> bool:
        return self._from is not None

    def reset(self) -> None:
        self._mix = self._target = self._negative = self._from = self._current = self._pending = None

    def state(self) -> PromptState:
        return PromptState(self._mix, str(self._blend_mode), self._pending, self._target, self._negative,
                           self._from, self._current, self._fade_start_s)

    def restore(self, state: PromptState, device: torch.device) -> None:
        """Carry on from `state` (after `reset`): the fade goes on where it was, with no new encoding."""
        self._mix, self._blend_mode, self._pending = state.mix, state.blend, state.pending
        self._target, self._negative = _on(state.target, device), _on(state.negative, device)
        self._from, self._current = _on(state.fade_from, device), _on(state.current, device)
        self._fade_start_s = float(state.fade_start_s)
