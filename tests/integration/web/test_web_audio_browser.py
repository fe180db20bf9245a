"""The page's Audio card in a real browser: headless Chromium (Debian's package) driven by Playwright,
against the real web server over the real audio modulators (no engine: nothing here renders)."""

from __future__ import annotations

import dataclasses
import json
import re
import shutil
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from tests.helpers import wait_for, wait_in_page
from tests.integration.control.test_oscquery_audio import features
from tests.integration.web.test_web_protocol import make_show
from vj.control.audio.modulators import AudioMod, AudioModulators
from vj.web.server import WebServer

if TYPE_CHECKING:
    from playwright.sync_api import Page, WebSocketRoute

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                reason="Debian's chromium package is not installed (.ci/run installs it)")


def test_the_audio_card_moves_depth_and_switches_a_modulator_off_and_on(tmp_path: Path) -> None:
    show, ctx, _ = make_show()
    audio = AudioModulators(show.store, show.modulators)
    audio.assign("zoom", AudioMod("bass", 0.05, attack_ms=0.0, release_ms=120.0))
    audio.step(features(0.6), 0.01)
    server = WebServer(dataclasses.replace(ctx, actions=dataclasses.replace(ctx.actions, audio=audio)), port=0)
    server.start()
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            problems: list[str] = []
            page.on("pageerror", lambda err: problems.append(str(err)))
            page.goto(server.url)
            sync_api.expect(page.locator("#conn")).to_have_text("live", timeout=20_000)
            sync_api.expect(page.locator("#audio-zoom .name")).to_have_text("zoom ← bass")
            wait_in_page(page, "Math.abs(document.getElementById('level-bass').value - 0.6) < 1e-6")

            # a real mouse click on the depth slider, four fifths along: depth's range is ±1.5 for zoom
            slider = page.locator("#audio-depth-zoom")
            slider.scroll_into_view_if_needed()
            box = slider.bounding_box()
            assert box is not None
            page.mouse.click(box["x"] + 0.8 * box["width"], box["y"] + box["height"] / 2)
            depth = float(slider.input_value())
            assert 0.6 < depth < 1.2, depth
            wait_for(lambda: (m := audio.get("zoom")) is not None and abs(m.depth - depth) < 1e-9)

            page.locator("#audio-toggle-zoom").click()  # off: the modulator is removed ...
            wait_for(lambda: audio.get("zoom") is None)
            sync_api.expect(page.locator("#audio-zoom")).to_have_class(re.compile(r"\boff\b"))
            page.locator("#audio-toggle-zoom").click()  # ... and on again, as it was
            wait_for(lambda: audio.get("zoom") is not None)
            assert audio.get("zoom") == AudioMod("bass", depth, attack_ms=0.0, release_ms=120.0)
            sync_api.expect(page.locator("#audio-zoom")).not_to_have_class(re.compile(r"\boff\b"))

            page.locator("#audio-onset button", has_text="zoom_punch").click()
            wait_for(lambda: audio.onset.action == "zoom_punch")
            page.locator("#audio").screenshot(path=str(tmp_path / "audio-card.png"))
            browser.close()
        assert problems == []
    finally:
        server.close()
        show.quantiser.close()


class HeldPushes:
    """Sits on the page's WebSocket to the real server: what the page sends goes through at once; the
    server's pushes go through too, except while `holding`, when they are kept, in order, until `release`
    (so a test decides that a push the server built before a click reaches the page after it).

    Playwright calls `route` and `from_server` only while the test is inside a Playwright call: wait
    with `pump_until`, never with a bare poll.
    """

    def __init__(self) -> None:
        self.holding = False
        self.held: list[str | bytes] = []
        self.passed: list[str | bytes] = []  # what was sent on to the page, in order
        self.page_side: WebSocketRoute | None = None

    def route(self, ws: WebSocketRoute) -> None:
        self.page_side = ws
        ws.connect_to_server().on_message(self.from_server)  # page -> server is forwarded untouched

    def from_server(self, message: str | bytes) -> None:
        if self.holding:
            self.held.append(message)
        else:
            self._send([message])

    def release(self) -> None:
        self.holding = False
        self._send(self.held)
        self.held = []

    def _send(self, messages: list[str | bytes]) -> None:
        assert self.page_side is not None
        for message in messages:
            self.page_side.send(message)
            self.passed.append(message)


def audio_mods(messages: list[str | bytes]) -> list[dict[str, Any]]:
    """The modulators listed by each state push among `messages` that carries the audio state."""
    pushes = [json.loads(m) for m in messages if isinstance(m, str)]
    return [p["state"]["audio"]["mods"] for p in pushes if "audio" in p.get("state", {})]


def pump_until(page: Page, cond: Callable[[], bool], timeout_s: float = 10.0) -> None:
    """Wait for `cond`, letting Playwright run the WebSocket route's callbacks meanwhile."""
    deadline = time.monotonic() + timeout_s
    while not cond():
        assert time.monotonic() < deadline, "condition not met in time"
        page.wait_for_timeout(20)


