"""CLI plugin for live control (issue 3): `vj run` flags and wiring, `vj osc-map`, `vj midi-ports`, `vj midi-learn`.

Imported by vj.cli on start-up (PLUGIN_MODULES); registers on import:
- flags of `vj run`: --osc-port --osc-host --oscquery-port --no-oscquery --no-osc --midi --midi-map
  --midi-learn-file --bpm --quantise
- a live attacher that builds the tempo clock, quantiser and LFO bank, the OSC server, the
  OSCQuery server and the MIDI input, and gives each the session's preset/record actions
- a session preset hook that installs a preset's `[modulators]` LFOs (live and offline)
"""

from __future__ import annotations

import argparse
import logging
import sys
from pathlib import Path
from typing import Any

from vj import cli
from vj.config import PresetConfig, list_presets, load_preset
from vj.control.mapping import MidiActions, MidiMapper, MidiMapping, list_profiles, load_mapping, save_mapping
from vj.control.midi import ALL, MidiInput, input_names, learn_session, select_ports
from vj.control.modulators import ModulatorBank, install_preset_modulators, register_bank
from vj.control.osc import DEFAULT_HOST, DEFAULT_PORT, OscActions, OscControl, address_map
from vj.control.oscquery import OscQueryServer
from vj.control.tempo import Quantise, Quantiser, TempoClock
from vj.errors import ConfigError, DeviceNotConnected, VjError

log = logging.getLogger(__name__)


# ---------------------------------------------------------------------- vj run flags
def add_live_control_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("live control (OSC, OSCQuery, MIDI, tempo)")
    g.add_argument("--osc-port", type=int, default=DEFAULT_PORT, help=f"OSC UDP port (default {DEFAULT_PORT})")
    g.add_argument("--osc-host", default=DEFAULT_HOST,
                   help=f"interface to listen on (default {DEFAULT_HOST}; 0.0.0.0 for the whole network)")
    g.add_argument("--no-osc", action="store_true", help="no OSC server (and no OSCQuery)")
    g.add_argument("--oscquery-port", type=int, help="OSCQuery HTTP port (default: OSC port + 1)")
    g.add_argument("--no-oscquery", action="store_true", help="no OSCQuery server")
    g.add_argument("--no-zeroconf", action="store_true", help="serve OSCQuery but do not advertise it on the network")
    g.add_argument("--midi", metavar="NAME", help="open MIDI inputs whose name contains NAME, or 'all'")
    g.add_argument("--midi-map", metavar="FILE",
                   help="mapping TOML or shipped profile (nanokontrol2, midimix); default: the profile "
                        "matching the port name, else an empty map (learn, clock and program change work)")
    g.add_argument("--midi-learn-file", metavar="FILE",
                   help="where learn while running writes (default: the --midi-map file, or "
                        "./vj-midi-learned.toml when the map is a shipped profile)")
    g.add_argument("--bpm", type=float, help="start tempo (default: the preset's [modulators] bpm)")
    g.add_argument("--quantise", choices=[q.value for q in Quantise],
                   help="where prompt / preset / seed switches land (default: the preset's)")


# ---------------------------------------------------------------------- session actions
class PresetSwitcher:
    """Preset switches from OSC (/vj/preset), MIDI (next/previous, program change): quantised, then pickup."""

    def __init__(self, session: Any, quantiser: Quantiser) -> None:
        self.session = session
        self.quantiser = quantiser
        self.mapper: MidiMapper | None = None

    def by_name(self, name: str) -> bool:
        if name.isdigit():
            return self.by_index(int(name))
        try:
            preset = load_preset(name)
        except VjError as err:
            log.warning("preset switch refused: %s", err)
            return False
        self.quantiser.submit(lambda: self._apply(preset))
        return True

    def by_index(self, index: int) -> bool:
        paths = list_presets()
        if not 0 <= index < len(paths):
            log.warning("preset switch refused: number %d, but %d presets are shipped", index, len(paths))
            return False
        return self.by_name(str(paths[index]))

    def step(self, delta: int) -> bool:
        paths = list_presets()
        if not paths:
            return False
        current = self.session.preset
        names = [p.stem for p in paths]
        here = names.index(Path(current.source_path).stem) if Path(current.source_path).stem in names else -1
        return self.by_name(str(paths[(here + delta) % len(paths)]))

    def _apply(self, preset: PresetConfig) -> None:
        self.session.apply_preset(preset)  # the session's policy keeps model, fps and a fixed size
        if self.mapper is not None:
            self.mapper.arm_pickup()  # faders wait until they reach the recalled values


class RecordToggle:
    """/vj/record 1|0 and the record button: switch the session's take (vj.output.take.LiveTake).

    The take is looked up when the command arrives, because the outputs plugin attaches it
    after this one; a session without one refuses the command (counted, logged), it does not
    invent a recorder of its own.
    """

    def __init__(self, session: Any) -> None:
        self.session = session

    def __call__(self, on: bool) -> None:
        take = getattr(self.session, "take", None)
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


