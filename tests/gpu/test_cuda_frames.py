"""The engine on CUDA: finite frames (tiny model and sd-turbo's full-size architecture), no host
synchronisation in steady-state frames, and no recompilation under jit while guidance and steps move.

Run on a GPU machine by benchmarks/gpu_check.sh; skipped with the reason elsewhere.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
import torch

from tests.gpu.guards import OutputRecorder, assert_no_recompiles, frames_without_host_sync
from vj.config import parse_preset
from vj.engine.backends.diffusers import DiffusersBackend
from vj.engine.clock import FixedClock
from vj.engine.families.models.random_sd import SD_TURBO, build_random_components, build_random_pipeline
from vj.engine.families.models.tiny import build_tiny_pipeline, build_tiny_taesd
from vj.engine.loop import Engine, EngineSettings
from vj.engine.warmup_plan import plan_variants
from vj.frames import Frame
from vj.store import ParamStore

pytestmark = [pytest.mark.gpu, pytest.mark.timeout(600)]

CUDA = torch.device("cuda")
WARMUP_FRAMES = 6  # jit: compile, CUDA-graph warm-up run, recording, then replays


class _Discard:
    def offer(self, frame: Frame) -> None:
        pass


def _store(size: int, guidance: float = 0.0, steps: int = 1) -> ParamStore:
    preset = parse_preset(f"""
[render]
width = {size}
height = {size}
[prompts]
negative = "blurry"
[[prompts.mix]]
text = "a tunnel of neon light"
[params]
zoom = 1.02
angle = 0.5
strength = 0.5
noise = 0.03
guidance = {guidance}
steps = {steps}
""", "gpu-test")
    return ParamStore(base=preset.params, prompts=preset.prompts.to_mix())


def _engine(backend: Any, store: ParamStore, size: int, cfg: str = "rcfg-self",
            steps: tuple[int, ...] = (1,)) -> Engine:
    """An engine as a show starts one: every shape warmed up (compiled, captured) before frame 0."""
    settings = EngineSettings(size, size, 24, offline=True, cfg=cfg)
    backend.warmup(plan_variants([(size, size)], steps, cfg=cfg, embeds_guidance=backend.embeds_guidance))
    engine = Engine(backend, store, settings, _Discard(), FixedClock(24))
    engine.prime(store.prompts())
    return engine


def _tiny(mode: str) -> DiffusersBackend:
    return DiffusersBackend(build_tiny_pipeline(), name="tiny", device=CUDA, dtype=torch.float16,
                            tiny_vae=build_tiny_taesd(), compile_mode=mode)


@pytest.fixture(scope="module")
def full_size() -> Iterator[dict[str, Any]]:
    components = build_random_components(SD_TURBO, CUDA, torch.float16)
    yield components
    del components
    torch.cuda.empty_cache()


def _full(components: dict[str, Any], mode: str, vae: str = "taesd") -> DiffusersBackend:
    return DiffusersBackend(build_random_pipeline(components), name="sd-turbo architecture", device=CUDA,
                            dtype=torch.float16, tiny_vae=components["taesd"] if vae == "taesd" else None,
                            compile_mode=mode)


def test_tiny_model_frames_are_finite() -> None:
    backend = OutputRecorder(_tiny("off"))
    engine = _engine(backend, _store(64), 64)
    for _ in range(4):
        engine.render_frame()
    engine.flush()
    assert set(backend.outputs) == {"decode", "predict_noise"}
    assert backend.non_finite() == []
    assert engine.stats.non_finite == 0 and engine.stats.frames == 4


@pytest.mark.parametrize("vae", ["taesd", "sd-vae"])
def test_full_size_architecture_frames_are_finite(full_size: dict[str, Any], vae: str) -> None:
    backend = OutputRecorder(_full(full_size, "off", vae))
    engine = _engine(backend, _store(512), 512)
    for _ in range(3):
        engine.render_frame()
    frame = engine.flush()  # pipelined on a GPU: the last frame comes out here
    assert frame is not None and frame.image.shape == (512, 512, 3)
    assert backend.non_finite() == []
    assert engine.stats.non_finite == 0 and engine.stats.frames == 3


def test_the_sync_guard_passes_device_work_and_catches_a_host_read() -> None:
    x = torch.randn(256, 256, device=CUDA)
    frames_without_host_sync(lambda: (x @ x).relu_(), frames=3)
    with pytest.raises(AssertionError, match="synchronised with the host"):
        frames_without_host_sync(lambda: (x @ x).sum().item(), frames=3)


def test_the_sync_guard_catches_a_sync_injected_into_the_engine() -> None:
    """The engine-level guard is only worth something if it fails: a `.item()` in decode must trip it."""
    backend = _tiny("off")

    class SyncingDecode:
        def __getattr__(self, name: str) -> Any:
            return getattr(backend, name)

        def decode(self, latents: torch.Tensor) -> torch.Tensor:
            image = backend.decode(latents)
            if image.mean().item() > 2.0:  # a host read of device data: a synchronisation
                raise AssertionError("unreachable: decoded pixels are in [0, 1]")
            return image

    engine = _engine(SyncingDecode(), _store(64), 64)
    engine.render_frame()
    with pytest.raises(AssertionError, match="synchronised with the host"):
        frames_without_host_sync(engine.render_frame, frames=3)


@pytest.mark.parametrize("cfg", ["rcfg-self", "full"])
def test_jit_does_not_recompile_while_guidance_and_steps_move(cfg: str) -> None:
    """After warm-up (every batch the cfg mode uses, 1 and 2 steps), moving guidance 0 → 1.5 and steps 1 → 2
    compiles nothing: no Dynamo recompile (what TORCH_LOGS=recompiles prints) and no new frame."""
    store = _store(64)
    engine = _engine(_tiny("jit"), store, 64, cfg=cfg, steps=(1, 2))
    for _ in range(WARMUP_FRAMES):
        engine.render_frame()

    def sweep() -> None:
        for steps in (1, 2):
            for tenth in range(0, 16, 3):  # guidance 0 → 1.5, smoothed by the store on the way
                store.set_many({"guidance": tenth / 10, "steps": steps})
                for _ in range(3):
                    engine.render_frame()
        engine.flush()

    assert_no_recompiles(sweep)


# Cheapest first: a run cut by its time budget still reports the others (full + jit compiles the real UNet).
@pytest.mark.parametrize(("model", "mode"), [("tiny", "off"), ("full", "off"), ("tiny", "jit"), ("full", "jit")])
def test_steady_state_frames_do_not_sync(request: pytest.FixtureRequest, model: str, mode: str) -> None:
    backend = _tiny(mode) if model == "tiny" else _full(request.getfixturevalue("full_size"), mode)
    size = 64 if model == "tiny" else 512
    engine = _engine(backend, _store(size), size)
    for _ in range(WARMUP_FRAMES):
        engine.render_frame()
    torch.cuda.synchronize()
    frames_without_host_sync(engine.render_frame, frames=10)


def test_compiled_controlnet_units_keep_their_own_weights_under_cuda_graphs() -> None:
    """Units share their forward's code: under CUDA graphs each must still replay with its own weights."""
    from tests.controlnet_checks import check_compiled_units_keep_their_own_weights

    check_compiled_units_keep_their_own_weights(CUDA, torch.float16)


