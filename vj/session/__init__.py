"""Wiring: a preset, a backend, the parameter store, the engine, outputs and controls.

Three ways to run the engine, one module each: `LiveSession` (live.py) is what `vj run`
plays; `render_offline` (offline.py) is `vj render`, exactly 1/fps per frame with
back-pressure so no frame is lost; `replay` (replay.py) re-renders a live take from its
control timeline. `build_store` / `install_preset` (presets.py) are how a preset reaches a store.
"""

from vj.output.protocol import Output
from vj.session.components import Control
from vj.session.live import LiveSession
from vj.session.offline import render_offline, started_outputs
from vj.session.presets import PresetSwitcher, build_store, install_preset

__all__ = ["Control", "LiveSession", "Output", "PresetSwitcher", "build_store", "install_preset", "render_offline",
           "started_outputs"]