def attach_live_control(session: Any, args: argparse.Namespace) -> None:
    mods = session.preset.modulators
    tempo = TempoClock(args.bpm or mods.bpm, mods.beats_per_bar)
    if args.bpm:
        tempo.source = "command line"
    quantiser = Quantiser(tempo, Quantise(args.quantise or mods.quantise), mods.lookahead_ms / 1000.0)
    bank = ModulatorBank(session.store, tempo)
    register_bank(bank)
    install_preset_modulators(session.store, session.preset)
    session.add_control(TempoControl(tempo, quantiser, bank))
    presets = PresetSwitcher(session, quantiser)
    record = RecordToggle(session)

    mapper: MidiMapper | None = None
    if args.midi:
        mapping = _choose_mapping(args)
        learn_path = _learn_path(args, mapping)
        mapper = MidiMapper(mapping, session.store,
                            MidiActions(preset_step=presets.step, preset_program=presets.by_index,
                                        preset_name=presets.by_name, record=record, tempo=tempo, modulators=bank),
                            on_learned=lambda m: _save_learned(m, learn_path))
        presets.mapper = mapper
        session.add_control(MidiInput(mapper, args.midi))

    if args.no_osc:
        return
    osc = OscControl(session.store, host=args.osc_host, port=args.osc_port,
                     actions=OscActions(preset=presets.by_name, record=record,
                                        learn=mapper.learn if mapper is not None else None,
                                        tempo=tempo, modulators=bank, quantiser=quantiser))
    session.add_control(osc)
    if not args.no_oscquery:
        # default: the next port; with --osc-port 0 (any free port) also any free port
        next_port = args.osc_port + 1 if args.osc_port else 0
        http_port = args.oscquery_port if args.oscquery_port is not None else next_port
        session.add_control(_OscQueryAfterOsc(osc, OscQueryServer(session.store, osc_host=args.osc_host,
                                                                  osc_port=args.osc_port, http_port=http_port,
                                                                  tempo=tempo, advertise=not args.no_zeroconf)))


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


# ---------------------------------------------------------------------- subcommands
def cmd_osc_map(args: argparse.Namespace) -> int:
    rows = address_map()
    width = max(len(r.address) for r in rows)
    args_width = max(len(r.args) for r in rows)
    print(f"OSC address map (UDP, default {DEFAULT_HOST}:{DEFAULT_PORT}; OSCQuery on the next port)")
    for r in rows:
        print(f"  {r.address:<{width}}  {r.args:<{args_width}}  {r.description}")
    return 0


def cmd_midi_ports(args: argparse.Namespace) -> int:
    names = input_names()  # DeviceNotConnected -> "vj: error: ..." with the backend's reason
    if not names:
        print("no MIDI inputs found")
    for name in names:
        print(name)
    print("shipped profiles: " + ", ".join(p.stem for p in list_profiles()))
    return 0


def add_midi_learn_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--midi", default=ALL, metavar="NAME", help="inputs whose name contains NAME (default all)")
    parser.add_argument("--out", default="vj-midi-learned.toml",
                        help="mapping file to write (extended if it exists; default vj-midi-learned.toml)")


def _ask_target(msg: Any) -> str | None:
    from vj.control.mapping import valid_target
    from vj.control.midi import describe

    print(f"\n{describe(msg)}")
    print("  map to: a parameter (see `vj params`), prompt/<i>/weight, lfo/<param>/depth, or an action "
          "(next_preset, previous_preset, reset_motion, tap, record, release_all)")
    while True:
        answer = input("  target (empty = skip, q = quit): ").strip()
        if answer in ("q", "quit"):
            return "quit"
        if not answer or valid_target(answer) or answer in (
                "next_preset", "previous_preset", "reset_motion", "tap", "record", "release_all"):
            return answer
        print(f"  {answer!r} is not a target")


def cmd_midi_learn(args: argparse.Namespace) -> int:
    try:
        count = learn_session(args.out, args.midi, _ask_target, announce=lambda line: print(line, file=sys.stderr))
    except KeyboardInterrupt:
        count = -1
    if count >= 0:
        print(f"learned {count} control(s) into {args.out}", file=sys.stderr)
    else:
        print(f"stopped; everything learned so far is in {args.out}", file=sys.stderr)
    return 0


def _register() -> None:
    from vj.session import register_preset_hook

    cli.RUN_ARGUMENT_HOOKS.append(add_live_control_arguments)
    cli.LIVE_ATTACHERS.append(attach_live_control)
    register_preset_hook(install_preset_modulators)
    cli.COMMANDS.extend([
        ("osc-map", "print the OSC address map", lambda p: None, cmd_osc_map),
        ("midi-ports", "list MIDI inputs and the shipped controller profiles", lambda p: None, cmd_midi_ports),
        ("midi-learn", "map controls interactively: move a control, name a target; the TOML is written",
         add_midi_learn_arguments, cmd_midi_learn),
    ])


_register()
