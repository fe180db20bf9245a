"""Under `--compile jit` a live change of ip_adapter_scale or of the reference picture compiles nothing.

Dynamo's guards decide a recompile before any backend runs, so the graphs here are compiled with
the "eager" backend (seconds, not the minutes inductor takes on two cores): the same guards,
counted the way benchmarks/gpu_counters.py counts them on a GPU. diffusers' own scale (a float
on each processor) is shown to recompile, which is why vj passes the scale as a tensor.
"""

from __future__ import annotations

import sys
import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import TINY_PRESET
from tests.helpers import CollectFrames
from vj.config import parse_preset
from vj.engine.backends import load_backend
from vj.engine.conditioning.ip_adapter_load import layout_of, save_tiny_ip_adapter
from vj.engine.families.lookup import tiny_family
from vj.session import render_offline

sys.path.insert(0, str(Path(__file__).resolve().parents[3] / "benchmarks"))

from gpu_counters import dynamo_counts  # noqa: E402


@pytest.fixture()
def eager_graphs(monkeypatch: pytest.MonkeyPatch) -> None:
    import vj.engine.compile.jit as jit

    monkeypatch.setattr(jit, "compile_settings", lambda device: {"backend": "eager", "dynamic": False})


def _picture_file(folder: Path, name: str, seed: int) -> str:
    from PIL import Image

    pixels = np.random.default_rng(seed).integers(0, 255, (40, 56, 3), dtype=np.uint8)
    Image.fromarray(pixels).save(folder / name)
    return str(folder / name)


@pytest.mark.parametrize("model", ["tiny", "tiny-xl"])
def test_scale_glides_and_new_pictures_compile_nothing(model: str, tmp_path: Path, eager_graphs: None) -> None:
    first, second = _picture_file(tmp_path, "a.png", 1), _picture_file(tmp_path, "b.png", 2)
    preset = parse_preset(TINY_PRESET, "t.toml").with_overrides(model=model, compile="jit", ip_adapter="tiny",
                                                                   references=[(first, 1.0)])
    backend = load_backend(preset.model)
    assert backend.compile_mode == "jit"
    sink = CollectFrames()
    compiling = dynamo_counts()["frames"]
    render_offline(preset, frames=2, outputs=[sink], backend=backend)  # compiles the frame's graphs
    assert dynamo_counts()["frames"] > compiling
    gliding = preset.replace(schedules={**preset.schedules, "ip_adapter_scale": "0:(0.1), 3:(1.5), 5:(0)"},
                             params={**preset.params, "reference_fade_s": 0.1})
    blended = gliding.with_overrides(references=[(first, 1.0), (second, 2.0)])
    before = dynamo_counts()
    render_offline(blended, frames=6, outputs=[sink], backend=backend)
    after = dynamo_counts()
    assert after["frames"] - before["frames"] == 0
    assert after["graph_breaks"] - before["graph_breaks"] == 0


def test_diffusers_own_float_scale_recompiles(eager_graphs: None) -> None:
    pipe = tiny_family("tiny").build_tiny_pipeline()  # type: ignore[union-attr]
    layout = layout_of(pipe.unet.config, "tiny")
    with tempfile.TemporaryDirectory() as folder:
        save_tiny_ip_adapter(pipe.unet, Path(folder), layout)
        pipe.load_ip_adapter(folder, subfolder=layout.subfolder, weight_name=layout.weight_name)
    compiled = torch.compile(pipe.unet, backend="eager", dynamic=False)
    sample, context = torch.randn(1, 4, 8, 8), torch.randn(1, 77, 32)
    embeds = torch.randn(1, 1, pipe.image_encoder.config.projection_dim)
    with torch.no_grad():
        pipe.set_ip_adapter_scale(0.5)
        compiled(sample, 10, context, added_cond_kwargs={"image_embeds": [embeds]})
        before = dynamo_counts()["frames"]
        pipe.set_ip_adapter_scale(0.7)
        compiled(sample, 10, context, added_cond_kwargs={"image_embeds": [embeds]})
    assert dynamo_counts()["frames"] - before > 0
