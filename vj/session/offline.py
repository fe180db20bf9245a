"""Offline render: every frame at exactly 1/fps into outputs that apply back-pressure (none is lost)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager

from vj.config import PresetConfig
from vj.engine.backends import Backend, load_backend
from vj.engine.clock import FixedClock
from vj.engine.loop import Engine, EngineSettings
from vj.frames import FanOut, Frame
from vj.session.components import Output
from vj.session.depth import build_depth
from vj.session.presets import build_store


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
                   publish_depth: bool = False) -> int:
    """Render `frames` frames at exactly 1/fps each; outputs apply back-pressure."""
    backend = backend if backend is not None else load_backend(preset.model)
    store = build_store(preset, backend)
    depth = build_depth(preset, backend, wanted=publish_depth)
    with started_outputs(outputs) as fanout:
        engine = Engine(backend, store, EngineSettings(preset.render.width, preset.render.height,
                                                       preset.render.fps, offline=True),
                        fanout, FixedClock(preset.render.fps), depth=depth, publish_depth=publish_depth)
        try:
            engine.prime(store.prompts())
            for _ in range(frames):
                frame = engine.render_frame()
                if on_frame is not None:
                    on_frame(frame)
        finally:
            engine.stop()
    return engine.stats.frames
