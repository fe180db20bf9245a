"""`vj render` and `vj run` in a real child process refuse a size the model cannot take before it loads,
naming the nearest sizes it can."""

from __future__ import annotations

import json
from pathlib import Path

from tests.helpers import run_vj

SD_UNET = {"_class_name": "UNet2DConditionModel", "block_out_channels": [320, 640, 1280, 1280]}


def _sd_folder(root: Path) -> Path:
    """A diffusers folder with an SD 2.x UNet config and no weights: loading it would fail loudly."""
    (root / "unet").mkdir(parents=True)
    (root / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    (root / "unet" / "config.json").write_text(json.dumps(SD_UNET))
    return root


def _error_line(stderr: str) -> str:
    (line,) = [line for line in stderr.splitlines() if line.startswith("vj: error:")]
    return line


def test_render_at_1000x560_on_an_sd_model_names_1024x576_and_960x512(tmp_path: Path) -> None:
    model = _sd_folder(tmp_path / "sd")
    out = tmp_path / "wide.mp4"
    result = run_vj("render", "drift", "--model", str(model), "--device", "cpu", "--width", "1000", "--height",
                    "560", "--frames", "1", "--out", str(out), "--no-progress")
    assert result.returncode == 2, result.stderr
    line = _error_line(result.stderr)
    assert "multiples of 64 px" in line and "'1000x560'" in line
    assert line.endswith("the nearest sizes it takes: 1024x576 or 960x512")
    assert not out.exists()


def test_run_on_the_tiny_model_names_its_nearest_sizes_before_loading(tmp_path: Path) -> None:
    take = tmp_path / "take.mkv"
    result = run_vj("run", "drift", "--model", "tiny", "--device", "cpu", "--width", "200", "--height", "120",
                    "--no-osc", "--no-web", "--frames", "2", "--record", str(take))
    assert result.returncode == 2, result.stderr
    assert "vj: loading" not in result.stderr  # refused before the model loads
    line = _error_line(result.stderr)
    assert "multiples of 16 px" in line and "'200x120'" in line
    assert line.endswith("the nearest sizes it takes: 208x128 or 192x112")
    assert not take.exists()
