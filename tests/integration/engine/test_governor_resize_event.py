"""A "resize" event (the frame-rate governor's) changes the size on the frame that carries it; a preset switch's
own size asked for the same frame wins."""

from __future__ import annotations

from dataclasses import replace

from tests.helpers import CollectFrames
from vj.session import LiveSession
from vj.snapshot import resize_event


def test_governor_resize_event_lands_on_its_frame_and_yields_to_a_preset_size(tiny_backend,  # noqa: ANN001
                                                                               tiny_preset) -> None:  # noqa: ANN001
    preset = tiny_preset.replace(render=replace(tiny_preset.render, width=128, height=128))
    session = LiveSession(preset, backend=tiny_backend, offline=True)
    sink = CollectFrames()
    session.add_output(sink)
    engine = session.engine
    engine.prime(session.store.prompts())
    engine.render_frame()
    session.store.apply_event(resize_event(96, 96, "governor"))
    engine.render_frame()
    session.store.apply_event(resize_event(64, 64, "governor"))
    engine.request_resize(128, 128)  # a preset switch in the same frame
    engine.render_frame()
    engine.render_frame()
    engine.flush()
    engine.stop()
    assert [(f.width, [e.kind for e in f.snapshot.events]) for f in sink.frames] == [
        (128, []), (96, ["resize"]), (128, ["resize"]), (128, [])]


def test_governor_depth_refresh_event_thins_the_depth_model_from_its_frame(tiny_backend, tmp_path) -> None:  # noqa: ANN001
    from tests.integration.session.test_depth_preset_switch import estimator, write_preset
    from vj.preset_files import load_preset
    from vj.snapshot import depth_refresh_event

    path = write_preset(tmp_path, "deep", 'model = "tiny"\nresolution = 56\nevery_n = 1\n')
    session = LiveSession(load_preset(str(path)), backend=tiny_backend, offline=True)
    depth = estimator(session)
    engine = session.engine
    engine.prime(session.store.prompts())
    for _ in range(2):
        engine.render_frame()
    counts = []
    session.store.apply_event(depth_refresh_event(3, "governor"))
    for _ in range(6):
        before = depth.estimates
        engine.render_frame()
        counts.append(depth.estimates - before)
    engine.flush()
    engine.stop()
    assert depth.every_n == 3
    assert counts == [1, 0, 0, 1, 0, 0]  # from the frame that carried the event: one estimate every 3 frames