def test_a_1080p_output_is_a_pinned_double_buffered_copy_without_a_host_sync() -> None:
    from vj.engine.output_geometry import OutputGeometry
    from vj.output_size import Fit, GeometrySpec

    engine = _engine(_tiny("off"), _store(64), 64)
    engine.output_geometry = OutputGeometry(GeometrySpec((1920, 1080), Fit.FILL, keep_render_copy=True))
    for _ in range(WARMUP_FRAMES):
        engine.render_frame()
    torch.cuda.synchronize()
    frames_without_host_sync(engine.render_frame, frames=10)
    slots = engine._publisher._slots
    assert len(slots) == 2 and all(s.host.is_pinned() for s in slots)
    assert all(s.host.numel() == 1920 * 1080 * 3 + 64 * 64 * 3 + 1 for s in slots)


def test_in_betweens_for_the_display_rate_ride_in_the_pinned_copy_without_a_host_sync() -> None:
    from vj.engine.output_geometry import OutputGeometry
    from vj.output_size import Fit, GeometrySpec

    engine = _engine(_tiny("off"), _store(64), 64)
    engine.output_geometry = OutputGeometry(GeometrySpec((1920, 1080), Fit.FIT))
    engine.in_betweens = 1
    for _ in range(WARMUP_FRAMES):
        engine.render_frame()
    torch.cuda.synchronize()
    frames_without_host_sync(engine.render_frame, frames=10)
    slots = engine._publisher._slots
    assert len(slots) == 2 and all(s.host.is_pinned() and s.host.numel() == 2 * 1920 * 1080 * 3 + 1 for s in slots)
