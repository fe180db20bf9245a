"""ControlNet at full size on `meta`: an SD 2.1 ControlNet (sd-turbo's family) in every frame.

The units come from a preset's `[[controlnet]]` tables through `load_controlnets`, the path
`vj.session.controlnet.build_controlnets` takes; only the model files are replaced by a
full-size ControlNet built from sd-turbo's UNet on `meta` (the released SD 2.1 ones are that
shape: the UNet's encoder half, a 16-32-96-256 picture embedding). A `depth` unit gets its own
Depth Anything V2 Small, as `build_controlnets` gives it; an `input` unit reads a real PNG
through `[input]`. Each conditioning kind's picture, the residuals and their live scale run
with no host read (it raises on `meta`) and no host→device copy in a steady-state frame.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import torch

from tests.contract.engine_run import SIZE, Run, backend, contract_preset, start, steady_frame
from tests.contract.meta_models import DTYPE, META, controlnet_of, depth_anything_v2_small
from vj.choices import CfgMode
from vj.config import ControlNetConfig
from vj.depth_sources import DEFAULT_DEPTH_MODEL
from vj.engine.backends.controlnet_load import load_controlnets
from vj.engine.backends.diffusers import DiffusersBackend
from vj.engine.controlnet.units import ControlNets
from vj.engine.warp.depth_estimator import DepthEstimator, depth_model_from_module
from vj.session.inputs import build_inputs

KINDS = ("canny", "depth", "input", "feedback")
SOURCE = "thibaud/controlnet-sd21-{kind}-diffusers"  # what a preset names; the meta model stands in for its files


@pytest.fixture(scope="module")
def sd21_controlnet(models: dict[str, Any]) -> Any:
    controlnet = controlnet_of(models["unet"])
    assert sum(p.numel() for p in controlnet.parameters()) > 360_000_000  # SD 2.1 ControlNet size
    assert controlnet.config.cross_attention_dim == 1024
    return controlnet


@pytest.fixture(scope="module")
def depth_module() -> Any:
    return depth_anything_v2_small()


@pytest.fixture(scope="module")
def picture(tmp_path_factory: pytest.TempPathFactory) -> Path:
    from PIL import Image

    path = tmp_path_factory.mktemp("input") / "still.png"  # 4:3, so it is resized and centre-cropped
    Image.fromarray(np.random.default_rng(3).integers(0, 256, (480, 640, 3), dtype=np.uint8)).save(path)
    return path


def controlnet_toml(kinds: tuple[str, ...], picture: Path) -> str:
    units = "".join(f'[[controlnet]]\nsource = "{SOURCE.format(kind=k)}"\nconditioning = "{k}"\nscale = 0.8\n'
                    for k in kinds)
    return units + (f'[input]\nsource = "{picture}"\n' if "input" in kinds else "")


class CallLog:
    """Every ControlNet call's picture, for the frame that is counted."""

    def __init__(self, controlnet: Any) -> None:
        self.hints: list[torch.Tensor] = []
        self._handle = controlnet.register_forward_pre_hook(
            lambda module, args, kwargs: self.hints.append(kwargs["controlnet_cond"]), with_kwargs=True)

    def close(self) -> None:
        self._handle.remove()


def controlnet_run(b: DiffusersBackend, controlnet: Any, depth_module: Any, kinds: tuple[str, ...],
                   picture: Path, params: dict[str, object], cfg: str = CfgMode.RCFG_SELF,
                   depth_3d: Any | None = None) -> tuple[Run, ControlNets]:
    preset = contract_preset(params, controlnet_toml(kinds, picture))

    def load_model(unit: ControlNetConfig, on: DiffusersBackend) -> Any:
        assert unit.source == SOURCE.format(kind=unit.conditioning) and on is b
        return controlnet

    controls = load_controlnets(preset.controlnet, b, load_model=load_model)
    if "depth" in controls.kinds:  # as build_controlnets does, with the preset's [depth] settings
        depth = preset.depth
        controls.depth = DepthEstimator(depth_model_from_module(depth_module, DEFAULT_DEPTH_MODEL),
                                        resolution=depth.resolution, every_n=depth.every_n, ema=depth.ema)
    _, inputs = build_inputs(preset, None, offline=True)
    assert (inputs is not None) == ("input" in kinds)
    return start(b, {}, cfg, preset=preset, controls=controls, inputs=inputs, depth=depth_3d), controls


