"""`LiveSession`: one show — the engine on its render thread, with the outputs and controls around it.

The session owns, as typed fields, everything a show is wired from: the store, the tempo
clock, quantiser and LFO bank, the preset switcher, the recording take, the outputs and
the controls. Control sources and outputs get what they need from these fields; nothing
is attached by name.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable

from vj.config import PresetConfig
from vj.control.modulators import ModulatorBank
from vj.control.tempo import Quantise, Quantiser, TempoClock
from vj.engine.backends import Backend, load_backend, pick_device
from vj.engine.clock import Clock, FixedClock, LiveClock
from vj.engine.cpu_threads import keep_off_the_render_cores
from vj.engine.loop import Engine, EngineSettings
from vj.frames import FanOut
from vj.output.take import LiveTake
from vj.session.components import Control, Output
from vj.session.depth import build_depth
from vj.session.presets import PresetSwitcher, base_values, install_preset
from vj.store import ParamStore

log = logging.getLogger(__name__)


class LiveSession:
    """One show: the engine on its render thread, plus the outputs and controls around it."""

    def __init__(self, preset: PresetConfig, *, backend: Backend | None = None, clock: Clock | None = None,
                 offline: bool = False, fixed_size: bool = False, publish_depth: bool = False) -> None:
        """`fixed_size`: the size was set on the command line, so preset switches keep it.

        `publish_depth`: frames carry the depth map (an output shows it; the depth model loads)."""
        self.preset = preset
        self.fixed_size = fixed_size
        device = backend.device if backend is not None else pick_device(preset.model.device)
        if not offline and device.type == "cpu":  # the render thread does the heavy work: vj.engine.cpu_threads
            keep_off_the_render_cores()
        self.backend = backend if backend is not None else load_backend(preset.model)
        mods = preset.modulators
        self.store = ParamStore(base=base_values(preset, self.backend, announce=True),
                                prompts=preset.prompts.to_mix())
        self.tempo = TempoClock(mods.bpm, mods.beats_per_bar)
        self.quantiser = Quantiser(self.tempo, Quantise(mods.quantise), mods.lookahead_ms / 1000.0)
        self.modulators = ModulatorBank(self.store, self.tempo, engine_time=offline)
        install_preset(self.store, preset, self.modulators)
        self.presets = PresetSwitcher(self, self.quantiser)
        self.take: LiveTake | None = None
        self.fanout = FanOut()
        settings = EngineSettings(preset.render.width, preset.render.height, preset.render.fps, offline=offline)
        depth = build_depth(preset, self.backend, wanted=publish_depth)
        self.engine = Engine(self.backend, self.store, settings, self.fanout,
                             clock or (FixedClock(preset.render.fps) if offline else LiveClock(preset.render.fps)),
                             depth=depth, publish_depth=publish_depth)
        self.outputs: list[Output] = []
        self.controls: list[Control] = []
        self._preset_lock = threading.Lock()
        self._started = False
        self._stopped = False

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

        One policy for every way a preset is switched (OSC, MIDI, preview keys): the model
        and the fps stay for the whole show (a model swap would stall it; the outputs run at
        a fixed rate), and the size follows the preset unless the command line fixed it.
        """
        with self._preset_lock:
            if preset.model.source != self.preset.model.source:
                log.warning("preset %r names model %s; keeping %s (models are not swapped live)",
                            preset.name, preset.model.source, self.preset.model.source)
            current = self.preset.render
            size = (current.width, current.height) if self.fixed_size else (preset.render.width,
                                                                              preset.render.height)
            render = dataclasses.replace(preset.render, width=size[0], height=size[1], fps=current.fps)
            preset = preset.replace(model=self.preset.model, render=render)
            self.store.load_preset_state(base_values(preset, self.backend), preset.prompts.to_mix(), {})
            install_preset(self.store, preset, self.modulators)
            if (preset.render.width, preset.render.height) != (self.engine.width, self.engine.height):
                self.engine.request_resize(preset.render.width, preset.render.height)
            self.engine.reset_anchor()
            self.preset = preset
            log.info("preset %r applied", preset.name)

    # ------------------------------------------------------------------ running
    def start(self, max_frames: int | None = None) -> None:
        for output in self.outputs:
            output.start()
        for control in self.controls:
            control.start()
        self.engine.prime(self.store.prompts())
        self._started = True
        self.engine.start(max_frames)

    def stop(self) -> None:
        """Stop the engine, then controls and outputs (outputs finish their files). Idempotent."""
        if self._stopped:
            return
        self._stopped = True
        self.engine.stop()
        for control in self.controls:
            _close_quietly(control)
        for output in self.outputs:
            _close_quietly(output)
        self.quantiser.close()
        self._started = False

    @property
    def dropped(self) -> int:
        return sum(int(getattr(o, "dropped", 0)) for o in self.outputs)

    def status_line(self) -> str:
        s = self.engine.stats
        parts = [f"{s.fps:5.1f} fps", f"{s.frame_ms:6.1f} ms", f"frames {s.frames}", f"dropped {self.dropped}"]
        if s.errors:
            parts.append(f"errors {s.errors}")
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


def _close_quietly(component: Output | Control) -> None:
    try:
        component.close()
    except Exception:  # shutting down: report, then close the rest
        log.exception("error while closing %s", type(component).__name__)


