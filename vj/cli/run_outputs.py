"""`vj run`'s outputs: the flags, and the wiring of the take, virtual camera, NDI and preview.

Recording: every `vj run` session gets a `LiveTake` (`session.take`), idle unless
`--record FILE` starts it at once; `/vj/record` and the preview's r key switch it
(path: --record FILE, or a time-stamped name in the current folder).
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

    g = parser.add_argument_group("outputs (virtual camera, NDI, preview, recording)")
    g.add_argument("--vcam", action="store_true", help="send the output to a virtual camera (OBS, Zoom, browsers)")
    g.add_argument("--vcam-backend", choices=VCAM_BACKENDS, default="auto",
                   help="pyvirtualcam backend (default auto: the first that opens)")
    g.add_argument("--vcam-device", metavar="/dev/videoN", help="v4l2loopback device (Linux)")
    g.add_argument("--output-fps", type=rate, metavar="FPS",
                   help="rate of the virtual camera, preview and recording (default: the preset's fps)")
    g.add_argument("--preview", action="store_true", help="open a preview window (needs the GUI build of OpenCV)")
    g.add_argument("--snapshot-dir", default=".", help="where the preview's s key writes PNG snapshots")
    g.add_argument("--ndi", action="store_true",
                   help="send the output as an NDI source (optional extra: pip install 'vj[ndi]')")
    g.add_argument("--ndi-name", default=DEFAULT_NDI_NAME, metavar="NAME",
                   help=f"NDI source name; receivers list it as 'HOST (NAME)' (default {DEFAULT_NDI_NAME!r})")


def attach_outputs(session: LiveSession, args: argparse.Namespace) -> None:
    from vj.output.preview import PreviewActions, PreviewWindow, check_preview_available
    from vj.output.take import LiveTake, default_take_path
    from vj.output.vcam import VirtualCameraOutput

    fps = args.output_fps or session.preset.render.fps
    if fps <= 0:
        raise VjError(f"--output-fps: expected a rate > 0, found {fps}")
    take = LiveTake(args.record or default_take_path(session.preset), fps, lambda: session.preset,
                    live_state=session.store.live_overrides, codec=args.record_codec, crf=args.record_crf,
                    encoder_preset=args.record_preset)
    session.attach_take(take)
    if args.record:
        take.start_recording()
    if args.vcam:
        session.add_output(VirtualCameraOutput(fps, backend=args.vcam_backend, device=args.vcam_device))
    if args.ndi:
        from vj.output.ndi import NdiOutput

        session.add_output(NdiOutput(fps, name=args.ndi_name))
    if args.preview:
        check_preview_available()
        actions = PreviewActions(toggle_record=take.toggle, next_preset=lambda: session.presets.step(1),
                                 previous_preset=lambda: session.presets.step(-1), quit=session.engine.stop,
                                 is_recording=lambda: take.is_recording)
        session.add_output(PreviewWindow(fps, actions=actions, snapshot_dir=args.snapshot_dir))
