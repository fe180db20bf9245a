"""Control timeline: header, per-frame lines, round trip, crash tolerance."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.unit.output_helpers import make_frame
from vj.config import parse_preset
from vj.errors import ConfigError
from vj.output.timeline import (
    TimelineWriter,
    make_header,
    preset_from_data,
    preset_to_data,
    read_timeline,
    snapshot_digest,
    timeline_path_for,
)
from vj.prompt_mix import PromptEntry, PromptMix
from vj.store import ControlEvent, ParamStore

PRESET = parse_preset("""
[preset]
name = "fox"
[model]
source = "tiny"
[render]
width = 64
height = 72
fps = 12.0
[prompts]
mix = [{text = "a red fox", weight = 1.0}, {text = "snow", weight = 0.5}]
negative = "blurry"
[params]
zoom = 1.02
seed = 7
""", "fox.toml")


def test_timeline_sits_beside_the_video() -> None:
    assert timeline_path_for("/shows/take1.mkv") == Path("/shows/take1.jsonl")


def test_preset_round_trips_through_header_data() -> None:
    data = json.loads(json.dumps(preset_to_data(PRESET)))
    assert data["render"] == {"width": 64, "height": 72, "fps": 12.0, "frames": 240, "target_fps": 0.0}
    assert preset_from_data(data) == PRESET


def test_bad_preset_data_is_refused_with_the_key() -> None:
    data = preset_to_data(PRESET)
    data["render"]["width"] = 63
    with pytest.raises(ConfigError, match="render.width"):
        preset_from_data(data)


def test_writer_records_every_frame_with_clock_and_events(tmp_path: Path) -> None:
    path = tmp_path / "take.jsonl"
    writer = TimelineWriter(path, make_header(PRESET, video="take.mkv"))
    writer.start()
    events = (ControlEvent("set", "zoom", 1.05, "osc"), ControlEvent("prompt", "0", "a blue fox", "osc"),
              ControlEvent("prompts", "", {"entries": [["x", 1.0]], "negative": ""}, "preset"))
    for i in range(5):
        writer.offer(make_frame(i, time_s=i * 0.1 + 0.0123456789, events=events if i == 3 else ()))
    writer.close()
    assert writer.frames == 5
    timeline = read_timeline(path)
    assert timeline.complete and not timeline.skipped_tail
    assert timeline.header["model"] == "tiny" and timeline.header["seed"] == 7
    assert (timeline.header["width"], timeline.header["height"], timeline.header["fps"]) == (64, 72, 12.0)
    assert timeline.preset == PRESET
    assert [f.index for f in timeline.frames] == [0, 1, 2, 3, 4]
    assert timeline.frames[2].time_s == 2 * 0.1 + 0.0123456789  # bit-exact floats
    assert timeline.frames[3].events == events
    assert timeline.frames[0].events == ()
    assert timeline.frames[1].digest == snapshot_digest(make_frame(1).snapshot)


def test_lines_are_on_disk_before_close(tmp_path: Path) -> None:
    path = tmp_path / "live.jsonl"
    writer = TimelineWriter(path, make_header(PRESET))
    writer.start()
    writer.offer(make_frame(0))
    import time

    deadline = time.monotonic() + 2.0
    while len(path.read_text().splitlines()) < 2 and time.monotonic() < deadline:
        time.sleep(0.005)
    lines = path.read_text().splitlines()  # read by another handle: flushed, not buffered
    assert json.loads(lines[1])["i"] == 0
    writer.close()


def test_a_killed_writer_leaves_a_readable_timeline(tmp_path: Path) -> None:
    path = tmp_path / "crash.jsonl"
    writer = TimelineWriter(path, make_header(PRESET))
    for i in range(3):
        writer.offer(make_frame(i))
    writer._drain()  # written, but no "end" line: as after SIGKILL
    with path.open("a") as f:
        f.write('{"type": "frame", "i": 3, "t": 0.')  # died mid-line
    timeline = read_timeline(path)
    assert not timeline.complete and timeline.skipped_tail and len(timeline.frames) == 3


def test_corrupt_lines_and_gaps_are_named(tmp_path: Path) -> None:
    header = json.dumps(make_header(PRESET))
    bad = tmp_path / "bad.jsonl"
    bad.write_text(header + "\nnot json\n" + '{"type": "end"}\n')
    with pytest.raises(ConfigError, match="line 2"):
        read_timeline(bad)
    gap = tmp_path / "gap.jsonl"
    gap.write_text(header + '\n{"type":"frame","i":0,"t":0.1,"dt":0.1}\n{"type":"frame","i":2,"t":0.2,"dt":0.1}\n')
    with pytest.raises(ConfigError, match="frame 2"):
        read_timeline(gap)
    with pytest.raises(ConfigError, match="no such file"):
        read_timeline(tmp_path / "missing.jsonl")
    headless = tmp_path / "headless.jsonl"
    headless.write_text('{"type":"frame","i":0,"t":0.1,"dt":0.1}\n')
    with pytest.raises(ConfigError, match="header"):
        read_timeline(headless)


def test_store_events_round_trip_through_apply_event(tmp_path: Path) -> None:
    live = ParamStore(prompts=PromptMix((PromptEntry("a", 1.0),)))
    live.set("zoom", 1.1, source="osc")
    live.set_prompt(1, "b", source="osc")
    live.set_prompts(PromptMix((PromptEntry("c", 0.5),), "neg"), source="midi")
    live.release("zoom")
    snap = live.snapshot(0, 0.04, 0.04)
    path = tmp_path / "events.jsonl"
    writer = TimelineWriter(path, make_header(PRESET))
    writer.offer_snapshot(snap)
    writer.close()
    replay = ParamStore(prompts=PromptMix((PromptEntry("a", 1.0),)))
    for event in read_timeline(path).frames[0].events:
        replay.apply_event(event)
    again = replay.snapshot(0, 0.04, 0.04)
    assert again.values == snap.values and again.prompts == snap.prompts
    assert snapshot_digest(again) == snapshot_digest(snap)
