"""Headless Chromium (Debian's package) driven by Playwright on a page of the real web server, for the page's
browser tests: a module that imports this is skipped, with the reason, where either is missing."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from playwright.sync_api import Page

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed")
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
needs_chromium = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                    reason="Debian's chromium package is not installed (.ci/run installs it)")


@contextmanager
def live_page(url: str, width: int = 1280, height: int = 900) -> Iterator[Page]:
    """A desktop-sized page at `url`, once its WebSocket is live; no script error may happen on it meanwhile."""
    with sync_api.sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
        page = browser.new_page(viewport={"width": width, "height": height})
        problems: list[str] = []
        page.on("pageerror", lambda err: problems.append(str(err)))
        page.goto(url)
        sync_api.expect(page.locator("#conn")).to_have_text("live", timeout=20_000)
        yield page
        browser.close()
        assert not problems, problems
