"""The page's Reference card in a real browser (headless Chromium via Playwright) against the real web server:
a picture chosen in the file input arrives whole through the chunked upload, the grab and off buttons reach
the show's hooks, and a file that is not a picture comes back as one line in the page's toast."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import wait_for
from tests.integration.web.test_web_protocol import make_show
from vj.engine.conditioning.reference_pictures import check_picture_bytes
from vj.web.server import MAX_FRAME_BYTES, WebServer

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                reason="Debian's chromium package is not installed (.ci/run installs it)")


def test_the_reference_card_uploads_grabs_and_switches_off(tmp_path: Path) -> None:
    from PIL import Image

    show, ctx, _ = make_show()
    uploads: list[bytes] = []
    calls: list[object] = []

    def upload(data: bytes) -> None:
        check_picture_bytes(data, "uploaded reference", 4_000_000)  # what the show's hook refuses first
        uploads.append(data)

    actions = dataclasses.replace(ctx.actions, reference=calls.append, reference_grab=calls.append,
                                  reference_upload=upload)
    server = WebServer(dataclasses.replace(ctx, actions=actions, reference_upload_bytes=4_000_000), port=0)
    server.start()
    picture = tmp_path / "cover.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (300, 400, 3), dtype=np.uint8)).save(picture)
    assert picture.stat().st_size > 4 * MAX_FRAME_BYTES  # several chunks, past the message budget's burst too
    notes = tmp_path / "notes.png"
    notes.write_text("not a picture")
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            problems: list[str] = []
            page.on("pageerror", lambda err: problems.append(str(err)))
            page.goto(server.url)
            sync_api.expect(page.locator("#conn")).to_have_text("live", timeout=20_000)
            page.locator("#reference-file").set_input_files(str(picture))
            wait_for(lambda: len(uploads) == 1, timeout_s=20.0)
            assert uploads[0] == picture.read_bytes()
            page.locator("#reference-grab-output").click()
            page.locator("#reference-off").click()
            wait_for(lambda: calls == ["output", ()], timeout_s=10.0)
            page.locator("#reference-file").set_input_files(str(notes))
            sync_api.expect(page.locator("#toast")).to_contain_text("not a picture", timeout=10_000)
            page.locator("#reference").screenshot(path=str(tmp_path / "reference-card.png"))
            browser.close()
            assert not problems
    finally:
        server.close()
        show.quantiser.close()
