"""A live show from typed configs: the session with its controls and outputs, no command line needed.

`build_live_show(preset, ShowConfig(...))` is what `vj run` plays and what a library caller
uses; `attach_show` wires an existing `LiveSession`. One `ShowActions` is built per show and
handed to every transport (OSC, MIDI, the page, the preview keys), so they all reach the same
commands.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from vj.config import PresetConfig
from vj.config_live import ShowConfig
from vj.session.audio_in import attach_audio, check_audio_in
from vj.session.controls import attach_live_control, check_controls, show_actions
from vj.session.outputs import attach_outputs, check_outputs, prepare_outputs
from vj.session.web_control import attach_web

if TYPE_CHECKING:
    from vj.engine.backends import Backend
    from vj.input.open import CheckedInputs
    from vj.output.monitors import Monitor
    from vj.session.live import LiveSession


def check_show(config: ShowConfig, preset: PresetConfig) -> None:
    """Everything about the wiring that can be said before the model loads (packages, files, devices)."""
    check_outputs(config.outputs)
    check_controls(config.controls, preset)
    check_audio_in(config.audio, preset)


def attach_show(session: LiveSession, config: ShowConfig, *, monitor: Monitor | None = None,
                on_page: Callable[[str], None] | None = None) -> None:
    """The controls and outputs `config` asks for, attached to `session`.

    `monitor`: where a fullscreen preview goes, as `prepare_outputs` found it before the model
    loaded; `on_page`: called with the control page's address once it serves."""
    actions = show_actions(session)
    attach_live_control(session, config.controls, actions)
    attach_outputs(session, config.outputs, actions, monitor=monitor)
    attach_audio(session, config.audio)  # after the outputs: recording the sound feeds the take
    attach_web(session, config.web, actions, osc_port=config.controls.osc_port, on_started=on_page)


def build_live_show(preset: PresetConfig, config: ShowConfig, *, backend: Backend | None = None,
                    fixed_size: bool = False, inputs: CheckedInputs | None = None,
                    on_page: Callable[[str], None] | None = None, check_memory: bool = True,
                    fixed_model: bool = False) -> LiveSession:
    """A `LiveSession` for `preset` with the controls and outputs of `config` (not started).

    `check_memory`: refuse (MemoryRefused) a model that would not fit the device's free memory,
    before it loads; never when `backend` is given (already loaded)."""
    from vj.session.live import LiveSession

    monitor = prepare_outputs(config.outputs)  # OpenCV before PyAV, and the display checked before the model
    check_show(config, preset)
    if backend is None and check_memory:
        from vj.session.memory_check import check_memory_before_load

        check_memory_before_load(preset, wants_depth=config.outputs.wants_depth)
    session = LiveSession(preset, backend=backend, fixed_size=fixed_size, inputs=inputs,
                          publish_depth=config.outputs.wants_depth, fixed_model=fixed_model)
    try:
        attach_show(session, config, monitor=monitor, on_page=on_page)
    except BaseException:
        session.stop()
        raise
    return session
