"""A live write is held to the preset's rules, over real UDP (python-osc) and real WebSockets.

Hostile and careless values: an LFO rate a preset would refuse (5e-324 froze every frame with an
OverflowError), an integer beyond any float inside a `set` (it cancelled the whole message), a
prompt with a lone surrogate (it failed in the encoder every frame), and numbers written in
other scripts or at absurd length where a slot or preset number goes (they counted as
"action failed", or "٣" picked preset 3). Each is refused with the reason a preset would get,
counted, and the frames go on.
"""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
from pythonosc.osc_message_builder import OscMessageBuilder
from pythonosc.udp_client import SimpleUDPClient
from websockets.sync.client import connect

from tests.helpers import wait_for
from tests.integration.web.test_web_protocol import errors, make_show, receive_until, ws_url
from vj.config import LfoConfig, PromptItem, PromptsConfig, parse_preset
from vj.control.commands import ShowActions
from vj.control.osc import OscControl
from vj.errors import ConfigError
from vj.session.presets import PresetSwitcher
from vj.web.preview import PreviewSlot
from vj.web.server import WebServer


class Stage:
    """The real show parts with OSC (UDP) and the web page (WebSocket) both attached."""

    def __init__(self) -> None:
        self.show, self.ctx, _ = make_show()
        self.switcher = PresetSwitcher(self.show, self.show.quantiser)
        actions = ShowActions(preset=lambda name: self.switcher.by_name(name, allow_paths=False),
                             tempo=self.show.tempo, modulators=self.show.modulators, quantiser=self.show.quantiser)
        self.osc = OscControl(self.show.store, port=0, actions=actions)
        self.osc.start()
        self.udp = SimpleUDPClient("127.0.0.1", self.osc.port)
        self.web = WebServer(self.ctx, port=0, preview=PreviewSlot(), values_hz=20.0, status_hz=5.0,
                             preview_fps=10.0)
        self.web.start()

    def osc_send(self, address: str, *args: str | float) -> None:
        """One message; floats go as doubles (`d`), as `oscsend ... d:5e-324` sends them."""
        builder = OscMessageBuilder(address=address)
        for arg in args:
            builder.add_arg(arg, "d" if isinstance(arg, float) else None)
        before = self.osc.counters.datagrams
        self.udp.send(builder.build())
        c = self.osc.counters
        wait_for(lambda: c.datagrams > before and c.handled == c.datagrams)

    def frames(self, n: int = 3) -> None:
        """Draw frames as the render thread would: nothing a client sent may raise here."""
        for _ in range(n):
            self.show.snapshot()

    def close(self) -> None:
        self.web.close()
        self.osc.close()
        self.show.quantiser.close()


@pytest.fixture
def stage() -> Iterator[Stage]:
    s = Stage()
    yield s
    s.close()


@pytest.mark.parametrize("rate", [5e-324, 1e308, 0.001, 1001.0])
def test_an_lfo_rate_a_preset_refuses_is_refused_live_over_osc_and_the_page(stage: Stage, rate: float) -> None:
    with pytest.raises(ConfigError):  # the rule being held to
        LfoConfig(rate=rate)
    stage.osc_send("/vj/lfo/zoom/set", "sine", rate, 0.01)
    assert stage.osc.counters.rejected["out_of_range"] == 1
    with connect(ws_url(stage.web)) as ws:
        ws.send(json.dumps({"lfo": {"param": "zoom", "shape": "sine", "rate": rate, "depth": 0.01, "unit": "hz"}}))
        assert errors(ws, 1) == ["out_of_range"]
    assert stage.show.modulators.get("zoom") is None
    stage.frames()  # before: OverflowError in every frame
    # an LFO in range is taken, and its rate sub-address is held to the same rule
    stage.osc_send("/vj/lfo/zoom/set", "sine", 4.0, 0.01)
    stage.osc_send("/vj/lfo/zoom/rate", rate)
    assert stage.show.modulators.get("zoom").rate == 4.0  # type: ignore[union-attr]
    assert stage.osc.counters.rejected["out_of_range"] == 2
    stage.frames()


def test_an_integer_beyond_any_float_in_set_is_refused_alone(stage: Stage) -> None:
    with connect(ws_url(stage.web)) as ws:
        receive_until(ws, lambda m: "state" in m)
        # json.dumps writes the integer out in full, as a hostile client would
        ws.send('{"set": {"zoom": 1.07, "angle": ' + "1" + "0" * 400 + ', "strength": 0.4}}')
        assert errors(ws, 1) == ["out_of_range"]
        wait_for(lambda: stage.show.store.live_overrides().get("strength") == pytest.approx(0.4))
    live = stage.show.store.live_overrides()
    assert live["zoom"] == pytest.approx(1.07) and "angle" not in live
    with pytest.raises(ConfigError, match="zoom"):  # a preset is refused the same value, naming it
        parse_preset("[params]\nzoom = 1" + "0" * 400 + "\n")


def test_a_prompt_with_a_lone_surrogate_is_refused_when_written(stage: Stage) -> None:
    before = stage.show.store.prompts()
    with connect(ws_url(stage.web)) as ws:
        ws.send('{"prompt": {"slot": 0, "text": "ok \\ud800"}}')
        ws.send('{"negative": "\\udfff"}')
        assert errors(ws, 2) == ["wrong_type", "wrong_type"]
    stage.frames()
    assert stage.show.store.prompts() == before
    assert stage.show.store.set_prompt(1, "ok \ud800") is False  # every transport meets the store's rule
    with pytest.raises(ConfigError, match="valid Unicode"):  # the rule a preset is held to
        PromptsConfig(mix=(PromptItem(text="ok \ud800"),))


@pytest.mark.parametrize(("address", "reason"), [
    ("/vj/lora/" + "9" * 5000 + "/scale", "out_of_range"),
    ("/vj/lora/٣/scale", "out_of_range"),
    ("/vj/controlnet/²/scale", "out_of_range"),
    ("/vj/prompt/" + "1" * 5000, "out_of_range"),
    ("/vj/prompt/٣", "unknown_address"),
])
def test_slot_numbers_are_ascii_digits_in_range(stage: Stage, address: str, reason: str) -> None:
    stage.osc_send(address, 0.5 if "scale" in address else "a forest")
    assert dict(stage.osc.counters.rejected) == {reason: 1}
    assert stage.show.store.live_overrides() == {}


@pytest.mark.parametrize("name", ["²", "٣", "1" * 200])
def test_a_preset_number_in_other_digits_or_too_long_is_refused_not_failed(stage: Stage, name: str) -> None:
    stage.osc_send("/vj/preset", name)
    assert dict(stage.osc.counters.rejected) == {"refused": 1}
    assert stage.switcher.refused == 1
    assert stage.show.applied == []


def test_a_preset_number_in_ascii_still_switches(stage: Stage) -> None:
    stage.osc_send("/vj/preset", "0")
    assert dict(stage.osc.counters.rejected) == {}
    wait_for(lambda: len(stage.show.applied) == 1)

