"""The control timeline: every parameter and prompt change of a live take, as JSON Lines.

It sits beside the video with the same name and the extension `.jsonl`, and is written as
it happens (one flushed line per frame), so a killed process keeps everything up to its
last frame. Format (version 1), one JSON object per line:

    {"type": "header", "version": 1, "preset": {...}, "model": "...", "seed": 42,
     "width": 512, "height": 512, "fps": 24.0, "start_frame": 0, "state": {...}, ...}
    {"type": "frame", "i": 0, "t": 0.0417, "dt": 0.0417, "h": "1a2b3c4d",
     "events": [{"kind": "set", "name": "zoom", "value": 1.02, "source": "osc"}]}
    ...
    ...
    {"type": "end", "frames": 1234, "reason": "stopped", "first_tick": 1, "last_tick": 3702}
                                                                          (absent after a crash)

- `preset` is the full preset as data (the same tables as a preset TOML file).
- `state` is what the store held when the timeline started (live overrides, prompt mix):
  empty for a take recorded from the first frame; a take started mid-show replays from it.
- Each frame line carries the clock of that frame (`t` since the first frame, `dt` since
  the previous one; live smoothing and motion use the real elapsed time, so replay needs
  both) and the `ControlEvent`s that landed in it, in order. `events` is left out when
  there were none. Floats are written with `repr`, so they read back bit for bit.
- `ot` (in a live take's frame lines) is when the frame was published, in ticks of the
  recorded video (`output_fps` in the header) since the take's start: tick k showed the
  last frame with `ot` <= k. `first_tick`/`last_tick` in the end line are the video's
  first and last ticks, so a replay can last as long as the live take, tick for tick.
- `h` is a CRC-32 of the frame's smoothed parameter values and prompt mix: replay checks
  it frame by frame and says where it first diverged (an unrecorded LFO, for example).

The writer formats and writes on its own thread; `offer` only hands over a reference to
the immutable snapshot, so the render thread never waits on the disk.
"""

from __future__ import annotations

import dataclasses
import datetime as _dt
import json
import logging
import os
import queue
import threading
import time
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from types import MappingProxyType
from typing import Any

import tomli_w

from vj.config import PresetConfig, parse_preset
from vj.errors import ConfigError
from vj.frames import Frame
from vj.prompt_mix import mix_to_json
from vj.registry import REGISTRY
from vj.store import ControlEvent, ParamSnapshot

log = logging.getLogger(__name__)

TIMELINE_VERSION = 1
TIMELINE_SUFFIX = ".jsonl"


def timeline_path_for(video_path: str | os.PathLike[str]) -> Path:
    """`take.mkv` -> `take.jsonl` (same folder, same name)."""
    return Path(video_path).with_suffix(TIMELINE_SUFFIX)


def _plain(value: Any) -> Any:
    """Frozen config / snapshot values -> JSON-able builtins."""
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        return {f.name: _plain(getattr(value, f.name)) for f in dataclasses.fields(value)
                if f.name != "source_path"}
    if isinstance(value, Mapping | MappingProxyType):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    return value


def preset_to_data(preset: PresetConfig) -> dict[str, Any]:
    """The whole preset as nested tables, readable back with `preset_from_data`."""
    data: dict[str, Any] = _plain(preset)
    return data


def preset_from_data(data: Mapping[str, Any], source: str = "timeline header") -> PresetConfig:
    """Rebuild a preset through the normal preset parser, so it is validated the same way."""
    if not isinstance(data, Mapping):
        raise ConfigError(source, "preset", "a table of preset keys", data)
    return parse_preset(tomli_w.dumps(dict(data)), source)


def snapshot_digest(snapshot: ParamSnapshot) -> str:
    """CRC-32 of the values and prompt mix of one frame (stable across processes)."""
    payload = json.dumps([sorted(snapshot.values.items()), mix_to_json(snapshot.prompts)], default=_plain)
    return f"{zlib.crc32(payload.encode()):08x}"


def event_to_json(event: ControlEvent) -> dict[str, Any]:
    return {"kind": event.kind, "name": event.name, "value": _plain(event.value), "source": event.source}


