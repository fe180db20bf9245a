"""ControlNet on the tiny model (CPU): residuals reach the UNet, scale 0 is no ControlNet,
each conditioning picture is what its kind says, and `vj render --controlnet` runs end to end."""

from __future__ import annotations

from pathlib import Path

import av
import numpy as np
import pytest
import torch

from tests.conftest import TINY_PRESET
from tests.helpers import CollectFrames
from tests.input_helpers import clip_colour, write_clip, write_halves
from vj.cli import main
from vj.config import ControlNetConfig, ModelConfig, parse_preset
from vj.engine.backends import load_backend
from vj.engine.backends.controlnet_load import load_controlnets
from vj.engine.controlnet.units import canny_edges
from vj.engine.warp.depth_estimator import DepthEstimator, build_tiny_depth_model
from vj.errors import ConfigError
from vj.session import render_offline
from vj.session.live import LiveSession


@pytest.fixture()
def backend():  # noqa: ANN201 - its own backend: attached ControlNets must not leak into the shared one
    return load_backend(ModelConfig(source="tiny", device="cpu"))


def _noise_of(backend, gain: float | None, hint: torch.Tensor,  # noqa: ANN001
              scale: float | None = None) -> torch.Tensor:
    torch.manual_seed(0)
    latents = torch.randn(2, 4, 8, 8)
    cond = backend.encode_prompt("a tunnel of neon light").repeated(2)
    if gain is not None:  # `scale`: every unit's live scale (None: their configured ones)
        units = len(backend.controls.units)
        backend.controls.set_frame([hint] * units, gain, None if scale is None else [scale] * units)
    return backend.predict_noise(latents, 500, cond)


def test_residuals_change_the_unet_and_a_zero_scale_is_no_controlnet(backend) -> None:  # noqa: ANN001
    hint = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(1))
    plain = _noise_of(backend, None, hint)
    load_controlnets([ControlNetConfig(source="tiny", conditioning="canny", scale=1.0)], backend)
    controlled = _noise_of(backend, 1.0, hint)
    zero = _noise_of(backend, 0.0, hint)
    other_hint = _noise_of(backend, 1.0, torch.zeros_like(hint))
    assert (controlled - plain).abs().mean() > 0.01 * plain.abs().mean()
    assert (controlled - other_hint).abs().mean() > 0.0  # the picture itself matters, not only the model
    assert torch.allclose(zero, plain, atol=1e-6, rtol=0.0)


def test_each_kind_gets_its_own_picture(backend) -> None:  # noqa: ANN001
    kinds = ("canny", "feedback", "input", "depth")
    controls = load_controlnets([ControlNetConfig(source="tiny", conditioning=k) for k in kinds], backend)
    controls.depth = DepthEstimator(build_tiny_depth_model(backend.device, torch.float32), resolution=56, ema=0.0)
    square = torch.zeros(1, 3, 64, 64)
    square[..., 20:44, 20:44] = 1.0
    picture = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    canny, feedback, given, depth = controls.pictures(picture=None, previous=square, init=None, width=64, height=64)
    assert torch.equal(canny, canny_edges(square)) and canny[0, 0, 19, 30] == 1 and canny[0, 0, 30, 30] == 0
    assert feedback is square
    assert given.eq(0).all() and given.shape == (1, 3, 64, 64)  # no input picture this frame: black
    assert depth.shape == (1, 3, 64, 64) and float(depth.std()) > 0.05
    with_input = controls.pictures(picture=picture, previous=square, init=None, width=64, height=64)
    assert with_input[2] is picture and torch.equal(with_input[0], canny_edges(picture))
    first = controls.pictures(picture=None, previous=None, init=None, width=64, height=64)
    assert all(p.eq(0).all() for p in first[:3])  # text-to-image frame 0: nothing to condition on yet


