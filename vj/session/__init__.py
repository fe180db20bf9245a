"""Wiring: a preset, a backend, the parameter store, the engine, outputs and controls, built from typed configs.

Three ways to run the engine, one module each: `LiveSession` (live.py) is what `vj run`
plays; `render_offline` (offline.py) is `vj render`, exactly 1/fps per frame with
back-pressure so no frame is lost; `replay` (replay.py) re-renders a live take from its
control timeline. All three build their engine with `build_engine` (build_engine.py);
`build_store` / `build_show_store` / `install_preset` (presets.py) are how a preset reaches a store.
A live show with its controls and outputs is `build_live_show(preset, ShowConfig(...))`
(live_show.py; the configs are vj.config_live), wired by controls.py, outputs.py,
web_control.py and audio_in.py.
"""

from vj.output.protocol import Output
from vj.session.components import Control
from vj.session.live import LiveSession
from vj.session.live_show import attach_show, build_live_show
from vj.session.offline import render_offline, started_outputs
from vj.session.presets import PresetSwitcher, build_store, install_preset

__all__ = ["Control", "LiveSession", "Output", "PresetSwitcher", "attach_show", "build_live_show", "build_store",
           "install_preset", "render_offline", "started_outputs"]
