"""`vj run`'s wiring flags, and their translation into the typed configs a live show is built from.

Only flags here: what they build is `vj.config_live.ShowConfig`, wired by
`vj.session.live_show` (no threads or wiring in the CLI).
"""

from __future__ import annotations

import argparse
import ipaddress
from pathlib import Path

from vj.cli.argtypes import float_range, port, rate
from vj.cli.output_flags import geometry_spec, in_betweens, output_sizes
from vj.config_live import AudioInConfig, ControlsConfig, OutputsConfig, ShowConfig, WebConfig
from vj.control.audio.inputs import FILE_PREFIX
from vj.control.osc import DEFAULT_HOST, DEFAULT_PORT
from vj.control.osc.pickup import PickupMode
from vj.control.tempo import MAX_BPM, MIN_BPM, Quantise

AUDIO_BLOCKS = (256, 512, 1024, 2048)
CURRENT_MONITOR = "current"


# ---------------------------------------------------------------------- flags
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


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    from vj.output.ndi import DEFAULT_SOURCE_NAME as DEFAULT_NDI_NAME
    from vj.output.vcam import VCAM_BACKENDS

    g = parser.add_argument_group("outputs (virtual camera, NDI, Spout, Syphon, preview, recording)")
    g.add_argument("--vcam", action="store_true", help="send the output to a virtual camera (OBS, Zoom, browsers)")
    g.add_argument("--vcam-backend", choices=VCAM_BACKENDS, default="auto",
                   help="pyvirtualcam backend (default auto: the first that opens)")
    g.add_argument("--vcam-device", metavar="/dev/videoN", help="v4l2loopback device (Linux)")
    g.add_argument("--output-fps", type=rate, metavar="FPS",
                   help="rate of the virtual camera, preview and recording (default: the preset's fps)")
    g.add_argument("--preview", action="store_true", help="open a preview window (needs the GUI build of OpenCV)")
    g.add_argument("--snapshot-dir", default=".", help="where the preview's s key writes PNG snapshots")
    g.add_argument("--preview-fullscreen", nargs="?", const=CURRENT_MONITOR, type=_monitor_index, metavar="N",
                   help="open the preview fullscreen (implies --preview), on monitor N of `xrandr --listmonitors` "
                        "when given (a projector), else on the monitor the window opens on")
    g.add_argument("--preview-status", action="store_true",
                   help="start the preview with its status overlay (fps, bpm, REC) on; the i key toggles it")
    g.add_argument("--no-preview-help", dest="preview_help", action="store_false",
                   help="start the preview without its key help (h shows it)")
    g.add_argument("--ndi", action="store_true",
                   help="send the output as an NDI source (optional extra: pip install 'vj[ndi]')")
    g.add_argument("--ndi-name", default=DEFAULT_NDI_NAME, metavar="NAME",
                   help=f"NDI source name; receivers list it as 'HOST (NAME)' (default {DEFAULT_NDI_NAME!r})")
    g.add_argument("--spout", nargs="?", const="vj", metavar="NAME",
                   help="share the output as a Spout sender (Windows; pip install 'vj[spout]'); default name 'vj'")
    g.add_argument("--syphon", nargs="?", const="vj", metavar="NAME",
                   help="share the output as a Syphon server (macOS 11+; pip install 'vj[syphon]'); default name 'vj'")
    g.add_argument("--show", choices=("image", "depth"), default="image",
                   help="what the preview window shows: the picture (default) or the depth map (greyscale, white = "
                        "near; loads the depth model)")
    g.add_argument("--ndi-depth", action="store_true",
                   help="also send the depth map as a second NDI source, 'NAME depth' (a matte for the mixer)")



