"""NDI input against vj's own NDI output on loopback (cyndilib sender → vj.input.ndi receiver)."""

from __future__ import annotations

import re
import textwrap
from pathlib import Path

import numpy as np
import pytest

from tests.unit.output_helpers import run_ndi_probe
from vj.input.ndi import matches, rgbx_to_rgb


def test_source_names_match_by_full_name_or_stream_name() -> None:
    assert matches("HOST (vj)", "vj") and matches("HOST (vj)", "HOST (vj)")
    assert not matches("HOST (vj-2)", "vj") and not matches("vj", "HOST (vj)")


def test_received_rows_are_cut_to_rgb() -> None:
    data = np.arange(2 * 12, dtype=np.uint8)  # 2 rows of 2 RGBX pixels, each row padded to 12 bytes
    rgb = rgbx_to_rgb(data, 2, 2, 12)
    assert rgb.shape == (2, 2, 3) and rgb[1, 1].tolist() == [16, 17, 18]


# Runs in a child process so NDI_CONFIG_DIR is set before libndi starts, and its threads end with it.
PROBE = textwrap.dedent("""
    import json, sys, time
    from tests.unit.output_helpers import make_frame
    from vj.input.ndi import NdiInput
    from vj.output.ndi import NdiOutput

    def picture(width=64, height=48):
        frame = make_frame(0, width=width, height=height)
        frame.image[:, : width // 2] = (220, 40, 30)
        frame.image[:, width // 2:] = (30, 50, 210)
        return frame

    def wait(check, seconds):
        deadline = time.monotonic() + seconds
        while not check() and time.monotonic() < deadline:
            time.sleep(0.02)
        return check()

    result = {}
    source = NdiInput(sys.argv[1], lost_after_s=1.0)
    source.start()
    out = NdiOutput(30.0, name=sys.argv[1])
    out.start()
    out.offer(picture())
    result["received"] = wait(lambda: source.latest() is not None, 8)
    if result["received"]:
        image = source.latest()
        result["shape"] = list(image.shape)
        result["left"], result["right"] = image[24, 8].tolist(), image[24, 56].tolist()
        result["connected"] = source.status()
        out.close()  # the sender vanishes: the input notices and searches again
        result["lost"] = wait(lambda: source.lost >= 1, 8)
        time.sleep(2.5)  # the finder may still list the gone sender: that is no reconnection
        result["lost_status"] = source.status()
        again = NdiOutput(30.0, name=sys.argv[1])
        again.start()
        again.offer(picture(96, 64))
        result["back"] = wait(lambda: source.connects >= 2 and source.latest().shape[1] == 96, 30)
        result["final"] = source.status()
        again.close()
    else:
        out.close()
    source.close()
    print("RESULT " + json.dumps(result))
""")


def test_an_ndi_source_is_received_and_reconnected_on_loopback(tmp_path: Path) -> None:
    pytest.importorskip("cyndilib", reason="cyndilib not installed (pip install 'vj[ndi]')")
    result = run_ndi_probe(tmp_path, PROBE, "vj-input-test", timeout_s=90)
    if not result["received"]:
        pytest.skip("NDI discovery found no source on 127.0.0.1 in 8 s: this sandbox cannot run NDI discovery")
    assert result["shape"] == [48, 64, 3]
    # NDI compresses (8-bit 4:2:2): close, not exact; a red/blue swap would be off by ~190.
    assert np.abs(np.array(result["left"]) - [220, 40, 30]).max() <= 24, result
    assert np.abs(np.array(result["right"]) - [30, 50, 210]).max() <= 24, result
    assert "(vj-input-test)" in result["connected"]
    assert result["lost"] and "lost, searching" in result["lost_status"], result
    # Only a source that sends again counts as reconnected (a sender that failed to start and
    # retried may make that more than once), never a stale listing of the one that went.
    lost, back = (int(n) for n in re.search(r"lost (\d+), reconnected (\d+)", result["final"]).groups())
    assert result["back"] and back == lost >= 1, result
