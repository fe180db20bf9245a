"""A live show's controls from a `ControlsConfig`: OSC, OSCQuery, MIDI and the tempo, wired to the session.

The tempo clock, quantiser, LFO bank and preset switcher belong to the session; this module
builds the control sources the config asks for and hands each of them the show's one
`ShowActions` (vj.control.commands).
"""

from __future__ import annotations

import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from vj.config import PresetConfig
from vj.config_live import ControlsConfig
from vj.control.commands import ShowActions
from vj.control.link import LinkSync, require_aalink
from vj.control.midi.mapper import MidiMapper
from vj.control.midi.mapping_file import MidiMapping, list_profiles, load_mapping, save_mapping
from vj.control.midi.ports import MidiInput, input_names, select_ports
from vj.control.modulators import ModulatorBank
from vj.control.osc import OscControl
from vj.control.oscquery import OscQueryServer
from vj.control.tempo import Quantise, Quantiser, TempoClock
from vj.errors import ConfigError, DeviceNotConnected, VjError

if TYPE_CHECKING:  # the session (and torch with it) loads only when a show is built
    from vj.session.live import LiveSession

log = logging.getLogger(__name__)


def wants_link(config: ControlsConfig, preset: PresetConfig) -> bool:
    return config.link or preset.modulators.link


def check_controls(config: ControlsConfig, preset: PresetConfig) -> None:
    """What the preset and the config ask of optional packages, said before the model loads."""
    if wants_link(config, preset):
        require_aalink()


# ---------------------------------------------------------------------- session actions
def show_actions(session: LiveSession) -> ShowActions:
    """The session's hooks every transport's commands reach (MIDI learn and the preview's reopen are added
    once the mapper and the window exist)."""
    from vj.session.reference_control import reference_control

    presets = session.presets
    refs = reference_control(session)
    return ShowActions(
        reference=refs.by_names if refs else None, reference_grab=refs.grab if refs else None,
        reference_upload=refs.upload if refs else None,
        preset=lambda name: presets.by_name(name, allow_paths=False), preset_file=presets.by_name,
        preset_step=presets.step, preset_number=presets.by_index, model=session.models.by_source,
        record=RecordToggle(session),
        is_recording=lambda: session.take is not None and session.take.is_recording,
        blackout=session.performer.blackout, freeze=session.performer.freeze, panic=session.performer.panic,
        tempo=session.tempo, quantiser=session.quantiser, modulators=session.modulators, audio=session.audio)


class RecordToggle:
    """The record command: switch the session's take.

    A session without a take refuses the command (counted, logged); it does not invent a
    recorder of its own.
    """

    def __init__(self, session: LiveSession) -> None:
        self.session = session

    def __call__(self, on: bool) -> None:
        take = self.session.take
        if take is None:
            raise DeviceNotConnected("no recorder in this session (vj run wires one; see --record)")
        now = take.set_recording(on)
        log.info("recording %s", "started" if now else "stopped")


class TempoControl:
    """Puts the tempo in the status line and stops the quantiser thread with the session."""

    def __init__(self, tempo: TempoClock, quantiser: Quantiser, bank: ModulatorBank) -> None:
        self.tempo = tempo
        self.quantiser = quantiser
        self.bank = bank

    def start(self) -> None:
        pass

    def close(self) -> None:
        self.quantiser.close()

    def status(self) -> str:
        q = "" if self.quantiser.mode is Quantise.OFF else f" q:{self.quantiser.mode.value}"
        lfo = f" {self.bank.status()}" if self.bank.assigned() else ""
        return f"{self.tempo.status()}{q}{lfo}"


def _choose_mapping(config: ControlsConfig) -> MidiMapping:
    if config.midi_map:
        return load_mapping(config.midi_map)
    try:
        present = select_ports(input_names(), config.midi or "")
    except DeviceNotConnected:
        present = []
    for path in list_profiles():
        profile = load_mapping(path)
        if profile.port and any(profile.port.lower() in name.lower() for name in present):
            log.info("MIDI: using the %s profile (%s)", profile.name, path)
            return profile
    log.info("MIDI: no mapping given and no profile matches; starting empty (use learn: /vj/learn <param>)")
    return MidiMapping(name="learned")


def _learn_path(config: ControlsConfig, mapping: MidiMapping) -> Path:
    if config.midi_learn_file:
        return Path(config.midi_learn_file)
    source = Path(mapping.source) if mapping.source else None
    shipped = {p.resolve() for p in list_profiles()}
    if source is not None and source.is_file() and source.resolve() not in shipped:
        return source
    return Path("vj-midi-learned.toml")


