"""OSC pickup after a preset recall, against a TouchDesigner-style stream: every channel resent at 60 Hz
over real UDP (python-osc client), a store and the session's PresetSwitcher."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from pythonosc.udp_client import SimpleUDPClient

from tests.helpers import wait_for
from vj.config import PresetConfig
from vj.control.commands import ShowActions
from vj.control.modulators import ModulatorBank
from vj.control.osc import OscControl
from vj.control.osc.pickup import PickupMode
from vj.control.tempo import Quantiser, TempoClock
from vj.preset_files import load_preset, presets_dir
from vj.session.presets import PresetSwitcher, install_preset
from vj.store import ParamStore


@dataclass
class Show:
    """What LiveSession.apply_preset does to the store, minus the engine."""

    store: ParamStore
    modulators: ModulatorBank
    preset: PresetConfig

    def apply_preset(self, preset: PresetConfig) -> None:
        self.store.load_preset_state(preset.params, preset.prompts.to_mix(), {})
        install_preset(self.store, preset, self.modulators)
        self.preset = preset


class TouchDesigner:
    """Resends every channel every cook (60 Hz), whether it moved or not."""

    def __init__(self, port: int) -> None:
        self.client = SimpleUDPClient("127.0.0.1", port)
        self.channels = {"zoom": 1.0, "angle": 0.0}
        self.cooks = 0
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def _run(self) -> None:
        while not self._stop.wait(1 / 60):
            for name, value in list(self.channels.items()):
                self.client.send_message(f"/vj/{name}", float(value))
            self.cooks += 1

    def cook(self, n: int) -> None:
        """Wait for `n` more cooks to go out."""
        until = self.cooks + n
        wait_for(lambda: self.cooks >= until)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(2)



@pytest.fixture(params=[PickupMode.CHANGE, PickupMode.CROSS, PickupMode.OFF], ids=lambda m: m.value)
def rig(request: pytest.FixtureRequest) -> Iterator[tuple[Show, PresetSwitcher, OscControl, TouchDesigner]]:
    preset = load_preset("drift")
    store = ParamStore(base=preset.params, prompts=preset.prompts.to_mix())
    tempo = TempoClock(120.0)
    quantiser = Quantiser(tempo)
    show = Show(store, ModulatorBank(store, tempo), preset)
    switcher = PresetSwitcher(show, quantiser)
    osc = OscControl(store, port=0, actions=ShowActions(preset=switcher.by_name, quantiser=quantiser),
                     pickup=request.param)
    switcher.on_recall(osc.arm_pickup)  # as vj run wires it
    osc.start()
    td = TouchDesigner(osc.port)
    yield show, switcher, osc, td
    td.close()
    osc.close()
    quantiser.close()


def test_a_resent_value_does_not_undo_a_recall(rig: tuple[Show, PresetSwitcher, OscControl, TouchDesigner]) -> None:
    show, switcher, osc, td = rig
    store = show.store
    wait_for(lambda: store.live_overrides().get("zoom") == 1.0 and store.live_overrides().get("angle") == 0.0)
    assert switcher.by_name("spiral") == "spiral"
    td.cook(30)  # half a second of TouchDesigner resending zoom 1.0 / angle 0
    if osc.pickup.mode is PickupMode.OFF:  # the old behaviour: the resend wins at once
        assert store.target("zoom") == 1.0 and store.target("angle") == 0.0
        return
    assert store.target("zoom") == pytest.approx(1.012) and store.target("angle") == pytest.approx(2.5)
    assert "zoom" not in store.live_overrides() and osc.pickup.held >= 50
    assert osc.counters.rejected_total() == 0
    if osc.pickup.mode is PickupMode.CHANGE:
        td.channels["zoom"] = 1.05  # the performer moves the zoom fader: it lands, angle stays held
        wait_for(lambda: store.target("zoom") == pytest.approx(1.05))
    else:
        td.channels["zoom"] = 1.005  # moves, but stays below the recalled 1.012: still held
        td.cook(10)
        assert store.target("zoom") == pytest.approx(1.012)
        td.channels["zoom"] = 1.02  # passes the recalled value: picked up
        wait_for(lambda: store.target("zoom") == pytest.approx(1.02))
    td.cook(10)
    assert store.target("angle") == pytest.approx(2.5) and osc.pickup.waiting() == ["angle"]
    td.channels["angle"] = 3.0  # a change, and a crossing of 2.5 from 0
    wait_for(lambda: store.target("angle") == pytest.approx(3.0))
    assert osc.pickup.waiting() == []


def test_preset_over_osc_takes_only_names(tmp_path, monkeypatch: pytest.MonkeyPatch,  # noqa: ANN001
                                          caplog: pytest.LogCaptureFixture) -> None:
    """/vj/preset never opens a path it is sent: only shipped names and presets in --presets-dir."""
    import vj.session.presets as presets_module

    opened: list[str] = []
    real_load = presets_module.load_settled_preset
    monkeypatch.setattr(presets_module, "load_settled_preset", lambda name: opened.append(name) or real_load(name))
    big = tmp_path / "big.bin"
    big.write_bytes(b"\x00" * (30 * 1024 * 1024))
    mine = tmp_path / "mine"
    mine.mkdir()
    (mine / "custom.toml").write_text((presets_dir() / "spiral.toml").read_text(encoding="utf-8"))
    preset = load_preset("drift")
    store = ParamStore(base=preset.params, prompts=preset.prompts.to_mix())
    tempo = TempoClock(120.0)
    quantiser = Quantiser(tempo)
    show = Show(store, ModulatorBank(store, tempo), preset)
    switcher = PresetSwitcher(show, quantiser, folders=[mine])
    osc = OscControl(store, port=0, actions=ShowActions(preset=lambda n: switcher.by_name(n, allow_paths=False)))
    osc.start()
    client = SimpleUDPClient("127.0.0.1", osc.port)
    try:
        with caplog.at_level("WARNING"):
            for name in ("../../../etc/passwd", str(big), "/etc/passwd", "spiral.toml", "nope"):
                client.send_message("/vj/preset", name)
            wait_for(lambda: osc.counters.handled >= 5)
        assert osc.counters.rejected["refused"] == 5 and switcher.refused == 5
        assert opened == [] and show.preset.name == "drift"  # refused before any file was opened
        assert "preset switch refused: '../../../etc/passwd' is not a preset name" in caplog.text
        assert "OSC /vj/preset ignored (refused)" in caplog.text
        client.send_message("/vj/preset", "spiral")
        wait_for(lambda: show.preset.name == "spiral")
        client.send_message("/vj/preset", "custom")  # from the --presets-dir folder
        wait_for(lambda: show.preset.source_path.endswith("custom.toml"))
        assert osc.counters.rejected_total() == 5
    finally:
        osc.close()
        quantiser.close()
