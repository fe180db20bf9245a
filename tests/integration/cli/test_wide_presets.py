"""The shipped wide presets render at their own size on the tiny model, in a real `vj render` child process."""

from __future__ import annotations

from pathlib import Path

import av
import pytest

from tests.helpers import run_vj
from vj.preset_files import load_preset


@pytest.mark.parametrize(("preset", "size", "mode"), [
    ("horizon", (768, 448), "2d"),
    ("canyon-flight", (1024, 576), "3d"),
])
def test_a_wide_preset_renders_at_its_size_on_the_tiny_model(preset: str, size: tuple[int, int], mode: str,
                                                              tmp_path: Path) -> None:
    loaded = load_preset(preset)
    assert (loaded.render.width, loaded.render.height) == size
    assert str(loaded.params.get("animation_mode", "2d")) == mode
    out = tmp_path / f"{preset}.mp4"
    result = run_vj("render", preset, "--model", "tiny", "--device", "cpu", "--frames", "2", "--out", str(out),
                    "--no-progress")
    assert result.returncode == 0, result.stderr
    if mode == "3d":  # the 3D camera flies over the tiny depth model's map, not a flat plane
        assert "no depth model loaded" not in result.stderr and "flat plane" not in result.stderr
    with av.open(str(out)) as container:
        frames = [frame.to_ndarray(format="rgb24") for frame in container.decode(video=0)]
    assert len(frames) == 2
    assert all(frame.shape == (size[1], size[0], 3) for frame in frames)
    assert frames[1].std() > 1.0  # a picture, not a blank frame
