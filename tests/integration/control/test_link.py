"""Ableton Link on loopback: vj's clock and a second Link session (aalink) in this process find each other.

The peer is a real aalink `Link` on its own asyncio loop; discovery, tempo and beat go over
Link's own UDP multicast on this machine, as between two programs.
"""

from __future__ import annotations

import asyncio
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import wait_for
from vj.control.tempo import Quantise, Quantiser, TempoClock
from vj.errors import VjError

aalink = pytest.importorskip("aalink", reason="Ableton Link tests need aalink: pip install 'vj[link]'")

from vj.control.link import LinkSync, require_aalink  # noqa: E402


class Peer:
    """Another Link app: an aalink session on a loop thread of its own."""

    def __init__(self, bpm: float, quantum: float = 4.0) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self.loop.run_forever, name="link-peer", daemon=True)
        self.thread.start()

        async def make() -> Any:
            link = aalink.Link(bpm)
            link.quantum = quantum
            link.enabled = True
            return link

        self.link = asyncio.run_coroutine_threadsafe(make(), self.loop).result(5.0)

    def close(self) -> None:
        async def leave() -> None:
            self.link.enabled = False

        asyncio.run_coroutine_threadsafe(leave(), self.loop).result(5.0)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(5.0)


@pytest.fixture
def peer() -> Iterator[Peer]:
    p = Peer(97.0)
    yield p
    p.close()


@pytest.fixture
def vj_link() -> Iterator[tuple[TempoClock, LinkSync]]:
    tempo = TempoClock(120.0)
    sync = LinkSync(tempo)
    sync.start()
    yield tempo, sync
    sync.close()


def test_peers_discover_each_other_and_vj_takes_the_session_tempo(peer: Peer, vj_link) -> None:  # noqa: ANN001
    tempo, sync = vj_link
    wait_for(lambda: sync.peers == 1 and peer.link.num_peers == 1)
    # the session had two tempos; Link settles on one, and vj's clock follows it
    wait_for(lambda: abs(tempo.bpm - peer.link.tempo) < 0.01)
    assert tempo.source == "link" and sync.status() == "link 1 peers"


def test_a_tempo_set_on_the_peer_reaches_vj(peer: Peer, vj_link) -> None:  # noqa: ANN001
    tempo, sync = vj_link
    wait_for(lambda: sync.peers == 1)
    peer.link.tempo = 133.0
    wait_for(lambda: abs(tempo.bpm - 133.0) < 0.01)


def test_a_tempo_set_in_vj_is_proposed_to_the_session(peer: Peer, vj_link) -> None:  # noqa: ANN001
    tempo, sync = vj_link
    wait_for(lambda: sync.peers == 1)
    assert tempo.set_bpm(111.0, source="osc")  # what /vj/bpm does
    wait_for(lambda: abs(peer.link.tempo - 111.0) < 0.01)
    start = time.perf_counter()
    for t in (0.0, 0.5, 1.0, 1.5):  # four taps at 120 bpm: the second and later ones set a tempo
        tempo.tap(start + t)
    wait_for(lambda: abs(peer.link.tempo - 120.0) < 0.01)
    assert sync.proposed == 4 and abs(tempo.bpm - 120.0) < 0.01


def test_a_preset_switch_never_moves_the_sessions_tempo(peer: Peer, vj_link) -> None:  # noqa: ANN001
    tempo, sync = vj_link
    wait_for(lambda: sync.peers == 1)
    session_bpm = peer.link.tempo
    assert tempo.set_bpm(140.0, source="preset")  # what a switch does while the tempo is the preset's
    time.sleep(0.3)
    assert sync.proposed == 0 and abs(peer.link.tempo - session_bpm) < 0.01


