"""`build_show`: a show file's engines and the one control surface over them (OSC, OSCQuery tree, page)."""

from __future__ import annotations

from collections.abc import Callable

from vj.show.showfile import ShowFile
from vj.show.supervisor import Show


def build_show(show_file: ShowFile, *, on_page: Callable[[str], None] | None = None, poll_s: float = 1.0) -> Show:
    """The show, not started: its engines, the OSC fan-out, and the combined OSCQuery tree and page."""
    return Show(show_file, poll_s=poll_s)
