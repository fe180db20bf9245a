"""Changing the model mid-show at a frame boundary, with a crossfade from the old model's last picture.

A model switch arrives as a "model" `ControlEvent` in the frame's events (so a take records it and a
replay performs it on the same frame). The model it names is staged beforehand under its key: either
ready (loaded and warmed on a background thread while the old one played: the live path when both fit
in device memory), or as a loader the render thread calls after letting go of the old model (the path
when both do not fit, and a replay). Either way the feedback picture carries over in pixel space, so
the new model's first frame is the old one's last picture re-encoded through the new VAE, resized
first if the new size differs.

The picture then crossfades from the old model's last picture, held, to the new model's frames over a
set time (`fade_s`, on the frame clock): a lerp on the device with a host float weight, no sync. The
old model is held until the fade is over, so a device out-of-memory in those frames can switch back
(`undo`, called by vj.engine.oom_recovery); then it is released.
"""

from __future__ import annotations

import gc
import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

import torch
import torch.nn.functional as F

from vj.engine.backends.base import Backend
from vj.engine.backends.lora_scales import LoraScaleApplier
from vj.engine.coherence.feature_bank import FeatureBank
from vj.engine.conditioning.prompt_conditioner import EmbeddingCache, PromptConditioner
from vj.engine.conditioning.reference_images import ReferenceConditioner
from vj.engine.controlnet.scales import ControlNetScales
from vj.engine.controlnet.units import ControlNets
from vj.errors import FatalRenderError
from vj.prompt_mix import PromptMix
from vj.snapshot import ControlEvent, model_switch, model_switch_event

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ModelParts:
    """Everything the engine holds that belongs to one model."""

    key: str  # what "model" events name it by (vj.snapshot.model_key)
    backend: Backend
    cache: EmbeddingCache
    prompts: PromptConditioner
    lora_scales: LoraScaleApplier
    controls: ControlNets | None
    controlnet_scales: ControlNetScales
    owned: bool  # loaded for the switch: closed when released (a backend handed in by a caller is only dropped)
    bank: FeatureBank | None = None  # the feature bank's processors in this model's UNet, when the show has one
    references: ReferenceConditioner | None = None  # this model's IP-Adapter pictures, when it has an adapter


def model_parts(key: str, backend: Backend, controls: ControlNets | None = None, *, background: bool = True,
                owned: bool = True, bank: FeatureBank | None = None) -> ModelParts:
    """The engine's parts for `backend`; `background`: prompts and reference pictures are encoded on threads
    of their own (live); `bank`: the feature bank installed in `backend` (before its warm-up, which sizes it)."""
    cache = EmbeddingCache(backend.encode_prompt, background=background)
    return ModelParts(key, backend, cache, PromptConditioner(cache), LoraScaleApplier(backend), controls,
                      ControlNetScales(len(controls.units) if controls is not None else 0), owned, bank,
                      attach_references(backend, background=background))


def attach_references(backend: Backend, *, background: bool) -> ReferenceConditioner | None:
    """The model's own reference pictures, when it has an IP-Adapter; None otherwise.

    They belong to the model, not the show: the pictures are encoded by the adapter's image encoder, and
    another model's encoder (another family's) gives embeddings of another width, so a model switch
    starts the new model without reference pictures until they are set again."""
    loaded = getattr(backend, "references", None)
    if loaded is None:
        return None
    references = ReferenceConditioner(loaded.encoder, background=background)
    backend.attach_references(references)  # type: ignore[attr-defined]
    return references


def prime_parts(parts: ModelParts, mix: PromptMix, timeout_s: float = 120.0) -> None:
    """Encode `mix`'s prompts with the new model before it plays (so its first frame does not wait)."""
    for text in {e.text for e in mix.entries} | {mix.negative, ""}:
        parts.cache.get(text)
    deadline = time.monotonic() + timeout_s
    while parts.prompts.conditioning(mix, 0.0, 0.0) is None:
        if time.monotonic() > deadline:
            raise FatalRenderError(f"the text encoder of {parts.key} did not encode the prompts within "
                                   f"{timeout_s:.0f} s")
        time.sleep(0.01)
    parts.prompts.reset()


