"""The reference command in a live show on the tiny model with the tiny IP-Adapter: real OSC datagrams name
pictures of the show's folder (never a path), the page uploads one over its WebSocket in chunks (type-checked,
size-limited), and a grab takes the show's own output, each encoded off the render thread."""

from __future__ import annotations

import io
import json
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import numpy as np
import pytest
from pythonosc.udp_client import SimpleUDPClient
from websockets.sync.client import connect

from tests.helpers import wait_for
from vj.config import ModelConfig, PresetConfig
from vj.control.osc import OscControl
from vj.engine.backends import load_backend
from vj.reference_config import ReferenceConfig
from vj.session import LiveSession
from vj.session.controls import show_actions
from vj.web.context import WebContext
from vj.web.server import MAX_FRAME_BYTES, WebServer


def _png(seed: int, size: tuple[int, int] = (40, 64)) -> bytes:
    from PIL import Image

    out = io.BytesIO()
    Image.fromarray(np.random.default_rng(seed).integers(0, 255, (*size, 3), dtype=np.uint8)).save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def ip_backend():  # noqa: ANN201
    return load_backend(ModelConfig(source="tiny", device="cpu", ip_adapter="tiny"))


@pytest.fixture()
def live(tiny_preset: PresetConfig, ip_backend, tmp_path: Path) -> Iterator[LiveSession]:  # noqa: ANN001
    folder = tmp_path / "refs"
    folder.mkdir()
    (folder / "cover.png").write_bytes(_png(1))
    (folder / "band.jpg").write_bytes(_png(2))  # PNG bytes under a .jpg name: Pillow decides what it is
    (tmp_path / "secret.png").write_bytes(_png(3))
    preset = tiny_preset.replace(model=ip_backend_model(tiny_preset), reference=ReferenceConfig(
        folder=str(folder), max_upload_mb=0.2))
    session = LiveSession(preset, backend=ip_backend)
    yield session
    session.engine.stop()


@pytest.fixture()
def applied(monkeypatch: pytest.MonkeyPatch) -> list[object]:
    """The value of every "reference" event the engine applies at a frame boundary (live or replayed), in order."""
    import vj.engine.frame_boundary as boundary

    seen: list[object] = []
    original = boundary.apply_reference_event
    monkeypatch.setattr(boundary, "apply_reference_event", lambda refs, event: (seen.append(event.value),
                                                                                original(refs, event)))
    return seen


def ip_backend_model(preset: PresetConfig) -> ModelConfig:
    from dataclasses import replace

    return replace(preset.model, ip_adapter="tiny")


def _frame_then(live: LiveSession, done: Callable[[], bool]) -> bool:
    """Render one frame (the engine takes the commands' events at its boundary), then ask."""
    live.engine.render_frame()
    return done()


def _osc_settled(osc: OscControl, sent: int) -> None:
    c = osc.counters
    wait_for(lambda: c.datagrams >= sent and c.handled >= c.datagrams, timeout_s=10.0)


def test_osc_names_pictures_of_the_folder_and_refuses_paths(live: LiveSession) -> None:
    refs = live.engine.references
    assert refs is not None
    osc = OscControl(live.store, port=0, actions=show_actions(live))
    osc.start()
    try:
        client = SimpleUDPClient("127.0.0.1", osc.port)
        client.send_message("/vj/reference", ["cover", 1.0, "band.jpg", 0.5])
        wait_for(lambda: _frame_then(live, lambda: len(refs.names) == 2), timeout_s=30.0)
        assert [Path(n.split("@")[0]).name for n in refs.names] == ["cover.png", "band.jpg"]
        for bad in (["../secret.png"], ["/etc/passwd"], ["nosuch"], [1.0], ["cover", -1.0], ["grab", "sideways"]):
            client.send_message("/vj/reference", bad)
        client.send_message("/vj/reference", "off")
        _osc_settled(osc, 8)
        c = osc.counters
        assert c.rejected["refused"] == 2 and c.rejected["action_failed"] == 1  # the paths; no such picture
        assert c.rejected["wrong_type"] == 1 and c.rejected["out_of_range"] == 1
        assert c.rejected["unknown_choice"] == 1
        wait_for(lambda: _frame_then(live, lambda: refs.names == ()), timeout_s=30.0)  # 'off'
    finally:
        osc.close()