def test_beats_follow_link_and_bars_land_on_the_peers_bar_grid(peer: Peer, vj_link) -> None:  # noqa: ANN001
    tempo, sync = vj_link
    wait_for(lambda: sync.peers == 1)
    peer.link.tempo = 150.0
    wait_for(lambda: abs(tempo.bpm - 150.0) < 0.01)
    time.sleep(0.2)  # let Link's clock measurements settle
    phases = []
    for _ in range(5):  # vj's phase in the bar equals the peer's, read at the same moment
        vj_beat = tempo.state().beat
        phases.append(((vj_beat % 4.0) - peer.link.phase + 2.0) % 4.0 - 2.0)
        time.sleep(0.03)
    assert max(abs(p) for p in phases) < 0.02  # beats (8 ms at 150 bpm)
    quantiser = Quantiser(tempo, Quantise.BAR)
    landed: list[float] = []
    try:
        for _ in range(2):
            quantiser.submit(lambda: landed.append(peer.link.phase))
            count = len(landed)
            wait_for(lambda count=count: len(landed) > count, timeout_s=5.0)
    finally:
        quantiser.close()
    # a change quantised to the bar runs when the peer's bar starts (phase 0, or just under 4)
    assert all(min(p, 4.0 - p) < 0.05 for p in landed), landed


def test_tap_changes_tempo_but_not_the_phase_link_owns(peer: Peer, vj_link) -> None:  # noqa: ANN001
    tempo, sync = vj_link
    wait_for(lambda: sync.peers == 1)
    time.sleep(0.2)
    before = tempo.state().beat
    tempo.align_beat(time.perf_counter(), 0.0)  # a MIDI start / tap would jump the phase without Link
    assert abs(tempo.state().beat - before) < 0.1


def test_without_aalink_one_line_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "aalink", None)  # import aalink now raises ImportError
    with pytest.raises(VjError, match=r"needs the aalink package: pip install 'vj\[link\]'"):
        require_aalink()
    with pytest.raises(VjError, match="aalink"):
        LinkSync(TempoClock())


def test_a_switch_to_a_preset_with_link_joins_the_session_and_stays(peer: Peer, tiny_backend,  # noqa: ANN001
                                                                     tmp_path: Path) -> None:
    from tests.conftest import TINY_PRESET
    from vj.cli.main import build_parser
    from vj.cli.run_flags import controls_config
    from vj.preset_files import load_preset
    from vj.session import LiveSession
    from vj.session.controls import LinkOnSwitch, attach_live_control, show_actions

    plain, linked = tmp_path / "plain.toml", tmp_path / "linked.toml"
    plain.write_text(TINY_PRESET.replace('name = "test"', 'name = "plain"'), encoding="utf-8")
    linked.write_text(TINY_PRESET.replace('name = "test"', 'name = "linked"') + "[modulators]\nlink = true\n",
                      encoding="utf-8")
    session = LiveSession(load_preset(str(plain)), backend=tiny_backend)
    config = controls_config(build_parser().parse_args(["run", str(plain), "--no-osc"]))
    attach_live_control(session, config, show_actions(session))  # as vj run wires it
    joiner = LinkOnSwitch(session)  # only to ask whether the show is in Link
    session.start()
    try:
        assert not joiner.joined()
        assert session.presets.by_name(str(linked)) == "linked"
        wait_for(joiner.joined, timeout_s=30)
        sync = next(c for c in session.controls if isinstance(c, LinkSync))
        # Which of the two tempos a merged Link session keeps is Link's choice; vj follows it, proposing none.
        wait_for(lambda: sync.peers >= 1 and abs(session.tempo.bpm - peer.link.tempo) < 0.01, timeout_s=30)
        assert session.tempo.source == "link" and sync.proposed == 0
        assert session.presets.by_name(str(plain)) == "plain"  # a preset without Link: the show stays in it
        assert session.presets.by_name(str(linked)) == "linked"  # and does not join twice
        time.sleep(0.2)
        assert sum(isinstance(c, LinkSync) for c in session.controls) == 1 and sync.peers >= 1
        assert f"link {sync.peers} peers" in session.status_line()
    finally:
        session.stop()
    assert sync.peers == 0  # left with the show
