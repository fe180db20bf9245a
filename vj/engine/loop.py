"""The render loop: snapshot → warp → colour → noise → img2img → publish, one frame at a time.

One render thread owns the accelerator. Per frame it takes one `ParamSnapshot`, runs the
stages in Deforum's order on the device and publishes a `Frame` to its sink (the fan-out
queues), never waiting on an output in live mode. It does no I/O and no per-frame
logging; errors are counted, logged at most once a second, and the loop retries, keeping
the last good frame on every output. Out-of-memory on the GPU after the first good frame is
survived the same way, undoing a size change that caused it (vj.engine.oom_recovery); before it, fatal.

Publishing is pipelined on a GPU (vj.engine.publish): a frame's copy to the host runs while
the next frame is computed, and the frame is handed to the sink one `render_frame` later. A
frame whose pixels are not finite (an fp16 overflow in the VAE, a NaN from a model) never
reaches the sink: it is counted, the outputs keep the last good frame, and the feedback
restarts from that frame. None of it makes the render thread wait on the GPU per frame.

Cadence N (Deforum's diffusion_cadence): diffusion runs every N frames; the frames in
between warp the last two diffused images by the current motion and cross-fade them. As
in Deforum each new diffusion fades in over N frames; unlike Deforum the block starts on
the diffusion frame, so a live picture never lags a whole block behind the controls.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, replace
from typing import TypeVar

import torch
import torch.nn.functional as F

from vj.choices import CfgMode, ColourSpace
from vj.engine.backends.base import Backend
from vj.engine.backends.lora_scales import LoraScaleApplier
from vj.engine.clock import Clock
from vj.engine.coherence.feature_bank import FeatureBank
from vj.engine.coherence.stage import CoherenceStage
from vj.engine.colour import apply_contrast, colour_stats, match_colour, unsharp
from vj.engine.conditioning.embeddings import Conditioning
from vj.engine.conditioning.guidance import guided_model
from vj.engine.conditioning.prompt_conditioner import EmbeddingCache, PromptConditioner
from vj.engine.conditioning.seeds import NoiseBank, SeedSequencer
from vj.engine.controlnet.scales import ControlNetScales
from vj.engine.controlnet.units import ControlNets
from vj.engine.feedback_state import CarriedState, FeedbackState
from vj.engine.frame_boundary import BoundaryRequests, apply_boundary
from vj.engine.input_stage import EngineInputs, InputStage
from vj.engine.model_swap import ModelParts, ModelSwitches, attach_references
from vj.engine.noise import add_noise
from vj.engine.output_geometry import OutputGeometry
from vj.engine.publish import FramePublisher, Published
from vj.engine.render_thread import MAX_FAILURES_BEFORE_FIRST_FRAME, RenderThread, render_until
from vj.engine.sampling import img2img
from vj.engine.stage_timer import StageTimer
from vj.engine.stats import EngineStats
from vj.engine.warp.depth_estimator import DepthEstimator
from vj.engine.warp.frame_warp import FrameWarp
from vj.errors import FatalRenderError
from vj.frames import Frame, FrameSink
from vj.prompt_mix import PromptMix
from vj.registry import SEED_MODULUS
from vj.store import ControlEvent, ParamSnapshot

log = logging.getLogger(__name__)
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class EngineSettings:
    width: int
    height: int
    fps: float  # the reference fps of motion increments
    offline: bool = False  # exact 1/fps motion, synchronous prompt encoding
    profile_stages: bool = False  # synchronise the GPU per stage for wall-clock timings (benchmarks)
    pipelined: bool | None = None  # hand each frame out one frame later; None: on CUDA only
    cfg: str = CfgMode.RCFG_SELF  # guidance > 1: vj.engine.conditioning.guidance ([model] cfg)
    rcfg_delta: float = 1.0  # residual CFG: scale of the virtual negative ([model] rcfg_delta)


@dataclass(frozen=True, slots=True)
class _Ticket:
    """What a frame in flight carries to its publication."""

    index: int
    time_s: float
    snapshot: ParamSnapshot
    seed: int
    diffused: bool
    timer: StageTimer
    image: torch.Tensor  # the frame on the device: the feedback restarts from it if a later one is bad
    start_s: float


def _ancestral_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + 7919 * (step + 1)) % SEED_MODULUS


class Engine:
    """Turns parameter snapshots into frames on the backend's device."""

    def __init__(self, backend: Backend, store, settings: EngineSettings, sink: FrameSink,  # noqa: ANN001
                 clock: Clock, *, start_index: int = 0, inputs: EngineInputs | None = None,
                 depth: DepthEstimator | None = None, publish_depth: bool = False,
                 controls: ControlNets | None = None, output_geometry: OutputGeometry | None = None,
                 bank: FeatureBank | None = None) -> None:
        """`start_index`: the first frame's index (a replayed take that began mid-show).

        `inputs`: an input picture, init image or colour anchor from outside the loop (vj.engine.input_stage).
        `depth`: the 3D warp's depth of the previous frame (None: a flat plane);
        `publish_depth`: each Frame carries the depth map too (in the frame's own copy to the host);
        `controls`: the ControlNets attached to `backend`, given their pictures each diffused frame;
        `output_geometry`: the frames go out at the output size (resized on the device before the copy);
        `bank`: the feature bank installed in `backend`'s UNet (vj.engine.coherence.feature_bank)."""
        backend.check_resolution(settings.width, settings.height)
        self.backend = backend
        self.store = store
        self.settings = settings
        self.sink = sink
        self.clock = clock
        self.stats = EngineStats()
        self.width, self.height = settings.width, settings.height
        self.device = backend.device
        self.feedback = FeedbackState(index=start_index)  # what the next frame is made from
        self._seeds = SeedSequencer()
        self._noise = NoiseBank(self._latent_shape(), self.device, torch.float32)
        self._cache = EmbeddingCache(backend.encode_prompt, background=not settings.offline)
        self._prompts = PromptConditioner(self._cache)
        self._requests = BoundaryRequests()
        self._carry_events: tuple[ControlEvent, ...] = ()
        self._publisher: FramePublisher[_Ticket] = FramePublisher(self.device, pipelined=settings.pipelined)
        self._last_good: torch.Tensor | None = None
        self._good_size: tuple[int, int] | None = None  # the size of the last frame handed to the outputs
        self._anchor_index = -1
        self._last_publish_s = 0.0
        self._warp = FrameWarp(settings.fps, offline=settings.offline, depth=depth, publish_depth=publish_depth)
        self._thread = RenderThread()
        self._inputs = InputStage(inputs, self.device)
        self.lora_scales = LoraScaleApplier(backend)
        self.controls = controls
        self.controlnet_scales = ControlNetScales(len(controls.units) if controls is not None else 0)
        self.output_geometry = output_geometry
        # An IP-Adapter's pictures (set_references); live, new pictures are encoded off the render thread
        self.references = attach_references(backend, background=not settings.offline)
        self.models = ModelSwitches(backend.name)  # model switches mid-show (vj.engine.model_swap)
        self.owns_model = False  # closed when a switch releases it (False: handed in by a caller)
        self.coherence = CoherenceStage(self.device, bank)

    # ------------------------------------------------------------------ control from other threads
    def request_resize(self, width: int, height: int) -> None:
        """Change the resolution at the next frame boundary (preset switch)."""
        self.backend.check_resolution(width, height)
        self._requests.ask(resize=(width, height))

    def reset_anchor(self) -> None:
        """Colour coherence re-anchors on the next diffused frame."""
        self._requests.ask(reset_anchor=True)

    def prime(self, mix: PromptMix) -> None:
        """Encode the starting prompts before the show (so frame 0 is not a stall)."""
        for text in {e.text for e in mix.entries} | {mix.negative, ""}:
            self._cache.get(text)
        deadline = time.monotonic() + 120.0
        while self._prompts.conditioning(mix, 0.0, 0.0) is None:
            if time.monotonic() > deadline:
                raise FatalRenderError("the text encoder did not encode the starting prompts within 120 s")
            time.sleep(0.01)
        self._prompts.reset()

    @property
    def frame_index(self) -> int:
        return self.feedback.index

    @property
    def depth(self) -> DepthEstimator | None:
        """The 3D warp's depth estimator (None: a flat plane)."""
        return self._warp.depth

    @property
    def publish_depth(self) -> bool:
        return self._warp.publish_depth

    def carried_state(self) -> CarriedState:
        """What the next frame depends on besides the store (vj.engine.feedback_state): to continue a render."""
        return CarriedState(replace(self.feedback), self._seeds.state(), self._noise.state(), self._prompts.state())

    def restore_carried(self, state: CarriedState) -> None:
        """Put a `carried_state` back (after `prime`, which resets the prompt fade)."""
        self.feedback = state.feedback.on(self.device)
        self._seeds.restore(state.seeds)
        self._noise.restore(state.noise, self.device)
        self._prompts.restore(state.prompts, self.device)

    # ------------------------------------------------------------------ one frame
    def _latent_shape(self) -> tuple[int, int, int, int]:
        f = self.backend.vae_scale_factor
        return (1, self.backend.latent_channels, self.height // f, self.width // f)

    def _apply_pending(self, snap: ParamSnapshot) -> None:
        apply_boundary(self, self._requests, snap)

    def resize_now(self, width: int, height: int) -> None:
        """Change the size on the render thread, between frames (a boundary request, an undo after an OOM)."""
        if (width, height) != (self.width, self.height):
            self.width, self.height = width, height
            self.feedback.resize(self.height, self.width)
            if self._last_good is not None:
                self._last_good = F.interpolate(self._last_good, size=(self.height, self.width), mode="bilinear",
                                                align_corners=False)
            self._noise.resize(self._latent_shape())
            self._warp.resized()

    # ------------------------------------------------------------------ model switches (vj.engine.model_swap)
    def model_parts(self) -> ModelParts:
        return ModelParts(self.models.key, self.backend, self._cache, self._prompts, self.lora_scales, self.controls,
                          self.controlnet_scales, self.owns_model, self.coherence.bank, self.references)

    def install_model(self, parts: ModelParts) -> ModelParts:
        """Put `parts` in place of the playing model's, between frames; the parts that were in place."""
        old = self.model_parts()
        self.backend, self._cache, self._prompts = parts.backend, parts.cache, parts.prompts
        self.lora_scales, self.controls, self.controlnet_scales = parts.lora_scales, parts.controls, \
            parts.controlnet_scales
        self.owns_model = parts.owned
        self.coherence.bank, self.references = parts.bank, parts.references
        self.coherence.restart()  # the last latent, the skip's last picture and the bank's frames are the old model's
        self._noise.resize(self._latent_shape())  # the new model's latent channels and VAE factor
        return old

    def last_picture(self) -> torch.Tensor | None:
        return self._last_good if self._last_good is not None else self.feedback.turbo_next

    def carry_event(self, event: ControlEvent) -> None:
        self._carry_events = (*self._carry_events, event)

    def undo_model_switch(self) -> str | None:
        """After a device OOM during a model switch's crossfade: back to the old model (vj.engine.oom_recovery)."""
        return self.models.undo(self)

    @property
    def good_size(self) -> tuple[int, int] | None:
        """(width, height) of the last frame handed to the outputs; None before the first."""
        return self._good_size

    @property
    def depth_estimators(self) -> tuple[DepthEstimator, ...]:
        """The depth estimators a frame runs: the 3D warp's and a depth ControlNet's (when not the same one)."""
        found = [self._warp.depth, self.controls.depth if self.controls is not None else None]
        return tuple(dict.fromkeys(e for e in found if e is not None))

    def release_after_oom(self) -> int:
        """After a device OOM: discard the frames in flight (never published: the outputs hold the last good
        one) and let go of what the engine rebuilds as it goes (publish buffers, cached noise)."""
        discarded = self._publisher.release()
        noise = self._noise.drop_cache()
        log.debug("after out-of-memory: %d frames in flight discarded, %d cached noise tensors dropped",
                  discarded, noise)
        return discarded

    def _prepare(self, image: torch.Tensor, snap: ParamSnapshot, seed: int) -> torch.Tensor:
        """Colour coherence → contrast → anti-blur → noise (Deforum's order after the warp)."""
        p = snap.params
        space, anchor = p.color_coherence, self.feedback.anchor
        if space is not ColourSpace.NONE and anchor is not None and anchor.space == space:
            image = match_colour(image, anchor, p.color_coherence_amount)
        image = apply_contrast(image, p.contrast)
        image = unsharp(image, p.antiblur_amount, p.antiblur_sigma, p.antiblur_threshold)
        return add_noise(image, p.noise, p.noise_type, seed)

    def _diffuse(self, init: torch.Tensor | None, snap: ParamSnapshot, seed: int,
                 cond: tuple[Conditioning, Conditioning], timer: StageTimer) -> torch.Tensor:
        p = snap.params
        denoise = 1.0 if init is None else 1.0 - p.strength
        if init is not None and denoise <= 0.0:
            return init  # strength 1: the warp alone drives the picture
        backend = self.backend
        latents = (torch.zeros(self._latent_shape(), device=self.device) if init is None
                   else backend.encode_image(init).float())
        latents = self.coherence.start(latents, p)  # the latent blend; the feature bank's frame
        timer.mark("encode")
        noise = self._noise.frame_noise(seed, p.seed, snap.time_s, p.seed_morph_s)
        model = guided_model(backend, cond[0], cond[1], p.guidance, mode=self.settings.cfg,
                             delta=self.settings.rcfg_delta, reference=latents)
        latents = img2img(model, latents, noise, denoise=denoise, steps=p.steps,
                          sampler=p.sampler, schedule=backend.schedule,
                          step_noise=lambda i: self._noise.noise(_ancestral_seed(seed, i)))
        self.coherence.blend.keep(latents)
        timer.mark("denoise")
        image = backend.decode(latents).float()
        timer.mark("decode")
        return image

    def render_frame(self) -> Frame | None:
        """Render one frame and publish what is complete: this frame, or (pipelined) the one before.

        Returns the frame handed to the sink in this call, if any. Raises on failure (the run
        loop decides what to do).
        """
        start = time.perf_counter()
        index = self.feedback.index
        self.feedback.index += 1
        now_s, dt_s = self.clock.tick(index)
        snap = self.store.snapshot(index, now_s, dt_s)
        if self._carry_events:  # changes that landed in a frame that failed still get recorded
            snap = replace(snap, events=self._carry_events + snap.events)
            self._carry_events = ()
        try:
            return self._render(snap, start)
        except BaseException:
            self._carry_events = snap.events
            raise

    @torch.inference_mode()
    def _render(self, snap: ParamSnapshot, start: float) -> Frame | None:
        self._apply_pending(snap)
        self.lora_scales.apply(snap.params)  # a frame boundary: nothing of this frame has run yet
        control_scales = self.controlnet_scales.scales(snap.params)  # every frame: empty-slot writes are logged
        timer = StageTimer(self.device, sync=self.settings.profile_stages)
        p = snap.params
        cond = self._prompts.conditioning(snap.prompts, snap.time_s, p.prompt_fade_s, p.prompt_blend)
        if cond is None:  # only before the first prompt is encoded (prime() avoids it)
            self.prime(snap.prompts)
            cond = self._prompts.conditioning(snap.prompts, snap.time_s, p.prompt_fade_s, p.prompt_blend)
            assert cond is not None
        if self.references is not None:
            self.references.frame(p.ip_adapter_scale, p.reference_fade_s, snap.time_s)
        timer.mark("prompt")
        fb = self.feedback
        warp = self._warp.for_frame(snap, fb.turbo_next)
        cadence = p.cadence
        diffused = fb.cadence_left <= 0 or fb.turbo_next is None
        picture = self._inputs.picture(snap, self.width, self.height) if diffused else None
        signal, held = self.coherence.similarity(
            picture, p, snap.frame_index, has_input=self._inputs.inputs.frames is not None,
            reaches=p.video_mix > 0.0 or self.controls is not None, due=diffused)
        self.stats.skipped += int(held)
        diffused = diffused and not held
        seed = self._seeds.next(p.seed, p.seed_behavior, p.seed_iter_n) if diffused else fb.last_seed
        if held:  # the input barely changed: the last output again, and the cadence still due
            assert fb.turbo_next is not None  # only a frame after the first is held
            fb.cadence_left += 1
        elif diffused:
            first = fb.turbo_next is None
            fb.anchor = self._inputs.anchor(fb.anchor, picture, p.color_coherence, self.width, self.height)
            warped = warp(fb.turbo_next) if fb.turbo_next is not None else None
            timer.mark("warp")
            init = self._prepare(warped, snap, seed) if warped is not None else None
            # The outside pictures (input by video_mix, init image on frame 0) join here, after the prepare.
            init, diffuse_snap = self._inputs.init(init, picture, snap, first=first, width=self.width,
                                                   height=self.height)
            if self.controls is not None:
                self.controls.prepare_frame(picture=picture, previous=warped, init=init, width=self.width,
                                            height=self.height, gain=p.controlnet_scale, scales=control_scales)
            timer.mark("prepare")
            image = self._diffuse(init, diffuse_snap, seed, cond, timer)
            space = p.color_coherence
            if space is not ColourSpace.NONE and (fb.anchor is None or fb.anchor.space != space):
                fb.anchor = colour_stats(image, space)
                self._anchor_index = snap.frame_index
            self.coherence.skip.diffused(picture)
            fb.turbo_prev = warped if cadence > 1 else None
            fb.turbo_next = image
            fb.cadence_left = fb.block_cadence = cadence
            fb.last_seed = seed
        else:
            fb.block_cadence = min(fb.block_cadence, max(cadence, 1))
            fb.cadence_left = min(fb.cadence_left, fb.block_cadence)
            assert fb.turbo_next is not None
            fb.turbo_next = warp(fb.turbo_next)
            if fb.turbo_prev is not None:
                fb.turbo_prev = warp(fb.turbo_prev)
            timer.mark("warp")
        fb.cadence_left -= 1
        tween = (fb.block_cadence - fb.cadence_left) / fb.block_cadence
        output = fb.turbo_next
        if fb.turbo_prev is not None and tween < 1.0:
            output = torch.lerp(fb.turbo_prev, fb.turbo_next, tween)
        if self.references is not None and self.references.grab_wanted is not None:
            self.references.take_grab(self._inputs.last_picture, output, snap.frame_index)
        output = self.models.blend(output, snap.time_s)  # a model switch's crossfade (the feedback stays unmixed)
        depth = self._warp.depth_grey(output, p.animation_mode) if self._warp.publish_depth else None
        ticket = _Ticket(snap.frame_index, snap.time_s, snap, seed, diffused, timer, output, start)
        shown, source = output, None
        if self.output_geometry is not None:
            shown = self.output_geometry.apply(output)
            depth = self.output_geometry.apply_depth(depth) if depth is not None else None
            source = output if self.output_geometry.spec.keep_render_copy else None
        done = self._publisher.submit(shown, ticket, depth, source, signal)
        timer.mark("publish")
        return self._deliver(done)

    def _deliver(self, done: list[Published[_Ticket]]) -> Frame | None:
        """Hand the completed frames to the sink; a non-finite one restarts the feedback instead."""
        frame = None
        for position, item in enumerate(done):
            t = item.ticket
            self.coherence.skip.observe(item.signal)
            if item.pixels is None:
                self._restart_after_non_finite(t, later=len(done) - position - 1)
                break
            stage_ms = t.timer.stage_ms()
            render_size = (int(t.image.shape[3]), int(t.image.shape[2]))
            frame = Frame(t.index, t.time_s, item.pixels, t.snapshot, t.seed, t.diffused, stage_ms, item.depth,
                          render_size, item.source, item.in_betweens)
            self._last_good = t.image
            self._good_size = render_size
            self.sink.offer(frame)
            now = time.perf_counter()
            self.stats.frames += 1
            self.stats.diffused += int(t.diffused)
            # Pipelined, a frame starts before the previous one is out: time it from that hand-off.
            self.stats.update(now - max(t.start_s, self._last_publish_s), stage_ms)
            self._last_publish_s = now
        return frame

    def _restart_after_non_finite(self, bad: _Ticket, later: int) -> None:
        """Count it, drop what was made from it, and feed the last good frame back in."""
        self.stats.non_finite += 1
        self.stats.last_error = f"frame {bad.index} had non-finite pixels: held the last good frame"
        self._publisher.discard()  # frames in flight were computed from the bad one
        self.feedback.turbo_next = self._last_good
        self.feedback.turbo_prev = None
        self.feedback.cadence_left = 0  # diffuse again at once
        self.coherence.restart()
        if self._anchor_index >= bad.index:
            self.feedback.anchor = None  # the anchor came from the bad frame or after it
        if later:
            log.debug("dropped %d later frames made from non-finite frame %d", later, bad.index)

    def flush(self) -> Frame | None:
        """Publish the frame still in flight (end of a run); returns the last one handed out."""
        with torch.inference_mode():
            return self._deliver(self._publisher.flush())


    # ------------------------------------------------------------------ the thread
    MAX_FAILURES_BEFORE_FIRST_FRAME = MAX_FAILURES_BEFORE_FIRST_FRAME

    @property
    def in_flight(self) -> int:
        """Frames launched and not yet handed to the sink (one, pipelined on a GPU)."""
        return self._publisher.in_flight

    @property
    def in_betweens(self) -> int:
        """Pictures blended on the device between consecutive frames, carried in each frame's copy out."""
        return self._publisher.in_betweens

    @in_betweens.setter
    def in_betweens(self, count: int) -> None:
        self._publisher.in_betweens = count  # the next frame reallocates the ring for them

    def run(self, stop: threading.Event, max_frames: int | None = None) -> None:
        """Render until `stop` is set or `max_frames` frames are published (`render_until`'s retry policy)."""
        render_until(self, stop, max_frames)
        self.flush()  # the frame still in flight is part of the run

    def on_render_thread(self, fn: Callable[[], R]) -> R:
        """Run `fn` on the thread that renders, and wait: the warm-up goes there (CUDA graph trees
        are thread-local, so graphs recorded on another thread would be recorded again on stage)."""
        return self._thread.call(fn)

    def start(self, max_frames: int | None = None) -> None:
        """Run on a named render thread; `stop()` ends it. A fatal error is kept for `fatal_error`."""
        self._thread.start(lambda stop: self.run(stop, max_frames))

    @property
    def running(self) -> bool:
        return self._thread.running

    @property
    def fatal_error(self) -> BaseException | None:
        return self._thread.fatal

    def stop(self, timeout_s: float = 10.0) -> None:
        self._thread.stop(timeout_s)
        self._cache.close()
        if self.references is not None:
            self.references.close()
        self.models.close()
