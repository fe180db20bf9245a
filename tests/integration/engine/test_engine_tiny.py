"""End to end on the tiny random model: the same code path a real model takes."""

from __future__ import annotations

import re
import subprocess
import sys
import threading
import time
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from tests.conftest import TINY_PRESET
from tests.helpers import CollectFrames, run_vj, wait_for
from vj.config import PresetConfig, parse_preset
from vj.engine.clock import FixedClock, LiveClock
from vj.engine.loop import Engine, EngineSettings
from vj.frames import Frame, FrameQueue
from vj.output.recorder import VideoRecorder
from vj.prompt_mix import PromptEntry, PromptMix
from vj.session import LiveSession, build_store, render_offline


def render(preset: PresetConfig, backend, frames: int) -> list[Frame]:  # noqa: ANN001
    sink = CollectFrames()
    render_offline(preset, frames=frames, outputs=[sink], backend=backend)
    return sink.frames


def test_offline_render_of_16_frames_decodes_back(tiny_backend, tiny_preset, tmp_path: Path) -> None:  # noqa: ANN001
    out = tmp_path / "clip.mp4"
    rec = VideoRecorder(out, width=64, height=64, fps=24, live=False)
    assert render_offline(tiny_preset, frames=16, outputs=[rec], backend=tiny_backend) == 16
    with av.open(str(out)) as container:
        stream = container.streams.video[0]
        decoded = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
        assert stream.average_rate == 24 and stream.codec_context.name == "h264"
    assert len(decoded) == 16 and decoded[0].shape == (64, 64, 3)