@contextmanager
def routed_page(mod: AudioMod) -> Iterator[tuple[Page, AudioModulators, HeldPushes]]:
    """The page, live, over a real server with `mod` on zoom, its pushes passing through a HeldPushes."""
    show, ctx, _ = make_show()
    audio = AudioModulators(show.store, show.modulators)
    audio.assign("zoom", mod)
    server = WebServer(dataclasses.replace(ctx, actions=dataclasses.replace(ctx.actions, audio=audio)), port=0)
    server.start()
    pushes = HeldPushes()
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            problems: list[str] = []
            page.on("pageerror", lambda err: problems.append(str(err)))
            page.route_web_socket(re.compile(r"/ws\b"), pushes.route)
            page.goto(server.url)
            sync_api.expect(page.locator("#conn")).to_have_text("live", timeout=20_000)
            sync_api.expect(page.locator("#audio-zoom .name")).to_have_text(f"zoom ← {mod.source}")
            yield page, audio, pushes
            browser.close()
        assert problems == []
    finally:
        server.close()
        show.quantiser.close()


OFF = re.compile(r"\boff\b")


def test_a_depth_echo_arriving_after_the_off_click_leaves_the_modulator_shown_off() -> None:
    """The push carrying the echo of a depth move was built before the server took the off, so it still
    lists the modulator, and it reaches the page after the click. The row must end "off" (ready to switch
    on again as it was), neither back "on" nor gone once the push without the modulator follows."""
    with routed_page(AudioMod("bass", 0.05, attack_ms=0.0, release_ms=120.0)) as (page, audio, pushes):
        row, toggle = page.locator("#audio-zoom"), page.locator("#audio-toggle-zoom")
        slider = page.locator("#audio-depth-zoom")
        pushes.holding = True
        slider.fill("0.6")  # a depth move (the slider snaps it to its step); its echo is held back ...
        depth = float(slider.input_value())
        assert abs(depth - 0.6) < 0.01, depth
        pump_until(page, lambda: any(abs(mods["zoom"]["depth"] - depth) < 1e-9
                                     for mods in audio_mods(pushes.held) if "zoom" in mods))
        toggle.click()  # ... past the off click ...
        pump_until(page, lambda: audio.get("zoom") is None and any("zoom" not in m for m in audio_mods(pushes.held)))
        pushes.release()  # ... then the push without the modulator
        sync_api.expect(row).to_have_class(OFF)
        sync_api.expect(toggle).to_have_text("off")

        toggle.click()  # on again, at the depth it had
        wait_for(lambda: audio.get("zoom") == AudioMod("bass", depth, attack_ms=0.0, release_ms=120.0))
        sync_api.expect(row).not_to_have_class(OFF)

        toggle.click()  # off; once the page has been sent a push without it ...
        pump_until(page, lambda: (shown := audio_mods(pushes.passed)) != [] and "zoom" not in shown[-1])
        audio.assign("zoom", AudioMod("mid", 0.2))  # ... another controller attaching it is shown at once
        sync_api.expect(row.locator(".name")).to_have_text("zoom ← mid")
        sync_api.expect(row).not_to_have_class(OFF)


def test_a_modulator_attached_elsewhere_before_the_page_saw_it_off_is_shown_on_after_a_wait() -> None:
    """Off here, then another controller attaches it again before any push has shown it removed: no
    push ever lacks it, so after the page's wait (OFF_WAIT_MS in app.js) the server's listing wins."""
    with routed_page(AudioMod("bass", 0.05)) as (page, audio, pushes):
        row = page.locator("#audio-zoom")
        pushes.holding = True
        page.locator("#audio-toggle-zoom").click()
        pump_until(page, lambda: audio.get("zoom") is None)
        audio.assign("zoom", AudioMod("mid", 0.2))
        pump_until(page, lambda: any("zoom" in mods for mods in audio_mods(pushes.held)))
        # the pushes that showed it removed never arrive (as when both land between two pushes)
        pushes.held = [m for m in pushes.held if all("zoom" in mods for mods in audio_mods([m]))]
        pushes.release()
        sync_api.expect(row).to_have_class(OFF)  # still waiting for the off ...
        sync_api.expect(row.locator(".name")).to_have_text("zoom ← mid", timeout=20_000)  # ... then on
        sync_api.expect(row).not_to_have_class(OFF)


def test_a_modulator_switched_off_and_on_between_two_pushes_is_shown_on() -> None:
    """Off and on again reach the server between two of its pushes: its audio state does not change, so
    no push comes; the page shows the row on from the click."""
    with routed_page(AudioMod("bass", 0.05)) as (page, audio, pushes):
        row, toggle = page.locator("#audio-zoom"), page.locator("#audio-toggle-zoom")
        pushes.holding = True
        toggle.click()
        sync_api.expect(row).to_have_class(OFF)
        pump_until(page, lambda: audio.get("zoom") is None)
        toggle.click()
        # the click's handler has drawn the row (read once: the page's own wait would draw it later)
        assert row.get_attribute("class") == "" and toggle.text_content() == "on"
        pump_until(page, lambda: audio.get("zoom") is not None and "zoom" in (audio_mods(pushes.held) or [{}])[-1])
        # what the server pushed about the two never arrives (as when both land between two pushes, where
        # its state does not change); the pushes after those have no audio state to send
        pushes.held = [m for m in pushes.held if not audio_mods([m])]
        pushes.release()
        sync_api.expect(row).not_to_have_class(OFF)
        sync_api.expect(toggle).to_have_text("on")
