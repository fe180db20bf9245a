"""A live tiny session's control page over a real WebSocket: its state lists the models a switch may name."""

from __future__ import annotations

from websockets.sync.client import connect

from tests.integration.web.test_web_protocol import receive_until
from vj.config_live import WebConfig
from vj.session import LiveSession
from vj.session.controls import show_actions
from vj.session.web_control import attach_web
from vj.web.server import WebServer


def test_a_live_shows_page_offers_the_models_a_switch_may_name(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
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