def test_offline_render_is_deterministic(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    a = render(tiny_preset, tiny_backend, 6)
    b = render(tiny_preset, tiny_backend, 6)
    for fa, fb in zip(a, b, strict=True):
        assert np.array_equal(fa.image, fb.image)
        assert fa.snapshot.values == fb.snapshot.values and fa.seed == fb.seed


def test_an_offline_render_takes_every_core_whatever_ran_before_it(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    # A live session leaves torch with one thread (vj.engine.cpu_threads); a render after it in the same
    # process must still sum on every core, or its pixels depend on what ran before.
    from vj.engine.cpu_threads import RENDER_THREADS

    reference = render(tiny_preset, tiny_backend, 3)
    before = torch.get_num_threads()
    threads: list[int] = []
    torch.set_num_threads(1)
    try:
        sink = CollectFrames()
        render_offline(tiny_preset, frames=3, outputs=[sink], backend=tiny_backend,
                       on_frame=lambda _frame: threads.append(torch.get_num_threads()))
        assert torch.get_num_threads() == 1  # given back as it was
    finally:
        torch.set_num_threads(before)
    assert threads == [RENDER_THREADS] * 3
    assert all(np.array_equal(a.image, b.image) for a, b in zip(reference, sink.frames, strict=True))


def test_feedback_changes_successive_frames(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    frames = render(tiny_preset, tiny_backend, 5)
    diffs = [np.abs(a.image.astype(int) - b.image.astype(int)).mean() for a, b in zip(frames, frames[1:], strict=False)]
    assert all(d > 0.5 for d in diffs), diffs
    assert [f.seed for f in frames] == [42, 43, 44, 45, 46]  # iter: +1 per diffused frame


def test_frame_zero_feeds_frame_one(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    # Strength 1 keeps the whole previous frame: frame 1 is frame 0 warped, nothing diffused.
    still = tiny_preset.replace(params={**tiny_preset.params, "strength": 1.0, "zoom": 1.0, "angle": 0.0,
                                        "noise": 0.0, "antiblur_amount": 0.0, "color_coherence": "none"})
    frames = render(still, tiny_backend, 3)
    assert np.array_equal(frames[0].image, frames[1].image) and np.array_equal(frames[1].image, frames[2].image)


def test_changing_the_prompt_changes_the_conditioning(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    a = tiny_backend.encode_prompt("a tunnel of neon light")
    b = tiny_backend.encode_prompt("a forest of glass trees")
    assert a.embeddings.shape == b.embeddings.shape and not torch.allclose(a.embeddings, b.embeddings)
    assert a.pooled is None and a.time_ids is None  # SD 1.x/2.x: token embeddings only
    other = tiny_preset.replace(prompts=parse_preset('[[prompts.mix]]\ntext = "a forest of glass trees"\n').prompts)
    fa, fb = render(tiny_preset, tiny_backend, 2), render(other, tiny_backend, 2)
    assert not np.array_equal(fa[1].image, fb[1].image)


def test_prompt_mix_fades_in_and_is_cached(tiny_backend) -> None:  # noqa: ANN001
    store = build_store(parse_preset(TINY_PRESET))
    engine = Engine(tiny_backend, store, EngineSettings(64, 64, 24, offline=True), CollectFrames(), FixedClock(24))
    engine.prime(store.prompts())
    engine.render_frame()
    store.set("prompt_fade_s", 1.0)
    store.set_prompts(PromptMix((PromptEntry("a tunnel of neon light", 0.5), PromptEntry("glass", 0.5)), "blurry"))
    engine.render_frame()
    assert engine._prompts.fading
    misses = engine._cache.misses
    for _ in range(30):
        engine.render_frame()
    assert not engine._prompts.fading
    assert engine._cache.misses == misses  # encoded once, never per frame


@pytest.mark.parametrize("sampler", ["euler_a", "lcm"])
@pytest.mark.parametrize("steps", [1, 2])
def test_sampler_matches_diffusers_schedulers(tiny_backend, sampler: str, steps: int) -> None:  # noqa: ANN001
    """Our full-strength sampling == diffusers' EulerAncestral / LCM scheduler loop, noise for noise."""
    from diffusers import EulerAncestralDiscreteScheduler, LCMScheduler

    from vj.engine.sampling import img2img

    config = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="trailing")
    scheduler = (EulerAncestralDiscreteScheduler(**config) if sampler == "euler_a" else LCMScheduler(**config))
    scheduler.set_timesteps(steps)
    cond = tiny_backend.encode_prompt("a cat")
    latents = tiny_backend.encode_image(torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(3)))
    noise = torch.randn(latents.shape, generator=torch.Generator().manual_seed(11))

    def model(x: torch.Tensor, t: int) -> torch.Tensor:
        return tiny_backend.predict_noise(x, t, cond)

    step_gen = torch.Generator().manual_seed(5)
    x = scheduler.add_noise(latents, noise, scheduler.timesteps[:1])
    for t in scheduler.timesteps:
        out = model(scheduler.scale_model_input(x, t), int(t))
        x = scheduler.step(out, t, x, generator=step_gen).prev_sample
    expected = x  # on the last step both schedulers return the denoised latents

    ours_gen = torch.Generator().manual_seed(5)
    ours = img2img(model, latents, noise, denoise=1.0, steps=steps, sampler=sampler,
                   schedule=tiny_backend.schedule, step_noise=lambda i: torch.randn(latents.shape, generator=ours_gen))
    assert [int(t) for t in scheduler.timesteps] == ([999] if steps == 1 else [999, 499])
    assert torch.allclose(ours, expected, atol=1e-4, rtol=1e-4)


def test_cfg_tiny_vae_cadence_and_lcm_paths_render(tiny_preset) -> None:  # noqa: ANN001
    from vj.config import ModelConfig
    from vj.engine.backends import load_backend

    backend = load_backend(ModelConfig(source="tiny", tiny_vae="tiny", device="cpu"))
    assert backend.tiny_vae and backend.vae_scale_factor == 8
    preset = tiny_preset.replace(params={**tiny_preset.params, "guidance": 3.0, "sampler": "lcm", "steps": 2,
                                         "cadence": 3, "noise_type": "perlin"})
    frames = render(preset, backend, 7)
    assert [f.diffused for f in frames] == [True, False, False, True, False, False, True]
    assert [f.seed for f in frames] == [42, 42, 42, 43, 43, 43, 44]
    assert all(f.image.shape == (64, 64, 3) for f in frames)


def test_3d_mode_moves_the_camera(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    still = {**tiny_preset.params, "strength": 1.0, "noise": 0.0, "antiblur_amount": 0.0,
             "color_coherence": "none", "zoom": 1.0, "angle": 0.0}
    flat = render(tiny_preset.replace(params={**still, "animation_mode": "3d"}), tiny_backend, 2)
    assert np.array_equal(flat[0].image, flat[1].image)  # no camera motion: nothing moves
    flight = render(tiny_preset.replace(params={**still, "animation_mode": "3d", "translation_z": 20.0,
                                                "rotation_3d_z": 5.0}), tiny_backend, 2)
    assert np.abs(flight[0].image.astype(int) - flight[1].image.astype(int)).mean() > 1.0
    two_d = render(tiny_preset.replace(params={**still, "translation_z": 20.0, "rotation_3d_z": 5.0}),
                   tiny_backend, 2)
    assert np.array_equal(two_d[0].image, two_d[1].image)  # 3D keys do nothing in 2D, as in Deforum


def test_live_queue_drops_oldest_when_an_output_is_slow(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    queue = FrameQueue(2, blocking=False)
    store = build_store(tiny_preset)
    engine = Engine(tiny_backend, store, EngineSettings(64, 64, 24), queue, LiveClock(24))
    engine.prime(store.prompts())
    for _ in range(6):
        engine.render_frame()
    assert queue.dropped == 4
    assert [queue.get(0).index, queue.get(0).index] == [4, 5]


def test_a_failing_stage_is_counted_and_the_loop_carries_on(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    sink = CollectFrames()
    store = build_store(tiny_preset)
    engine = Engine(tiny_backend, store, EngineSettings(64, 64, 24), sink, LiveClock(24))
    engine.prime(store.prompts())
    real_decode = tiny_backend.decode
    calls = {"n": 0}

    def flaky(latents: torch.Tensor) -> torch.Tensor:
        calls["n"] += 1
        if calls["n"] == 2:
            raise RuntimeError("decoder hiccup")
        return real_decode(latents)

    tiny_backend.decode = flaky
    try:
        store.set("zoom", 1.1)
        engine.run(threading.Event(), max_frames=4)
    finally:
        tiny_backend.decode = real_decode
    assert engine.stats.errors == 1 and "decoder hiccup" in engine.stats.last_error
    assert len(sink.frames) == 4
    assert any(e.name == "zoom" for f in sink.frames for e in f.snapshot.events)  # not lost with the failed frame


def test_live_session_uses_real_time_and_switches_preset_at_a_frame_boundary(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    session = LiveSession(tiny_preset, backend=tiny_backend)
    sink = CollectFrames()
    session.add_output(sink)
    session.start()
    try:
        wait_for(lambda: len(sink.frames) >= 3, timeout_s=30)
        wide = tiny_preset.replace(render=tiny_preset.render.__class__(width=128, height=64, fps=24),
                                   params={"zoom": 1.0, "angle": 0.0})
        session.apply_preset(wide)
        wait_for(lambda: sink.frames[-1].image.shape == (64, 128, 3), timeout_s=30)
    finally:
        session.stop()
    switched = next(i for i, f in enumerate(sink.frames) if f.image.shape == (64, 128, 3))
    assert all(f.image.shape == (64, 64, 3) for f in sink.frames[:switched])
    assert sink.frames[switched].snapshot["angle"] < tiny_preset.params["angle"]  # gliding to the new preset
    dts = [f.snapshot.dt_s for f in sink.frames[1:]]
    assert all(0 < dt < 1 for dt in dts) and len(set(dts)) > 1  # real elapsed time, not a fixed step
    assert "fps" in session.status_line()


def test_preset_switch_policy_keeps_fps_and_a_command_line_size(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    # (A preset naming another model switches the model: tests/integration/session/test_model_switch_paths.py.)
    other = tiny_preset.replace(render=tiny_preset.render.__class__(width=128, height=64, fps=12))
    free = LiveSession(tiny_preset, backend=tiny_backend)
    free.apply_preset(other)
    assert (free.preset.render.width, free.preset.render.fps, free.preset.model.source) == (128, 24, "tiny")
    fixed = LiveSession(tiny_preset, backend=tiny_backend, fixed_size=True)
    fixed.apply_preset(other)
    assert (fixed.preset.render.width, fixed.preset.render.height, fixed.preset.render.fps) == (64, 64, 24)
    fixed.stop()
    free.stop()


def test_cli_refuses_a_bad_preset_with_one_line(tmp_path: Path) -> None:
    bad = tmp_path / "bad.toml"
    bad.write_text("[params]\nzoom = 1.02\nrotation = 3\n")
    result = run_vj("render", str(bad), "--model", "tiny", "--out", str(tmp_path / "x.mp4"))
    assert result.returncode == 2
    assert "bad.toml: params.rotation: expected a parameter name" in result.stderr
    assert "Traceback" not in result.stderr


def test_cli_model_that_cannot_load_says_what_to_do(tmp_path: Path) -> None:
    result = run_vj("render", "zoom-tunnel", "--model", str(tmp_path / "missing.safetensors"), "--out",
                 str(tmp_path / "x.mp4"), "--frames", "1")
    assert result.returncode == 2 and "does not exist" in result.stderr and "--model tiny" in result.stderr
    assert "Traceback" not in result.stderr


def test_ctrl_c_stops_a_live_run_cleanly_and_finishes_the_recording(tmp_path: Path) -> None:
    import signal

    out = tmp_path / "take.mkv"
    command = [sys.executable, "-m", "vj.cli", "run", "zoom-tunnel", "--model", "tiny", "--width", "64", "--height",
               "64", "--record", str(out), "--osc-port", "0", "--no-zeroconf"]
    proc = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        deadline = time.monotonic() + 120
        while proc.stdout is not None and time.monotonic() < deadline:
            # a status line once the take holds a second of video (a loaded machine renders slowly)
            found = re.search(r"frames (\d+)", proc.stdout.readline())
            if found and int(found.group(1)) >= 24:
                break
        proc.send_signal(signal.SIGINT)
        _, stderr = proc.communicate(timeout=60)
    finally:
        proc.kill()
    assert proc.returncode == 0, stderr
    assert "stopped after" in stderr and "Traceback" not in stderr
    with av.open(str(out)) as container:
        assert sum(1 for _ in container.decode(video=0)) > 5


def test_cli_run_and_render_on_the_tiny_model(tmp_path: Path) -> None:
    out = tmp_path / "take.mkv"
    run = run_vj("run", "drift", "--model", "tiny", "--width", "64", "--height", "64", "--frames", "30",
              "--record", str(out), "--osc-port", "0", "--no-zeroconf")
    assert run.returncode == 0, run.stderr
    assert "fps" in run.stdout or "stopped after 30 frames" in run.stderr
    with av.open(str(out)) as container:  # live recording runs at the output rate (repeats/drops), not per frame
        assert sum(1 for _ in container.decode(video=0)) > 5
    assert len(out.with_suffix(".jsonl").read_text().splitlines()) == 1 + 30 + 1  # header, every frame, end
    clip = tmp_path / "clip.mp4"
    result = run_vj("render", "spiral", "--model", "tiny", "--width", "64", "--height", "64", "--frames", "5",
                 "--fps", "12", "--steps", "2", "--seed", "3", "--out", str(clip), "--no-progress")
    assert result.returncode == 0, result.stderr
    with av.open(str(clip)) as container:
        assert container.streams.video[0].average_rate == 12
        assert sum(1 for _ in container.decode(video=0)) == 5


def test_the_loaded_model_refuses_a_size_in_one_line_and_resizes_are_checked(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    from vj.errors import SizeRefused

    with pytest.raises(SizeRefused) as info:
        tiny_backend.check_resolution(72, 64)
    assert str(info.value).startswith("tiny: render size: expected width and height multiples of 16 px")
    assert "72x64" in str(info.value) and "\n" not in str(info.value)
    with pytest.raises(SizeRefused, match="72x64"):
        Engine(tiny_backend, build_store(tiny_preset), EngineSettings(72, 64, 24), CollectFrames(), FixedClock(24))
    engine = Engine(tiny_backend, build_store(tiny_preset), EngineSettings(64, 64, 24), CollectFrames(),
                    FixedClock(24))
    with pytest.raises(ValueError, match="multiples of 16 px"):
        engine.request_resize(64, 72)
    engine.request_resize(80, 64)


def test_the_warm_up_runs_on_the_thread_that_renders(tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    """CUDA graph trees are thread-local: graphs warmed on another thread would be recorded again on stage."""
    import threading

    session = LiveSession(tiny_preset, backend=tiny_backend)
    sink = CollectFrames()
    session.add_output(sink)
    warmed_on: set[int] = set()
    rendered_on: set[int] = set()
    backend_warmup, engine_frame = session.backend.warmup, session.engine.render_frame

    def warmup(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        warmed_on.add(threading.get_ident())
        return backend_warmup(*args, **kwargs)

    def render_frame():  # noqa: ANN202
        rendered_on.add(threading.get_ident())
        return engine_frame()

    session.backend.warmup = warmup  # type: ignore[method-assign]
    session.engine.render_frame = render_frame  # type: ignore[method-assign]
    try:
        session.warmup()
        session.start()
        wait_for(lambda: len(sink.frames) >= 2, timeout_s=60)
    finally:
        session.stop()
        del session.backend.warmup  # the backend is shared by the module's tests
    assert warmed_on and warmed_on == rendered_on
    assert threading.get_ident() not in rendered_on