def event_from_json(data: Mapping[str, Any]) -> ControlEvent:
    return ControlEvent(str(data["kind"]), str(data.get("name", "")), data.get("value"), str(data.get("source", "")))


def frame_line(snapshot: ParamSnapshot, output_tick: float | None = None) -> dict[str, Any]:
    line: dict[str, Any] = {"type": "frame", "i": snapshot.frame_index, "t": snapshot.time_s, "dt": snapshot.dt_s,
                            "h": snapshot_digest(snapshot)}
    if output_tick is not None:
        line["ot"] = round(output_tick, 4)
    if snapshot.events:
        line["events"] = [event_to_json(e) for e in snapshot.events]
    return line


def make_header(preset: PresetConfig, *, start_frame: int = 0, state: Mapping[str, Any] | None = None,
                video: str | None = None, extra: Mapping[str, Any] | None = None) -> dict[str, Any]:
    seed = preset.params.get("seed", REGISTRY["seed"].default)
    header: dict[str, Any] = {
        "type": "header", "version": TIMELINE_VERSION,
        "created": _dt.datetime.now(_dt.UTC).isoformat(timespec="seconds"),
        "preset": preset_to_data(preset), "model": preset.model.source, "seed": seed,
        "width": preset.render.width, "height": preset.render.height, "fps": preset.render.fps,
        "start_frame": start_frame, "state": dict(state or {}), "video": video,
    }
    header.update(extra or {})
    return header


class TimelineWriter:
    """Writes the timeline on its own thread; `offer(frame)` is the FrameSink entry point.

    Every frame's snapshot is kept (an unbounded queue of references: the lines are tiny
    and replay needs all of them). Each line is flushed; `fsync_every_s` bounds what a
    power cut can lose.
    """

    def __init__(self, path: str | os.PathLike[str], header: Mapping[str, Any], *,
                 fsync_every_s: float = 1.0) -> None:
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._file = self.path.open("w", encoding="utf-8")
        self._write(dict(header))
        self._queue: queue.SimpleQueue[tuple[ParamSnapshot, float | None] | None] = queue.SimpleQueue()
        self._fsync_every_s = fsync_every_s
        self._last_sync = time.monotonic()
        self.frames = 0
        self.errors = 0
        self._closed = False
        self._thread = threading.Thread(target=self._run, name="vj-timeline", daemon=True)

    def start(self) -> None:
        if not self._thread.is_alive() and not self._closed:
            self._thread.start()

    def offer(self, frame: Frame, output_tick: float | None = None) -> None:
        """`output_tick`: when the frame was published, in ticks of the take's video (`ot`)."""
        self.offer_snapshot(frame.snapshot, output_tick)

    def offer_snapshot(self, snapshot: ParamSnapshot, output_tick: float | None = None) -> None:
        if not self._closed:
            self._queue.put((snapshot, output_tick))

    def status(self) -> str:
        return f"timeline {self.path.name}: {self.frames} frames, {self.errors} errors"

    def close(self, reason: str = "stopped", timeout_s: float = 5.0, extra: Mapping[str, Any] | None = None) -> None:
        if self._closed:
            return
        self._closed = True
        if self._thread.is_alive():
            self._queue.put(None)
            self._thread.join(timeout_s)
        else:  # never started: write what was queued on this thread
            self._drain()
        try:
            self._write({"type": "end", "frames": self.frames, "reason": reason, **(extra or {})})
            os.fsync(self._file.fileno())
        except (OSError, ValueError):
            log.exception("closing the timeline %s failed", self.path)
        self._file.close()

    def _drain(self) -> None:
        while True:
            try:
                item = self._queue.get_nowait()
            except queue.Empty:
                return
            if item is not None:
                self._write_snapshot(*item)

    def _run(self) -> None:
        while True:
            item = self._queue.get()
            if item is None:
                self._drain()
                return
            self._write_snapshot(*item)

    def _write_snapshot(self, snapshot: ParamSnapshot, output_tick: float | None = None) -> None:
        try:
            self._write(frame_line(snapshot, output_tick))
            self.frames += 1
            now = time.monotonic()
            if now - self._last_sync >= self._fsync_every_s:
                os.fsync(self._file.fileno())
                self._last_sync = now
        except (OSError, ValueError, TypeError):
            self.errors += 1
            log.exception("timeline %s: writing frame %d failed (error %d)", self.path, snapshot.frame_index,
                          self.errors)

    def _write(self, obj: Mapping[str, Any]) -> None:
        self._file.write(json.dumps(obj, default=_plain, ensure_ascii=False) + "\n")
        self._file.flush()


