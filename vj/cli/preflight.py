"""`vj run`'s checks that need no model: they run before the backend loads.

With real weights a load takes a minute; a typo in a flag, a MIDI map naming a missing
preset or a taken port must be reported before that, as one line.
Output-path writability is checked by the output wiring itself, not here.
"""

from __future__ import annotations

import argparse
import socket

from vj.errors import ConfigError, DeviceNotConnected, VjError
from vj.preset_files import resolve_preset_path


def check_run_before_load(args: argparse.Namespace) -> None:
    """Raise VjError for the first thing in `vj run`'s flags that would fail after the model loaded."""
    _check_midi(args)
    _check_ports(args)  # the preview's display and OpenCV are checked by prepare_preview, earlier still


def _check_midi(args: argparse.Namespace) -> None:
    if args.midi_map and not args.midi:
        raise VjError(f"--midi-map {args.midi_map} needs --midi NAME (or --midi all) to open an input; "
                      "without it no MIDI is read: add --midi")
    if not args.midi_map:
        return  # a shipped profile chosen by port name names shipped presets
    from vj.control.midi.mapping_file import load_mapping

    mapping = load_mapping(args.midi_map)
    for i, name in enumerate(mapping.program_presets):
        try:
            resolve_preset_path(name)
        except ConfigError as err:
            raise ConfigError(mapping.source or args.midi_map, f"program.presets[{i}]", err.expected,
                              name) from err


def _check_ports(args: argparse.Namespace) -> None:
    """Each server's port must be free now; port 0 (any free port) always is."""
    if not args.no_osc:
        _bindable(socket.SOCK_DGRAM, args.osc_host, args.osc_port, "--osc-port", "OSC")
        if not args.no_oscquery:
            next_port = args.osc_port + 1 if args.osc_port else 0
            query_port = args.oscquery_port if args.oscquery_port is not None else next_port
            _bindable(socket.SOCK_STREAM, args.osc_host, query_port, "--oscquery-port", "OSCQuery")
    if not getattr(args, "no_web", True):  # the page runs without OSC too: its port is checked either way
        web_port = args.web_port if args.web_port is not None else (args.osc_port + 2 if args.osc_port else 0)
        _bindable(socket.SOCK_STREAM, args.web_host, web_port, "--web-port", "the control page")


def _bindable(kind: socket.SocketKind, host: str, port: int, flag: str, what: str) -> None:
    if port == 0:
        return
    if port > 65535:  # the default next port above a high --osc-port
        raise VjError(f"{what} would listen on port {port}: expected a port 0..65535; lower --osc-port or set {flag}")
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, kind) as probe:
        if kind == socket.SOCK_STREAM:  # as the servers do: a port in TIME_WAIT is free to reuse
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as err:
            raise DeviceNotConnected(f"{what} cannot listen on {host}:{port} ({err.strerror or err}); "
                                     f"expected a free port: stop what holds it or choose another {flag}") from err
