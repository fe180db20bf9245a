"""Video recording with PyAV on its own thread, behind a bounded frame queue.

Live, the queue drops its oldest frame when the encoder falls behind (counted), so the
render loop never waits on the disk. Offline (`live=False`), the queue blocks instead:
back-pressure, and every frame reaches the file.

The containers are chosen to survive a crash: Matroska (.mkv) writes self-contained
clusters, and .mp4 is written fragmented (a moof per keyframe, with an empty moov up
front), so a killed process leaves a playable file up to the last keyframe. Keyframes
come every second, so at most about a second is lost.
"""

from __future__ import annotations

import logging
import threading
from fractions import Fraction
from pathlib import Path
from typing import TYPE_CHECKING, Any

import av
import numpy as np

from vj.errors import VjError
from vj.frames import Frame, FrameQueue
from vj.output.audio_mux import AudioStreamWriter
from vj.output.paths import CONTAINERS

if TYPE_CHECKING:  # a track is only read here; decoding it is vj.control.audio's job
    from vj.control.audio.files import AudioTrack

log = logging.getLogger(__name__)

FRAGMENTED_MP4 = {"movflags": "frag_keyframe+empty_moov+default_base_moof"}
# Without these a SIGKILL loses everything still in libavformat's 32 kB I/O buffer, and
# Matroska keeps a whole cluster (5 s by default) in memory: flush every packet, close a
# cluster every half second. (tests/integration/output/test_recording_crash.py kills a recording.)
CRASH_SAFE = {"flush_packets": "1"}
MATROSKA_CLUSTERS = {"cluster_time_limit": "500"}


class RecorderError(VjError):
    """The recording could not be started (bad path, codec, size)."""


def _rate(fps: float) -> Fraction:
    return Fraction(fps).limit_denominator(1001)


