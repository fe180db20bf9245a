"""`vj run --dry-run` and `vj render --dry-run` in a real child process: the plan and the memory estimate,
no model loaded, no server started, nothing written.

The full-size case runs on a folder holding only sd-turbo's config files: no weight exists to load,
so the estimate can only come from the configs.
"""

from __future__ import annotations

from pathlib import Path

from tests.contract import meta_models
from tests.contract.memory_trace import config_folder
from tests.helpers import run_vj


def test_run_dry_run_with_model_tiny_prints_the_plan_and_the_estimate(tmp_path: Path) -> None:
    take = tmp_path / "take.mkv"
    result = run_vj("run", "drift", "--model", "tiny", "--width", "64", "--height", "64", "--dry-run",
                    "--record", str(take))
    assert result.returncode == 0, result.stderr
    out = result.stdout
    assert "vj run --dry-run: preset 'drift'" in out and "device    cpu, float32, diffusers backend, compile off" in out
    assert "OSC udp 127.0.0.1:9000" in out and "control page http://127.0.0.1:9002/" in out
    assert f"recording {take}" in out
    for part in ("UNet", "text encoder", "VAE", "frame buffers", "safety margin", "total"):
        assert part in out, part
    assert "no device limit applies" in out
    assert "vj: loading" not in result.stderr and not take.exists()


def test_run_dry_run_of_full_size_configs_counts_sd_turbos_weights(tmp_path: Path) -> None:
    parts = {"unet": meta_models.sd21_unet(), "text_encoder": meta_models.openclip_h_text_encoder(),
             "vae": meta_models.sd_vae()}
    folder = config_folder(tmp_path / "sd-turbo", "StableDiffusionPipeline", parts)
    result = run_vj("run", "drift", "--model", str(folder), "--dtype", "float16", "--depth-model", "none",
                    "--dry-run", "--no-osc", "--no-web")
    assert result.returncode == 0, result.stderr
    lines = {line.split()[0]: line for line in result.stdout.splitlines() if line.startswith("  ")}
    assert "865.9 M parameters x 2 B (float16)" in lines["UNet"]
    assert "1.6 GiB" in lines["UNet"] and "controls  none" in result.stdout


def test_render_dry_run_writes_nothing(tmp_path: Path) -> None:
    out = tmp_path / "clip.mp4"
    result = run_vj("render", "drift", "--model", "tiny", "--width", "64", "--height", "64", "--frames", "2",
                    "--out", str(out), "--dry-run")
    assert result.returncode == 0, result.stderr
    assert "vj render --dry-run: preset 'drift'" in result.stdout and "total" in result.stdout
    assert not out.exists() and "vj: rendering" not in result.stderr
