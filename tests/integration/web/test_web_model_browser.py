"""The page's model row in a real browser (headless Chromium via Playwright) against the real web server: it
lists the models a switch may name with the playing one lit, a click sends the model command to the show's
hook, and a show that cannot switch models shows no row."""

from __future__ import annotations

import dataclasses
from pathlib import Path

from tests.helpers import wait_for
from tests.integration.web.browser import live_page, needs_chromium, sync_api
from tests.integration.web.test_web_protocol import make_show
from vj.web.context import WebContext
from vj.web.server import WebServer

pytestmark = needs_chromium


def _serve(ctx: WebContext) -> WebServer:
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
        with live_page(servers[0].url) as page:
            buttons = page.locator("#models button")
            sync_api.expect(buttons).to_have_text(["tiny", "tiny-xl"], timeout=10_000)
            sync_api.expect(buttons.nth(0)).to_have_class("on")
            buttons.nth(1).click()
            wait_for(lambda: switched == ["tiny-xl"], timeout_s=10.0)
            sync_api.expect(buttons.nth(1)).to_have_class("on", timeout=10_000)  # the show says it plays now
            page.locator("#show").screenshot(path=str(tmp_path / "model-row.png"))
        with live_page(servers[1].url) as page:  # no model hook in this show: no row
            sync_api.expect(page.locator("#model-row")).to_be_hidden()
    finally:
        for server in servers:
            server.close()
        show.quantiser.close()
