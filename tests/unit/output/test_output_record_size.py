"""The recording at the render size: the picture that rode along is what the take writes, faded with the rest."""

from __future__ import annotations

import dataclasses

import numpy as np

from tests.helpers import CollectFrames
from tests.unit.output_helpers import make_frame
from vj.output.master import MasterStage
from vj.output.take import video_picture, video_size


def test_the_master_fades_the_render_size_picture_too() -> None:
    sink = CollectFrames()
    master = MasterStage(sink)
    frame = make_frame(0, width=16, height=8, value=200)
    frame = dataclasses.replace(frame, render_size=(4, 4), render_image=np.full((4, 4, 3), 200, np.uint8))
    master.offer(dataclasses.replace(frame, snapshot=dataclasses.replace(
        frame.snapshot, values={**frame.snapshot.values, "master": 0.5})))
    shown = sink.frames[0]
    assert int(shown.image[0, 0, 0]) == 100 and shown.render_image is not None
    assert int(shown.render_image[0, 0, 0]) == 100  # a blackout must darken the recording as well


def test_the_take_writes_the_render_picture_when_it_rode_along() -> None:
    frame = make_frame(0, width=16, height=8)
    assert video_picture(frame) is frame.image and video_size(frame) == (16, 8)
    render = np.zeros((4, 6, 3), np.uint8)
    with_render = dataclasses.replace(frame, render_size=(6, 4), render_image=render)
    assert video_picture(with_render) is render and video_size(with_render) == (6, 4)
