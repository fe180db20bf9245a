"""`build_show`: a show file's engines and the one control surface over them (OSC, OSCQuery tree, page)."""

from __future__ import annotations

from collections.abc import Callable

from vj.show.page import ShowPage
from vj.show.showfile import ShowFile, show_ports
from vj.show.supervisor import Show
from vj.show.tree import ShowTreeServer


def build_show(show_file: ShowFile, *, on_page: Callable[[str], None] | None = None, poll_s: float = 1.0) -> Show:
    """The show, not started: its engines, the OSC fan-out, and the combined OSCQuery tree and page."""
    show = Show(show_file, poll_s=poll_s)
    own = show_ports(show_file)
    tree = ShowTreeServer(lambda: show.trees, list(show.engines), osc_port=lambda: show.fanout.port,
                          host=show_file.osc_host, port=own["oscquery_port"], advertise=show_file.zeroconf)
    page = ShowPage(show, host=show_file.web_host, port=own["web_port"], on_started=on_page)
    show.controls += [tree, page]
    return show
