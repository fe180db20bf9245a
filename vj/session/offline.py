"""Offline render: every frame at exactly 1/fps into outputs that apply back-pressure (none is lost)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

from vj.config import PresetConfig
from vj.engine.backends import Backend, load_backend
from vj.engine.clock import FixedClock
from vj.engine.loop import Engine, EngineSettings
from vj.frames import FanOut, Frame
from vj.session.components import Output
from vj.session.presets import build_store_and_bank

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
                   audio: AudioTrack | None = None, on_audio: Callable[[OfflineAudio], None] | None = None) -> int:
    """Render `frames` frames at exactly 1/fps each; outputs apply back-pressure.

    With `audio`, the preset's audio modulators follow the track, analysed frame by frame
    before each frame is rendered (`on_audio` gets the driver, e.g. to report its onsets).
    """
    backend = backend if backend is not None else load_backend(preset.model)
    store, bank = build_store_and_bank(preset, backend)
    driver = None
    if audio is not None:
        from vj.control.audio.offline import OfflineAudio

        driver = OfflineAudio.install(audio, preset, store, bank)
        if on_audio is not None:
            on_audio(driver)
    with started_outputs(outputs) as fanout:
        engine = Engine(backend, store, EngineSettings(preset.render.width, preset.render.height,
                                                       preset.render.fps, offline=True),
                        fanout, FixedClock(preset.render.fps))
        try:
            engine.prime(store.prompts())
            for i in range(frames):
                if driver is not None:
                    driver.before_frame(i)
                frame = engine.render_frame()
                if on_frame is not None:
                    on_frame(frame)
        finally:
            engine.stop()
    return engine.stats.frames
