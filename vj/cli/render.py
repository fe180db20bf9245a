"""`vj render`: a preset or a Deforum/Astria settings file offline, or a live take again (`--replay`)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import TYPE_CHECKING

from vj.cli.argtypes import crf, frame_count
from vj.cli.common import add_common_arguments, apply_common_overrides
from vj.cli.dry_run import add_memory_arguments, check_memory, print_dry_run
from vj.cli.init_image import add_fetch_argument, usable_init_image
from vj.cli.output_flags import add_output_size_arguments, check_geometry_before_load, geometry_spec
from vj.config import PresetConfig
from vj.errors import VjError
from vj.output.paths import check_video_path, check_writable
from vj.preset_files import load_preset

if TYPE_CHECKING:
    from vj.control.audio.files import AudioTrack
    from vj.control.audio.offline import OfflineAudio
    from vj.input.open import CheckedInputs
    from vj.output.recorder import VideoRecorder
    from vj.session.continued import Continuable


def add_render_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("preset", nargs="?", help="a preset file or the name of a shipped preset")
    parser.add_argument("--frames", type=frame_count, help="frames to render (default: the preset's render.frames)")
    parser.add_argument("--out", required=True, help="output video (.mp4, .mkv or .mov), H.264")
    parser.add_argument("--crf", type=crf, default=17, help="x264 quality (default 17, as Deforum)")
    parser.add_argument("--x264-preset", default="medium", help="x264 speed preset (default medium)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_fetch_argument(parser)
    parser.add_argument("--audio", metavar="TRACK",
                        help="a sound file (wav, mp3, flac, ...): drives the preset's audio modulators frame by "
                             "frame and is muxed into --out; the length follows it unless --frames is given")
    add_common_arguments(parser)
    parser.add_argument("--replay", metavar="TAKE.jsonl",
                        help="re-render a live take from its control timeline (the preset comes from it; "
                             "--width/--height/--steps/--model override)")
    parser.add_argument("--continue", dest="continue_from", metavar="CLIP",
                        help="continue an earlier `vj render` from its last frame, into the new file --out (the "
                             "preset, seed and frame count come from CLIP's timeline and resume state beside it)")
    add_output_size_arguments(parser, live=False)
    add_memory_arguments(parser)


def render_preset_from_args(args: argparse.Namespace) -> PresetConfig:
    """PRESET is a vj preset, or a Deforum settings / Astria prompt file (recognised by content)."""
    from vj.deforum.convert import render_source

    if args.preset is None:
        raise VjError("vj render needs a PRESET (or a settings file)")
    preset = render_source(args.preset)
    return apply_common_overrides(preset if preset is not None else load_preset(args.preset), args)


def cmd_render(args: argparse.Namespace) -> int:
    if args.replay and args.dry_run:
        raise VjError("vj render --dry-run plans a preset render; a --replay takes its plan from the timeline")
    if args.replay:
        return _replay(args)
    from vj.engine.backends.sizes import check_size_before_load
    from vj.input.open import check_inputs
    from vj.output.timeline import timeline_path_for
    from vj.session.continued import check_continuable, continued_preset, resume_state_path_for
    from vj.session.controlnet import check_controlnets_before_load
    from vj.session.depth import check_depth_before_load
    from vj.session.reference import check_reference_before_load

    out = check_video_path(args.out, "--out")
    check_writable(timeline_path_for(out), "--out (its timeline)")
    check_writable(resume_state_path_for(out), "--out (its resume state)")
    if args.continue_from:
        continued = check_continuable(args.continue_from, out)
        preset = continued_preset(continued, args)
        start = continued.next_frame
    else:
        continued, start = None, 0
        preset = usable_init_image(render_preset_from_args(args), args)
    check_size_before_load(preset.model, preset.render.width, preset.render.height)
    check_depth_before_load(preset)
    check_controlnets_before_load(preset)
    check_geometry_before_load(geometry_spec(args))
    check_reference_before_load(preset)
    inputs = check_inputs(preset.input, offline=True)  # a missing or unreadable file: one line, before the model
    track = None
    if args.audio:
        if continued is not None:
            raise VjError("vj render --continue carries on the earlier render's own controls: leave out --audio")
        from vj.control.audio.files import load_track

        track = load_track(args.audio)  # before the model loads: a bad file is one line, at once
    frames = args.frames or (track.frame_count(preset.render.fps) if track is not None
                             else preset.render.frames if continued is None else 0)
    if frames < 1:
        raise VjError(f"--frames must be at least 1, found {frames}" if args.frames is not None or continued is None
                      else "vj render --continue needs --frames N: how many frames to add")
    report = check_memory(preset, args, sizes=((preset.render.width, preset.render.height),))
    if args.dry_run and report is not None:
        return print_dry_run("render", preset, report)
    return _render(args, preset, frames, start, inputs, continued, track)


def _render(args: argparse.Namespace, preset: PresetConfig, frames: int, start: int, inputs: CheckedInputs,
            continued: Continuable | None, track: AudioTrack | None) -> int:
    from tqdm import tqdm

    from vj.engine.backends import load_backend
    from vj.output.recorder import VideoRecorder
    from vj.output.timeline import TimelineWriter, make_header, timeline_path_for
    from vj.session.continued import load_resume_state, resume_state_path_for
    from vj.session.offline import render_offline

    render = preset.render
    geometry = geometry_spec(args)
    width, height = geometry.size if geometry is not None else (render.width, render.height)
    recorder = VideoRecorder(args.out, width=width, height=height, fps=render.fps, live=False,
                             crf=args.crf, preset=args.x264_preset, audio_track=track)
    extra = {"kind": "render", "crf": args.crf, "continues": continued.video.name if continued is not None else None}
    if geometry is not None:
        extra["video_size"] = [width, height]
    header = make_header(preset, start_frame=start, video=Path(args.out).name, extra=extra)
    timeline = TimelineWriter(timeline_path_for(args.out), header)
    what = f"frames {start}-{start + frames - 1}" if start else f"{frames} frames"
    sound = f" with {track.duration_s:.2f} s of {args.audio}" if track is not None else ""
    print(f"vj: rendering {what} of {preset.name!r} with {preset.model.source} "
          f"({render.width}x{render.height} @ {render.fps:g} fps){sound} to {args.out}"
          + (f" at {width}x{height} ({geometry.fit})" if geometry is not None else ""), file=sys.stderr)
    resume = load_resume_state(continued) if continued is not None else None
    backend = load_backend(preset.model)
    drivers: list[OfflineAudio] = []
    skipped: list[int] = []
    with tqdm(total=frames, unit="frame", disable=args.no_progress, file=sys.stderr) as bar:
        done = render_offline(preset, frames=frames, outputs=[recorder, timeline], backend=backend,
                              on_frame=lambda _f: bar.update(1), inputs=inputs,
                              resume_state=resume, save_state=resume_state_path_for(args.out),
                              audio=track, on_audio=drivers.append, output_geometry=geometry,
                              on_stats=lambda s: skipped.append(s.skipped))
    if recorder.failed:
        return _write_failed(recorder)
    audio = ""
    if drivers and track is not None:
        driver = drivers[0]
        fired = ", ".join(f"{n} {a}" for a, n in driver.modulators.fired.items())
        audio = (f" and {recorder.audio_samples_written / track.rate:.2f} s of audio"
                 f" ({driver.modulators.onsets} onsets{'; ' + fired if fired else ''})")
    skip_on = bool(skipped and skipped[0]) or float(preset.params.get("similarity_skip", 0.0)) > 0.0  # type: ignore[arg-type]
    held = f", skipped {skipped[0] if skipped else 0} (similarity_skip held the last output)" if skip_on else ""
    print(f"vj: wrote {recorder.frames_written} frames{audio}{held} to {args.out} (+ {timeline.path.name}, "
          f"{resume_state_path_for(args.out).name}: `vj render --continue {args.out}` carries on from here)",
          file=sys.stderr)
    return 0 if done == frames and recorder.frames_written == frames else 1


def _write_failed(recorder: VideoRecorder) -> int:
    """A file that could not be written is a failure, whatever the encoder counted."""
    print(f"vj: error: writing {recorder.path} failed: {recorder.failure} ({recorder.errors} errors)",
          file=sys.stderr)
    return 1


def _replay(args: argparse.Namespace) -> int:
    from tqdm import tqdm

    from vj.engine.backends.sizes import check_size_before_load
    from vj.output.recorder import VideoRecorder
    from vj.output.ticks import output_rate
    from vj.output.timeline import read_timeline
    from vj.session.replay import replay, replay_preset

    if args.preset:
        raise VjError("vj render --replay takes the preset from the timeline: leave out PRESET")
    if args.audio:
        raise VjError("vj render --replay re-renders the take's own control timeline: leave out --audio")
    check_video_path(args.out, "--out")
    timeline = read_timeline(args.replay)
    preset = replay_preset(timeline, model=args.model, width=args.width, height=args.height, steps=args.steps,
                           device=args.device)
    check_size_before_load(preset.model, preset.render.width, preset.render.height)
    render = preset.render
    state = "complete" if timeline.complete else "cut short (the live process was killed): replaying what it kept"
    print(f"vj: replaying {len(timeline.frames)} frames of {Path(args.replay).name} ({state}) with "
          f"{preset.model.source} at {render.width}x{render.height} to {args.out}", file=sys.stderr)
    fps = output_rate(timeline)  # the live take's rate: the replay lasts as long as the take
    geometry = geometry_spec(args)
    check_geometry_before_load(geometry)
    width, height = geometry.size if geometry is not None else (render.width, render.height)
    recorder = VideoRecorder(args.out, width=width, height=height, fps=fps, live=False,
                             crf=args.crf, preset=args.x264_preset)
    with tqdm(total=len(timeline.frames), unit="frame", disable=args.no_progress, file=sys.stderr) as bar:
        result = replay(timeline, outputs=[recorder], model=args.model, width=args.width, height=args.height,
                        steps=args.steps, device=args.device, on_frame=lambda _f: bar.update(1), paced=True,
                        output_geometry=geometry)
    if recorder.failed:
        return _write_failed(recorder)
    check = ("parameters identical to the live take" if result.checked and not result.mismatches else
             f"parameters differ from frame {result.first_mismatch} on" if result.mismatches else
             "parameters not compared (overrides change them)")
    ticks = result.ticks
    assert ticks is not None
    timing = ("as long as the live take, each frame on the output ticks it was live" if ticks.exact else
              "timed from the frame clock: the timeline has no output ticks")
    print(f"vj: wrote {recorder.frames_written} frames ({ticks.duration_s:.2f} s at {fps:g} fps, {timing}; "
          f"{result.frames} engine frames) to {args.out}; {result.events} events replayed; {check}",
          file=sys.stderr)
    return 0 if recorder.frames_written == result.output_frames == ticks.total else 1
