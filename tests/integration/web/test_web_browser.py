"""The control page in a real browser: headless Chromium (Debian's package) driven by Playwright.

A real `vj run --model tiny --record` child process serves the page; the desktop page moves
the zoom fader with the mouse, the phone-sized page types a prompt and presses Enter; both
pages follow each other, a third client (the `websockets` library) reads the store, and the
take's timeline holds both changes with source "web". Screenshots of both viewports are
saved under the test's tmp_path (and copied to $VJ_TEST_ARTIFACTS when that is set).
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import pytest
from websockets.sync.client import connect

from tests.helpers import wait_in_page

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                reason="Debian's chromium package is not installed (.ci/run installs it)")

PROMPT = "a violet storm over glass towers"


class VjChild:
    """`vj run` in a child process; stderr is read on a thread so the child never blocks on it."""

    def __init__(self, cwd: Path) -> None:
        self.lines: list[str] = []
        self.proc = subprocess.Popen(
            [sys.executable, "-m", "vj.cli", "run", "zoom-tunnel", "--model", "tiny", "--width", "64",
             "--height", "64", "--osc-port", "0", "--no-zeroconf", "--record", str(cwd / "take.mkv"),
             "--duration", "240"], cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.append(line)

    def url(self, timeout_s: float = 180.0) -> str:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for line in self.lines:
                found = re.search(r"control page on (http://\S+)", line)
                if found:
                    return found.group(1)
            assert self.proc.poll() is None, "vj run ended early:\n" + "".join(self.lines[-30:])
            time.sleep(0.1)
        raise AssertionError("vj run printed no control page URL:\n" + "".join(self.lines[-30:]))

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
        try:
            return self.proc.wait(60)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            return self.proc.wait(10)


def store_view(url: str) -> tuple[dict[str, Any], dict[str, Any]]:
    """The show's state and values as a third client sees them."""
    with connect(url.replace("http://", "ws://").rstrip("/") + "/ws") as ws:
        state: dict[str, Any] = {}
        while True:
            message = ws.recv(timeout=10)
            if isinstance(message, str):
                data = json.loads(message)
                state.update(data.get("state", {}))
                if "values" in data:
                    return state, data["values"]


def timeline_events(path: Path) -> list[dict[str, Any]]:
    events = []
    for line in path.read_text(encoding="utf-8").splitlines():
        try:
            record = json.loads(line)
        except ValueError:
            continue  # a half-written last line
        events += record.get("events", []) if record.get("type") == "frame" else []
    return events


def test_page_in_a_real_browser_moves_zoom_and_types_a_prompt(tmp_path: Path) -> None:
    child = VjChild(tmp_path)
    shots = tmp_path / "screenshots"
    shots.mkdir()
    try:
        url = child.url()
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
            desk = browser.new_page(viewport={"width": 1280, "height": 900})
            phone = browser.new_context(viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True,
                                        device_scale_factor=2).new_page()
            problems: list[str] = []
            for page in (desk, phone):
                page.on("pageerror", lambda err: problems.append(str(err)))
                page.goto(url)
                sync_api.expect(page.locator("#conn")).to_have_text("live", timeout=20_000)
                page.locator("#fader-zoom").wait_for()

            # the desktop page: a real mouse click on the zoom fader, four fifths along
            fader = desk.locator("#fader-zoom")
            fader.scroll_into_view_if_needed()
            box = fader.bounding_box()
            assert box is not None
            desk.mouse.click(box["x"] + 0.8 * box["width"], box["y"] + box["height"] / 2)
            zoom = float(fader.input_value())
            assert 1.5 < zoom < 1.9, zoom  # zoom's range is 0.5..2
            wait_in_page(phone, "v => Math.abs(parseFloat(document.getElementById('fader-zoom').value) - v) < 1e-6",
                         zoom)
            sync_api.expect(phone.locator("#param-zoom")).to_have_class(re.compile(r"\blive\b"))

            # the phone page: type a prompt into slot 0 and press Enter
            slot = phone.locator("#prompt-0")
            slot.click()
            slot.fill("")
            slot.press_sequentially(PROMPT)
            slot.press("Enter")
            sync_api.expect(desk.locator("#prompt-0")).to_have_value(PROMPT, timeout=10_000)
            sync_api.expect(desk.locator("#history button").first).to_have_text(PROMPT)

            # the store, through a third client
            state, values = store_view(url)
            assert state["prompts"]["entries"][0]["text"] == PROMPT
            assert values["targets"]["zoom"] == pytest.approx(zoom)
            assert values["drivers"]["zoom"] == ["live"]

            wait_in_page(desk, "document.getElementById('preview').naturalWidth > 0")
            wait_in_page(phone, "document.getElementById('preview').naturalWidth > 0")
            desk.screenshot(path=str(shots / "desktop.png"), full_page=True)
            phone.screenshot(path=str(shots / "phone.png"))
            phone.screenshot(path=str(shots / "phone-full.png"), full_page=True)

            # a page that reloads (a network drop) shows the current state at once
            desk.reload()
            sync_api.expect(desk.locator("#conn")).to_have_text("live", timeout=20_000)
            sync_api.expect(desk.locator("#prompt-0")).to_have_value(PROMPT, timeout=10_000)
            wait_in_page(desk, "v => Math.abs(parseFloat(document.getElementById('fader-zoom').value) - v) < 1e-6",
                         zoom)
            browser.close()
            assert problems == []
    finally:
        code = child.stop()
        artifacts = os.environ.get("VJ_TEST_ARTIFACTS")
        if artifacts:
            for shot in shots.glob("*.png"):
                shutil.copy(shot, Path(artifacts) / f"web-{shot.name}")
    assert code == 0, "".join(child.lines[-30:])

    events = [e for e in timeline_events(tmp_path / "take.jsonl") if e.get("source") == "web"]
    zooms = [e["value"] for e in events if e["kind"] == "set" and e["name"] == "zoom"]
    assert zooms and zooms[-1] == pytest.approx(zoom)
    assert {"kind": "prompt", "name": "0", "value": PROMPT, "source": "web"} in events
