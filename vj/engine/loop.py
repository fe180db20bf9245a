"""The render loop: snapshot → warp → colour → noise → img2img → publish, one frame at a time.

One render thread owns the accelerator. Per frame it takes one `ParamSnapshot`, runs the
stages in Deforum's order on the device and publishes a `Frame` to its sink (the fan-out
queues), never waiting on an output in live mode. It does no I/O and no per-frame
logging; errors are counted, logged at most once a second, and the loop retries, keeping
the last good frame on every output. Out-of-memory on the GPU is fatal and says so.

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
from dataclasses import dataclass, field, replace

import numpy as np
import torch
import torch.nn.functional as F

from vj.engine.backends.base import Backend
from vj.engine.clock import Clock
from vj.engine.colour import ColourStats, apply_contrast, colour_stats, match_colour, unsharp
from vj.engine.cpu_threads import claim_the_render_cores
from vj.engine.depth import DepthEstimator
from vj.engine.noise import add_noise
from vj.engine.prompts import EmbeddingCache, PromptConditioner
from vj.engine.sampling import img2img
from vj.engine.seeds import NoiseBank, SeedSequencer
from vj.engine.warp import Motion2D, warp_2d
from vj.engine.warp3d import Camera3D, warp_3d, z_from_nearness
from vj.errors import FatalRenderError
from vj.frames import Frame, FrameSink
from vj.prompt_mix import PromptMix
from vj.registry import SEED_MODULUS, AnimationMode, ColourSpace
from vj.store import ControlEvent, ParamSnapshot

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class EngineSettings:
    width: int
    height: int
    fps: float  # the reference fps of motion increments
    offline: bool = False  # exact 1/fps motion, synchronous prompt encoding
    profile_stages: bool = False  # synchronise the GPU per stage for exact timings (benchmarks)


@dataclass
class EngineStats:
    frames: int = 0
    diffused: int = 0
    errors: int = 0
    fps: float = 0.0
    frame_ms: float = 0.0
    stage_ms: dict[str, float] = field(default_factory=dict)
    last_error: str = ""

    def update(self, frame_s: float, stage_ms: dict[str, float]) -> None:
        # Exponential moving averages: a steady readout for the one-second status line.
        a = 0.1 if self.frames > 1 else 1.0
        self.frame_ms += a * (frame_s * 1000 - self.frame_ms)
        self.fps = 1000.0 / self.frame_ms if self.frame_ms > 0 else 0.0
        for name, ms in stage_ms.items():
            self.stage_ms[name] = self.stage_ms.get(name, ms) + a * (ms - self.stage_ms.get(name, ms))


class _StageTimer:
    def __init__(self, device: torch.device, sync: bool) -> None:
        self._sync = sync and device.type == "cuda"
        self.ms: dict[str, float] = {}
        self._t = time.perf_counter()

    def mark(self, name: str) -> None:
        if self._sync:
            torch.cuda.synchronize()
        now = time.perf_counter()
        self.ms[name] = self.ms.get(name, 0.0) + (now - self._t) * 1000
        self._t = now


def _ancestral_seed(seed: int, step: int) -> int:
    return (seed * 1_000_003 + 7919 * (step + 1)) % SEED_MODULUS


class Engine:
    """Turns parameter snapshots into frames on the backend's device."""

    def __init__(self, backend: Backend, store, settings: EngineSettings, sink: FrameSink,  # noqa: ANN001
                 clock: Clock, *, start_index: int = 0, depth: DepthEstimator | None = None,
                 publish_depth: bool = False) -> None:
        """`start_index`: the first frame's index (a replayed take that began mid-show).

        `depth`: the 3D warp's depth of the previous frame (None: a flat plane);
        `publish_depth`: each Frame carries the depth map too (one more device→host copy)."""
        backend.check_resolution(settings.width, settings.height)
        self.backend = backend
        self.store = store
        self.settings = settings
        self.sink = sink
        self.clock = clock
        self.stats = EngineStats()
        self.width, self.height = settings.width, settings.height
        self.device = backend.device
        self._index = start_index
        self._turbo_prev: torch.Tensor | None = None
        self._turbo_next: torch.Tensor | None = None
        self._cadence_left = 0
        self._block_cadence = 1
        self._anchor: ColourStats | None = None
        self._anchor_space = ""
        self._seeds = SeedSequencer()
        self._last_seed = 0
        self._noise = NoiseBank(self._latent_shape(), self.device, torch.float32)
        self._cache = EmbeddingCache(backend.encode_prompt, background=not settings.offline)
        self._prompts = PromptConditioner(self._cache)
        self._lock = threading.Lock()
        self._pending_resize: tuple[int, int] | None = None
        self._reset_anchor = False
        self._carry_events: tuple[ControlEvent, ...] = ()
        self._host: torch.Tensor | None = None
        self.depth = depth
        self.publish_depth = publish_depth and depth is not None
        self._depth_host: torch.Tensor | None = None
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()
        self._fatal: BaseException | None = None
        self._last_error_log = 0.0

    # ------------------------------------------------------------------ control from other threads
    def request_resize(self, width: int, height: int) -> None:
        """Change the resolution at the next frame boundary (preset switch)."""
        self.backend.check_resolution(width, height)
        with self._lock:
            self._pending_resize = (width, height)

    def reset_anchor(self) -> None:
        """Colour coherence re-anchors on the next diffused frame."""
        with self._lock:
            self._reset_anchor = True

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
        return self._index

    # ------------------------------------------------------------------ one frame
    def _latent_shape(self) -> tuple[int, int, int, int]:
        f = self.backend.vae_scale_factor
        return (1, self.backend.latent_channels, self.height // f, self.width // f)

    def _apply_pending(self) -> None:
        with self._lock:
            resize, self._pending_resize = self._pending_resize, None
            reset_anchor, self._reset_anchor = self._reset_anchor, False
        if reset_anchor:
            self._anchor = None
        if resize and resize != (self.width, self.height):
            self.width, self.height = resize
            size = (self.height, self.width)
            for attr in ("_turbo_prev", "_turbo_next"):
                img = getattr(self, attr)
                if img is not None:
                    setattr(self, attr, F.interpolate(img, size=size, mode="bilinear", align_corners=False))
            self._noise.resize(self._latent_shape())
            self._host = None
            if self.depth is not None:
                self.depth.reset()

    def _warp_fn(self, snap: ParamSnapshot) -> Callable[[torch.Tensor], torch.Tensor]:
        """This frame's warp. Live, increments scale with the real elapsed time; offline, one frame."""
        frames = 1.0 if self.settings.offline else snap.dt_s * self.settings.fps
        p = snap.params
        border = p.border
        if p.animation_mode is AnimationMode.THREE_D:
            camera = Camera3D(
                p.translation_x, p.translation_y, p.translation_z,
                p.rotation_3d_x, p.rotation_3d_y, p.rotation_3d_z, p.fov, p.near, p.far,
            ).scaled(frames)
            depth = self._depth_z(snap, camera)
            sampling = p.sampling_mode
            return lambda image: warp_3d(image, camera, border, depth, sampling)
        motion = Motion2D(
            zoom=p.zoom, angle_deg=p.angle, translation_x=p.translation_x, translation_y=p.translation_y,
            center_x=p.transform_center_x, center_y=p.transform_center_y,
        ).scaled(frames)
        return lambda image: warp_2d(image, motion, border)

    def _depth_z(self, snap: ParamSnapshot, camera: Camera3D) -> torch.Tensor | None:
        """Depth z of the newest diffused image (Deforum's depth source), or None for the flat plane."""
        source = self._turbo_next
        if self.depth is None or source is None or snap.params.depth_weight == 0.0:
            return None
        if camera.is_identity() and not self.publish_depth:
            return None  # nothing moves: no depth needed
        return z_from_nearness(self.depth.nearness(source), snap.params.depth_weight)

    def _prepare(self, image: torch.Tensor, snap: ParamSnapshot, seed: int) -> torch.Tensor:
        """Colour coherence → contrast → anti-blur → noise (Deforum's order after the warp)."""
        p = snap.params
        space = p.color_coherence
        if space is not ColourSpace.NONE and self._anchor is not None and self._anchor.space == space:
            image = match_colour(image, self._anchor, p.color_coherence_amount)
        image = apply_contrast(image, p.contrast)
        image = unsharp(image, p.antiblur_amount, p.antiblur_sigma, p.antiblur_threshold)
        return add_noise(image, p.noise, p.noise_type, seed)

    def _diffuse(self, init: torch.Tensor | None, snap: ParamSnapshot, seed: int,
                 cond: tuple[torch.Tensor, torch.Tensor], timer: _StageTimer) -> torch.Tensor:
        p = snap.params
        denoise = 1.0 if init is None else 1.0 - p.strength
        if init is not None and denoise <= 0.0:
            return init  # strength 1: the warp alone drives the picture
        backend = self.backend
        latents = (torch.zeros(self._latent_shape(), device=self.device) if init is None
                   else backend.encode_image(init).float())
        timer.mark("encode")
        noise = self._noise.frame_noise(seed, p.seed, snap.time_s, p.seed_morph_s)
        model = backend.denoise_fn(cond[0], cond[1], p.guidance)
        latents = img2img(model, latents, noise, denoise=denoise, steps=p.steps,
                          sampler=p.sampler, schedule=backend.schedule,
                          step_noise=lambda i: self._noise.noise(_ancestral_seed(seed, i)))
        timer.mark("denoise")
        image = backend.decode(latents).float()
        timer.mark("decode")
        return image

    def render_frame(self) -> Frame:
        """Render and publish one frame. Raises on failure (the run loop decides what to do)."""
        start = time.perf_counter()
        index = self._index
        self._index += 1
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
    def _render(self, snap: ParamSnapshot, start: float) -> Frame:
        self._apply_pending()
        timer = _StageTimer(self.device, self.settings.profile_stages)
        p = snap.params
        cond = self._prompts.conditioning(snap.prompts, snap.time_s, p.prompt_fade_s, p.prompt_blend)
        if cond is None:  # only before the first prompt is encoded (prime() avoids it)
            self.prime(snap.prompts)
            cond = self._prompts.conditioning(snap.prompts, snap.time_s, p.prompt_fade_s, p.prompt_blend)
            assert cond is not None
        timer.mark("prompt")
        warp = self._warp_fn(snap)
        cadence = p.cadence
        diffused = self._cadence_left <= 0 or self._turbo_next is None
        seed = self._seeds.next(p.seed, p.seed_behavior, p.seed_iter_n) if diffused else self._last_seed
        if diffused:
            warped = warp(self._turbo_next) if self._turbo_next is not None else None
            timer.mark("warp")
            init = self._prepare(warped, snap, seed) if warped is not None else None
            timer.mark("prepare")
            image = self._diffuse(init, snap, seed, cond, timer)
            space = p.color_coherence
            if space is not ColourSpace.NONE and (self._anchor is None or self._anchor.space != space):
                self._anchor = colour_stats(image, space)
            self._turbo_prev = warped if cadence > 1 else None
            self._turbo_next = image
            self._cadence_left = self._block_cadence = cadence
            self._last_seed = seed
        else:
            self._block_cadence = min(self._block_cadence, max(cadence, 1))
            self._cadence_left = min(self._cadence_left, self._block_cadence)
            assert self._turbo_next is not None
            self._turbo_next = warp(self._turbo_next)
            if self._turbo_prev is not None:
                self._turbo_prev = warp(self._turbo_prev)
            timer.mark("warp")
        self._cadence_left -= 1
        tween = (self._block_cadence - self._cadence_left) / self._block_cadence
        output = self._turbo_next
        if self._turbo_prev is not None and tween < 1.0:
            output = torch.lerp(self._turbo_prev, self._turbo_next, tween)
        pixels = self._to_host(output)
        depth_pixels = self._depth_to_host(output, p.animation_mode) if self.publish_depth else None
        timer.mark("publish")
        frame = Frame(snap.frame_index, snap.time_s, pixels, snap, seed, diffused, dict(timer.ms), depth_pixels)
        self.sink.offer(frame)
        self.stats.frames += 1
        self.stats.diffused += int(diffused)
        self.stats.update(time.perf_counter() - start, timer.ms)
        return frame

    def _to_host(self, image: torch.Tensor) -> np.ndarray:
        """One device→host copy into a reusable (pinned on CUDA) buffer, then a private copy."""
        pixels = (image[0].permute(1, 2, 0) * 255).round_().clamp_(0, 255).to(torch.uint8)
        if self._host is None or tuple(self._host.shape) != tuple(pixels.shape):
            self._host = torch.empty(pixels.shape, dtype=torch.uint8, pin_memory=self.device.type == "cuda")
        self._host.copy_(pixels)
        return self._host.numpy().copy()

    def _depth_to_host(self, output: torch.Tensor, mode: AnimationMode) -> np.ndarray:
        """The depth map as greyscale uint8 (255 = nearest): the 3D warp's, or in 2D the output's."""
        assert self.depth is not None
        nearness = self.depth.latest
        if mode is not AnimationMode.THREE_D or nearness is None or nearness.shape[-2:] != output.shape[-2:]:
            nearness = self.depth.nearness(output)
        grey = (nearness[0, 0] * 255).round_().clamp_(0, 255).to(torch.uint8)
        if self._depth_host is None or tuple(self._depth_host.shape) != tuple(grey.shape):
            self._depth_host = torch.empty(grey.shape, dtype=torch.uint8, pin_memory=self.device.type == "cuda")
        self._depth_host.copy_(grey)
        return self._depth_host.numpy().copy()

    # ------------------------------------------------------------------ the thread
    # Before the first good frame nothing is on stage to hold: a stage that fails this many
    # times in a row is broken (a bad model, an impossible setting), not a passing hiccup.
    MAX_FAILURES_BEFORE_FIRST_FRAME = 10

    def run(self, stop: threading.Event, max_frames: int | None = None) -> None:
        """Render until `stop` is set or `max_frames` frames are published.

        A failing frame is retried, holding the last good one on the outputs; only when no
        frame has been rendered yet does a run of failures end the loop with the stage's error.
        """
        in_a_row = 0
        while not stop.is_set() and (max_frames is None or self.stats.frames < max_frames):
            try:
                self.render_frame()
                in_a_row = 0
            except torch.cuda.OutOfMemoryError as err:
                raise FatalRenderError(
                    f"the GPU ran out of memory at {self.width}x{self.height}: lower the resolution or the steps, "
                    f"or use --tiny-vae ({err})") from err
            except FatalRenderError:
                raise
            except Exception as err:  # keep the show going: the outputs hold the last good frame
                self.stats.errors += 1
                self.stats.last_error = f"{type(err).__name__}: {err}"
                in_a_row += 1
                if self.stats.frames == 0:
                    if in_a_row >= self.MAX_FAILURES_BEFORE_FIRST_FRAME:
                        raise FatalRenderError(
                            f"no frame could be rendered: the first frame failed {in_a_row} times in a row "
                            f"({self.stats.last_error}); run with -v for the traceback") from err
                    log.debug("frame %d failed before any good frame (%d in a row)", self._index - 1, in_a_row,
                              exc_info=True)
                    if in_a_row == 1:
                        log.warning("the first frame failed (%s); retrying", self.stats.last_error)
                    stop.wait(0.05)
                    continue
                now = time.monotonic()
                if now - self._last_error_log >= 1.0:
                    self._last_error_log = now
                    log.exception("frame %d failed (%d errors so far); retrying", self._index - 1, self.stats.errors)
                stop.wait(0.05)  # a failing stage must not spin the GPU flat out

    def start(self, max_frames: int | None = None) -> None:
        """Run on a named render thread; `stop()` ends it. A fatal error is kept for `join`."""
        def target() -> None:
            claim_the_render_cores()
            try:
                self.run(self._stop, max_frames)
            except BaseException as err:  # surfaced by join() on the main thread
                self._fatal = err
                log.error("render loop stopped: %s", err)

        self._stop.clear()
        self._thread = threading.Thread(target=target, name="render", daemon=True)
        self._thread.start()

    @property
    def running(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    @property
    def fatal_error(self) -> BaseException | None:
        return self._fatal

    def stop(self, timeout_s: float = 10.0) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout_s)
            if self._thread.is_alive():
                log.warning("render thread did not stop within %.1f s", timeout_s)
        self._cache.close()
