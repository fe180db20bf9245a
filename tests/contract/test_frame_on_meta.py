"""The engine's frame at full model size on the `meta` device: the device contract, without a GPU.

Every mode of the frame runs on sd-turbo's real architecture (SD 2.1 UNet, OpenCLIP-H text
encoder, SD VAE or TAESD; an LCM UNet for the LCM sampler) in float16 on `meta`. There
any host read of device data (`.item()`, `if t:`, `.tolist()`, …) and any device or dtype
mismatch raises, so a frame that completes has none. Host→device copies are the one thing
`meta` allows; during a steady-state frame (one whose mode ran the frame before) they are
counted and must be zero. The publish copy itself is the one stubbed step: `meta` tensors
hold no data to copy out.
"""

from __future__ import annotations

import pytest

from tests.contract.engine_run import OTHER, PROMPT, SIZE, backend, start, steady_frame
from vj.choices import CfgMode
from vj.prompt_mix import PromptEntry, PromptMix

# (name, backend options, params, cfg mode, UNet calls in the counted frame)
MODES = [
    ("euler_a 1 step, replicate, LAB, gaussian, sd VAE", {}, dict(
        steps=1, border="replicate", color_coherence="lab", noise_type="gaussian", guidance=1.0), CfgMode.RCFG_SELF, 1),
    ("euler_a 2 steps, full CFG 2.0, reflect, HSV, perlin", {}, dict(
        steps=2, border="reflect", color_coherence="hsv", noise_type="perlin", guidance=2.0), CfgMode.FULL, 2),
    ("euler_a 3 steps, RCFG self 3.0, wrap, RGB, TAESD", {"tiny_vae": True}, dict(
        steps=3, border="wrap", color_coherence="rgb", translation_x=2.0, guidance=3.0), CfgMode.RCFG_SELF, 3),
    ("euler_a 1 step, RCFG initialize 1.8", {}, dict(steps=1, guidance=1.8), CfgMode.RCFG_INITIALIZE, 2),
    ("lcm 4 steps, guidance 1.5 embedded, cadence 2", {"lcm": True}, dict(
        sampler="lcm", steps=4, guidance=1.5, cadence=2, color_coherence="none"), CfgMode.FULL, 4),
    ("lcm 1 step, guidance 1.0", {"lcm": True}, dict(sampler="lcm", steps=1, guidance=1.0), CfgMode.RCFG_SELF, 1),
]


@pytest.mark.parametrize(("options", "params", "cfg", "unet_calls"), [m[1:] for m in MODES],
                         ids=[m[0] for m in MODES])
def test_steady_state_frames_make_no_transfer_and_no_host_read(models, options, params, cfg,  # noqa: ANN001
                                                               unet_calls: int) -> None:
    run = start(backend(models, **options), params, cfg)
    run.engine.render_frame()  # from nothing (text to image)
    run.engine.render_frame()  # the first img2img frame builds the device constants of this mode
    before = len(run.unet_calls)
    run.engine.store.set("zoom", 1.05)  # live values change every frame: still no copy
    run.engine.store.set("angle", -2.0)
    guidance = float(params["guidance"])  # type: ignore[arg-type]
    run.engine.store.set("guidance", guidance + 0.1 if guidance > 1 else guidance - 0.1)  # same side of 1
    steady_frame(run)
    cadence = int(params.get("cadence", 1))  # type: ignore[call-overload]
    if cadence > 1:
        steady_frame(run)  # a cadence tween frame: warps only
    assert len(run.unet_calls) - before == unet_calls  # the counted frames really ran the model
    assert len(run.published) == run.engine.stats.frames == (4 if cadence > 1 else 3)
    assert all(f.image.shape == (SIZE, SIZE, 3) for f in run.sink.frames)


def test_seed_morph_prompt_fade_and_slerp_blend_run_on_the_device(models) -> None:  # noqa: ANN001
    run = start(backend(models), dict(steps=1, seed_behavior="fixed", seed_morph_s=1.0, prompt_fade_s=1.0,
                                      prompt_blend="slerp", color_coherence="lab"))
    run.engine._cache.get(OTHER)  # encoded before the show, as prime() does for the starting prompts
    run.engine.render_frame()
    run.engine.render_frame()
    run.engine.store.set("seed", 99)  # a live seed change: the noise slerps from the old seed's
    run.engine.store.set_prompts(PromptMix((PromptEntry(PROMPT, 0.5), PromptEntry(OTHER, 0.5)), "blurry"))
    steady_frame(run)
    assert run.engine._prompts.fading and run.engine._noise._morph_from is not None
    steady_frame(run)  # mid-morph, mid-fade


def test_3d_warp_frame_makes_no_transfer(models) -> None:  # noqa: ANN001
    run = start(backend(models), dict(steps=1, animation_mode="3d", translation_z=10.0, rotation_3d_y=2.0))
    run.engine.render_frame()
    run.engine.render_frame()
    steady_frame(run)


def test_3d_warp_frame_has_no_host_read_or_mismatch(models) -> None:  # noqa: ANN001
    run = start(backend(models), dict(steps=1, animation_mode="3d", translation_z=10.0, rotation_3d_y=2.0))
    for _ in range(3):
        run.engine.render_frame()
    assert run.engine.stats.frames == 3