def release_parts(parts: ModelParts, *, collect: bool = True) -> None:
    """Let go of a model: its prompt encoder thread, its weights if the switch loaded them, the device cache.

    `collect`: run the garbage collector too (what reference cycles hold is freed now, not later), when the
    memory is needed at once; it holds the GIL for a while, so not while the show renders."""
    parts.cache.close()
    if parts.references is not None:
        parts.references.close()
    if parts.owned:
        parts.backend.close()
    if collect:
        gc.collect()
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        torch.cuda.empty_cache()


def release_later(parts: ModelParts) -> threading.Thread:
    """`release_parts` on a thread of its own, without the garbage collection (it would stall the render thread)."""
    thread = threading.Thread(target=release_parts, args=(parts,), kwargs={"collect": False},
                              name="vj-model-release", daemon=True)
    thread.start()
    return thread


@dataclass(frozen=True, slots=True)
class Staged:
    """A model a "model" event may switch to: ready, or loaded on the render thread when the event comes."""

    parts: ModelParts | None = None
    load: Callable[[], ModelParts] | None = None  # called after the old model is released
    reload: Callable[[], ModelParts] | None = None  # the old model again, if `load` fails (a live hold)
    on_progress: Callable[[str], None] | None = None  # what the hold is doing, for the status line


class SwitchesModels(Protocol):
    """What a switch asks of the engine, on the render thread between two frames."""

    width: int
    height: int

    def model_parts(self) -> ModelParts:
        """The parts of the model playing now."""

    def install_model(self, parts: ModelParts) -> ModelParts:
        """Put `parts` in place of the model's; the parts that were in place."""

    def resize_now(self, width: int, height: int) -> None: ...

    def last_picture(self) -> torch.Tensor | None:
        """The picture on the outputs now ([1, 3, H, W] on the device), None before the first."""

    def carry_event(self, event: ControlEvent) -> None:
        """Record `event` in the next frame's events (a change the engine made itself)."""


@dataclass(slots=True)
class _Fade:
    held: torch.Tensor
    start_s: float
    fade_s: float


@dataclass(frozen=True, slots=True)
class Switched:
    frame: int  # the first frame the new model rendered
    key: str
    held: bool  # the old model was released before the new one loaded (it did not fit beside it)