def add_web_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("browser control surface")
    g.add_argument("--web-port", type=port, help="port of the control page (default: OSC port + 2)")
    g.add_argument("--web-host", type=_host, default="127.0.0.1",
                   help="interface the page is served on (default 127.0.0.1; 0.0.0.0 for a tablet on the "
                        "network, then with a token printed at start)")
    g.add_argument("--web-token", action="store_true", help="require the printed token on loopback too")
    g.add_argument("--no-web", action="store_true", help="no control page")


def add_audio_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("audio reactivity")
    g.add_argument("--audio-in", metavar="DEVICE",
                   help="analyse this input live for [modulators.audio.*]: an index or part of a name from "
                        f"`vj audio-devices`, or {FILE_PREFIX}PATH to play a sound file in real time "
                        "(needs pip install 'vj[audio]' for a device)")
    g.add_argument("--audio-block", type=int, choices=AUDIO_BLOCKS, default=512,
                   help="samples per analysed block (default 512: about 11 ms at 44.1 kHz)")
    g.add_argument("--record-audio", action="store_true", help="record the --audio-in sound into each take, in sync")


def _presets_folder(text: str) -> Path:
    path = Path(text)
    if not path.is_dir():
        raise argparse.ArgumentTypeError(f"{text!r} is not a folder (expected a folder of preset .toml files)")
    return path


def _monitor_index(text: str) -> int:
    try:
        index = int(text)
    except ValueError:
        index = -1
    if index < 0:
        raise argparse.ArgumentTypeError(f"expected a monitor number >= 0 (see xrandr --listmonitors), found {text!r}")
    return index


def _host(text: str) -> str:
    if text != "localhost":
        try:
            ipaddress.ip_address(text)
        except ValueError:
            raise argparse.ArgumentTypeError(
                f"expected an IP address to listen on (127.0.0.1, or 0.0.0.0 for every interface), "
                f"found {text!r}") from None
    return text


# ---------------------------------------------------------------------- flags -> configs
def show_config(args: argparse.Namespace) -> ShowConfig:
    """The typed wiring of a live show, from `vj run`'s flags."""
    return ShowConfig(controls=controls_config(args), outputs=outputs_config(args), web=web_config(args),
                      audio=AudioInConfig(device=args.audio_in, block=args.audio_block, record=args.record_audio))


def controls_config(args: argparse.Namespace) -> ControlsConfig:
    return ControlsConfig(
        osc=not args.no_osc, osc_host=args.osc_host, osc_port=args.osc_port, oscquery=not args.no_oscquery,
        oscquery_port=args.oscquery_port, osc_pickup=PickupMode(args.osc_pickup), zeroconf=not args.no_zeroconf,
        presets_dirs=tuple(args.presets_dir), midi=args.midi, midi_map=args.midi_map,
        midi_learn_file=args.midi_learn_file, bpm=args.bpm,
        quantise=Quantise(args.quantise) if args.quantise else None, link=args.link)


def outputs_config(args: argparse.Namespace) -> OutputsConfig:
    fullscreen = args.preview_fullscreen
    return OutputsConfig(
        record=args.record or None, record_codec=args.record_codec, record_crf=args.record_crf,
        record_preset=args.record_preset, fps=args.output_fps, vcam=args.vcam, vcam_backend=args.vcam_backend,
        vcam_device=args.vcam_device, preview=args.preview or fullscreen is not None, snapshot_dir=args.snapshot_dir,
        preview_fullscreen=fullscreen is not None,
        preview_monitor=fullscreen if isinstance(fullscreen, int) else None, preview_help=args.preview_help,
        preview_status=args.preview_status, show=args.show, ndi=args.ndi, ndi_name=args.ndi_name,
        ndi_depth=args.ndi_depth, spout=args.spout, syphon=args.syphon, geometry=geometry_spec(args),
        output_sizes=output_sizes(args), blend=args.output_rate_mode != "repeat", in_betweens=in_betweens(args))


def web_config(args: argparse.Namespace) -> WebConfig:
    return WebConfig(enabled=not args.no_web, host=args.web_host, port=args.web_port, token=args.web_token)
