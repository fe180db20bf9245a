"""One streaming, single-threaded pass over the pictures of a video file with PyAV.

Frames come out one at a time as RGB arrays, so a long take never sits in memory. The decoder
runs on the calling thread (no codec worker threads) and the colour conversion on one scaler
thread, instead of FFmpeg's default of a worker per core for each: an analysis beside a running
show does not take every core.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from vj.errors import VjError

EXPECTED = "a video file FFmpeg can decode (a take or render written by vj: .mkv, .mp4, .mov)"


@dataclass(frozen=True, slots=True)
class VideoInfo:
    path: Path
    width: int
    height: int
    fps: float | None  # the stream's average rate; None when the container does not say
    codec: str
    frames_declared: int | None  # what the container says; decoding is the real count


def _open(path: Path) -> Any:
    import av  # here, not at import: OpenCV must load before PyAV in one process (their X libraries clash)

    try:
        container = av.open(str(path))
    except (av.FFmpegError, OSError, ValueError) as err:
        raise VjError(f"{path}: cannot be opened as video ({err}); expected {EXPECTED}") from err
    if not container.streams.video:
        container.close()
        raise VjError(f"{path}: has no video stream; expected {EXPECTED}")
    return container


def probe(path: str | Path) -> VideoInfo:
    """The size, rate and codec of the first video stream (opens and closes the file)."""
    p = _checked_path(path)
    container = _open(p)
    try:
        return _info(p, container.streams.video[0])
    finally:
        container.close()


def _checked_path(path: str | Path) -> Path:
    p = Path(path)
    if not p.exists():
        raise VjError(f"{path}: no such file; expected {EXPECTED}")
    if not p.is_file():
        raise VjError(f"{path}: is not a file; expected {EXPECTED}")
    return p


def _info(path: Path, stream: Any) -> VideoInfo:
    rate = stream.average_rate
    return VideoInfo(path, int(stream.codec_context.width), int(stream.codec_context.height),
                     float(rate) if rate else None, str(stream.codec_context.name), int(stream.frames) or None)


@dataclass(frozen=True, slots=True)
class DecodedFrame:
    rgb: np.ndarray  # HxWx3 uint8
    time_s: float | None  # its presentation time; None when the file gives none


def rgb_frames(path: str | Path) -> Iterator[DecodedFrame]:
    """Every picture of the first video stream, in order, as RGB with its presentation time."""
    import av

    p = _checked_path(path)
    container = _open(p)
    try:
        stream = container.streams.video[0]
        stream.codec_context.thread_type = "NONE"
        stream.codec_context.thread_count = 1
        to_rgb = av.video.reformatter.VideoReformatter()
        try:
            for frame in container.decode(stream):
                # threads=1: FFmpeg's scaler would otherwise start a worker per core for the colour conversion
                rgb = to_rgb.reformat(frame, format="rgb24", threads=1).to_ndarray()
                yield DecodedFrame(rgb, None if frame.time is None else float(frame.time))
        except (av.FFmpegError, ValueError) as err:
            raise VjError(f"{p}: decoding failed ({err}); expected {EXPECTED}") from err
    finally:
        container.close()