class LinkOnSwitch:
    """A switched-to preset with `[modulators] link = true` joins Link if the show is not in it yet.

    Joining waits for Link to start (up to 5 s), so it runs on a thread of its own: the switch
    may come from the preview window's thread or the quantiser's, which must not wait. Once
    joined, Link stays for the rest of the show: leaving it when a preset without it comes up
    would make the tempo and the bar grid jump under the performer.
    """

    def __init__(self, session: LiveSession) -> None:
        self.session = session
        self._lock = threading.Lock()
        self._joining = False

    def __call__(self) -> None:
        preset = self.session.preset
        with self._lock:
            if self._joining or not preset.modulators.link or self.joined():
                return
            self._joining = True
        threading.Thread(target=self._join, args=(preset.name,), name="vj-link-join", daemon=True).start()

    def joined(self) -> bool:
        return any(isinstance(c, LinkSync) for c in self.session.controls)

    def _join(self, preset_name: str) -> None:
        try:
            self.session.add_control(LinkSync(self.session.tempo))
        except VjError as err:  # aalink missing, or Link would not start: the show goes on on its own clock
            log.warning("preset %r asks for Ableton Link, not joined: %s", preset_name, err)
        else:
            log.info("preset %r: joined Ableton Link", preset_name)
        finally:
            with self._lock:
                self._joining = False


def attach_live_control(session: LiveSession, config: ControlsConfig, actions: ShowActions) -> OscControl | None:
    """OSC, OSCQuery and MIDI as `config` says, wired to the session's tempo, quantiser, LFOs and presets.

    Every transport reaches `actions` (MIDI learn is added to them here); returns the OSC server, if any."""
    if config.bpm:
        session.tempo.set_bpm(config.bpm, source="command line")
    if config.quantise is not None:
        session.quantiser.mode = config.quantise
    session.add_control(TempoControl(session.tempo, session.quantiser, session.modulators))
    if wants_link(config, session.preset):
        session.add_control(LinkSync(session.tempo))
    presets = session.presets
    presets.on_recall(LinkOnSwitch(session))
    presets.folders += list(config.presets_dirs)

    if config.midi:
        mapping = _choose_mapping(config)
        learn_path = _learn_path(config, mapping)
        mapper = MidiMapper(mapping, session.store, actions, on_learned=lambda m: _save_learned(m, learn_path))
        actions.learn = mapper.learn
        presets.on_recall(mapper.arm_pickup)
        session.add_control(MidiInput(mapper, config.midi))

    if not config.osc:
        return None
    osc = OscControl(session.store, host=config.osc_host, port=config.osc_port, actions=actions,
                     pickup=config.osc_pickup)
    presets.on_recall(osc.arm_pickup)
    session.add_control(osc)
    if config.oscquery:
        # default: the next port; with OSC on port 0 (any free port) also any free port
        next_port = config.osc_port + 1 if config.osc_port else 0
        http_port = config.oscquery_port if config.oscquery_port is not None else next_port
        session.add_control(_OscQueryAfterOsc(osc, OscQueryServer(session.store, osc_host=config.osc_host,
                                                                 osc_port=config.osc_port, http_port=http_port,
                                                                 tempo=session.tempo, advertise=config.zeroconf,
                                                                 modulators=session.modulators,
                                                                 switches=session.performer,
                                                                 hidden=session.unused_slots,
                                                                 audio=session.audio,
                                                                 playing_preset=session.playing_preset_name)))
    return osc


class _OscQueryAfterOsc:
    """Starts OSCQuery once the OSC port is bound, so HOST_INFO names the real port (port 0 in tests)."""

    def __init__(self, osc: OscControl, query: OscQueryServer) -> None:
        self.osc = osc
        self.query = query

    def start(self) -> None:
        self.query.osc_port = self.osc.port
        self.query.start()

    def close(self) -> None:
        self.query.close()

    def status(self) -> str:
        return self.query.status()


def _save_learned(mapping: MidiMapping, path: Path) -> None:
    try:
        save_mapping(mapping, path)
        log.info("MIDI learn: mapping saved to %s", path)
    except (OSError, ConfigError) as err:  # learning goes on in memory even if the disk refuses
        log.warning("MIDI learn: could not save %s: %s", path, err)
