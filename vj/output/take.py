"""A live take: the paced video recording plus its control timeline, switched on and off live.

`--record FILE`, the OSC address `/vj/record` and the preview's r key all end up here:
`start()`, `stop()` and `toggle()` are safe to call from any thread. The take is a
permanent sink of the fan-out; while it is off, `offer` costs one attribute read.

While recording, the video runs at the output rate like the virtual camera (`PacedOutput`:
newest frame each tick, the last one again when the engine is slower, stale ones dropped),
so the file plays back in real time whatever the generation speed. Encoding happens on
the pacing thread, never on the render thread; a tick missed because the encoder was late
is counted as a drop and leaves a gap in the timestamps (the file stays in sync with the
clock). The control timeline gets every rendered frame (it is what replay needs).

Each start opens a new pair of files: with `--record FILE` the first take uses that name
and later ones add `-2`, `-3`...; without it each take is named after the preset and the
time it started. A change of frame size mid-take closes the file and continues in the
next one (a video stream cannot change size).

A take stopped before its first output tick was encoded (record toggled on and off at once)
leaves no files: a timeline never names a video that was not written.

A take that cannot be written (the folder vanished, the disk is full) ends itself: the
error is logged once, the status line says `REC FAILED`, `failures` keeps it for the exit
status, and the show goes on. Files are finished off the render thread.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections import deque
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from vj.config import PresetConfig
from vj.frames import Frame
from vj.output.pacing import Clock, PacedOutput
from vj.output.recorder import VideoRecorder
from vj.output.timeline import TimelineWriter, make_header, timeline_path_for
from vj.prompt_mix import mix_to_json

log = logging.getLogger(__name__)

AUDIO_QUEUE_BLOCKS = 512  # captured blocks waiting for the next video tick (seconds of sound at any block size)
AUDIO_SNAP_S = 0.05  # a block this close to where the last one ended continues it (capture jitter, not a gap)


def default_take_path(preset: PresetConfig, directory: Path = Path("."), now: float | None = None) -> Path:
    """Where /vj/record or the preview key records when no --record FILE was given: the take's start time."""
    stamp = time.strftime("%Y%m%d-%H%M%S", time.localtime(now))
    return directory / f"vj-{preset.name.replace(' ', '_').replace('/', '_')}-{stamp}.mkv"


@dataclass(eq=False)
class _TakeFiles:
    """One take's writers; the paced thread touches only its own take's files."""

    path: Path
    recorder: VideoRecorder
    timeline: TimelineWriter
    paced: PacedOutput | None = None
    audio: deque[tuple[np.ndarray, float]] = field(default_factory=lambda: deque(maxlen=AUDIO_QUEUE_BLOCKS))
    first_tick: int | None = None  # the video's first and last ticks (the end line: replay length)
    last_tick: int | None = None
    failure: str = ""


