"""The backend surface: the registry, per-frame calls without host↔device traffic (on `meta`),
warm-up before frame 0, the VAE's force_upcast and the tuning switches."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
import torch

from tests.helpers import CollectFrames
from vj.config import BACKENDS, ModelConfig, PresetConfig, parse_preset
from vj.engine.backends import BackendTuning, Variant, backend_names, load_backend
from vj.engine.backends.diffusers import DiffusersBackend, vae_runs_in_float32
from vj.engine.conditioning.guidance import GuidedModel
from vj.engine.families.models.tiny import build_tiny_pipeline
from vj.engine.sampling import img2img
from vj.errors import BackendUnavailable, ConfigError
from vj.session import LiveSession


# ---------------------------------------------------------------- registry
def test_the_registry_and_the_config_know_the_same_backends() -> None:
    assert set(backend_names()) == set(BACKENDS)


def test_an_unknown_backend_is_refused_when_the_preset_is_parsed() -> None:
    with pytest.raises(ConfigError, match=r"model\.backend.*one of diffusers.*'onnx'"):
        parse_preset('[model]\nbackend = "onnx"\n', "bad.toml")


def test_a_backend_the_registry_lacks_is_refused_by_name() -> None:
    config = ModelConfig(source="tiny", device="cpu")
    object.__setattr__(config, "backend", "gone")  # a config that slipped past its own check
    with pytest.raises(BackendUnavailable, match="backend 'gone' is not one of diffusers"):
        load_backend(config)


# ---------------------------------------------------------------- no host↔device traffic per frame
class _HostToDevice:
    """Counts host→device copies (`Tensor.to` from the CPU, `torch.tensor(..., device=)`) while active."""

    def __init__(self) -> None:
        self.copies: list[str] = []

    def patch(self, monkeypatch: pytest.MonkeyPatch) -> None:
        real_to, real_tensor = torch.Tensor.to, torch.tensor

        def to(t: torch.Tensor, *args: Any, **kwargs: Any) -> torch.Tensor:
            out = real_to(t, *args, **kwargs)
            if t.device.type == "cpu" and out.device.type != "cpu":
                self.copies.append(f"Tensor.to {tuple(t.shape)}")
            return out

        def tensor(*args: Any, **kwargs: Any) -> torch.Tensor:
            out = real_tensor(*args, **kwargs)
            if out.device.type != "cpu":
                self.copies.append("torch.tensor")
            return out

        monkeypatch.setattr(torch.Tensor, "to", to)
        monkeypatch.setattr(torch, "tensor", tensor)


@pytest.fixture(scope="module")
def meta_backends() -> dict[str, DiffusersBackend]:
    """The tiny models with every weight on `meta`: any host read of device data raises."""
    return {kind: DiffusersBackend(build_tiny_pipeline(lcm=kind == "lcm"), name=kind, device=torch.device("meta"),
                                   dtype=torch.float16) for kind in ("euler", "lcm")}


@pytest.mark.parametrize(("kind", "mode", "sampler"), [
    ("euler", "rcfg-self", "euler_a"), ("euler", "rcfg-initialize", "euler_a"), ("euler", "full", "euler_a"),
    ("lcm", "rcfg-self", "lcm"),
])
def test_a_frame_makes_no_host_to_device_copy_and_reads_nothing_back(
        meta_backends: dict[str, DiffusersBackend], monkeypatch: pytest.MonkeyPatch, kind: str, mode: str,
        sampler: str) -> None:
    backend = meta_backends[kind]
    cond, negative = backend.encode_prompt("a cat"), backend.encode_prompt("blurry")  # off the render thread
    meta = {"device": torch.device("meta"), "dtype": torch.float32}
    image = torch.empty(1, 3, 64, 64, **meta)
    counter = _HostToDevice()

    def frame(guidance: float) -> torch.Tensor:
        latents = backend.encode_image(image).float()
        model = GuidedModel(backend, cond, negative, guidance, mode=mode, delta=1.0, reference=latents)
        out = img2img(model, latents, torch.empty_like(latents), denoise=0.6, steps=3, sampler=sampler,
                      schedule=backend.schedule, step_noise=lambda i: torch.empty_like(latents))
        return backend.decode(out)

    frame(4.0)  # the first frame may fill device-side caches
    counter.patch(monkeypatch)
    for guidance in (4.0, 1.0, 6.5):  # guidance is live: a new value must not copy either
        assert frame(guidance).device.type == "meta"
    assert counter.copies == []


def test_the_counter_sees_a_host_to_device_copy(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check above can fail: the per-frame timestep the engine used to build is caught."""
    counter = _HostToDevice()
    counter.patch(monkeypatch)
    torch.tensor(999, device="meta")
    torch.zeros(3).to("meta")
    assert counter.copies == ["torch.tensor", "Tensor.to (3,)"]


