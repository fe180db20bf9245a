"""The diffusion and dtype flags on a real `vj` child process, and the float16-on-CPU warning."""

from __future__ import annotations

import logging
from pathlib import Path

import pytest
import torch

from tests.helpers import run_vj
from vj.config import ModelConfig
from vj.engine.backends import load_backend


@pytest.mark.parametrize(("flags", "named"), [(("--guidance", "30"), "params.guidance"),
                                              (("--strength", "-0.5"), "params.strength"),
                                              (("--sampler", "ddim"), "--sampler"),
                                              (("--dtype", "fp16"), "--dtype"),
                                              (("--backend", "onnx"), "--backend"),
                                              (("--cfg", "half"), "--cfg")])
def test_bad_override_is_one_error_line_before_the_model(tmp_path: Path, flags: tuple[str, str], named: str) -> None:
    result = run_vj("render", "drift", "--model", "tiny", *flags, "--out", str(tmp_path / "x.mp4"))
    assert result.returncode == 2, result.stderr
    errors = [line for line in result.stderr.splitlines() if "error:" in line]
    assert len(errors) == 1 and named in errors[0], result.stderr
    assert "Traceback" not in result.stderr and not (tmp_path / "x.mp4").exists()


def test_float16_on_a_cpu_warns_and_suggests_bfloat16(caplog: pytest.LogCaptureFixture) -> None:
    with caplog.at_level(logging.WARNING, logger="vj.engine.backends.loading"):
        backend = load_backend(ModelConfig(source="tiny", device="cpu", dtype="float16"))
    assert backend.dtype == torch.float16
    # only the loader's own lines: other libraries may warn about a tiny model's config on a first load
    warned = [r.getMessage() for r in caplog.records
              if r.levelno == logging.WARNING and r.name == "vj.engine.backends.loading"]
    assert len(warned) == 1 and "bfloat16" in warned[0]
    caplog.clear()
    with caplog.at_level(logging.WARNING, logger="vj.engine.backends.loading"):
        load_backend(ModelConfig(source="tiny", device="cpu", dtype="bfloat16"))
    assert not [r for r in caplog.records if r.levelno == logging.WARNING and r.name == "vj.engine.backends.loading"]


def test_warmup_command_runs_every_variant_with_a_progress_bar(tmp_path: Path) -> None:
    result = run_vj("warmup", "drift", "--model", "tiny", "--device", "cpu", "--width", "64", "--height", "64",
                    "--steps", "2", "--cfg", "full", "--guidance", "3")
    assert result.returncode == 0, result.stderr
    assert "warming up" in result.stderr  # the bar
    said = [line for line in result.stderr.splitlines() if line.startswith("vj: warmed up")]
    assert len(said) == 1 and "2 variants" in said[0], result.stderr
    assert "64x64 batch 1, 2 steps; 64x64 batch 2, 2 steps" in said[0]
