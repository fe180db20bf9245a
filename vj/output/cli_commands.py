"""`vj run` flags and wiring for the outputs, and `vj render --replay` (loaded by vj.cli as a plugin).

Recording: every `vj run` session gets a `LiveTake` as `session.take`, idle unless
`--record FILE` starts it at once; `/vj/record` and the preview's r key switch it with
`session.take.set_recording(on)` / `session.take.toggle()` (path: --record FILE, or a
time-stamped name in the current folder).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from vj import cli
from vj.errors import VjError


def add_output_arguments(parser: argparse.ArgumentParser) -> None:
    from vj.output.ndi import DEFAULT_SOURCE_NAME as DEFAULT_NDI_NAME
    from vj.output.vcam import VCAM_BACKENDS

    g = parser.add_argument_group("outputs (virtual camera, NDI, preview, recording)")
    g.add_argument("--vcam", action="store_true", help="send the output to a virtual camera (OBS, Zoom, browsers)")
    g.add_argument("--vcam-backend", choices=VCAM_BACKENDS, default="auto",
                   help="pyvirtualcam backend (default auto: the first that opens)")
    g.add_argument("--vcam-device", metavar="/dev/videoN", help="v4l2loopback device (Linux)")
    g.add_argument("--output-fps", type=float, metavar="FPS",
                   help="rate of the virtual camera, preview and recording (default: the preset's fps)")
    g.add_argument("--preview", action="store_true", help="open a preview window (needs the GUI build of OpenCV)")
    g.add_argument("--snapshot-dir", default=".", help="where the preview's s key writes PNG snapshots")
    g.add_argument("--ndi", action="store_true",
                   help="send the output as an NDI source (optional extra: pip install 'vj[ndi]')")
    g.add_argument("--ndi-name", default=DEFAULT_NDI_NAME, metavar="NAME",
                   help=f"NDI source name; receivers list it as 'HOST (NAME)' (default {DEFAULT_NDI_NAME!r})")


def attach_outputs(session: Any, args: argparse.Namespace) -> None:
    from vj.config import list_presets, load_preset
    from vj.output.preview import PreviewActions, PreviewWindow, check_preview_available
    from vj.output.take import LiveTake, default_take_path
    from vj.output.vcam import VirtualCameraOutput

    fps = args.output_fps or session.preset.render.fps
    if fps <= 0:
        raise VjError(f"--output-fps: expected a rate > 0, found {fps}")
    take = LiveTake(args.record or default_take_path(session.preset), fps, lambda: session.preset,
                    live_state=session.store.live_overrides, codec=args.record_codec, crf=args.record_crf,
                    encoder_preset=args.record_preset)
    session.take = take
    session.add_output(take)
    if args.record:
        take.start_recording()
    if args.vcam:
        session.add_output(VirtualCameraOutput(fps, backend=args.vcam_backend, device=args.vcam_device))
    if args.ndi:
        from vj.output.ndi import NdiOutput

        session.add_output(NdiOutput(fps, name=args.ndi_name))
    if args.preview:
        check_preview_available()
        presets = [str(p) for p in list_presets()]
        position = [0]

        def step_preset(step: int) -> str:
            if not presets:
                raise VjError("no shipped presets to step through")
            position[0] = (position[0] + step) % len(presets)
            preset = load_preset(presets[position[0]])
            session.apply_preset(preset)
            return preset.name

        actions = PreviewActions(toggle_record=take.toggle, next_preset=lambda: step_preset(1),
                                 previous_preset=lambda: step_preset(-1), quit=session.engine.stop,
                                 is_recording=lambda: take.is_recording)
        session.add_output(PreviewWindow(fps, actions=actions, snapshot_dir=args.snapshot_dir))


def add_replay_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--replay", metavar="TAKE.jsonl",
                        help="re-render a live take from its control timeline (the preset comes from it; "
                             "--width/--height/--steps/--model override)")


def cmd_render_or_replay(args: argparse.Namespace) -> int:
    if not getattr(args, "replay", None):
        return _original_render(args)
    from tqdm import tqdm

    from vj.output.recorder import VideoRecorder
    from vj.output.replay import replay, replay_preset
    from vj.output.timeline import read_timeline

    if args.preset:
        raise VjError("vj render --replay takes the preset from the timeline: leave out PRESET")
    timeline = read_timeline(args.replay)
    preset = replay_preset(timeline, model=args.model, width=args.width, height=args.height, steps=args.steps,
                           device=args.device)
    render = preset.render
    state = "complete" if timeline.complete else "cut short (the live process was killed): replaying what it kept"
    print(f"vj: replaying {len(timeline.frames)} frames of {Path(args.replay).name} ({state}) with "
          f"{preset.model.source} at {render.width}x{render.height} to {args.out}", file=sys.stderr)
    recorder = VideoRecorder(args.out, width=render.width, height=render.height, fps=render.fps, live=False,
                             crf=args.crf, preset=args.x264_preset)
    with tqdm(total=len(timeline.frames), unit="frame", disable=args.no_progress, file=sys.stderr) as bar:
        result = replay(timeline, outputs=[recorder], model=args.model, width=args.width, height=args.height,
                        steps=args.steps, device=args.device, on_frame=lambda _f: bar.update(1))
    check = ("parameters identical to the live take" if result.checked and not result.mismatches else
             f"parameters differ from frame {result.first_mismatch} on" if result.mismatches else
             "parameters not compared (overrides change them)")
    print(f"vj: wrote {recorder.frames_written} frames to {args.out}; {result.events} events replayed; {check}",
          file=sys.stderr)
    return 0 if recorder.frames_written == result.frames else 1


cli.RUN_ARGUMENT_HOOKS.append(add_output_arguments)
cli.RENDER_ARGUMENT_HOOKS.append(add_replay_arguments)
if attach_outputs not in cli.LIVE_ATTACHERS:
    cli.LIVE_ATTACHERS.append(attach_outputs)
_original_render = next(run for name, _h, _a, run in cli.COMMANDS if name == "render")
cli.COMMANDS[:] = [(name, h, a, cmd_render_or_replay if name == "render" else run) for name, h, a, run in cli.COMMANDS]
