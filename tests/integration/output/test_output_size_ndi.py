"""`vj run --output-size` to a real output: the NDI source of a real `vj run` child, received by cyndilib at the
output size, with the blend between frames on (a real 60 Hz paced sender)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import pytest

from tests.unit.output_helpers import run_ndi_probe

# A child process (NDI_CONFIG_DIR set before libndi starts) that starts `vj run` and receives its source.
PROBE = textwrap.dedent("""
    import json, subprocess, sys, time
    import numpy as np
    from cyndilib import Finder, Receiver, RecvBandwidth, RecvColorFormat, VideoRecvFrame
    from cyndilib.receiver import ReceiveFrameType

    name = sys.argv[1]
    vj = subprocess.Popen(
        [sys.executable, "-m", "vj.cli", "run", "drift", "--model", "tiny", "--width", "64", "--height", "64",
         "--duration", "120", "--ndi", "--ndi-name", name, "--output-size", "128x72", "--output-fit", "fit",
         "--output-fps", "60", "--output-rate-mode", "blend", "--no-osc", "--no-web", "--no-zeroconf"],
        stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    result = {"found": None, "frames": []}
    try:
        finder = Finder()
        finder.open()
        deadline = time.monotonic() + 90.0
        while time.monotonic() < deadline and result["found"] is None and vj.poll() is None:
            finder.wait_for_sources(0.5)
            result["found"] = next((n for n in finder.get_source_names() if n.endswith(f"({name})")), None)
        if result["found"] is not None:
            receiver = Receiver(color_format=RecvColorFormat.RGBX_RGBA, bandwidth=RecvBandwidth.highest)
            video = VideoRecvFrame()
            receiver.set_video_frame(video)
            receiver.set_source(finder.get_source(result["found"]))
            deadline = time.monotonic() + 30.0
            while time.monotonic() < deadline and len(result["frames"]) < 3:
                if receiver.receive(ReceiveFrameType.recv_video, 100) & ReceiveFrameType.recv_video:
                    data = np.zeros(video.get_buffer_size(), np.uint8)
                    video.fill_p_data(data)
                    w, h = video.get_resolution()
                    rgb = data.reshape(h, video.get_line_stride())[:, :w * 4].reshape(h, w, 4)[..., :3].astype(int)
                    # 64x64 fitted to 128x72: a 72x72 picture from column 28, black bars either side.
                    result["frames"].append({"size": [w, h], "bars": int(max(rgb[:, :24].max(), rgb[:, -24:].max())),
                                             "picture_std": float(rgb[:, 32:96].std())})
            receiver.disconnect()
        finder.close()
    finally:
        vj.terminate()
        try:
            _, err = vj.communicate(timeout=60)
        except subprocess.TimeoutExpired:
            vj.kill()
            _, err = vj.communicate()
    result["rc"] = vj.returncode
    result["stderr"] = err[-1500:]
    print("RESULT " + json.dumps(result))
""")


def test_vj_run_sends_ndi_at_the_output_size_with_bars_where_fit_puts_them(tmp_path: Path) -> None:
    pytest.importorskip("cyndilib", reason="cyndilib not installed (pip install 'vj[ndi]')")
    result = run_ndi_probe(tmp_path, PROBE, "vj-output-size", timeout_s=240)
    if result["found"] is None and "Traceback" not in result["stderr"]:
        pytest.skip(f"NDI discovery found no source on 127.0.0.1: {result['stderr'][-300:]}")
    assert result["found"] is not None, result["stderr"]
    frames = result["frames"]
    assert len(frames) == 3, result
    for frame in frames:
        assert frame["size"] == [128, 72]
        assert frame["bars"] <= 24  # black (NDI's 4:2:2 compression: near, not exact)
        assert frame["picture_std"] > 1.0
    assert result["rc"] == 0, result["stderr"]
