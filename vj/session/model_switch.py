"""Switching the model mid-show: loaded and warmed beside the playing one, then switched on the grid.

A preset that names another model (switched to from MIDI, OSC, the page or the preview keys) or the
model command (`/vj/model <source>`, `{"model": ...}`) comes here. Before anything loads, the new
model's memory estimate (vj.session.memory_check) is held against what the device has free with the
old model still loaded:

- it fits: a background thread loads it, warms it at the show's size and steps, and encodes the
  playing prompts with it, while the old model keeps rendering; then the switch lands on the
  quantise grid as a "model" event (vj.engine.model_swap), with the preset's values if a preset
  asked for it, and the picture crossfades from the old model's last frame over `fade_s`;
- it does not: it says so (log and status line) and takes the other path: at the grid the render
  thread lets go of the old model and loads the new one itself, the outputs holding the last frame
  meanwhile, with progress on the status line and the page; then the same crossfade from that frame.

One switch at a time; a failed load (a missing model, out of memory while loading) is reported and
the old model plays on. Prompts, seeds, live values, LFOs and the feedback picture carry over: they
are the store's and the engine's, not the model's. LoRAs and ControlNets are the model's: a preset
brings its own, the model command none.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import threading
from collections.abc import Callable, Mapping
from typing import TYPE_CHECKING

import torch

from vj.config import ControlNetConfig, ModelConfig, PresetConfig
from vj.engine.backends import load_backend
from vj.engine.coherence.feature_bank import FeatureBank
from vj.engine.families.lookup import FAMILIES
from vj.engine.memory_estimate import readable
from vj.engine.model_swap import ModelParts, Staged, model_parts, prime_parts, release_parts
from vj.engine.warmup_plan import plan_variants
from vj.registry import REGISTRY
from vj.session.controlnet import build_controlnets
from vj.session.memory_check import device_free, memory_report
from vj.session.presets import base_values
from vj.snapshot import model_switch_event

if TYPE_CHECKING:  # the session builds the switcher: imported for the type only
    from vj.session.live import LiveSession

log = logging.getLogger(__name__)
DEFAULT_FADE_S = 1.0  # the crossfade from the old model's last picture to the new model's frames
SOURCE = "model"


def model_key(model: ModelConfig) -> str:
    """What a "model" event names a model by: its source, and the LoRAs fused into it."""
    loras = ",".join(f"{lora.source}@{lora.scale:g}" for lora in model.loras)
    return f"{model.source}+{loras}" if loras else model.source


def model_data(model: ModelConfig, controlnet: tuple[ControlNetConfig, ...] = ()) -> dict[str, object]:
    """The `[model]` fields a replay loads the model from (the rest are the show's), and the ControlNets a
    preset brings with it (built for that model)."""
    data: dict[str, object] = {"source": model.source, "tiny_vae": model.tiny_vae, "dtype": model.dtype,
                               "loras": [{"source": lora.source, "scale": lora.scale} for lora in model.loras]}
    if controlnet:
        data["controlnet"] = [{"source": c.source, "conditioning": c.conditioning, "scale": c.scale}
                              for c in controlnet]
    return data


def controlnets_from_data(data: Mapping[str, object]) -> tuple[ControlNetConfig, ...]:
    """The ControlNets a recorded "model" event brings (none in a take recorded before they were recorded)."""
    entries = data.get("controlnet") or []
    if not isinstance(entries, list):
        raise ValueError(f"a model event's controlnet: expected a list, found {entries!r}")
    return tuple(ControlNetConfig(source=str(d["source"]), conditioning=str(d["conditioning"]),
                                  scale=float(d["scale"])) for d in entries)


def model_from_data(show: ModelConfig, data: Mapping[str, object]) -> ModelConfig:
    """The model a recorded "model" event names, on the show's device and settings."""
    from vj.config import LoraConfig

    entries = data.get("loras") or []
    if not isinstance(entries, list):
        raise ValueError(f"a model event's loras: expected a list, found {entries!r}")
    loras = tuple(LoraConfig(source=str(d["source"]), scale=float(d["scale"])) for d in entries)
    return dataclasses.replace(show, source=str(data["source"]), tiny_vae=str(data.get("tiny_vae", "")),
                               dtype=str(data.get("dtype", show.dtype)), loras=loras)


def _lower_this_threads_priority() -> None:
    """On a CPU the load competes with the render thread for the cores: let the scheduler prefer the render."""
    try:
        os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 10)  # Linux: a thread's own nice value
    except (AttributeError, OSError) as err:  # not on this platform: the load just competes
        log.debug("model load thread keeps its priority: %s", err)