def counted_frame(run: Run, log: CallLog, units: int) -> None:
    """A steady-state frame: every UNet call had `units` ControlNet calls, all on the device in float16."""
    unet_before, cn_before = len(run.unet_calls), len(log.hints)
    steady_frame(run)
    samples, hints = run.unet_calls[unet_before:], log.hints[cn_before:]
    assert samples and len(hints) == units * len(samples)
    for i, sample in enumerate(samples):  # each UNet call runs every unit first
        for hint in hints[i * units:(i + 1) * units]:
            assert hint.device == META and hint.dtype == DTYPE
            assert hint.shape == (sample.shape[0], 3, SIZE, SIZE)


def assert_each_unit_saw_its_kind(run: Run, controls: ControlNets) -> None:
    """The pictures the counted frame set: the input picture, the warped previous frame, edges, depth."""
    hints = controls._hints
    assert hints is not None and len(hints) == len(controls.units)
    for kind, hint in zip(controls.kinds, hints, strict=True):
        assert hint is not controls._blank and hint.shape == (1, 3, SIZE, SIZE)
        if kind == "input":
            assert hint is run.engine._inputs._picture
        elif kind == "depth":
            assert controls.depth is not None and controls.depth.latest is not None
            assert hint.untyped_storage() is controls.depth.latest.untyped_storage()  # its map, as 3 channels


@pytest.mark.parametrize("kind", KINDS)
def test_each_conditioning_kind_runs_a_full_size_controlnet_with_no_transfer(
        models, sd21_controlnet, depth_module, picture: Path, kind: str) -> None:  # noqa: ANN001
    log = CallLog(sd21_controlnet)
    try:
        run, controls = controlnet_run(backend(models), sd21_controlnet, depth_module, (kind,), picture,
                                       dict(steps=1, guidance=1.0))
        run.engine.render_frame()  # text to image: the unit sees black
        run.engine.render_frame()  # img2img: the first picture of its kind
        run.engine.store.set("controlnet_scale", 0.6)  # live: a Python float, no copy
        run.engine.store.set("zoom", 1.05)
        counted_frame(run, log, units=1)
    finally:
        log.close()
    assert controls.kinds == (kind,) and run.engine.stats.frames == 3
    assert_each_unit_saw_its_kind(run, controls)
    if kind == "depth":
        assert controls.depth is not None and controls.depth.estimates == 2
    if kind == "input":
        assert run.engine._inputs.uploads == 1  # the still picture is uploaded once, before the counted frame


def test_four_units_with_full_cfg_in_a_depth_warped_3d_frame(
        models, sd21_controlnet, depth_module, picture: Path) -> None:  # noqa: ANN001
    warp_depth = DepthEstimator(depth_model_from_module(depth_module, DEFAULT_DEPTH_MODEL), resolution=252)
    log = CallLog(sd21_controlnet)
    try:
        run, controls = controlnet_run(backend(models), sd21_controlnet, depth_module, KINDS, picture,
                                       dict(steps=1, guidance=2.0, animation_mode="3d", translation_z=10.0,
                                            rotation_3d_y=2.0, video_mix=0.3),
                                       CfgMode.FULL, depth_3d=warp_depth)
        run.engine.render_frame()
        run.engine.render_frame()
        run.engine.store.set("controlnet_scale", 1.4)
        counted_frame(run, log, units=4)
    finally:
        log.close()
    assert_each_unit_saw_its_kind(run, controls)
    assert warp_depth.estimates == 2  # of the previous frame: none before frame 1
    assert controls.depth is not None and controls.depth.estimates == 3  # of the input picture, from frame 0
    assert run.unet_calls[-1].shape[0] == 2  # full CFG: the doubled batch reached each unit


def test_an_lcm_unet_with_an_sd21_controlnet_makes_no_transfer(
        models, sd21_controlnet, depth_module, picture: Path) -> None:  # noqa: ANN001
    log = CallLog(sd21_controlnet)
    try:
        run, controls = controlnet_run(backend(models, lcm=True), sd21_controlnet, depth_module,
                                       ("canny", "feedback"), picture,
                                       dict(sampler="lcm", steps=2, guidance=1.5), CfgMode.FULL)
        run.engine.render_frame()
        run.engine.render_frame()
        counted_frame(run, log, units=2)
    finally:
        log.close()
    assert not controls.units[0].call.takes_time_cond  # released SD 2.1 ControlNets take no LCM embedding
