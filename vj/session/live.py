"""`LiveSession`: one show — the engine on its render thread, with the outputs and controls around it.

The session owns, as typed fields, everything a show is wired from: the store, the tempo
clock, quantiser, LFO bank and audio modulators, the preset switcher, the recording take, the outputs and
the controls. Control sources and outputs get what they need from these fields; nothing
is attached by name.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Iterable
from pathlib import Path

import torch

from vj.config import FRAME_SIDE_MIN, FRAME_SIDE_MULTIPLE, PresetConfig
from vj.control.tempo import Quantise, Quantiser, TempoClock
from vj.engine.backends import Backend, Variant, load_backend, pick_device
from vj.engine.clock import Clock, FixedClock, LiveClock
from vj.engine.cpu_threads import keep_off_the_render_cores
from vj.engine.warmup_plan import plan_variants
from vj.errors import FatalRenderError
from vj.frames import FanOut
from vj.input.open import CheckedInputs
from vj.output.master import MasterStage
from vj.output.protocol import Output
from vj.output.take import LiveTake
from vj.registry import REFERENCE_PARAMS, REGISTRY, unused_slots
from vj.session.build_engine import build_engine
from vj.session.components import Control
from vj.session.depth import switch_depth
from vj.session.governor import smaller_sizes
from vj.session.governor_control import FrameRateGovernor
from vj.session.inputs import build_inputs
from vj.session.model_switch import ModelSwitcher, SwitchRefused, model_key
from vj.session.performer import FreezableClock, FreezeGate, Performer
from vj.session.presets import PresetSwitcher, base_values, build_show_store, install_preset
from vj.session.switch_policy import keep_loaded
from vj.snapshot import reference_event

log = logging.getLogger(__name__)


class LiveSession:
    """One show: the engine on its render thread, plus the outputs and controls around it."""

    def __init__(self, preset: PresetConfig, *, backend: Backend | None = None, clock: Clock | None = None,
                 offline: bool = False, fixed_size: bool = False, inputs: CheckedInputs | None = None,
                 publish_depth: bool = False, fixed_model: bool = False) -> None:
        """`fixed_size`: the size was set on the command line, so preset switches keep it.
        `fixed_model`: so was the model (--model): a preset naming another one brings its values on the show's
        model (noted on the status line); a model command still switches it.

        `inputs`: the preset's `[input]` as checked before the model loaded (checked here otherwise).
        The input source is the show's: it stays when a preset switch names another.
        `publish_depth`: frames carry the depth map (an output shows it; the depth model loads).
        """
        self.preset = preset
        self.fixed_size = fixed_size
        self.fixed_model = fixed_model
        device = backend.device if backend is not None else pick_device(preset.model.device)
        if not offline and device.type == "cpu":  # the render thread does the heavy work: vj.engine.cpu_threads
            keep_off_the_render_cores()
        loaded = backend if backend is not None else load_backend(preset.model)
        mods = preset.modulators
        self.tempo = TempoClock(mods.bpm, mods.beats_per_bar)
        self.quantiser = Quantiser(self.tempo, Quantise(mods.quantise), mods.lookahead_ms / 1000.0)
        self.store, self.modulators, self.audio = build_show_store(preset, loaded, self.tempo,
                                                                   engine_time=offline)
        self.presets = PresetSwitcher(self, self.quantiser)
        self.take: LiveTake | None = None
        self.fanout = FanOut()
        # Master and blackout act between the engine and the outputs; the freeze gate sits in the frame clock.
        self.master = MasterStage(self.fanout)
        self.freeze_gate = FreezeGate(1.0 / preset.render.fps)
        live_clock = LiveClock(preset.render.fps, now=self.freeze_gate.running_time)
        self.input, engine_inputs = build_inputs(preset, inputs, offline=offline)
        frame_clock = clock or (FixedClock(preset.render.fps) if offline else live_clock)
        self.engine = build_engine(preset, loaded, self.store, self.master,
                                   FreezableClock(frame_clock, self.freeze_gate), offline=offline,
                                   inputs=engine_inputs, publish_depth=publish_depth)
        self.engine.models.key = model_key(preset.model)
        self.engine.owns_model = backend is None  # a switch away closes the session's own model only
        self.models = ModelSwitcher(self)  # a preset naming another model, or the model command
        self.performer = Performer(self, self.master, self.freeze_gate)
        self.outputs: list[Output] = []
        self.controls: list[Control] = []
        if self.input is not None:  # started, stopped and shown in the status line like a control
            self.controls.append(self.input)
        self._preset_lock = threading.Lock()
        self.switch_notes: tuple[str, ...] = ()  # the status line's word on what a switched-to preset could not bring
        self._started = False
        self._stopped = False
        self._warming: tuple[int, int] | None = None  # (done, of) while warming up
        self._warmed = False
        # Sizes the show may switch to besides its own (the presets MIDI program changes name).
        self.warmup_sizes: list[tuple[int, int]] = []
        # `[render] target_fps`: the governor steps to sizes and steps that the warm-up covers.
        self.governor: FrameRateGovernor | None = None
        if preset.render.target_fps > 0 and not offline:
            self.governor = FrameRateGovernor(self, preset.render.target_fps, self._governor_sizes())
            self.controls.append(self.governor)

    @property
    def backend(self) -> Backend:
        """The model playing now (a model switch changes it at a frame boundary)."""
        return self.engine.backend

    def _governor_sizes(self) -> tuple[tuple[int, int], ...]:
        def allowed(width: int, height: int) -> bool:
            try:
                self.backend.check_resolution(width, height)
            except ValueError:
                return False
            return min(width, height) >= FRAME_SIDE_MIN
        return smaller_sizes(self.engine.width, self.engine.height, allowed=allowed, multiple=FRAME_SIDE_MULTIPLE)

    # ------------------------------------------------------------------ composition
    def add_output(self, output: Output) -> None:
        self.outputs.append(output)
        if self._started:
            output.start()
        self.fanout.add(output)

    def remove_output(self, output: Output) -> None:
        self.fanout.remove(output)
        if output in self.outputs:
            self.outputs.remove(output)
        output.close()

    def attach_take(self, take: LiveTake) -> None:
        """The take `/vj/record`, the record button and the preview's r key switch (one per show)."""
        if self.take is not None:
            raise RuntimeError("this session already has a take")
        self.take = take
        self.add_output(take)

    def add_control(self, control: Control) -> None:
        self.controls.append(control)
        if self._started:
            control.start()

    def apply_preset(self, preset: PresetConfig) -> None:
        """Switch preset at the next frame boundary: values, prompts, schedules, and size.

        One policy for every way a preset is switched (OSC, MIDI, preview keys). A preset that names
        another model switches the model (vj.session.model_switch): it loads beside the playing one and
        the preset lands with it on the grid. The fps stays for the whole show (the outputs run at a
        fixed rate), and the size follows the preset unless the command line fixed it. The input
        (camera, clip, NDI) stays too: it is the show's, opened before the model loaded. So does
        the depth model; the preset's other `[depth]` settings (resolution, every_n, ema) follow
        it from the next frame (`switch_depth`).
        """
        if self.models.wants(preset):
            try:
                self.models.switch_to(preset)
                return
            except SwitchRefused as err:  # the show's model plays on with the preset's values (keep_loaded)
                log.warning("preset %r names model %s: %s", preset.name, preset.model.source, err)
        with self._preset_lock:
            self._apply_values(preset, self.backend, resize=True)

    def land_model(self, preset: PresetConfig, *, values: bool) -> None:
        """A model switch lands (on the grid): the show's model is now `preset`'s; with `values`, the preset's
        values, prompts and schedules too (the size rides in the switch's event)."""
        with self._preset_lock:
            self.preset = self.preset.replace(model=preset.model, controlnet=preset.controlnet)
            if values:
                self._apply_values(preset, self.engine.models.ready_backend(model_key(preset.model)) or self.backend,
                                   resize=False)

    def _apply_values(self, preset: PresetConfig, backend: Backend, *, resize: bool) -> None:
        kept = keep_loaded(self.preset, preset)
        current = self.preset.render
        size = (current.width, current.height) if self.fixed_size else (preset.render.width,
                                                                          preset.render.height)
        render = dataclasses.replace(preset.render, width=size[0], height=size[1], fps=current.fps)
        control_depth = self.engine.controls.depth if self.engine.controls is not None else None
        depth_note = switch_depth(self.engine.depth, self.preset, preset, control_depth)
        self.switch_notes = (*kept.notes, depth_note) if depth_note else kept.notes
        depth = dataclasses.replace(preset.depth, model=self.preset.depth.model)
        preset = preset.replace(model=kept.model, render=render, input=self.preset.input, depth=depth,
                                controlnet=kept.controlnet)
        self.store.load_preset_state(base_values(preset, backend), preset.prompts.to_mix(), {})
        install_preset(self.store, preset, self.modulators, self.audio)
        if preset.reference.images and self.engine.references is not None:
            # The preset's pictures, through the same event a live command sends: the take records the switch's
            # pictures and a replay sets them again. A preset without pictures keeps the ones playing.
            pictures = preset.reference.weighted()
            self.store.apply_event(reference_event([image for image, _ in pictures],
                                                   [weight for _, weight in pictures], "preset"))
        if resize and (preset.render.width, preset.render.height) != (self.engine.width, self.engine.height):
            self.engine.request_resize(preset.render.width, preset.render.height)
        self.engine.reset_anchor()
        self.preset = preset
        if self.governor is not None:  # the switch released its overrides: level 0 is the new preset
            self.governor.replan(size=(preset.render.width, preset.render.height))
        log.info("preset %r applied", preset.name)

    # ------------------------------------------------------------------ running
    def warmup_variants(self, extra: Iterable[PresetConfig] = ()) -> tuple[Variant, ...]:
        """Every size × batch × steps this show may run: its preset's, `extra` presets' and `warmup_sizes`."""
        presets = (self.preset, *extra)
        sizes = {(self.engine.width, self.engine.height)}
        if not self.fixed_size:
            sizes |= {(p.render.width, p.render.height) for p in presets} | set(self.warmup_sizes)
        steps = {int(base_values(p, self.backend).get("steps", REGISTRY["steps"].default)) for p in presets}
        if self.governor is not None:  # every level it may step to runs before the show
            sizes |= {(level.width, level.height) for level in self.governor.levels}
            steps |= {level.steps for level in self.governor.levels}
        return plan_variants(sizes, steps, cfg=self.preset.model.cfg, embeds_guidance=self.backend.embeds_guidance)

    def warmup(self, variants: Iterable[Variant] | None = None,
               on_progress: Callable[[int, int], None] | None = None) -> None:
        """Run every variant once before the show; the status line says "warming" meanwhile."""
        todo = tuple(self.warmup_variants() if variants is None else variants)

        def progress(done: int, of: int) -> None:
            self._warming = (done, of)
            if on_progress is not None:
                on_progress(done, of)

        self._warming = (0, len(todo))
        try:
            # On the thread that will render: CUDA graphs recorded elsewhere would be recorded again there.
            self.engine.on_render_thread(lambda: self.backend.warmup(todo, progress))
        except torch.cuda.OutOfMemoryError as err:
            raise FatalRenderError(f"the GPU ran out of memory warming up {_variant_at(todo, self._warming)}: "
                                   f"lower the resolution or the steps, or use --tiny-vae ({err})") from err
        except Exception as err:  # a stage that cannot run now would fail every frame of the show
            raise FatalRenderError(f"warm-up failed at {_variant_at(todo, self._warming)} "
                                   f"({type(err).__name__}: {err}); run with -v for the traceback") from err
        finally:
            self._warming = None
        self._warmed = True
        log.info("warmed up %d variants: %s", len(todo), "; ".join(map(str, todo)))

    @property
    def warming(self) -> bool:
        return self._warming is not None

    def start(self, max_frames: int | None = None) -> None:
        for output in self.outputs:
            output.start()
        for control in self.controls:
            control.start()
        if not self._warmed:
            self.warmup()
        self.engine.prime(self.store.prompts())
        self._started = True
        self.engine.start(max_frames)

    def stop(self) -> None:
        """Stop the engine, then controls and outputs (outputs finish their files). Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self.freeze_gate.close()  # a frozen render thread must not hold up the stop
        self.engine.stop()
        self.models.close()
        for control in self.controls:
            _close_quietly(control)
        for output in self.outputs:
            _close_quietly(output)
        self.quantiser.close()
        self._started = False

    def end_show(self) -> None:
        """Stop rendering from any thread (the preview's q key): `run` then stops everything else."""
        self.freeze_gate.close()
        self.engine.stop()

    @property
    def dropped(self) -> int:
        return sum(int(getattr(o, "dropped", 0)) for o in self.outputs)

    @property
    def unused_slots(self) -> frozenset[str]:
        """The LoRA and ControlNet slots with nothing loaded, and the reference picture's parameters without an
        IP-Adapter (the page and OSCQuery leave them out).

        A model switch brings its own LoRAs and ControlNets: this follows the model playing.
        """
        unused = unused_slots(self.engine.lora_scales.loaded, self.engine.controlnet_scales.loaded)
        return unused if self.engine.references is not None else unused | REFERENCE_PARAMS

    def playing_preset_name(self) -> str:
        """The name a preset command takes back to the playing preset (its file's stem, else its own name)."""
        return Path(self.preset.source_path).stem or self.preset.name

    def status_line(self) -> str:
        s = self.engine.stats
        if self._warming is not None:
            done, of = self._warming
            return f"warming {done}/{of} variants"
        parts = [f"{s.fps:5.1f} fps", f"{s.frame_ms:6.1f} ms", f"frames {s.frames}", f"dropped {self.dropped}"]
        if s.errors:
            parts.append(f"errors {s.errors}")
        if s.non_finite:
            parts.append(f"non-finite {s.non_finite}")
        if s.skipped:
            parts.append(f"skipped {s.skipped}")
        if s.oom:  # survived mid-show: what the last one did stays in view
            parts.append(f"out of memory {s.oom} (undone {s.oom_undone}): {s.oom_note}")
        if self.engine.references is not None and self.engine.references.status():
            parts.append(self.engine.references.status())
        if self.engine.lora_scales.refusal:
            parts.append(self.engine.lora_scales.refusal)
        parts.extend(self.switch_notes)
        if self.models.status():  # loading, holding, failed: the page shows this line too
            parts.append(self.models.status())
        if s.stage_ms:  # measured on the device with CUDA events on a GPU, host clocks elsewhere
            parts.append("ms " + " ".join(f"{name} {ms:.1f}" for name, ms in s.stage_ms.items()))
        if self.performer.status():
            parts.append(self.performer.status())
        parts.extend(p for p in (c.status() for c in (*self.controls, *self.outputs)) if p)
        return " | ".join(parts)

    def run(self, *, duration_s: float | None = None, frames: int | None = None,
            on_status: Callable[[str], None] | None = None, status_every_s: float = 1.0,
            stop: threading.Event | None = None) -> None:
        """Start, report status every second, stop after the duration/frames, Ctrl-C or `stop` (a signal)."""
        self.start(max_frames=frames)
        started = time.monotonic()
        next_status = started + status_every_s
        try:
            while self.engine.running and not (stop is not None and stop.is_set()):
                now = time.monotonic()
                if duration_s is not None and now - started >= duration_s:
                    break
                if on_status is not None and now >= next_status:
                    on_status(self.status_line())
                    next_status += status_every_s
                time.sleep(0.02)
        finally:
            self.stop()
        if self.engine.fatal_error is not None:
            raise self.engine.fatal_error


def _variant_at(variants: tuple[Variant, ...], warming: tuple[int, int] | None) -> str:
    done = warming[0] if warming is not None else 0
    return str(variants[done]) if done < len(variants) else "the end of the warm-up"


def _close_quietly(component: Output | Control) -> None:
    try:
        component.close()
    except Exception:  # shutting down: report, then close the rest
        log.exception("error while closing %s", type(component).__name__)