class LiveTake:
    """Video + control timeline of a live show, started and stopped at any time."""

    def __init__(self, path: str | Path | None, fps: float, preset: Callable[[], PresetConfig], *,
                 live_state: Callable[[], Mapping[str, Any]] | None = None,
                 blacked_out: Callable[[], bool] | None = None,
                 codec: str = "libx264", crf: int = 20, encoder_preset: str = "veryfast",
                 directory: Path = Path("."), clock: Clock = time.monotonic, wall_clock: Clock = time.time,
                 wait: Callable[[threading.Event, float], object] | None = None,
                 audio_format: tuple[int, int] | None = None) -> None:
        """`path` None: each take gets a time-stamped name in `directory`.

        `live_state` and `blacked_out` say what a take started mid-show starts from (the live overrides, and
        whether the outputs are blacked out), so its replay starts there too.
        `audio_format` (rate, channels): each file also gets a sound stream, fed by `feed_audio`
        with blocks stamped on `clock`, the clock the video ticks are on.
        """
        self.audio_format = audio_format
        self.base_path = Path(path) if path is not None else None
        self.directory = directory
        self.fps = float(fps)
        self._preset = preset
        self._live_state = live_state or (lambda: {})
        self._blacked_out = blacked_out or (lambda: False)
        self.codec, self.crf, self.encoder_preset = codec, crf, encoder_preset
        self._clock = clock
        self._wall_clock = wall_clock
        self._wait = wait
        self._lock = threading.Lock()
        self._recording = False
        self._files: _TakeFiles | None = None
        # Takes taken off the fan-out whose files are not finished yet, whichever thread finishes them (an OSC
        # stop, a resize's closer, a failed take's): close() waits for all of them, so no file is left half written.
        self._finishing = 0
        self._all_finished = threading.Condition(self._lock)
        self._first_frame = True
        self._takes = 0
        self.paths: list[Path] = []
        self.failures: list[str] = []  # "take.mkv: OSError: ..." per take that could not be written
        self.dropped = 0  # output ticks the encoder missed (it fell behind), over all takes
        self.frames_written = 0
        self.errors = 0

    # ------------------------------------------------------------------ control API
    @property
    def is_recording(self) -> bool:
        return self._recording

    @property
    def recorder(self) -> VideoRecorder | None:
        """The current take's video recorder (None while idle or before its first frame)."""
        files = self._files
        return files.recorder if files is not None else None

    @property
    def failed(self) -> bool:
        return bool(self.failures)

    def start(self) -> None:
        """Session-output `start`: recording begins only through `start_recording`/`toggle`."""

    def start_recording(self) -> Path | None:
        """Open a new video + timeline pair; returns the video path (None if already recording)."""
        with self._lock:
            if self._recording:
                return None
            self._first_frame = True
            self._recording = True
            path = self._next_path()
            self.paths.append(path)
            log.info("recording armed: %s (+ %s)", path, timeline_path_for(path).name)
            return path

    def stop_recording(self) -> None:
        with self._lock:
            if not self._recording:
                return
            self._recording = False
            files, self._files = self._files, None
            if files is not None:
                self._finishing += 1
        if files is not None:  # finished outside the lock: the render thread's offer never waits on it
            self._finish(files, "stopped")

    def set_recording(self, on: bool) -> bool:
        """`/vj/record 1|0`: returns True when now recording."""
        if on:
            self.start_recording()
        else:
            self.stop_recording()
        return self._recording

    def toggle(self) -> bool:
        """Start or stop; returns True when now recording (the preview key, /vj/record)."""
        if self._recording:
            self.stop_recording()
            return False
        self.start_recording()
        return True

    def close(self, timeout_s: float = 30.0) -> None:
        """Stop recording and wait until every take's files are finished, on whatever thread they are."""
        self.stop_recording()
        with self._all_finished:
            if not self._all_finished.wait_for(lambda: self._finishing == 0, timeout_s):
                log.error("%d take(s) still being finished after %.0f s", self._finishing, timeout_s)

    # ------------------------------------------------------------------ FrameSink
    def offer(self, frame: Frame) -> None:
        if not self._recording:
            return
        retired: _TakeFiles | None = None
        with self._lock:
            if not self._recording:
                return
            if self._first_frame:
                self._open_locked(frame)
            elif self._files is not None and video_size(frame) != (self._files.recorder.width,
                                                                    self._files.recorder.height):
                log.info("frame size changed to %dx%d mid-take: continuing in a new file", *video_size(frame))
                retired, self._files = self._files, None
                self._finishing += 1
                self.paths.append(self._next_path())
                self._open_locked(frame)
            files = self._files
        if retired is not None:
            self._finish_in_background(retired, "resized")
        if files is not None and files.paced is not None:
            start = files.paced.start_s
            # When the frame went live, on the video's tick grid: what replay repeats or skips by.
            tick = None if start is None else (self._clock() - start) * self.fps
            files.timeline.offer(frame, tick)
            files.paced.offer(frame)

    def feed_audio(self, samples: np.ndarray, t: float) -> None:
        """A captured sound block whose first sample was at `t` on the take's clock (any thread)."""
        files = self._files
        if files is not None and self.audio_format is not None:
            files.audio.append((samples, t))

    def _write_audio(self, files: _TakeFiles, start_s: float) -> None:
        """On the paced thread: mux the blocks captured so far at their place on the video's clock."""
        rate = files.recorder.audio_format_rate
        while files.audio:
            samples, t = files.audio.popleft()
            pts = round((t - start_s) * rate)
            if pts + len(samples) <= 0:
                continue  # all of it before the video's first tick
            if pts < 0:
                samples, pts = samples[-pts:], 0
            written = files.recorder.audio_next_pts
            if written and abs(pts - written) <= AUDIO_SNAP_S * rate:
                pts = written
            files.recorder.write_audio_now(samples, pts)

    def status(self) -> str:
        files = self._files
        if not self._recording:
            if self.failures:
                return f"REC FAILED {_short(self.failures[-1], 60)}"
            return f"rec off ({len(self.paths)} takes)" if self.paths else ""
        if files is None:
            return f"REC {self.paths[-1].name}: waiting for a frame"
        counters = files.paced.counters if files.paced else None
        drops = self.dropped + (counters.skipped_ticks if counters else 0)
        late = f", errors {counters.errors}" if counters and counters.errors else ""
        return f"REC {files.path.name}: {files.recorder.frames_written} frames, dropped {drops}{late}"

    # ------------------------------------------------------------------ internals
    def _next_path(self) -> Path:
        self._takes += 1
        if self.base_path is None:
            path = default_take_path(self._preset(), self.directory, self._wall_clock())
            n = 1
            candidate = path
            while candidate in self.paths or candidate.exists():  # two takes in one second
                n += 1
                candidate = path.with_name(f"{path.stem}-{n}{path.suffix}")
            return candidate
        if self._takes == 1:
            return self.base_path
        return self.base_path.with_name(f"{self.base_path.stem}-{self._takes}{self.base_path.suffix}")

    def _open_locked(self, frame: Frame) -> None:
        """Open the files at the first frame, so size and start frame are known."""
        self._first_frame = False
        path = self.paths[-1]
        preset = self._preset()
        state: dict[str, Any] = {}
        if frame.index > 0:  # a take started mid-show replays from the state at this frame
            state = {"live": dict(self._live_state()), "values": dict(frame.snapshot.values),
                     "prompts": mix_to_json(frame.snapshot.prompts)}
            if self._blacked_out():
                state["blackout"] = True
        render_width, render_height = frame.render_size or (frame.width, frame.height)
        render = dataclasses.replace(preset.render, width=render_width, height=render_height)
        width, height = video_size(frame)
        extra: dict[str, Any] = {"output_fps": self.fps, "codec": self.codec, "crf": self.crf}
        if (width, height) != (render_width, render_height):
            extra["video_size"] = [width, height]  # the video is at the output size; a replay renders the render's
        header = make_header(preset.replace(render=render), start_frame=frame.index, state=state, video=path.name,
                             extra=extra)
        recorder: VideoRecorder | None = None
        try:
            recorder = VideoRecorder(path, width=width, height=height, fps=self.fps, live=True,
                                     codec=self.codec, crf=self.crf, preset=self.encoder_preset,
                                     audio_format=self.audio_format)
            recorder.start()
            timeline = TimelineWriter(timeline_path_for(path), header)
        except Exception as err:  # a recording must never stop the show
            self.errors += 1
            self._recording = False
            self.failures.append(f"{path.name}: {type(err).__name__}: {err}")
            log.error("recording to %s could not start (%s: %s); the show goes on without it", path,
                      type(err).__name__, err)
            if recorder is not None:
                recorder.close()
            return
        files = _TakeFiles(path, recorder, timeline)
        timeline.start()
        files.paced = PacedOutput("vj-record", self.fps, lambda f, fresh: self._encode(files, f, fresh),
                                  clock=self._clock, wait=self._wait)
        files.paced.start()
        self._files = files
        log.info("recording %s at %g fps (%dx%d, %s crf %d %s)", path, self.fps, width, height,
                 self.codec, self.crf, self.encoder_preset)

    def _encode(self, files: _TakeFiles, frame: Frame, fresh: bool) -> None:
        """One output tick, on the paced thread: encode, and note the video's first and last ticks."""
        paced = files.paced
        if paced is None or files.failure:
            return
        try:
            files.recorder.write_now(video_picture(frame), pts=paced.tick)
            if self.audio_format is not None and paced.start_s is not None:
                self._write_audio(files, paced.start_s)
        except Exception as err:  # disk full, folder gone: this take ends, the show goes on
            self._take_failed(files, err)
            return
        if files.first_tick is None:
            files.first_tick = paced.tick
        files.last_tick = paced.tick

    def _take_failed(self, files: _TakeFiles, err: BaseException) -> None:
        files.failure = f"{type(err).__name__}: {err}"
        log.error("recording %s failed: %s; the take is closed and the show goes on without it "
                  "(start a new take to record again)", files.path, files.failure)
        with self._lock:
            if self._files is not files:
                return
            self._files = None
            # Counted before the take reads as stopped: whoever sees is_recording turn False and calls close()
            # must wait for it. Not finished here: this is the paced thread being stopped.
            self._finishing += 1
            self._finish_in_background(files, "failed")
            self._recording = False

    def _finish_in_background(self, files: _TakeFiles, reason: str) -> None:
        threading.Thread(target=self._finish, args=(files, reason), name="vj-record-close", daemon=True).start()

    def _finish(self, files: _TakeFiles, reason: str) -> None:
        """Finish a take counted in `_finishing` (on any thread); close() waits for it."""
        try:
            self._finish_files(files, reason)
        finally:
            with self._all_finished:
                self._finishing -= 1
                self._all_finished.notify_all()

    def _finish_files(self, files: _TakeFiles, reason: str) -> None:
        if files.paced is not None:
            files.paced.stop()
            counters = files.paced.counters
            self.dropped += counters.skipped_ticks  # stale frames are expected when the engine is faster
            self.errors += counters.errors
        files.recorder.close()
        self.frames_written += files.recorder.frames_written
        log.info("take %s: %d frames", files.path, files.recorder.frames_written)
        ticks = {"first_tick": files.first_tick, "last_tick": files.last_tick}
        files.timeline.close(reason, extra=ticks if files.last_tick is not None else None)
        if files.recorder.frames_written == 0:
            _discard_empty_take(files)
        failure = files.failure or files.recorder.failure
        if not failure and files.timeline.errors:
            failure = f"{files.timeline.errors} timeline lines not written to {files.timeline.path.name}"
        if failure:
            self.errors += 1
            self.failures.append(f"{files.path.name}: {failure}")


def video_picture(frame: Frame) -> np.ndarray:
    """What the take's video shows of a frame: the render-size picture when it rode along, else the output's."""
    return frame.render_image if frame.render_image is not None else frame.image


def video_size(frame: Frame) -> tuple[int, int]:
    height, width = video_picture(frame).shape[:2]
    return int(width), int(height)


def _discard_empty_take(files: _TakeFiles) -> None:
    """A take stopped before its first output tick was encoded has no video: its timeline, which names that
    video, goes too (a timeline never names a video that was not written)."""
    for path in (files.timeline.path, files.path):
        try:
            path.unlink(missing_ok=True)
        except OSError as err:
            log.warning("take %s had no frame, but %s could not be removed (%s)", files.path.name, path, err)
    log.info("take %s stopped before its first frame was recorded: no files kept", files.path.name)


def _short(text: str, limit: int) -> str:
    line = text.splitlines()[0] if text else ""
    return line if len(line) <= limit else line[:limit - 1] + "\u2026"