class SwitchRefused(Exception):
    """A model switch that cannot start (one is under way, or the name is not one a remote may give)."""


class ModelSwitcher:
    """The session's model switches: the memory check, the background load, the landing on the grid."""

    def __init__(self, session: LiveSession, *, fade_s: float = DEFAULT_FADE_S,
                 free: Callable[[torch.device], int | None] = device_free) -> None:
        """`free`: bytes free on the device now (None: no limit, a CPU); tests give a figure."""
        self.session = session
        self.fade_s = fade_s
        self._free = free
        self._lock = threading.Lock()
        self._busy: str | None = None  # the key being loaded
        self._note = ""  # the status line's word: loading, holding, failed
        self._threads: list[threading.Thread] = []
        self._landed: str | None = None  # the key last landed: the note goes once the engine plays it
        self._closed = threading.Event()
        self.held_paths = 0  # switches that went by holding the last frame (they did not fit beside each other)

    # ------------------------------------------------------------------ requests
    def wants(self, preset: PresetConfig) -> bool:
        """Whether switching to `preset` changes the model (its source): never while the command line fixes it."""
        return not self.session.fixed_model and preset.model.source != self.session.preset.model.source

    def by_source(self, source: str) -> str | None:
        """The model command: switch to `source` with the show's settings; None (logged) when refused.

        A remote sender may name a built-in tiny model or a model the show's presets name (shipped, or in
        --presets-dir), never an arbitrary path or id: loading one reads files or the network."""
        if source == self.session.preset.model.source:
            log.info("model %s is already playing", source)
            return source
        allowed = self.allowed_sources()
        if source not in allowed:
            log.warning("model switch refused: %r is not a model the show's presets name (%s)", source[:80],
                        ", ".join(sorted(allowed)))
            return None
        show = self.session.preset
        model = dataclasses.replace(show.model, source=source, loras=(), tiny_vae="")
        try:
            self.switch_to(show.replace(model=model, controlnet=()), values=False)
        except SwitchRefused as err:
            log.warning("model switch refused: %s", err)
            return None
        return source

    def allowed_sources(self) -> set[str]:
        from vj.errors import VjError
        from vj.preset_files import load_settled_preset

        found = {f.tiny_source for f in FAMILIES} | {self.session.preset.model.source}
        presets = self.session.presets
        for path in [*presets.paths(), *(p for folder in presets.folders for p in sorted(folder.glob("*.toml")))]:
            try:
                found.add(load_settled_preset(str(path)).model.source)
            except VjError:
                continue  # a preset that does not load names nothing
        return found

    def switch_to(self, preset: PresetConfig, *, values: bool = True) -> None:
        """Load `preset`'s model beside the playing one (or, if both do not fit, hold), then switch on the grid.

        `values`: the preset's values, prompts and schedules land with the model (a preset switch)."""
        key = model_key(preset.model)
        with self._lock:
            if self._busy is not None:
                raise SwitchRefused(f"a switch to {self._busy} is under way")
            self._busy = key
        self._progress(f"preparing model {preset.model.source}")
        thread = threading.Thread(target=self._prepare, args=(preset, key, values), name="vj-model-load", daemon=True)
        self._threads.append(thread)
        thread.start()

    def _prepare(self, preset: PresetConfig, key: str, values: bool) -> None:
        """The fit check (it may read config files), then one path or the other; off the caller's thread."""
        try:
            fits, why = self.fits(preset)
        except Exception as err:  # an estimate that cannot be made is not a reason to refuse
            fits, why = True, f"memory not estimated ({err})"
        log.info("model switch to %s: %s", key, why)
        if fits:
            self._load_beside(preset, key, values)
        else:
            self.held_paths += 1
            log.warning("model %s does not fit beside %s (%s): the last frame is held while one is swapped for the "
                        "other", preset.model.source, self.session.preset.model.source, why)
            self._progress(f"model {preset.model.source} does not fit beside the playing one: will hold the frame")
            self.session.engine.models.stage(key, Staged(load=lambda: self._load_holding(preset, key),
                                                         reload=self._reload_playing(), on_progress=self._progress))
            self.session.quantiser.submit(lambda: self._land(preset, key, values))

    def fits(self, preset: PresetConfig) -> tuple[bool, str]:
        """Whether `preset`'s model fits in the device's free memory now (beside the playing one), and the figures."""
        report = memory_report(preset, free=None)
        free = self._free(report.device)
        if free is None or not report.estimate.complete:
            return True, f"about {readable(report.estimate.total)} needed, no device limit applies"
        return report.estimate.total <= free, (f"about {readable(report.estimate.total)} needed, "
                                               f"{readable(free)} free")

    # ------------------------------------------------------------------ loading
    def _load_parts(self, preset: PresetConfig, key: str) -> ModelParts:
        """Load, check the size, warm and encode the prompts: the parts ready to play."""
        session = self.session
        render = preset.render
        size = (session.engine.width, session.engine.height) if session.fixed_size else (render.width,
                                                                                         render.height)
        self._progress(f"loading model {preset.model.source}")
        backend = load_backend(preset.model)
        backend.check_resolution(*size)
        controls = build_controlnets(preset, backend)
        # The show's feature bank goes into the new UNet too, before the warm-up that sizes its rings
        bank = FeatureBank.install(backend) if session.engine.coherence.bank is not None else None
        steps = {int(session.store.target("steps")),
                 int(base_values(preset, backend).get("steps", REGISTRY["steps"].default))}
        variants = plan_variants({size}, steps, cfg=session.preset.model.cfg,
                                 embeds_guidance=backend.embeds_guidance)
        backend.warmup(variants, lambda done, of: self._progress(f"warming model {preset.model.source} "
                                                                   f"{done}/{of}"))
        parts = model_parts(key, backend, controls, background=True, bank=bank)
        self._progress(f"encoding prompts with {preset.model.source}")
        prime_parts(parts, session.store.prompts())
        return parts

    def _load_holding(self, preset: PresetConfig, key: str) -> ModelParts:
        """The hold path's load, on the render thread: a failure is said on the status line (the old model is
        loaded again by the engine)."""
        from vj.engine.cpu_threads import claim_the_render_cores, keep_off_the_render_cores

        on_cpu = self.session.engine.device.type == "cpu"
        if on_cpu:  # building a model is many small ops: one core each is faster than a team (vj.engine.cpu_threads)
            keep_off_the_render_cores()
        try:
            return self._load_parts(preset, key)
        except BaseException as err:
            self._failed(key, err)
            raise
        finally:
            if on_cpu:
                claim_the_render_cores()

    def _load_beside(self, preset: PresetConfig, key: str, values: bool) -> None:
        from vj.engine.cpu_threads import keep_off_the_render_cores

        if self.session.engine.device.type == "cpu":
            keep_off_the_render_cores()  # the render thread keeps the cores: the show plays on
            _lower_this_threads_priority()
        try:
            parts = self._load_parts(preset, key)
        except Exception as err:  # a missing model, out of memory while loading: the old one plays on
            self._failed(key, err)
            return
        if self._closed.is_set():  # the show ended while it loaded
            release_parts(parts)
            return
        self.session.engine.models.stage(key, Staged(parts=parts))
        self._progress(f"model {preset.model.source} ready: switching on the grid")
        self.session.quantiser.submit(lambda: self._land(preset, key, values))

    def _reload_playing(self) -> Callable[[], ModelParts]:
        """The playing model again, should the new one fail to load after it was let go (the hold path)."""
        engine = self.session.engine
        playing = engine.model_parts()
        if not playing.owned:  # handed in by a caller: never closed, so still whole
            return lambda: model_parts(playing.key, playing.backend, playing.controls, owned=False, bank=playing.bank)
        preset = self.session.preset
        return lambda: self._load_parts(preset, playing.key)

    def _failed(self, key: str, err: BaseException) -> None:
        with self._lock:
            self._busy = None
        self._note = f"model switch to {key} failed ({type(err).__name__}): {self.session.preset.model.source} " \
                     "plays on"
        log.warning("model switch to %s failed: %s; %s plays on", key, err, self.session.preset.model.source)

    def _progress(self, note: str) -> None:
        self._note = note

    # ------------------------------------------------------------------ landing (on the quantise grid)
    def _land(self, preset: PresetConfig, key: str, values: bool) -> None:
        session = self.session
        session.land_model(preset, values=values)
        size = (session.engine.width, session.engine.height) if session.fixed_size else (preset.render.width,
                                                                                         preset.render.height)
        session.store.apply_event(model_switch_event(key, *size, self.fade_s, SOURCE,
                                                        model_data(preset.model, preset.controlnet)))
        with self._lock:
            self._busy = None
        self._landed = key
        log.info("model switch to %s lands at the next frame", key)

    # ------------------------------------------------------------------ the session's
    def close(self) -> None:
        """The show ends: a model still loading is let go when it is done (the load cannot be interrupted)."""
        self._closed.set()
        for thread in self._threads:
            thread.join(timeout=1.0)

    @property
    def busy(self) -> bool:
        return self._busy is not None

    def status(self) -> str:
        if self._busy is None and self._landed is not None and self.session.engine.models.key == self._landed:
            return ""  # switched: nothing left to say
        return self._note
