"""The page's Audio card in a real browser: headless Chromium (Debian's package) driven by Playwright,
against the real web server over the real audio modulators (no engine: nothing here renders)."""

from __future__ import annotations

import dataclasses
import re
import shutil
from pathlib import Path

import pytest

from tests.helpers import wait_for, wait_in_page
from tests.integration.test_oscquery_audio import features
from tests.integration.test_web_protocol import make_show
from vj.control.audio.modulators import AudioMod, AudioModulators
from vj.web.server import WebServer

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
