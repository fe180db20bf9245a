"""A live show's browser control page from a `WebConfig`, wired to the show's commands and views."""

from __future__ import annotations

import logging
import time
from typing import TYPE_CHECKING

from vj.config_live import WebConfig
from vj.preset_files import list_presets

if TYPE_CHECKING:  # the session (and torch with it) loads only when a show is built
    from collections.abc import Callable

    from vj.control.commands import ShowActions
    from vj.session.live import LiveSession
    from vj.web.context import RecordInfo

log = logging.getLogger(__name__)


def attach_web(session: LiveSession, config: WebConfig, actions: ShowActions, *, osc_port: int = 0,
               on_started: Callable[[str], None] | None = None) -> None:
    """The page and its preview, reaching `actions` (the commands OSC and MIDI reach) and showing the session.

    `osc_port`: the page's default port is the next but one (any free port with OSC on port 0)."""
    if not config.enabled:
        return
    from vj.control.midi.ports import MidiInput
    from vj.web.context import WebContext
    from vj.web.preview import PreviewSlot
    from vj.web.server import WebServer

    midi = next((c for c in session.controls if isinstance(c, MidiInput)), None)
    ctx = WebContext(
        store=session.store, actions=actions,
        preset_names=lambda: [p.stem for p in list_presets()],
        playing_preset=session.playing_preset_name,
        model_names=_model_names(session), playing_model=lambda: session.preset.model.source,
        scheduled=lambda: tuple(session.preset.schedules),
        record_info=lambda: _record_info(session),
        learning=(lambda: midi.mapper.learning) if midi is not None else (lambda: None),
        switches=lambda: {"blackout": session.performer.blackout_on, "freeze": session.performer.frozen},
        status=lambda: _figures(session), hidden=session.unused_slots,
        reference_upload_bytes=int(session.preset.reference.max_upload_mb * 1_000_000))
    preview = PreviewSlot()
    session.add_output(preview)
    port = config.port if config.port is not None else (osc_port + 2 if osc_port else 0)
    session.add_control(WebServer(ctx, host=config.host, port=port, preview=preview,
                                  require_token=True if config.token else None,
                                  on_started=on_started or (lambda url: log.info("control page on %s", url))))


MODEL_LIST_TTL_S = 10.0  # the list reads every preset file: not on every state tick, but a new file shows soon


def _model_names(session: LiveSession) -> Callable[[], list[str]]:
    """The models the page offers: the ones a model command may name, read again at most every few seconds."""
    cached: list[tuple[float, list[str]]] = []

    def names() -> list[str]:
        now = time.monotonic()
        if not cached or now - cached[0][0] > MODEL_LIST_TTL_S:
            cached[:] = [(now, sorted(session.models.allowed_sources()))]
        return cached[0][1]

    return names


def _record_info(session: LiveSession) -> RecordInfo:
    from vj.web.context import RecordInfo

    take = session.take
    if take is None:
        return RecordInfo()
    if take.paths:
        name = take.paths[-1].name
    else:  # before the first take: the file it will write (a default name carries its own start time)
        name = take.base_path.name if take.base_path is not None else "vj-<preset>-<time>.mkv"
    return RecordInfo(available=True, on=take.is_recording, name=name, takes=len(take.paths))


def _figures(session: LiveSession) -> dict[str, object]:
    s = session.engine.stats
    return {"fps": round(s.fps, 2), "frame_ms": round(s.frame_ms, 2), "frames": s.frames,
            "dropped": session.dropped, "errors": s.errors, "oom": s.oom, "skipped": s.skipped,
            "oom_note": s.oom_note, "line": session.status_line()}
