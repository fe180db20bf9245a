"""The control page never scrolls sideways: headless Chromium (Debian's package) via Playwright.

At a phone's width (390 px) and a desktop's (1440 px) the page, filled with the whole registry
by a real server, must fit its viewport: `scrollWidth <= clientWidth` of the scrolling element.
The elements reaching past the right edge are named when it does not.
"""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers import wait_in_page
from tests.integration.web.test_web_protocol import make_show
from vj.web.preview import PreviewSlot
from vj.web.server import WebServer

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                reason="Debian's chromium package is not installed (.ci/run installs it)")

OVERFLOW = """() => {
  const root = document.scrollingElement;
  const past = [...document.querySelectorAll('body *')]
    .filter(e => e.getBoundingClientRect().right > root.clientWidth + 0.5)
    .map(e => (e.id ? '#' + e.id : e.tagName.toLowerCase() + '.' + [...e.classList].join('.')) +
              ' right=' + Math.round(e.getBoundingClientRect().right));
  return {scrollWidth: root.scrollWidth, clientWidth: root.clientWidth, past: past.slice(0, 8)};
}"""


@pytest.fixture(scope="module")
def page_url() -> Iterator[str]:
    show, ctx, _ = make_show()
    server = WebServer(ctx, port=0, preview=PreviewSlot(), values_hz=20.0, status_hz=5.0, preview_fps=10.0)
    server.start()
    yield server.url
    server.close()
    show.quantiser.close()


@pytest.mark.parametrize(("width", "height", "phone"), [(390, 844, True), (1440, 900, False)])
def test_the_page_fits_its_width(page_url: str, width: int, height: int, phone: bool, tmp_path: Path) -> None:
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        try:
            extra: dict[str, Any] = {"is_mobile": True, "has_touch": True, "device_scale_factor": 2} if phone else {}
            page = browser.new_context(viewport={"width": width, "height": height}, **extra).new_page()
            page.goto(page_url)
            wait_in_page(page, "document.querySelector('#conn.up') && document.querySelectorAll('.param').length > 20",
                         timeout_s=30)
            found = page.evaluate(OVERFLOW)
            page.screenshot(path=str(tmp_path / f"page-{width}.png"), full_page=True)
        finally:
            browser.close()
    assert found["scrollWidth"] <= found["clientWidth"], found
