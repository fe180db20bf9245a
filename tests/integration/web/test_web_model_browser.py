"""The page's model row in a real browser (headless Chromium via Playwright) against the real web server: it
lists the models a switch may name with the playing one lit, a click sends the model command to the show's
hook, and a show that cannot switch models shows no row."""

from __future__ import annotations

import dataclasses
import shutil
from pathlib import Path

import pytest

from tests.helpers import wait_for
from tests.integration.web.test_web_protocol import make_show
from vj.web.server import WebServer

sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright's Python package is not installed")

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).is_file(),
                                reason="Debian's chromium package is not installed (.ci/run installs it)")


def _serve(ctx):  # noqa: ANN001, ANN202
    server = WebServer(ctx, port=0)
    server.start()
    return server


def test_the_model_row_lists_the_models_and_a_click_switches(tmp_path: Path) -> None:
    show, ctx, _ = make_show()
    switched: list[str] = []
    playing = ["tiny"]

    def switch(source: str) -> str:
        switched.append(source)
        playing[0] = source
        return source

    with_models = dataclasses.replace(ctx, actions=dataclasses.replace(ctx.actions, model=switch),
                                      model_names=lambda: ["tiny", "tiny-xl"], playing_model=lambda: playing[0])
    servers = [_serve(with_models), _serve(ctx)]
    try:
        with sync_api.sync_playwright() as pw:
            browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True)
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            problems: list[str] = []
            page.on("pageerror", lambda err: problems.append(str(err)))
            page.goto(servers[0].url)
            sync_api.expect(page.locator("#conn")).to_have_text("live", timeout=20_000)
            buttons = page.locator("#models button")
            sync_api.expect(buttons).to_have_text(["tiny", "tiny-xl"], timeout=10_000)
            sync_api.expect(buttons.nth(0)).to_have_class("on")
            buttons.nth(1).click()
            wait_for(lambda: switched == ["tiny-xl"], timeout_s=10.0)
            sync_api.expect(buttons.nth(1)).to_have_class("on", timeout=10_000)  # the show says it plays now
            page.locator("#show").screenshot(path=str(tmp_path / "model-row.png"))
            page.goto(servers[1].url)  # no model hook in this show: no row
            sync_api.expect(page.locator("#conn")).to_have_text("live", timeout=20_000)
            sync_api.expect(page.locator("#model-row")).to_be_hidden()
            browser.close()
            assert not problems
    finally:
        for server in servers:
            server.close()
        show.quantiser.close()


def test_a_live_shows_page_offers_the_models_a_switch_may_name(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    """The real wiring: a live tiny session's page state lists the built-in tiny models, the playing one named."""
    from websockets.sync.client import connect

    from tests.integration.web.test_web_protocol import receive_until
    from vj.config_live import WebConfig
    from vj.session import LiveSession
    from vj.session.controls import show_actions
    from vj.session.web_control import attach_web

    session = LiveSession(tiny_preset, backend=tiny_backend)
    try:
        attach_web(session, WebConfig(port=0), show_actions(session))
        server = next(c for c in session.controls if isinstance(c, WebServer))
        server.start()
        with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
            state = receive_until(ws, lambda m: "state" in m and "models" in m["state"])["state"]
        assert state["model"] == "tiny" and {"tiny", "tiny-xl"} <= set(state["models"])
    finally:
        session.stop()