def test_render_offline_with_a_feedback_controlnet(backend) -> None:  # noqa: ANN001
    preset = parse_preset(TINY_PRESET, "t.toml")
    images = {}
    for name, units in (("plain", None), ("controlnet", [("tiny", "feedback", 0.8)]),
                        ("depth and canny", [("tiny", "depth", 1.0), ("tiny", "canny", 0.5)])):
        sink = CollectFrames()
        wanted = preset.with_overrides(controlnets=units)
        assert render_offline(wanted, frames=2, outputs=[sink], backend=backend if units is None else
                              load_backend(wanted.model)) == 2
        images[name] = [f.image.astype(int) for f in sink.frames]
    assert len(images["controlnet"]) == 2 and len(images["depth and canny"]) == 2
    assert np.abs(images["controlnet"][1] - images["plain"][1]).mean() > 0.5


def _render_args(tmp_path: Path) -> list[str]:
    preset = tmp_path / "tiny.toml"
    preset.write_text(TINY_PRESET)
    return ["render", str(preset), "--out", str(tmp_path / "clip.mp4"), "--model", "tiny", "--frames", "2",
            "--no-progress"]


def test_vj_render_with_a_controlnet(tmp_path: Path) -> None:
    assert main([*_render_args(tmp_path), "--controlnet", "tiny:feedback:0.8"]) == 0
    with av.open(str(tmp_path / "clip.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 2


def _exit_code(args: list[str]) -> int:
    try:
        return main(args)
    except SystemExit as done:  # argparse refuses a bad argument value this way
        return int(done.code or 0)


@pytest.mark.parametrize(("value", "says"), [("tiny:bogus", "KIND must be one of"),
                                             ("tiny:canny:9", "SCALE must be 0..2"),
                                             ("not a model", "expected a Hugging Face id")])
def test_a_bad_controlnet_is_refused_before_the_model_loads(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                            value: str, says: str) -> None:
    assert _exit_code([*_render_args(tmp_path), "--controlnet", value]) != 0
    err = capsys.readouterr().err
    assert says in err, err
    assert "loading" not in err and "rendering" not in err, err  # refused before the model loads
    assert len([line for line in err.splitlines() if says in line]) == 1, err


def test_bad_controlnet_tables_are_refused_in_one_line() -> None:
    with pytest.raises(ConfigError, match="conditioning"):
        parse_preset(TINY_PRESET + '\n[[controlnet]]\nsource = "tiny"\nconditioning = "edges"\n', "t.toml")
    with pytest.raises(ConfigError, match="input source"):
        parse_preset(TINY_PRESET + '\n[[controlnet]]\nsource = "tiny"\nconditioning = "input"\n', "t.toml")
    parsed = parse_preset(TINY_PRESET + '\n[[controlnet]]\nsource = "tiny"\nconditioning = "depth"\nscale = 0.5\n',
                          "t.toml")
    assert parsed.controlnet == (ControlNetConfig(source="tiny", conditioning="depth", scale=0.5),)


_SHOW_KINDS = ("canny", "depth", "input", "feedback")


def _jit_show(tmp_path: Path) -> LiveSession:
    """A jit show with every kind of ControlNet picture, full CFG and an input picture (offline clock)."""
    write_halves(tmp_path / "halves.png")
    units = "".join(f'\n[[controlnet]]\nsource = "tiny"\nconditioning = "{kind}"\n' for kind in _SHOW_KINDS)
    text = TINY_PRESET.replace('device = "cpu"', 'device = "cpu"\ncompile = "jit"\ncfg = "full"')
    preset = parse_preset(f'{text}video_mix = 0.5\nguidance = 2.0\n[input]\nsource = "{tmp_path / "halves.png"}"\n'
                          f'{units}', "jit.toml")
    session = LiveSession(preset, offline=True)
    assert session.input is not None
    session.input.start()
    return session


@pytest.mark.timeout(1200)
def test_jit_warm_up_compiles_every_graph_the_controlnet_show_runs(backend, tmp_path: Path) -> None:  # noqa: ANN001
    from torch._dynamo.utils import counters

    session = _jit_show(tmp_path)
    try:
        session.warmup()  # full CFG: UNet batches 1 and 2
        graphs = counters["stats"]["unique_graphs"]
        # Frame 0 is text-to-image from noise with black pictures; later ones are img2img with edges,
        # depth, the camera-like input picture and the warped feedback, each a different tensor layout.
        scales = []
        for scale, guidance, cadence in ((1.0, 2.0, 1), (0.4, 2.0, 1), (1.7, 1.0, 1), (0.0, 2.0, 2),
                                         (0.9, 2.0, 2), (1.2, 1.0, 1)):
            for name, value in (("controlnet_scale", scale), ("controlnet_1_scale", 2.0 - scale),
                                ("guidance", guidance), ("cadence", cadence)):
                session.store.set(name, value)
            # On the thread that rendered the warm-up, as the show does: dynamo's guards read thread-local state
            frame = session.engine.on_render_thread(session.engine.render_frame)
            assert frame is not None
            scales.append(frame.snapshot.params.controlnet_scale)  # smoothed towards the value set
            assert counters["stats"]["unique_graphs"] == graphs, (scale, guidance, cadence)  # nothing compiled live
        assert len(set(scales)) == len(scales)  # the scale did change live, every frame
        compiled = session.backend
        load_controlnets([ControlNetConfig(source="tiny", conditioning=kind) for kind in _SHOW_KINDS], backend)
        hint = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(3))
        plain = _noise_of(backend, 0.0, hint)
        for gain, scale in ((1.0, None), (0.3, None), (0.6, 1.5)):  # tensors made outside inference mode, at batch 2
            expected = _noise_of(backend, gain, hint, scale)
            # Fused kernels reorder float sums: the compiled output is near eager's (about 1e-5 of the
            # ControlNet's own effect here, both backends' tiny units being the same weights), so the
            # residuals did reach the compiled UNet, at this weight; and these are still the warm-up's graphs
            # (called on the render thread, as the show calls them).
            got = session.engine.on_render_thread(lambda g=gain, s=scale: _noise_of(compiled, g, hint, s))
            error = (got - expected).abs().mean()
            assert error < 1e-3 * (expected - plain).abs().mean(), (gain, scale, float(error))
        assert counters["stats"]["unique_graphs"] == graphs
    finally:
        session.stop()


def test_an_sdxl_controlnet_gets_the_pooled_text_and_time_ids() -> None:
    xl = load_backend(ModelConfig(source="tiny-xl", device="cpu"))
    torch.manual_seed(0)
    latents = torch.randn(1, 4, 8, 8)
    cond = xl.encode_prompt("a tunnel of neon light")
    plain = xl.predict_noise(latents, 500, cond)
    controls = load_controlnets([ControlNetConfig(source="tiny")], xl)
    hint = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(4))
    controls.set_frame([hint], 1.0)
    controlled = xl.predict_noise(latents, 500, cond)
    controls.set_frame([hint], 0.0)
    assert (controlled - plain).abs().mean() > 0.01 * plain.abs().mean()
    assert torch.allclose(xl.predict_noise(latents, 500, cond), plain, atol=1e-6, rtol=0.0)


