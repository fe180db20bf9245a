"""`vj run`'s live control: the flags, and the wiring of OSC, OSCQuery and MIDI to the session.

The tempo clock, quantiser, LFO bank and preset switcher belong to the session; this
module only builds the control sources the flags ask for and hands each of them those.
"""

from __future__ import annotations

import argparse
import logging
import threading
from pathlib import Path
from typing import TYPE_CHECKING

from vj.cli.argtypes import float_range, port
from vj.config import PresetConfig
from vj.control.commands import ShowActions
from vj.control.link import LinkSync, require_aalink
from vj.control.midi.mapper import MidiMapper
from vj.control.midi.mapping_file import MidiMapping, list_profiles, load_mapping, save_mapping
from vj.control.midi.ports import MidiInput, input_names, select_ports
from vj.control.modulators import ModulatorBank
from vj.control.osc import DEFAULT_HOST, DEFAULT_PORT, OscControl
from vj.control.osc.pickup import PickupMode
from vj.control.oscquery import OscQueryServer
from vj.control.tempo import MAX_BPM, MIN_BPM, Quantise, Quantiser, TempoClock
from vj.errors import ConfigError, DeviceNotConnected, VjError

if TYPE_CHECKING:  # the session (and torch with it) loads only when `vj run` runs
    from vj.session.live import LiveSession

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------- vj run flags
def add_live_control_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("live control (OSC, OSCQuery, MIDI, tempo)")
    g.add_argument("--osc-port", type=port, default=DEFAULT_PORT, help=f"OSC UDP port (default {DEFAULT_PORT})")
    g.add_argument("--osc-host", default=DEFAULT_HOST,
                   help=f"interface to listen on (default {DEFAULT_HOST}; 0.0.0.0 for the whole network)")
    g.add_argument("--no-osc", action="store_true", help="no OSC server (and no OSCQuery)")
    g.add_argument("--oscquery-port", type=port, help="OSCQuery HTTP port (default: OSC port + 1)")
    g.add_argument("--no-oscquery", action="store_true", help="no OSCQuery server")
    g.add_argument("--osc-pickup", choices=[m.value for m in PickupMode], default=PickupMode.CHANGE.value,
                   help="after a preset recall, an OSC parameter lands again once its value changes "
                        "(default), crosses the recalled value, or at once (off)")
    g.add_argument("--no-zeroconf", action="store_true", help="serve OSCQuery but do not advertise it on the network")
    g.add_argument("--presets-dir", metavar="DIR", action="append", type=_presets_folder, default=[],
                   help="a folder of preset files OSC may switch to by name, besides the shipped ones "
                        "(repeatable; OSC never opens a path it is sent)")
    g.add_argument("--midi", metavar="NAME", help="open MIDI inputs whose name contains NAME, or 'all'")
    g.add_argument("--midi-map", metavar="FILE",
                   help="mapping TOML or shipped profile (nanokontrol2, midimix); default: the profile "
                        "matching the port name, else an empty map (learn, clock and program change work)")
    g.add_argument("--midi-learn-file", metavar="FILE",
                   help="where learn while running writes (default: the --midi-map file, or "
                        "./vj-midi-learned.toml when the map is a shipped profile)")
    g.add_argument("--bpm", type=float_range(MIN_BPM, MAX_BPM, what="a tempo"),
                   help="start tempo (default: the preset's [modulators] bpm)")
    g.add_argument("--quantise", choices=[q.value for q in Quantise],
                   help="where prompt / preset / seed switches land (default: the preset's)")
    g.add_argument("--link", action="store_true",
                   help="follow an Ableton Link session: tempo, beat and bar grid (also [modulators] link = true; "
                        "needs pip install 'vj[link]')")


def wants_link(args: argparse.Namespace, preset: PresetConfig) -> bool:
    return bool(getattr(args, "link", False)) or preset.modulators.link


def check_live_control_before_load(args: argparse.Namespace, preset: PresetConfig) -> None:
    """What the preset and the flags ask of optional packages, said before the model loads."""
    if wants_link(args, preset):
        require_aalink()


def _presets_folder(text: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not a folder (expected a folder of preset .toml files)")
    return path


# ---------------------------------------------------------------------- session actions
class RecordToggle:
    """/vj/record 1|0 and the record button: switch the session's take.

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


def show_actions(session: LiveSession) -> ShowActions:
    """The session's hooks every transport's commands reach (MIDI learn is added once a mapper exists)."""
    presets = session.presets
    return ShowActions(
        preset=lambda name: presets.by_name(name, allow_paths=False), preset_file=presets.by_name,
        preset_step=presets.step, preset_number=presets.by_index, record=RecordToggle(session),
        is_recording=lambda: session.take is not None and session.take.is_recording,
        blackout=session.performer.blackout, freeze=session.performer.freeze, panic=session.performer.panic,
        tempo=session.tempo, quantiser=session.quantiser, modulators=session.modulators, audio=session.audio)


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


def _choose_mapping(args: argparse.Namespace) -> MidiMapping:
    if args.midi_map:
        return load_mapping(args.midi_map)
    try:
        present = select_ports(input_names(), args.midi)
    except DeviceNotConnected:
        present = []
    for path in list_profiles():
        profile = load_mapping(path)
        if profile.port and any(profile.port.lower() in name.lower() for name in present):
            log.info("MIDI: using the %s profile (%s)", profile.name, path)
            return profile
    log.info("MIDI: no mapping given and no profile matches; starting empty (use learn: /vj/learn <param>)")
    return MidiMapping(name="learned")


def _learn_path(args: argparse.Namespace, mapping: MidiMapping) -> Path:
    if args.midi_learn_file:
        return Path(args.midi_learn_file)
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


def attach_live_control(session: LiveSession, args: argparse.Namespace) -> None:
    """OSC, OSCQuery and MIDI as the flags say, wired to the session's tempo, quantiser, LFOs and presets."""
    if args.bpm:
        session.tempo.set_bpm(args.bpm, source="command line")
    if args.quantise:
        session.quantiser.mode = Quantise(args.quantise)
    session.add_control(TempoControl(session.tempo, session.quantiser, session.modulators))
    if wants_link(args, session.preset):
        session.add_control(LinkSync(session.tempo))
    presets = session.presets
    presets.on_recall(LinkOnSwitch(session))
    presets.folders += args.presets_dir
    actions = show_actions(session)

    if args.midi:
        mapping = _choose_mapping(args)
        learn_path = _learn_path(args, mapping)
        mapper = MidiMapper(mapping, session.store, actions, on_learned=lambda m: _save_learned(m, learn_path))
        actions.learn = mapper.learn
        presets.on_recall(mapper.arm_pickup)
        session.add_control(MidiInput(mapper, args.midi))

    if args.no_osc:
        return
    osc = OscControl(session.store, host=args.osc_host, port=args.osc_port, actions=actions,
                     pickup=PickupMode(args.osc_pickup))
    presets.on_recall(osc.arm_pickup)
    session.add_control(osc)
    if not args.no_oscquery:
        # default: the next port; with --osc-port 0 (any free port) also any free port
        next_port = args.osc_port + 1 if args.osc_port else 0
        http_port = args.oscquery_port if args.oscquery_port is not None else next_port
        session.add_control(_OscQueryAfterOsc(osc, OscQueryServer(session.store, osc_host=args.osc_host,
                                                                  osc_port=args.osc_port, http_port=http_port,
                                                                  tempo=session.tempo,
                                                                  advertise=not args.no_zeroconf,
                                                                  modulators=session.modulators,
                                                                  switches=session.performer,
                                                                  hidden=session.unused_slots,
                                                                  audio=session.audio)))


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
