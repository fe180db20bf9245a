"""Offline render: every frame at exactly 1/fps into outputs that apply back-pressure (none is lost).

A render can be continued: `resume_state` (saved by the render before, vj.engine.resume_state)
puts the engine back where that render stopped, and the store is brought to the same point by
taking the same snapshots again (it is a pure function of the frame clock offline), so the
first new frame is the one the longer render would have made.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

from vj.config import PresetConfig
from vj.engine.backends import Backend, load_backend
from vj.engine.clock import FixedClock
from vj.engine.cpu_threads import on_the_render_cores
from vj.engine.resume_state import restore_engine_state, save_engine_state
from vj.engine.stats import EngineStats
from vj.frames import FanOut, Frame
from vj.input.open import CheckedInputs
from vj.output.master import MasterStage
from vj.output.protocol import Output
from vj.output_size import GeometrySpec
from vj.session.build_engine import build_engine
from vj.session.inputs import build_inputs
from vj.session.presets import build_store_and_bank
from vj.store import ParamStore

if TYPE_CHECKING:
    from vj.control.audio.files import AudioTrack
    from vj.control.audio.offline import OfflineAudio


@contextmanager
def started_outputs(outputs: Iterable[Output]) -> Iterator[FanOut]:
    """Start `outputs` behind one fan-out for a render; close them all at the end (files finished)."""
    outs = list(outputs)
    fanout = FanOut()
    try:
        for output in outs:
            output.start()
            fanout.add(output)
        yield fanout
    finally:
        for output in outs:
            output.close()


def render_offline(preset: PresetConfig, *, frames: int, outputs: Iterable[Output],
                   backend: Backend | None = None, on_frame: Callable[[Frame], None] | None = None,
                   inputs: CheckedInputs | None = None, resume_state: dict[str, Any] | None = None,
                   save_state: str | Path | None = None, audio: AudioTrack | None = None,
                   on_audio: Callable[[OfflineAudio], None] | None = None, publish_depth: bool = False,
                   output_geometry: GeometrySpec | None = None,
                   on_stats: Callable[[EngineStats], None] | None = None) -> int:
    """Render `frames` frames at exactly 1/fps each; outputs apply back-pressure.

    `inputs`: the `[input]` table as checked before the model loaded (checked here otherwise).
    `resume_state`: continue a render from its saved engine state; `save_state`: where to
    save this render's final state, so it can be continued in turn.
    With `audio`, the preset's audio modulators follow the track, analysed frame by frame
    before each frame is rendered (`on_audio` gets the driver, e.g. to report its onsets).
    `publish_depth`: frames carry the depth map too; `output_geometry`: the frames leave the device at
    that size (vj.engine.output_geometry). `on_stats` gets the engine's statistics at the end.
    """
    backend = backend if backend is not None else load_backend(preset.model)
    store, bank = build_store_and_bank(preset, backend)
    driver = None
    if audio is not None:
        from vj.control.audio.offline import OfflineAudio

        driver = OfflineAudio.install(audio, preset, store, bank)
        if on_audio is not None:
            on_audio(driver)
    clock = FixedClock(preset.render.fps)
    start = int(resume_state["index"]) if resume_state is not None else 0
    if start:
        _catch_up(store, clock, start)
    source, engine_inputs = build_inputs(preset, inputs, offline=True, start_index=start)
    if source is not None:
        source.start()
    try:
        with on_the_render_cores(), started_outputs(outputs) as fanout:
            engine = build_engine(preset, backend, store, MasterStage(fanout),  # a scheduled `master` fades the file
                                  clock, offline=True, start_index=start, inputs=engine_inputs,
                                  publish_depth=publish_depth)
            if output_geometry is not None:
                from vj.engine.output_geometry import build_output_geometry

                engine.output_geometry = build_output_geometry(output_geometry, backend.device, backend.dtype)
            try:
                engine.prime(store.prompts())
                if resume_state is not None:
                    restore_engine_state(engine, resume_state)

                def rendered() -> Iterator[Frame | None]:
                    for i in range(frames):
                        if driver is not None:
                            driver.before_frame(i)
                        yield engine.render_frame()
                    # On a GPU each call hands out the frame before it (pipelined): the last comes from flush().
                    yield engine.flush()

                for frame in rendered():
                    if frame is not None and on_frame is not None:
                        on_frame(frame)
                if save_state is not None:
                    save_engine_state(engine, save_state)
            finally:
                engine.stop()
                if on_stats is not None:
                    on_stats(engine.stats)
    finally:
        if source is not None:
            source.close()
    return engine.stats.frames


def _catch_up(store: ParamStore, clock: FixedClock, frames: int) -> None:
    """Take the snapshots of frames 0..frames-1 again: smoothing, schedules and LFOs end where they were."""
    for index in range(frames):
        now_s, dt_s = clock.tick(index)
        store.snapshot(index, now_s, dt_s)