def test_vj_render_conditions_an_input_controlnet_on_each_frame_of_a_real_clip(tmp_path: Path,
                                                                                monkeypatch: pytest.MonkeyPatch
                                                                                ) -> None:
    from diffusers import ControlNetModel

    seen: list[tuple[int, ...]] = []  # the centre colour of every picture the ControlNet model is given
    forward = ControlNetModel.forward

    def spy(self, *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202 - the real forward, watched
        cond = kwargs["controlnet_cond"]
        seen.append(tuple(round(float(v) * 255) for v in cond[0, :, cond.shape[2] // 2, cond.shape[3] // 2]))
        return forward(self, *args, **kwargs)

    monkeypatch.setattr(ControlNetModel, "forward", spy)
    clip = write_clip(tmp_path / "in.mkv", frames=10, fps=12)  # a 12 fps clip in a 24 fps render
    args = [*_render_args(tmp_path), "--input", str(clip), "--controlnet", "tiny:input"]
    args[args.index("--frames") + 1] = "6"
    assert main(args) == 0
    # video_mix stays 0: the clip reaches the picture only through the ControlNet, one clip frame per two.
    steps = len(seen) // 6
    assert steps >= 1 and len(seen) == 6 * steps, seen
    assert seen[::steps] == [clip_colour(i // 2) for i in range(6)], seen
    with av.open(str(tmp_path / "clip.mp4")) as container:
        assert sum(1 for _ in container.decode(video=0)) == 6