# ---------------------------------------------------------------- warm-up
@pytest.fixture()
def unet_calls(tiny_backend, monkeypatch: pytest.MonkeyPatch) -> Iterator[list[tuple[str, int, int, int]]]:  # noqa: ANN001
    """("unet", batch, h, w) of every UNet call, and ("frame", …) as each frame is published."""
    calls: list[tuple[str, int, int, int]] = []
    real = tiny_backend._predict_call

    def counting(sample: torch.Tensor, *rest: torch.Tensor) -> torch.Tensor:
        calls.append(("unet", *sample.shape[0:1], *sample.shape[2:4]))
        return real(sample, *rest)

    monkeypatch.setattr(tiny_backend, "_predict_call", counting)
    yield calls


def test_every_variant_runs_once_before_frame_zero(tiny_backend, tiny_preset: PresetConfig,  # noqa: ANN001
                                                   unet_calls: list[tuple[str, int, int, int]]) -> None:
    preset = tiny_preset.replace(model=ModelConfig(source="tiny", device="cpu", cfg="full"),
                                 params={**tiny_preset.params, "steps": 2, "guidance": 3.0})
    session = LiveSession(preset, backend=tiny_backend)
    session.warmup_sizes = [(128, 64)]
    variants = session.warmup_variants()
    assert variants == (Variant(64, 64, 1, 2), Variant(64, 64, 2, 2), Variant(128, 64, 1, 2), Variant(128, 64, 2, 2))
    lines: list[str] = []
    first_frame = threading.Event()

    class Marker(CollectFrames):
        def offer(self, frame: Any) -> None:
            unet_calls.append(("frame", frame.index, 0, 0))
            first_frame.set()
            super().offer(frame)

    session.add_output(Marker())
    session.warmup(on_progress=lambda done, of: lines.append(session.status_line()))
    assert lines == ["warming 1/4 variants", "warming 2/4 variants", "warming 3/4 variants", "warming 4/4 variants"]
    assert "fps" in session.status_line()
    warmed = list(unet_calls)
    session.start(max_frames=1)  # warmed already: start() does not warm again
    try:
        assert first_frame.wait(120)
    finally:
        session.stop()
    frame_at = next(i for i, c in enumerate(unet_calls) if c[0] == "frame")
    warm, show = unet_calls[:len(warmed)], unet_calls[len(warmed):frame_at]
    # each variant once (2 steps each, latents at 1/8 of the size), all before frame 0 ...
    assert warm == warmed and sorted(warm) == sorted(
        ("unet", v.batch, v.height // 8, v.width // 8) for v in variants for _ in range(v.steps))
    # ... and frame 0 runs no shape the warm-up did not
    assert show and set(show) <= set(warm)


def test_start_warms_up_when_nobody_did(tiny_backend, tiny_preset: PresetConfig,  # noqa: ANN001
                                        unet_calls: list[tuple[str, int, int, int]]) -> None:
    session = LiveSession(tiny_preset, backend=tiny_backend)
    session.start(max_frames=1)
    deadline = time.monotonic() + 120
    while session.engine.stats.frames < 1 and time.monotonic() < deadline:
        time.sleep(0.05)
    session.stop()
    assert unet_calls[0] == ("unet", 1, 8, 8) and session.engine.stats.frames == 1


# ---------------------------------------------------------------- the VAE's force_upcast
@pytest.mark.parametrize(("force_upcast", "honours", "dtype", "upcast"), [
    (True, True, torch.float16, True),  # SDXL's VAE in float16
    (False, True, torch.float16, False),  # a VAE fixed for float16 (sdxl-vae-fp16-fix)
    (True, False, torch.float16, False),  # SD 1.x/2.x pipelines never read the flag
    (True, True, torch.bfloat16, False),  # bfloat16 does not overflow
    (True, True, torch.float32, False),
])
def test_force_upcast_rule(force_upcast: bool, honours: bool, dtype: torch.dtype, upcast: bool) -> None:
    assert vae_runs_in_float32({"force_upcast": force_upcast}, dtype, honours_force_upcast=honours) is upcast


@pytest.mark.parametrize("force_upcast", [True, False])
def test_an_upcast_vae_encodes_and_decodes_in_float32(force_upcast: bool) -> None:
    pipe = build_tiny_pipeline()
    pipe.vae.register_to_config(force_upcast=force_upcast)
    backend = DiffusersBackend(pipe, name="tiny", device=torch.device("cpu"), dtype=torch.float16,
                               honours_force_upcast=True)
    want = torch.float32 if force_upcast else torch.float16
    assert backend.vae_dtype == want and next(backend.vae.parameters()).dtype == want
    assert next(backend.unet.parameters()).dtype == torch.float16
    seen: list[torch.dtype] = []
    backend.vae.register_forward_pre_hook(lambda _m, args: seen.append(args[0].dtype))
    backend.vae.decoder.register_forward_pre_hook(lambda _m, args: seen.append(args[0].dtype))
    latents = backend.encode_image(torch.rand(1, 3, 64, 64))
    assert latents.dtype == torch.float16  # what the UNet takes
    image = backend.decode(latents)
    assert image.dtype == torch.float32 and torch.isfinite(image).all()
    assert set(seen) == {want}


def test_the_tiny_sd_pipeline_is_not_upcast_though_its_vae_says_so() -> None:
    pipe = build_tiny_pipeline()
    assert pipe.vae.config.force_upcast is True  # AutoencoderKL's default, saved into every config
    backend = DiffusersBackend(pipe, name="tiny", device=torch.device("cpu"), dtype=torch.float16)
    assert backend.vae_dtype == torch.float16


# ---------------------------------------------------------------- tuning switches
@pytest.mark.parametrize("tuning", [BackendTuning(channels_last=True), BackendTuning(fuse_qkv=True),
                                    BackendTuning(cudnn_benchmark=True)])
def test_tuning_switches_keep_the_output(tiny_backend, tuning: BackendTuning) -> None:  # noqa: ANN001
    tuned = DiffusersBackend(build_tiny_pipeline(), name="tiny", device=torch.device("cpu"), dtype=torch.float32,
                             tuning=tuning)
    cond = tiny_backend.encode_prompt("a cat")
    image = torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(2))
    calls: list[Callable[[DiffusersBackend], torch.Tensor]] = [
        lambda b: b.encode_image(image), lambda b: b.predict_noise(b.encode_image(image), 999, cond),
        lambda b: b.decode(b.encode_image(image))]
    for call in calls:
        assert torch.allclose(call(tuned), call(tiny_backend), atol=1e-4)
    if tuning.fuse_qkv:
        assert any(hasattr(m, "to_qkv") for m in tuned.unet.modules())


def test_tuning_is_read_from_the_model_config() -> None:
    backend = load_backend(ModelConfig(source="tiny", device="cpu", channels_last=True, fuse_qkv=True))
    assert backend.tuning == BackendTuning(channels_last=True, fuse_qkv=True)  # type: ignore[attr-defined]
