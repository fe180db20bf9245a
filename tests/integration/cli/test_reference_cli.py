"""`--ip-adapter` and `--reference` in a real child process: a family without an IP-Adapter, a file that is
not a picture and a scale out of range are one line each, before the model loads; a tiny render runs."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from tests.helpers import run_vj


def _sd2_folder(root: Path) -> Path:
    """A diffusers folder with an SD 2.x UNet config (sd-turbo's context width) and no weights."""
    (root / "unet").mkdir(parents=True)
    (root / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    (root / "unet" / "config.json").write_text(json.dumps({"_class_name": "UNet2DConditionModel",
                                                          "block_out_channels": [320, 640, 1280, 1280],
                                                          "cross_attention_dim": 1024}))
    return root


def _error_line(stderr: str) -> str:
    (line,) = [line for line in stderr.splitlines() if line.startswith("vj: error:")]
    return line


def _picture(path: Path) -> Path:
    from PIL import Image

    Image.fromarray(np.random.default_rng(0).integers(0, 255, (40, 60, 3), dtype=np.uint8)).save(path)
    return path


def test_an_sd2_model_is_refused_naming_the_models_with_an_ip_adapter(tmp_path: Path) -> None:
    out = tmp_path / "x.mp4"
    result = run_vj("render", "drift", "--model", str(_sd2_folder(tmp_path / "sd2")), "--device", "cpu",
                    "--ip-adapter", "h94/IP-Adapter", "--frames", "1", "--out", str(out), "--no-progress")
    assert result.returncode == 2, result.stderr
    line = _error_line(result.stderr)
    assert "has no IP-Adapter" in line and "SD 1.5 and SDXL models" in line and "sd-turbo" in line
    assert "loading" not in result.stderr and not out.exists()


def test_a_reference_that_is_no_picture_is_one_line(tmp_path: Path) -> None:
    notes = tmp_path / "notes.png"
    notes.write_text("not a picture at all")
    result = run_vj("render", "drift", "--model", "tiny", "--ip-adapter", "tiny", "--reference", str(notes),
                    "--frames", "1", "--out", str(tmp_path / "x.mp4"), "--no-progress")
    assert result.returncode == 2, result.stderr
    line = _error_line(result.stderr)
    assert "notes.png" in line and "not a picture (PNG, JPEG, WEBP, BMP expected)" in line
    missing = run_vj("render", "drift", "--model", "tiny", "--reference", str(_picture(tmp_path / "a.png")),
                     "--frames", "1", "--out", str(tmp_path / "x.mp4"), "--no-progress")
    assert missing.returncode == 2 and "an IP-Adapter" in _error_line(missing.stderr)


def test_a_tiny_render_with_a_blend_and_a_scale_schedule_runs(tmp_path: Path) -> None:
    first, second = _picture(tmp_path / "a.png"), _picture(tmp_path / "b.jpg")
    preset = tmp_path / "p.toml"
    preset.write_text('[schedules]\nip_adapter_scale = "0:(0), 2:(1.2)"\n')
    out = tmp_path / "x.mp4"
    result = run_vj("render", str(preset), "--model", "tiny", "--ip-adapter", "tiny", "--reference", str(first),
                    "--reference", f"{second}:0.5", "--width", "64", "--height", "64", "--frames", "3", "--out",
                    str(out), "--no-progress")
    assert result.returncode == 0, result.stderr
    assert out.stat().st_size > 0
    again = run_vj("render", "--replay", str(out.with_suffix(".jsonl")), "--out", str(tmp_path / "again.mp4"),
                   "--no-progress")  # the timeline's preset carries the adapter, the pictures and the schedule
    assert again.returncode == 0 and "parameters identical to the live take" in again.stderr, again.stderr
    bad = tmp_path / "bad.toml"
    bad.write_text("[params]\nip_adapter_scale = 3.0\n")
    refused = run_vj("render", str(bad), "--model", "tiny", "--ip-adapter", "tiny", "--frames", "1", "--out",
                     str(tmp_path / "y.mp4"), "--no-progress")
    assert refused.returncode == 2 and "ip_adapter_scale" in _error_line(refused.stderr)
    assert "0..2" in _error_line(refused.stderr)
