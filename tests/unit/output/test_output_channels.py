"""The depth channel: an output fed each frame's depth map (greyscale) instead of its picture."""

from __future__ import annotations

import dataclasses
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.helpers import CollectFrames
from tests.unit.output_helpers import make_frame, run_ndi_probe
from vj.output.channels import DepthChannel, depth_frame


def with_depth(index: int, width: int = 64, height: int = 48) -> object:
    depth = np.zeros((height, width), np.uint8)
    depth[:, : width // 2] = 255  # left half near
    depth[:, width // 2:] = 40
    return dataclasses.replace(make_frame(index, width, height), depth=depth)


def test_the_depth_channel_hands_on_greyscale_depth_and_holds_without_it() -> None:
    sink = CollectFrames()
    channel = DepthChannel(sink)
    channel.offer(with_depth(0))  # type: ignore[arg-type]
    channel.offer(make_frame(1))  # no depth map: not passed on, the output holds its last frame
    assert [f.index for f in sink.frames] == [0] and channel.missing == 1
    image = sink.frames[0].image
    assert image.shape == (48, 64, 3) and image.dtype == np.uint8 and image.flags.c_contiguous
    assert (image[:, :32] == 255).all() and (image[:, 32:] == 40).all()
    assert depth_frame(make_frame(2)) is None


NDI_PROBE = textwrap.dedent("""
    import dataclasses, json, sys, time
    import numpy as np
    from cyndilib import Finder, Receiver, RecvBandwidth, RecvColorFormat, VideoRecvFrame
    from cyndilib.receiver import ReceiveFrameType
    from tests.unit.output_helpers import make_frame
    from vj.output.channels import DepthChannel
    from vj.output.ndi import NdiOutput

    frame = make_frame(0, 64, 48)
    depth = np.full((48, 64), 40, np.uint8)
    depth[:, :32] = 255
    frame = dataclasses.replace(frame, depth=depth)
    ndi = NdiOutput(30.0, name=sys.argv[1])
    out = DepthChannel(ndi)
    out.start()
    out.offer(frame)
    finder = Finder()
    finder.open()
    result = {"found": None}
    deadline = time.monotonic() + 4.0
    while time.monotonic() < deadline and result["found"] is None:
        finder.wait_for_sources(0.2)
        result["found"] = next((n for n in finder.get_source_names() if n == ndi.source_name), None)
    if result["found"] is not None:
        receiver = Receiver(color_format=RecvColorFormat.RGBX_RGBA, bandwidth=RecvBandwidth.highest)
        video = VideoRecvFrame()
        receiver.set_video_frame(video)
        receiver.set_source(finder.get_source(result["found"]))
        deadline = time.monotonic() + 4.0
        while time.monotonic() < deadline:
            out.offer(frame)
            if receiver.receive(ReceiveFrameType.recv_video, 50) & ReceiveFrameType.recv_video:
                data = np.zeros(video.get_buffer_size(), np.uint8)
                video.fill_p_data(data)
                w, h = video.get_resolution()
                rgbx = data.reshape(h, video.get_line_stride())[:, :w * 4].reshape(h, w, 4)
                result["left"] = rgbx[24, 16, :3].tolist()
                result["right"] = rgbx[24, 48, :3].tolist()
                break
        receiver.disconnect()
    out.close()
    finder.close()
    print("RESULT " + json.dumps(result))
""")


def test_the_depth_map_goes_out_as_an_ndi_source_on_loopback(tmp_path: Path) -> None:
    pytest.importorskip("cyndilib", reason="cyndilib not installed (pip install 'vj[ndi]')")
    result = run_ndi_probe(tmp_path, NDI_PROBE, "vj-test depth", timeout_s=60)
    if result["found"] is None:
        pytest.skip("NDI discovery found no source on 127.0.0.1 in 4 s: this sandbox cannot run NDI discovery")
    assert result["found"].endswith("(vj-test depth)")
    # Grey on every channel: near (255) on the left, far (40) on the right; NDI's 4:2:2 is close, not exact.
    assert np.abs(np.array(result["left"]) - 255).max() <= 12, result
    assert np.abs(np.array(result["right"]) - 40).max() <= 12, result
