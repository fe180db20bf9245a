"""One command surface: every transport offers every show command, or says why not; and refuses alike.

The list of commands is `vj.control.commands.Command`; each adapter names the commands it carries
in a table beside it. A command added to the list without a table entry (or a justified
exception in `NOT_OFFERED`) fails here.
"""

from __future__ import annotations

from typing import Any

import pytest
from pythonosc.osc_message_builder import OscMessageBuilder

from vj.control.audio.modulators import AudioModulators
from vj.control.commands import NOT_OFFERED, Command, ShowActions
from vj.control.midi.mapper import MIDI_COMMANDS
from vj.control.modulators import ModulatorBank
from vj.control.osc.addresses import PREFIX, address_map
from vj.control.osc.route import OSC_COMMANDS, OscRouter
from vj.control.oscquery import OscQueryTree
from vj.control.tempo import Quantiser, TempoClock
from vj.output.preview import PREVIEW_COMMANDS
from vj.store import ParamStore
from vj.web.context import WebContext
from vj.web.protocol import WEB_ALSO, WEB_COMMANDS, WebProtocol

OFFERED: dict[str, set[Command]] = {
    "osc": set(OSC_COMMANDS.values()),
    "web": set(WEB_COMMANDS.values()) | set(WEB_ALSO),
    "midi": set(MIDI_COMMANDS.values()),
    "preview": set(PREVIEW_COMMANDS.values()),
}


@pytest.mark.parametrize("transport", sorted(OFFERED))
def test_every_transport_offers_every_command_or_says_why_not(transport: str) -> None:
    offered, exceptions = OFFERED[transport], NOT_OFFERED[transport]
    missing = [c.value for c in Command if c not in offered and c not in exceptions]
    assert missing == [], f"{transport} offers no table entry for {missing} (add one, or a reason in NOT_OFFERED)"
    assert offered & set(exceptions) == set(), f"{transport}: listed as not offered but offered"
    assert all(len(why) > 20 for why in exceptions.values())


def test_every_osc_command_head_is_in_the_address_map_oscquery_serves() -> None:
    addresses = [a.address for a in address_map()]
    for head in OSC_COMMANDS:
        if head != "<param>":
            assert any(a.startswith(f"{PREFIX}{head.split('/<')[0]}") for a in addresses), head


def _paths(node: dict[str, Any]) -> list[str]:
    return [node["FULL_PATH"], *(p for child in node.get("CONTENTS", {}).values() for p in _paths(child))]


def test_every_osc_command_head_is_a_node_of_the_oscquery_tree() -> None:
    """A client that only reads the tree (TouchDesigner's OSCQuery import) must find every command."""
    store = ParamStore()
    tempo = TempoClock(120.0)
    bank = ModulatorBank(store, tempo)
    tree = OscQueryTree(store, tempo, modulators=bank, audio=AudioModulators(store, bank))
    paths = _paths(tree.tree())
    # /vj/lora/<i>/scale and /vj/controlnet/<i>/scale are the tree's parameters lora_<i>_scale, ...
    as_param = {"lora": "lora_0_scale", "controlnet": "controlnet_0_scale"}
    for head in OSC_COMMANDS:
        if head == "<param>":
            continue
        prefix = f"{PREFIX}{as_param.get(head, head.split('/<')[0])}"
        assert any(p == prefix or p.startswith(prefix + "/") for p in paths), head


def _osc(router: OscRouter, address: str, *args: object) -> str | None:
    builder = OscMessageBuilder(address)
    for arg in args:
        builder.add_arg(arg)
    writes = router.route([builder.build()])
    router.commit(writes)
    return writes.rejections[0].reason if writes.rejections else None


def _show() -> tuple[ParamStore, ShowActions]:
    store = ParamStore()
    tempo = TempoClock(120.0)
    return store, ShowActions(preset=lambda name: None, model=lambda source: None, learn=lambda target: False,
                              tempo=tempo, quantiser=Quantiser(tempo), modulators=ModulatorBank(store, tempo))


# The same faulty command over OSC and from the page: the same reason.
SAME_FAULTS = [
    (("/vj/preset", "../../etc/passwd"), {"preset": "../../etc/passwd"}, "refused"),
    (("/vj/model", "../../etc/passwd"), {"model": "../../etc/passwd"}, "refused"),
    (("/vj/model", 3.0), {"model": 3}, "wrong_type"),
    (("/vj/quantise", "sometimes"), {"quantise": "sometimes"}, "unknown_choice"),
    (("/vj/learn", "no-such-target"), {"learn": "no-such-target"}, "unknown_choice"),
    (("/vj/bpm", 5000.0), {"bpm": 5000}, "out_of_range"),
    (("/vj/prompt/0/weight", 11.0), {"prompt": {"slot": 0, "weight": 11.0}}, "out_of_range"),
    (("/vj/lfo/zoom/set", "sine", 0.0, 0.1), {"lfo": {"param": "zoom", "rate": 0.0, "depth": 0.1}}, "out_of_range"),
    (("/vj/lfo/zoom/set", "wobble", 4.0, 0.1), {"lfo": {"param": "zoom", "shape": "wobble"}}, "wrong_type"),
    (("/vj/record", 1), {"record": True}, "unavailable"),
    (("/vj/audio/onset", "seed_step"), {"audio": {"onset": "seed_step"}}, "unavailable"),
]