class ModelSwitches:
    """The engine's model switches: the models staged by key, the crossfade, and the old model until it ends."""

    def __init__(self, key: str) -> None:
        self.key = key  # the model playing now
        self.switched: list[Switched] = []  # every switch, in order (tests, the replay's result)
        self._staged: dict[str, Staged] = {}
        self._lock = threading.Lock()
        self._fade: _Fade | None = None
        self._previous: ModelParts | None = None

    def stage(self, key: str, staged: Staged) -> None:
        """Make `key` ready for the "model" event that names it (any thread)."""
        with self._lock:
            old = self._staged.get(key)
            self._staged[key] = staged
        if old is not None and old.parts is not None and old.parts is not staged.parts:
            release_parts(old.parts)

    def unstage(self, key: str) -> None:
        with self._lock:
            old = self._staged.pop(key, None)
        if old is not None and old.parts is not None:
            release_parts(old.parts)

    def ready_backend(self, key: str) -> Backend | None:
        """The backend staged under `key` if it is loaded (its model defaults fill a preset's base values)."""
        with self._lock:
            found = self._staged.get(key)
        return found.parts.backend if found is not None and found.parts is not None else None

    def staged(self, key: str) -> bool:
        with self._lock:
            return key in self._staged

    @property
    def fading(self) -> bool:
        return self._fade is not None

    @property
    def holding_previous(self) -> str | None:
        """The key of the old model still held (during the crossfade), else None."""
        return self._previous.key if self._previous is not None else None

    # ------------------------------------------------------------------ on the render thread
    def take(self, engine: SwitchesModels, event: ControlEvent, frame_index: int, time_s: float, dt_s: float) -> None:
        """Switch to the model `event` names, at this frame boundary; keep the model playing if none is staged."""
        switch = model_switch(event)
        with self._lock:
            staged = self._staged.pop(switch.key, None)
        if switch.key == self.key:  # already playing (a switch back and forth on one grid point)
            if staged is not None and staged.parts is not None:
                release_later(staged.parts)
            return
        if staged is None:
            log.warning("model switch to %s at frame %d skipped: it was not loaded; %s plays on", switch.key,
                        frame_index, self.key)
            return
        held = self.last_or_none(engine)
        self._fade = None  # a switch during the last one's fade: from this picture on
        if self._previous is not None:  # a switch during the last one's fade: that old model goes now
            release_later(self._previous)
            self._previous = None
        if staged.parts is not None:
            self._previous = engine.install_model(staged.parts)
            gone_first = False
        else:
            self._swap_holding(engine, staged)
            gone_first = True
        self.key = switch.key
        if (switch.width, switch.height) != (engine.width, engine.height):
            engine.resize_now(switch.width, switch.height)
        if held is not None and switch.fade_s > 0:
            if held.shape[-2:] != (engine.height, engine.width):
                held = F.interpolate(held, size=(engine.height, engine.width), mode="bilinear", align_corners=False)
            self._fade = _Fade(held, time_s - dt_s, switch.fade_s)
        elif self._previous is not None:
            release_later(self._previous)
            self._previous = None
        self.switched.append(Switched(frame_index, switch.key, gone_first))
        log.info("model switched to %s at frame %d%s", switch.key, frame_index,
                 " (held the last frame while it loaded)" if gone_first else "")

    @staticmethod
    def last_or_none(engine: SwitchesModels) -> torch.Tensor | None:
        picture = engine.last_picture()
        return picture.clone() if picture is not None else None

    def _swap_holding(self, engine: SwitchesModels, staged: Staged) -> None:
        """Release the old model, then load the new one here (the outputs hold the last frame meanwhile)."""
        assert staged.load is not None
        progress = staged.on_progress or (lambda note: None)
        progress(f"releasing {self.key}")
        old = engine.model_parts()
        release_parts(old)  # the engine's references stay until the new parts replace them: the weights are gone
        try:
            engine.install_model(staged.load())
        except BaseException:
            if staged.reload is None:
                raise
            log.exception("loading the new model failed; loading %s again", old.key)
            progress(f"loading {old.key} again")
            engine.install_model(staged.reload())
            raise

    def blend(self, output: torch.Tensor, time_s: float) -> torch.Tensor:
        """The frame's picture during a crossfade (the held old picture into the new model's); else `output`."""
        fade = self._fade
        if fade is None:
            return output
        weight = (time_s - fade.start_s) / fade.fade_s
        if weight >= 1.0:
            self._fade = None
            if self._previous is not None:
                release_later(self._previous)
                self._previous = None
            return output
        if fade.held.shape != output.shape:  # resized during the fade (the governor): the held picture follows
            fade.held = F.interpolate(fade.held, size=output.shape[-2:], mode="bilinear", align_corners=False)
        return torch.lerp(fade.held, output, max(weight, 0.0))

    def undo(self, engine: SwitchesModels) -> str | None:
        """After a device out-of-memory during the crossfade: switch back to the old model, release the new one."""
        previous = self._previous
        if previous is None:
            return None
        self._previous = None
        self._fade = None
        new = engine.install_model(previous)
        release_parts(new)
        self.key = previous.key
        engine.carry_event(model_switch_event(previous.key, engine.width, engine.height, 0.0, "oom"))
        return f"model back to {previous.key}"

    def close(self) -> None:
        """The show is over: release what is staged and the old model still held."""
        with self._lock:
            staged, self._staged = list(self._staged.values()), {}
        for entry in staged:
            if entry.parts is not None:
                release_parts(entry.parts)
        if self._previous is not None:
            release_parts(self._previous)
            self._previous = None