@dataclass(frozen=True, slots=True)
class TimelineFrame:
    index: int
    time_s: float
    dt_s: float
    digest: str
    events: tuple[ControlEvent, ...] = ()
    output_tick: float | None = None  # `ot`: when it was published, in ticks of the take's video


@dataclass(frozen=True, slots=True)
class Timeline:
    path: Path
    header: Mapping[str, Any]
    frames: tuple[TimelineFrame, ...]
    complete: bool  # an "end" line was found (False after a crash: still replayable)
    skipped_tail: bool = False  # a half-written last line was ignored
    extra: Mapping[str, Any] = field(default_factory=dict)
    first_tick: int | None = None  # the recorded video's first and last ticks (from the end line)
    last_tick: int | None = None

    @property
    def preset(self) -> PresetConfig:
        return preset_from_data(self.header["preset"], f"{self.path} header")

    @property
    def start_frame(self) -> int:
        return int(self.header.get("start_frame", 0))


def _lines(path: Path) -> Iterator[tuple[int, str]]:
    with path.open(encoding="utf-8") as f:
        yield from enumerate(f, 1)


def read_timeline(path: str | os.PathLike[str]) -> Timeline:
    """Parse a timeline; a half-written last line (killed mid-write) is dropped, not fatal."""
    path = Path(path)
    if not path.is_file():
        raise ConfigError(str(path), "", "a control timeline (.jsonl) written by `vj run --record`", "no such file")
    header: dict[str, Any] | None = None
    frames: list[TimelineFrame] = []
    complete = False
    skipped_tail = False
    ticks: dict[str, int] = {}
    raw = list(_lines(path))
    for pos, (number, line) in enumerate(raw):
        if not line.strip():
            continue
        try:
            obj = json.loads(line)
        except json.JSONDecodeError as err:
            if pos == len(raw) - 1 and not line.endswith("\n"):
                skipped_tail = True  # the process died while writing this line
                log.warning("%s: ignoring the half-written last line %d", path, number)
                break
            raise ConfigError(str(path), f"line {number}", "one JSON object", str(err)) from err
        kind = obj.get("type") if isinstance(obj, dict) else None
        if header is None:
            if kind != "header":
                raise ConfigError(str(path), f"line {number}", 'a {"type": "header"} line first', line[:80])
            if obj.get("version") != TIMELINE_VERSION:
                raise ConfigError(str(path), "version", f"timeline version {TIMELINE_VERSION}", obj.get("version"))
            header = obj
            continue
        if kind == "frame":
            try:
                events = tuple(event_from_json(e) for e in obj.get("events", ()))
                ot = obj.get("ot")
                frames.append(TimelineFrame(int(obj["i"]), float(obj["t"]), float(obj["dt"]), str(obj.get("h", "")),
                                            events, None if ot is None else float(ot)))
            except (KeyError, TypeError, ValueError) as err:
                raise ConfigError(str(path), f"line {number}", "a frame line with i, t, dt", line[:80]) from err
        elif kind == "end":
            complete = True
            ticks = {k: obj[k] for k in ("first_tick", "last_tick") if isinstance(obj.get(k), int)}
        else:
            raise ConfigError(str(path), f"line {number}", "type header, frame or end", kind)
    if header is None:
        raise ConfigError(str(path), "line 1", "a timeline header", "an empty file")
    for previous, current in zip(frames, frames[1:], strict=False):
        if current.index != previous.index + 1:
            raise ConfigError(str(path), f"frame {current.index}", f"frame {previous.index + 1} (frames in order)",
                              current.index)
    return Timeline(path, header, tuple(frames), complete, skipped_tail, first_tick=ticks.get("first_tick"),
                    last_tick=ticks.get("last_tick"))
