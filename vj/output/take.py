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

Each start opens a new pair of files: the first take uses the given name, later ones add
`-2`, `-3`... A change of frame size mid-take closes the file and continues in the next
one (a video stream cannot change size).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from vj.config import PresetConfig
from vj.frames import Frame
from vj.output.pacing import Clock, PacedOutput
from vj.output.recorder import VideoRecorder
from vj.output.timeline import TimelineWriter, make_header, timeline_path_for
from vj.prompt_mix import mix_to_json

log = logging.getLogger(__name__)


def default_take_path(preset: PresetConfig, directory: Path = Path(".")) -> Path:
    """Where /vj/record or the preview key records when no --record FILE was given."""
    stamp = time.strftime("%Y%m%d-%H%M%S")
    return directory / f"vj-{preset.name.replace(' ', '_').replace('/', '_')}-{stamp}.mkv"


class LiveTake:
    """Video + control timeline of a live show, started and stopped at any time."""

    def __init__(self, path: str | Path, fps: float, preset: Callable[[], PresetConfig], *,
                 live_state: Callable[[], Mapping[str, Any]] | None = None,
                 codec: str = "libx264", crf: int = 20, encoder_preset: str = "veryfast",
                 clock: Clock = time.monotonic,
                 wait: Callable[[threading.Event, float], object] | None = None) -> None:
        self.base_path = Path(path)
        self.fps = float(fps)
        self._preset = preset
        self._live_state = live_state or (lambda: {})
        self.codec, self.crf, self.encoder_preset = codec, crf, encoder_preset
        self._clock = clock
        self._wait = wait
        self._lock = threading.Lock()
        self._recording = False
        self._recorder: VideoRecorder | None = None
        self._timeline: TimelineWriter | None = None
        self._paced: PacedOutput | None = None
        self._first_frame = True
        self._takes = 0
        self.paths: list[Path] = []
        self.dropped = 0  # output ticks the encoder missed (it fell behind), over all takes
        self.frames_written = 0
        self.errors = 0

    # ------------------------------------------------------------------ control API
    @property
    def is_recording(self) -> bool:
        return self._recording

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
            self._finish_locked("stopped")

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

    def close(self) -> None:
        self.stop_recording()

    # ------------------------------------------------------------------ FrameSink
    def offer(self, frame: Frame) -> None:
        if not self._recording:
            return
        with self._lock:
            if not self._recording:
                return
            if self._first_frame:
                self._open_locked(frame)
            elif self._recorder is not None and (frame.width, frame.height) != (self._recorder.width,
                                                                                 self._recorder.height):
                log.info("frame size changed to %dx%d mid-take: continuing in a new file", frame.width, frame.height)
                self._finish_locked("resized")
                self.paths.append(self._next_path())
                self._open_locked(frame)
            timeline, paced = self._timeline, self._paced
        if timeline is not None:
            timeline.offer(frame)
        if paced is not None:
            paced.offer(frame)

    def status(self) -> str:
        if not self._recording:
            return f"rec off ({len(self.paths)} takes)" if self.paths else ""
        paced = self._paced
        counters = paced.counters if paced else None
        written = self._recorder.frames_written if self._recorder else 0
        drops = self.dropped + self._current_drops()
        late = f", errors {counters.errors}" if counters and counters.errors else ""
        return f"REC {self.paths[-1].name}: {written} frames, dropped {drops}{late}"

    # ------------------------------------------------------------------ internals
    def _next_path(self) -> Path:
        self._takes += 1
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
        render = dataclasses.replace(preset.render, width=frame.width, height=frame.height)
        header = make_header(preset.replace(render=render), start_frame=frame.index, state=state, video=path.name,
            extra={"output_fps": self.fps, "codec": self.codec, "crf": self.crf})
        try:
            recorder = VideoRecorder(path, width=frame.width, height=frame.height, fps=self.fps, live=True,
                                     codec=self.codec, crf=self.crf, preset=self.encoder_preset)
            recorder.start()
        except Exception:
            self.errors += 1
            self._recording = False
            log.exception("recording to %s could not start; the show goes on without it", path)
            return
        self._recorder = recorder
        self._timeline = TimelineWriter(timeline_path_for(path), header)
        self._timeline.start()
        self._paced = PacedOutput("vj-record", self.fps, self._encode, clock=self._clock, wait=self._wait)
        self._paced.start()
        log.info("recording %s at %g fps (%dx%d, %s crf %d %s)", path, self.fps, frame.width, frame.height,
                 self.codec, self.crf, self.encoder_preset)

    def _encode(self, frame: Frame, fresh: bool) -> None:
        recorder, paced = self._recorder, self._paced
        if recorder is not None and paced is not None:
            recorder.write_now(frame.image, pts=paced.tick)

    def _current_drops(self) -> int:
        if self._paced is None:
            return 0
        return self._paced.counters.skipped_ticks  # stale frames are expected when the engine is faster

    def _finish_locked(self, reason: str) -> None:
        if self._paced is not None:
            self._paced.stop()
            self.dropped += self._current_drops()
            self.errors += self._paced.counters.errors
            self._paced = None
        if self._recorder is not None:
            self._recorder.close()
            self.frames_written += self._recorder.frames_written
            log.info("take %s: %d frames", self._recorder.path, self._recorder.frames_written)
            self._recorder = None
        if self._timeline is not None:
            self._timeline.close(reason)
            self._timeline = None