class VideoRecorder:
    """Encodes published frames to a video file on a named writer thread.

    Sound, optional: `audio_track` (offline) is muxed frame-exactly, each video frame followed by
    the samples under it, and stops with the picture; `audio_format` (rate, channels) opens an
    audio stream a live take fills with `write_audio_now`.
    """

    def __init__(self, path: str | Path, *, width: int, height: int, fps: float, live: bool = True,
                 codec: str = "libx264", crf: int = 20, preset: str = "veryfast", queue_size: int = 8,
                 audio_track: AudioTrack | None = None, audio_format: tuple[int, int] | None = None) -> None:
        self.path = Path(path)
        if self.path.suffix.lower() not in CONTAINERS:
            raise RecorderError(f"recording {self.path}: expected a .mkv, .mp4 or .mov file name")
        if width % 2 or height % 2:
            raise RecorderError(f"recording {self.path}: H.264 needs even sizes, found {width}x{height}")
        self.width, self.height, self.fps = width, height, fps
        self.codec, self.crf, self.preset = codec, crf, preset
        self.live = live
        self.queue = FrameQueue(queue_size if live else 4, blocking=not live, name=f"recorder:{self.path.name}")
        self.frames_written = 0
        self.errors = 0
        self.failure = ""  # the first write error, one line: a failed file is reported, not hidden
        self._thread: threading.Thread | None = None
        self._container: Any = None
        self._stream: Any = None
        self.audio_track = audio_track
        self._audio_format = (audio_track.rate, audio_track.channels) if audio_track is not None else audio_format
        self._audio: AudioStreamWriter | None = None

    # ------------------------------------------------------------------ lifecycle
    def start(self) -> None:
        self._open()
        self._thread = threading.Thread(target=self._write_loop, name=f"recorder:{self.path.name}", daemon=True)
        self._thread.start()
        log.info("recording to %s (%s, crf %d, %s)", self.path, self.codec, self.crf, self.preset)

    def _open(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fmt = CONTAINERS[self.path.suffix.lower()]
        options = {**CRASH_SAFE, **(FRAGMENTED_MP4 if fmt in ("mp4", "mov") else MATROSKA_CLUSTERS)}
        try:
            self._container = av.open(str(self.path), mode="w", format=fmt, options=options)
            stream = self._container.add_stream(self.codec, rate=_rate(self.fps))
            if self._audio_format is not None:
                self._audio = AudioStreamWriter(self._container, *self._audio_format)
        except (av.FFmpegError, ValueError, OSError) as err:
            raise RecorderError(f"recording {self.path}: could not open a {fmt} file with codec "
                                f"{self.codec!r}: {err}") from err
        stream.width, stream.height = self.width, self.height
        stream.pix_fmt = "yuv420p"
        stream.codec_context.gop_size = max(1, int(round(self.fps)))  # a keyframe (fragment) a second
        if self.codec in ("libx264", "libx265"):
            stream.codec_context.options = {"crf": str(self.crf), "preset": self.preset}
        self._stream = stream

    def offer(self, frame: Frame) -> None:
        self.queue.offer(frame)

    def close(self, timeout_s: float = 30.0) -> None:
        """Drain the queue, flush the encoder and finish the file."""
        if self._thread is None:
            return
        self.queue.close()
        self._thread.join(timeout_s)
        if self._thread.is_alive():
            log.error("recorder for %s did not finish within %.0f s", self.path, timeout_s)
        self._thread = None

    # ------------------------------------------------------------------ writer thread
    def _encode(self, image: np.ndarray, pts: int | None = None) -> None:
        if image.shape[0] != self.height or image.shape[1] != self.width:
            raise ValueError(f"frame is {image.shape[1]}x{image.shape[0]}, the recording is {self.width}x{self.height}")
        video_frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24")
        video_frame.pts = self.frames_written if pts is None else pts
        for packet in self._stream.encode(video_frame):
            self._container.mux(packet)
        self.frames_written += 1
        if self.audio_track is not None and self._audio is not None:  # the sound under this frame
            start, stop = self.audio_track.frame_bounds(self.frames_written - 1, self.fps)
            part = self.audio_track.samples[start:stop]
            if len(part):
                self._audio.write(part, start)

    def write_audio_now(self, samples: np.ndarray, pts: int) -> None:
        """Live take: a captured block at sample `pts` of the video's clock (its first tick is 0)."""
        if self._audio is not None:
            self._audio.write(samples, pts)

    @property
    def audio_format_rate(self) -> int:
        return self._audio.rate if self._audio is not None else 0

    @property
    def audio_next_pts(self) -> int:
        return self._audio.next_pts if self._audio is not None else 0

    @property
    def audio_samples_written(self) -> int:
        return self._audio.samples_written if self._audio is not None else 0

    def write_now(self, image: np.ndarray, pts: int | None = None) -> None:
        """Encode on the caller's thread: for a paced output that owns its thread (vj.output.take).

        `pts` counts output ticks (1/fps each); a tick the caller skipped leaves a gap, so
        the file stays in step with the clock. It must increase.
        """
        self._encode(image, pts)

    def _write_loop(self) -> None:
        try:
            while True:
                frame = self.queue.get()
                if frame is None:
                    break
                try:
                    self._encode(frame.image)
                except (av.FFmpegError, ValueError, OSError) as err:  # an I/O thread: log, count, carry on
                    self.record_error(err, f"frame {frame.index} not written")
        finally:
            self._finish()

    def record_error(self, err: BaseException, what: str) -> None:
        """Count a write error; only the first is logged (a broken file fails every frame after it)."""
        self.errors += 1
        if not self.failure:
            self.failure = f"{type(err).__name__}: {err}"
            log.error("recording %s: %s (%s); later errors are counted, not logged", self.path, what, self.failure)
        else:
            log.debug("recording %s: %s (%s: %s)", self.path, what, type(err).__name__, err)

    @property
    def failed(self) -> bool:
        return bool(self.failure)

    def _finish(self) -> None:
        try:
            for packet in self._stream.encode(None):
                self._container.mux(packet)
            if self._audio is not None:
                self._audio.finish()
            self._container.close()
        except (av.FFmpegError, ValueError, OSError) as err:
            self.record_error(err, "could not finish the file")
        finally:
            # The encoder's threads (x264's, AAC's) live as long as its Python objects: let them go now,
            # not whenever the garbage collector finds the cycle a finished take sits in.
            self._stream = self._container = None
            if self._audio is not None:
                self._audio.release()
        log.info("recorded %d frames to %s (%d dropped)", self.frames_written, self.path, self.queue.dropped)

    @property
    def dropped(self) -> int:
        return self.queue.dropped

    def status(self) -> str:
        return f"rec {self.frames_written}f drop {self.queue.dropped}"
