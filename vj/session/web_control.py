"""`vj run`'s browser control surface: the flags, and the wiring of the web server to the session."""

from __future__ import annotations

import argparse
import ipaddress
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from vj.preset_files import list_presets

if TYPE_CHECKING:  # the session (and torch with it) loads only when `vj run` runs
    from vj.session.live import LiveSession
    from vj.web.context import RecordInfo


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a port number 0..65535, found {text!r}") from None
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"expected a port number 0..65535, found {port}")
    return port


def _host(text: str) -> str:
    if text != "localhost":
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an IP address to listen on (127.0.0.1, or 0.0.0.0 for every interface), "
                f"found {text!r}") from None
    return text


def add_web_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("browser control surface")
    g.add_argument("--web-port", type=_port, help="port of the control page (default: OSC port + 2)")
    g.add_argument("--web-host", type=_host, default="127.0.0.1",
                   help="interface the page is served on (default 127.0.0.1; 0.0.0.0 for a tablet on the "
                        "network, then with a token printed at start)")
    g.add_argument("--web-token", action="store_true", help="require the printed token on loopback too")
    g.add_argument("--no-web", action="store_true", help="no control page")


def attach_web(session: LiveSession, args: argparse.Namespace) -> None:
    """The page and its preview, wired to the session's store, tempo, LFOs, presets, take and MIDI learn."""
    if args.no_web:
        return
    from vj.cli.run_controls import RecordToggle
    from vj.control.commands import ShowActions
    from vj.control.midi.ports import MidiInput
    from vj.web.context import WebContext
    from vj.web.preview import PreviewSlot
    from vj.web.server import WebServer

    midi = next((c for c in session.controls if isinstance(c, MidiInput)), None)
    take = session.take
    actions = ShowActions(preset=lambda name: session.presets.by_name(name, allow_paths=False),
                          record=RecordToggle(session) if take is not None else None,
                          learn=midi.mapper.learn if midi is not None else None, tempo=session.tempo,
                          quantiser=session.quantiser, modulators=session.modulators, audio=session.audio,
                          blackout=session.performer.blackout, freeze=session.performer.freeze,
                          panic=session.performer.panic)
    ctx = WebContext(
        store=session.store, actions=actions,
        preset_names=lambda: [p.stem for p in list_presets()],
        playing_preset=lambda: Path(session.preset.source_path).stem or session.preset.name,
        scheduled=lambda: tuple(session.preset.schedules),
        record_info=lambda: _record_info(session),
        learning=(lambda: midi.mapper.learning) if midi is not None else (lambda: None),
        switches=lambda: {"blackout": session.performer.blackout_on, "freeze": session.performer.frozen},
        status=lambda: _figures(session), hidden=session.unused_slots)
    preview = PreviewSlot()
    session.add_output(preview)
    port = args.web_port if args.web_port is not None else (args.osc_port + 2 if args.osc_port else 0)
    session.add_control(WebServer(ctx, host=args.web_host, port=port, preview=preview,
                                  require_token=True if args.web_token else None,
                                  on_started=lambda url: print(f"vj: control page on {url}", file=sys.stderr,
                                                               flush=True)))


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
            "dropped": session.dropped, "errors": s.errors, "line": session.status_line()}
