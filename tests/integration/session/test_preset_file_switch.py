"""Preset files switched to mid-show over real UDP: an empty, half-saved or oversized file never replaces the
preset that plays; a file an editor is saving (truncate, then write) is read again once it has settled."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from pythonosc.udp_client import SimpleUDPClient

from tests.helpers import wait_for
from vj.cli.main import build_parser
from vj.cli.run import attach_run_components
from vj.config import PresetConfig
from vj.control.osc import OscControl
from vj.preset_files import MAX_PRESET_BYTES
from vj.session import LiveSession

OTHER = '[preset]\nname = "other"\n[model]\nsource = "tiny"\n[params]\nangle = 7.0\nstrength = 0.4\n'


class Show:
    def __init__(self, session: LiveSession) -> None:
        self.session = session
        self.osc = next(c for c in session.controls if isinstance(c, OscControl))
        self.client = SimpleUDPClient("127.0.0.1", self.osc.port)

    def frames_pass(self, count: int) -> None:
        stats = self.session.engine.stats
        until = stats.frames + count
        wait_for(lambda: stats.frames >= until, timeout_s=60.0)

    def switch(self, name: str) -> None:
        sent = self.osc.counters.messages
        self.client.send_message("/vj/preset", name)
        wait_for(lambda: self.osc.counters.messages == sent + 1 and self.osc.counters.handled
                 == self.osc.counters.datagrams)


@pytest.fixture
def show(tiny_backend, tiny_preset: PresetConfig, tmp_path: Path) -> Iterator[Show]:  # noqa: ANN001
    session = LiveSession(tiny_preset, backend=tiny_backend)
    args = build_parser().parse_args(["run", "tiny.toml", "--osc-port", "0", "--no-oscquery", "--no-zeroconf",
                                      "--presets-dir", str(tmp_path)])
    attach_run_components(session, args)
    session.start()
    try:
        yield Show(session)
    finally:
        session.stop()


def test_an_empty_preset_file_is_refused_and_the_show_keeps_its_preset(show: Show, tmp_path: Path,
                                                                       caplog: pytest.LogCaptureFixture) -> None:
    (tmp_path / "blank.toml").write_text("")
    show.switch("blank")
    assert show.osc.counters.rejected["refused"] == 1
    show.frames_pass(3)  # a wrongly accepted switch would land on the next frame
    assert show.session.preset.name == "test"
    assert any("blank.toml: expected a TOML preset, found 'an empty file'" in r.getMessage()
               and "'test' plays on" in r.getMessage() for r in caplog.records)


def test_a_preset_being_saved_is_read_once_it_has_settled(show: Show, tmp_path: Path) -> None:
    path = tmp_path / "other.toml"
    path.write_text("")  # the editor truncated it ...
    writer = threading.Timer(0.2, lambda: path.write_text(OTHER))  # ... and writes it a moment later
    writer.start()
    try:
        show.switch("other")
    finally:
        writer.join()
    wait_for(lambda: show.session.preset.name == "other", timeout_s=5.0)
    assert show.osc.counters.rejected_total() == 0
    assert show.session.store.target("angle") == pytest.approx(7.0)


def test_a_preset_file_over_the_size_limit_is_refused_before_it_is_parsed(show: Show, tmp_path: Path,
                                                                          caplog: pytest.LogCaptureFixture) -> None:
    padding = "# " + "x" * 98 + "\n"
    (tmp_path / "huge.toml").write_text(OTHER + padding * (MAX_PRESET_BYTES // len(padding) + 1))
    show.switch("huge")
    assert show.osc.counters.rejected["refused"] == 1
    show.frames_pass(3)
    assert show.session.preset.name == "test"
    assert any("huge.toml: expected a TOML preset of at most 1,048,576 bytes" in r.getMessage()
               for r in caplog.records)