def test_the_page_uploads_a_picture_in_chunks_and_bad_uploads_are_one_line(live: LiveSession) -> None:
    refs = live.engine.references
    assert refs is not None
    ctx = WebContext(store=live.store, actions=show_actions(live), reference_upload_bytes=200_000)
    server = WebServer(ctx, port=0)
    server.start()
    try:
        with connect(f"ws://127.0.0.1:{server.port}/ws") as ws:
            picture = _png(4, (200, 200))
            assert MAX_FRAME_BYTES < len(picture) < 200_000  # more than one frame's worth
            ws.send(json.dumps({"reference": {"upload": len(picture)}}))
            for start in range(0, len(picture), MAX_FRAME_BYTES // 2):
                ws.send(picture[start:start + MAX_FRAME_BYTES // 2])
            # Kept in the show's folder and set through a "reference" event the next frame takes.
            kept = live.preset.reference.folder + "/upload-"
            wait_for(lambda: _frame_then(live, lambda: len(refs.names) == 1 and kept in refs.names[0]),
                     timeout_s=30.0)
            replies = []
            ws.send(json.dumps({"reference": {"upload": 10_000_000}}))  # over the show's limit
            ws.send(json.dumps({"reference": {"upload": 12}}))
            ws.send(b"hello, world")  # twelve bytes, not a picture
            ws.send(b"unannounced")
            deadline = time.monotonic() + 10.0
            while len(replies) < 3 and time.monotonic() < deadline:
                data = ws.recv(timeout=10.0)
                if isinstance(data, str) and "error" in json.loads(data):
                    replies.append(json.loads(data)["error"])
            assert [r["reason"] for r in replies] == ["oversized", "wrong_type", "wrong_type"]
            assert "0.2 MB" in replies[0]["detail"] and "not a picture" in replies[1]["detail"]
            assert "announced first" in replies[2]["detail"]
    finally:
        server.close()


def test_a_grab_takes_the_shows_own_output(live: LiveSession) -> None:
    refs = live.engine.references
    assert refs is not None
    actions = show_actions(live)
    assert actions.reference_grab is not None
    actions.reference_grab("output")  # an event the next frame takes, and the take records
    snap = live.store.snapshot(0, 0.0, 0.04)
    assert [e.value for e in snap.events if e.kind == "reference"] == [{"grab": "output", "weight": 1.0}]
    live.store.apply_event(snap.events[-1])  # put back for the engine's own snapshot
    live.engine.render_frame()
    live.engine.flush()
    wait_for(lambda: refs.names[:1] == ("grab-output-0",), timeout_s=30.0)
    assert refs.grabs == 1 and refs.errors == 0
    actions.reference_grab("input")  # this show has no input: counted, said once, the frame goes on
    live.engine.render_frame()
    assert refs.errors == 1 and "no input picture" in refs.last_error


def test_the_reference_parameters_show_only_with_an_adapter(live: LiveSession, tiny_preset: PresetConfig,
                                                            tiny_backend) -> None:  # noqa: ANN001
    assert not {"ip_adapter_scale", "reference_fade_s"} & live.unused_slots
    plain = LiveSession(tiny_preset, backend=tiny_backend)
    try:
        assert {"ip_adapter_scale", "reference_fade_s"} <= plain.unused_slots
        assert show_actions(plain).reference is None  # the command answers 'unavailable'
    finally:
        plain.engine.stop()


def test_a_takes_timeline_records_the_pictures_and_a_replay_sets_them_again(
        live: LiveSession, ip_backend, tmp_path: Path, applied: list[object]) -> None:  # noqa: ANN001
    from vj.output.timeline import TimelineWriter, make_header
    from vj.session.replay import replay

    take = TimelineWriter(tmp_path / "take.jsonl", make_header(live.preset))
    live.add_output(take)
    actions = show_actions(live)
    assert actions.reference is not None
    actions.reference((("cover", 1.0), ("band", 0.5)))
    live.run(frames=3)
    live.stop()
    assert len(applied) == 1 and applied[0]["weights"] == [1.0, 0.5]  # type: ignore[index]
    assert [Path(f).name for f in applied[0]["files"]] == ["cover.png", "band.jpg"]  # type: ignore[index]
    result = replay(tmp_path / "take.jsonl", backend=ip_backend)
    assert result.events >= 1 and result.mismatches == 0
    assert applied[1:] == applied[:1]  # the replay set the same pictures again


def test_an_upload_is_kept_as_a_file_the_take_names_and_a_replay_sets_again(
        live: LiveSession, ip_backend, tmp_path: Path, applied: list[object]) -> None:  # noqa: ANN001
    from vj.output.timeline import TimelineWriter, make_header
    from vj.session.replay import replay

    take = TimelineWriter(tmp_path / "take.jsonl", make_header(live.preset))
    live.add_output(take)
    upload = show_actions(live).reference_upload
    assert upload is not None
    picture = _png(9)
    upload(picture)
    upload(picture)  # the same picture again: the same file, not a second copy
    live.run(frames=3)
    live.stop()
    kept = sorted((tmp_path / "refs").glob("upload-*"))
    assert len(kept) == 1 and kept[0].suffix == ".png" and kept[0].read_bytes() == picture
    assert not list((tmp_path / "refs").glob(".*.part"))
    assert [[Path(f) for f in value["files"]] for value in applied] == [[kept[0]], [kept[0]]]  # type: ignore[index]
    result = replay(tmp_path / "take.jsonl", backend=ip_backend)
    assert result.events >= 2 and result.mismatches == 0
    assert applied[2:] == applied[:2]  # the replay set the uploaded picture again, from the kept file


def test_an_upload_that_cannot_be_kept_is_one_line_and_changes_nothing(
        tiny_preset: PresetConfig, ip_backend, tmp_path: Path) -> None:  # noqa: ANN001
    from vj.engine.conditioning.reference_pictures import PictureRefused

    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the folder should be")
    preset = tiny_preset.replace(model=ip_backend_model(tiny_preset), reference=ReferenceConfig(folder=str(blocked)))
    session = LiveSession(preset, backend=ip_backend)
    try:
        upload = show_actions(session).reference_upload
        assert upload is not None
        with pytest.raises(PictureRefused, match=r"uploaded reference: cannot be kept in .*not-a-folder.* for the "
                                                 r"take"):
            upload(_png(5))
        assert not [e for e in session.store.snapshot(0, 0.0, 0.04).events if e.kind == "reference"]
    finally:
        session.engine.stop()


def test_a_preset_switch_sets_the_presets_pictures_and_one_without_keeps_them(
        live: LiveSession, tmp_path: Path, applied: list[object]) -> None:

    refs = live.engine.references
    assert refs is not None
    band = str(tmp_path / "refs" / "band.jpg")
    with_pictures = live.preset.replace(name="album", reference=ReferenceConfig(images=(band,), weights=(0.7,)))
    live.apply_preset(with_pictures)
    wait_for(lambda: _frame_then(live, lambda: len(refs.names) == 1 and "band.jpg" in refs.names[0]),
             timeout_s=30.0)
    assert applied == [{"files": [band], "weights": [0.7]}]
    assert "ref band.jpg x" in live.status_line()  # the status line (and the page) names the picture on screen
    live.apply_preset(live.preset.replace(name="plain", reference=ReferenceConfig()))
    for _ in range(3):
        live.engine.render_frame()
    assert len(applied) == 1 and "band.jpg" in refs.names[0]  # no pictures in the preset: the playing ones stay