@pytest.mark.parametrize(("osc", "web", "reason"), SAME_FAULTS, ids=[f[2] + ":" + f[0][0] for f in SAME_FAULTS])
def test_osc_and_the_page_refuse_the_same_fault_with_the_same_reason(
        osc: tuple[object, ...], web: dict[str, object], reason: str) -> None:
    store, actions = _show()
    router = OscRouter(store, actions)
    page = WebProtocol(WebContext(store=store, actions=actions))
    assert _osc(router, str(osc[0]), *osc[1:]) == reason
    assert [e["error"]["reason"] for e in page.handle(web)] == [reason]  # type: ignore[index]
    actions.quantiser.close()  # type: ignore[union-attr]


def test_every_osc_and_web_table_entry_reaches_its_command() -> None:
    """No table entry is a dead end: each answers something other than 'no such address / message'."""
    store, actions = _show()
    router = OscRouter(store, actions)
    page = WebProtocol(WebContext(store=store, actions=actions))
    for head in OSC_COMMANDS:
        address = f"{PREFIX}{head}".replace("<param>", "zoom").replace("<i>", "0")
        assert _osc(router, address, 1) != "unknown_address" or head in ("norm", "lora", "controlnet", "lfo",
                                                                         "audio", "prompt"), head
    for key in WEB_COMMANDS:
        assert [e["error"]["reason"] for e in page.handle({key: 1})] != ["unknown_message"], key  # type: ignore[index]
    actions.quantiser.close()  # type: ignore[union-attr]


def test_the_midi_record_button_follows_the_take_whoever_started_it() -> None:
    """The button used to keep its own idea of on / off: after /vj/record 1 its first press sent 'on' again."""
    import mido

    from vj.control.midi.mapper import MidiMapper
    from vj.control.midi.mapping_file import parse_mapping

    recording = [False]
    sent: list[bool] = []

    def record(on: bool) -> None:
        sent.append(on)
        recording[0] = on

    store, actions = _show()
    actions.record, actions.is_recording = record, lambda: recording[0]
    router = OscRouter(store, actions)
    button = MidiMapper(parse_mapping('[[button]]\nnote = 3\naction = "record"\n', "t.toml"), store, actions)
    assert _osc(router, "/vj/record", 1) is None and recording[0]
    button.handle(mido.Message("note_on", note=3, velocity=100))
    assert sent == [True, False] and not recording[0]  # the press stopped the take OSC started
    actions.quantiser.close()  # type: ignore[union-attr]


def test_a_switch_takes_1_0_and_true_false_from_every_transport() -> None:
    store, actions = _show()
    blackouts: list[bool | None] = []
    actions.blackout = blackouts.append
    page = WebProtocol(WebContext(store=store, actions=actions))
    assert page.handle({"blackout": 1.0}) == [] and page.handle({"blackout": False}) == []
    assert _osc(OscRouter(store, actions), "/vj/blackout", 1.0) is None
    assert blackouts == [True, False, True]
    assert [e["error"]["reason"] for e in page.handle({"blackout": None})] == ["wrong_type"]  # type: ignore[index]
    actions.quantiser.close()  # type: ignore[union-attr]


def test_the_preview_window_can_be_reopened_from_osc_and_the_page() -> None:
    """A black preview on the projector machine, fixed from the tablet: the w key's command, remotely."""
    from vj.output.preview import PreviewWindow

    store, actions = _show()
    window = PreviewWindow(24.0)
    reopened: list[str] = []
    actions.reopen_preview = lambda: (window.reopen(), reopened.append("reopened"))
    assert _osc(OscRouter(store, actions), "/vj/reopen_preview") is None
    assert WebProtocol(WebContext(store=store, actions=actions)).handle({"reopen_preview": True}) == []
    assert reopened == ["reopened", "reopened"] and window.message == "window reopened"
    assert _osc(OscRouter(store, ShowActions()), "/vj/reopen_preview") == "unavailable"  # no preview in this show
    actions.quantiser.close()  # type: ignore[union-attr]


def test_every_midi_button_action_carries_a_command() -> None:
    from vj.control.midi.mapper import MIDI_ACTIONS, MidiMapper
    from vj.control.midi.mapping_file import MidiMapping
    from vj.control.midi.targets import Action

    assert set(MIDI_ACTIONS) == set(Action)
    mapper = MidiMapper(MidiMapping(name="t"), ParamStore())
    assert set(mapper._triggers) | {Action.LEARN, Action.RECORD} == set(Action)
