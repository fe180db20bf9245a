"""`vj render --audio`: a generated track drives the modulators frame by frame and is muxed into the file."""

from __future__ import annotations

import math
from pathlib import Path

import av
import numpy as np
import pytest

from tests.audio_signals import RATE, click_track, tone
from tests.helpers import CollectFrames
from vj.cli import main
from vj.config import parse_preset
from vj.control.audio.files import load_track, write_wav
from vj.output.recorder import VideoRecorder
from vj.session import render_offline

PRESET = """
[preset]
name = "audio"
[model]
source = "tiny"
device = "cpu"
[render]
width = 64
height = 64
fps = 12
[[prompts.mix]]
text = "a"
[params]
zoom = 1.0
steps = 1
seed = 3
[modulators.audio.zoom]
source = "onset"
depth = 0.05
attack_ms = 0
release_ms = 1
[modulators.onset]
action = "seed_step"
cooldown_ms = 0
"""


def _decoded(path: Path) -> tuple[int, float, float]:
    """(video frames, video seconds, audio seconds decoded: AAC adds up to ~2 frames of padding)."""
    with av.open(str(path)) as container:
        video = container.streams.video[0]
        frames = sum(1 for _ in container.decode(video=0))
        duration = frames / float(video.average_rate)
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        first = None
        samples = 0
        for frame in container.decode(audio=0):
            first = float(frame.time) if first is None else first
            samples += frame.samples
        return frames, duration, samples / stream.rate + (first or 0.0)


def test_render_follows_the_track_and_muxes_it(tmp_path: Path, tiny_backend) -> None:  # noqa: ANN001
    x, clicks = click_track(120.0, 1.5, first_s=0.2)  # clicks at 0.2, 0.7, 1.2 s -> frames 2, 8, 14
    wav = tmp_path / "clicks.wav"
    write_wav(wav, np.stack([x, x], 1), RATE)
    track = load_track(wav)
    assert track.channels == 2 and len(track.samples) == len(x)
    preset = parse_preset(PRESET, "audio.toml")
    frames = track.frame_count(preset.render.fps)
    assert frames == 18
    out = tmp_path / "clip.mp4"
    recorder = VideoRecorder(out, width=64, height=64, fps=12, live=False, preset="ultrafast", audio_track=track)
    sink = CollectFrames()
    drivers: list = []
    assert render_offline(preset, frames=frames, outputs=[recorder, sink], backend=tiny_backend, audio=track,
                          on_audio=drivers.append) == frames
    onset_frames = [math.floor(t * 12) for t in clicks]
    assert sorted(drivers[0].actions) == onset_frames
    zoom = np.array([f.snapshot.num("zoom") for f in sink.frames])
    seeds = [int(f.snapshot.num("seed")) for f in sink.frames]
    assert [i for i, z in enumerate(zoom) if z > 1.04] == onset_frames  # the frames with a click zoom
    assert seeds[0] == 3 and seeds[-1] == 3 + len(clicks)
    assert seeds[onset_frames[0]] == 4 and seeds[onset_frames[0] - 1] == 3  # the step lands on its own frame
    video_frames, video_s, audio_s = _decoded(out)
    assert video_frames == frames and recorder.audio_samples_written == len(x)
    assert audio_s == pytest.approx(len(x) / RATE, abs=2 * 1024 / RATE)


def test_cli_render_length_follows_the_track_unless_frames_says_otherwise(tmp_path: Path,
                                                                          capsys: pytest.CaptureFixture[str]) -> None:
    preset = tmp_path / "audio.toml"
    preset.write_text(PRESET)
    wav = tmp_path / "tone.wav"
    write_wav(wav, tone(220, 1.0), RATE)  # 1 s: 12 frames at 12 fps
    out = tmp_path / "full.mkv"
    assert main(["render", str(preset), "--audio", str(wav), "--out", str(out), "--no-progress",
                 "--x264-preset", "ultrafast"]) == 0
    assert "wrote 12 frames and 1.00 s of audio" in capsys.readouterr().err
    frames, _, audio_s = _decoded(out)
    assert frames == 12 and audio_s == pytest.approx(1.0, abs=2 * 1024 / RATE)
    short = tmp_path / "short.mp4"
    assert main(["render", str(preset), "--audio", str(wav), "--out", str(short), "--frames", "6",
                 "--no-progress", "--x264-preset", "ultrafast"]) == 0
    frames, video_s, audio_s = _decoded(short)
    assert frames == 6 and audio_s == pytest.approx(0.5, abs=2 * 1024 / RATE)  # cut with the picture


def test_a_bad_track_is_one_error_line_before_the_model_loads(tmp_path: Path,
                                                              capsys: pytest.CaptureFixture[str]) -> None:
    preset = tmp_path / "audio.toml"
    preset.write_text(PRESET.replace('source = "tiny"', 'source = "/nonexistent/model"'))
    not_audio = tmp_path / "notes.txt"
    not_audio.write_text("not a sound file")
    for track, says in ((tmp_path / "missing.wav", "no such file"), (not_audio, "could not decode it")):
        assert main(["render", str(preset), "--audio", str(track), "--out", str(tmp_path / "o.mp4")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith(f"vj: error: --audio {track}: {says}"), err
