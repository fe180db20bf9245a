"""`vj run`'s outputs: the flags, and the wiring of the take, virtual camera, NDI, Spout/Syphon and preview.

Recording: every `vj run` session gets a `LiveTake` (`session.take`), idle unless
`--record FILE` starts it at once; `/vj/record` and the preview's r key switch it
(path: --record FILE, or a name stamped with each take's start time in the current folder).
"""

from __future__ import annotations

import argparse
from typing import TYPE_CHECKING

from vj.cli.argtypes import rate
from vj.errors import VjError

if TYPE_CHECKING:  # the session (and torch with it) loads only when `vj run` runs
    from vj.session.live import LiveSession


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


def wants_depth(args: argparse.Namespace) -> bool:
    """Whether an output shows the depth map (the frames then carry it, and the depth model loads)."""
    return getattr(args, "show", "image") == "depth" or bool(getattr(args, "ndi_depth", False))


CURRENT_MONITOR = "current"


def _monitor_index(text: str) -> int:
    try:
        index = int(text)
    except ValueError:
        index = -1
    if index < 0:
        raise argparse.ArgumentTypeError(f"expected a monitor number >= 0 (see xrandr --listmonitors), found {text!r}")
    return index


def prepare_outputs(args: argparse.Namespace) -> None:
    """Checks that need no model, run before it loads: the preview's display, OpenCV and monitor.

    This also imports OpenCV before anything imports PyAV, which the preview window needs
    (`vj.output.preview_gui` says why). Sets `args.preview_monitor`."""
    from vj.output.preview_gui import check_preview_available

    args.preview_monitor = None
    if args.preview_fullscreen is not None:
        args.preview = True
    if not args.preview:
        return
    check_preview_available()
    if args.preview_fullscreen not in (None, CURRENT_MONITOR):
        from vj.output.monitors import list_monitors, pick_monitor

        args.preview_monitor = pick_monitor(list_monitors(), args.preview_fullscreen)


def check_output_arguments(args: argparse.Namespace) -> None:
    """What can be checked before the model loads: the recording's files can be written."""
    from vj.output.paths import check_video_path, check_writable
    from vj.output.timeline import timeline_path_for

    if args.record:
        check_writable(timeline_path_for(check_video_path(args.record, "--record")), "--record (its timeline)")


def attach_outputs(session: LiveSession, args: argparse.Namespace) -> None:
    from vj.output.channels import DepthChannel
    from vj.output.preview import PreviewActions, PreviewWindow
    from vj.output.take import LiveTake
    from vj.output.texture_share import SPOUT, SYPHON, TextureShareOutput
    from vj.output.vcam import VirtualCameraOutput

    if not hasattr(args, "preview_monitor"):  # a caller that skipped cmd_run's early checks
        prepare_outputs(args)
    fps = args.output_fps or session.preset.render.fps
    if fps <= 0:
        raise VjError(f"--output-fps: expected a rate > 0, found {fps}")
    take = LiveTake(args.record or None, fps, lambda: session.preset,
                    live_state=session.store.live_overrides, blacked_out=lambda: session.performer.blackout_on,
                    codec=args.record_codec, crf=args.record_crf,
                    encoder_preset=args.record_preset)
    session.attach_take(take)
    if args.record:
        take.start_recording()
    if args.vcam:
        session.add_output(VirtualCameraOutput(fps, backend=args.vcam_backend, device=args.vcam_device))
    if args.ndi or args.ndi_depth:
        from vj.output.ndi import NdiOutput

        if args.ndi:
            session.add_output(NdiOutput(fps, name=args.ndi_name))
        if args.ndi_depth:
            session.add_output(DepthChannel(NdiOutput(fps, name=f"{args.ndi_name} depth")))
    for flag, kind in (("spout", SPOUT), ("syphon", SYPHON)):
        name = getattr(args, flag, None)
        if name is not None:  # off with one line on another platform (TextureShareOutput.start)
            session.add_output(TextureShareOutput(kind, fps, name=name))
    if args.preview:
        from vj.cli.run_controls import show_actions
        from vj.control.commands import ShowCommands

        commands = ShowCommands(session.store, show_actions(session), "preview")
        actions = PreviewActions(quit=session.end_show, fps=lambda: session.engine.stats.fps,
                                 bpm=lambda: session.tempo.bpm)
        preview = PreviewWindow(fps, commands=commands, actions=actions, snapshot_dir=args.snapshot_dir,
                                fullscreen=args.preview_fullscreen is not None, monitor=args.preview_monitor,
                                show_help=args.preview_help, show_status=args.preview_status)
        session.add_output(DepthChannel(preview) if args.show == "depth" else preview)
