"""The memory check before loading: refused in one line with what is needed, what is free and which change fits.

The device's free memory is given (this machine has no GPU); every figure comes from the real estimate of
the tiny model, and each change offered is checked to fit by estimating it again.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest
import torch

from vj.config import ControlNetConfig, PresetConfig
from vj.engine.memory_estimate import MIB, MemoryPlan, estimate_memory, readable
from vj.preset_files import load_preset
from vj.session.memory_check import MemoryRefused, check_memory_before_load, memory_report


def _preset(controlnets: tuple[ControlNetConfig, ...] = (), width: int = 512, height: int = 512,
            **model: object) -> PresetConfig:
    """drift on the tiny model on the CPU, with `controlnets` instead of its own."""
    preset = load_preset("drift").with_overrides(model="tiny", width=width, height=height, device="cpu",
                                                 **model)  # type: ignore[arg-type]
    return preset.replace(controlnet=controlnets)


def test_memory_estimate_on_a_cpu_is_never_refused() -> None:
    report = check_memory_before_load(_preset())
    assert report.free is None and report.fits and report.estimate.total > 0


def test_memory_estimate_that_fits_passes_and_one_that_does_not_is_refused_in_one_line() -> None:
    preset = _preset(dtype="float32")
    needed = memory_report(preset).estimate.total
    assert check_memory_before_load(preset, free=needed).fits
    free = needed - 1
    with pytest.raises(MemoryRefused) as refused:
        check_memory_before_load(preset, free=free)
    line = str(refused.value)
    assert "\n" not in line
    assert f"needs about {readable(needed)} on cpu" in line and f"but {readable(free)} is free" in line
    assert "this fits: --dtype float16" in line
    # The tiny model's own VAE is narrower than TAESD: the tiny VAE would need more, so it is not offered.
    assert "--tiny-vae" not in line


def test_memory_estimate_offers_only_changes_that_fit() -> None:
    preset = _preset(dtype="float32", tiny_vae="tiny", controlnets=(ControlNetConfig(source="tiny"),) * 2)
    report = memory_report(preset)
    half_precision = estimate_memory(dataclasses.replace(report.plan, dtype=torch.float16)).total
    free = half_precision + 1  # float16 fits; keeping all ControlNets in float32 does not
    with pytest.raises(MemoryRefused) as refused:
        check_memory_before_load(preset, free=free)
    line = str(refused.value)
    offered = re.findall(r"(--dtype float16|\d ControlNets? instead of 2|--width \d+ --height \d+) \(([\d,]+) MiB\)",
                         line)
    assert offered and all(int(size.replace(",", "")) <= round(free / MIB) for _, size in offered), line
    assert "--tiny-vae" not in line  # already the tiny VAE


def test_memory_estimate_offers_changes_together_when_none_fits_alone() -> None:
    preset = _preset(dtype="float32", width=64, height=64, controlnets=(ControlNetConfig(source="tiny"),) * 2)
    plan = memory_report(preset).plan
    singles = [estimate_memory(dataclasses.replace(plan, dtype=torch.float16)).total,
               estimate_memory(dataclasses.replace(plan, controlnets=())).total]
    together = estimate_memory(dataclasses.replace(plan, dtype=torch.float16, controlnets=())).total
    assert together < min(singles)
    free = (together + min(singles)) // 2  # both together fit, neither alone
    with pytest.raises(MemoryRefused) as refused:
        check_memory_before_load(preset, free=free)
    line = str(refused.value)
    assert re.search(r"this fits: --dtype float16 and \d ControlNets? instead of 2 together \(", line), line
    assert "--tiny-vae" not in line  # TAESD is larger than the tiny model's own VAE: it saves nothing here


def test_memory_estimate_with_nothing_that_fits_says_so() -> None:
    with pytest.raises(MemoryRefused, match="nothing fits"):
        check_memory_before_load(_preset(), free=1)


def test_memory_estimate_plan_follows_the_preset() -> None:
    preset = _preset(dtype="bfloat16", cfg="full", controlnets=(ControlNetConfig(source="tiny", conditioning="depth"),))
    plan = memory_report(preset, sizes=((512, 512), (768, 512))).plan
    assert plan == MemoryPlan(model="tiny", dtype=torch.bfloat16, sizes=((512, 512), (768, 512)), batch=2,
                              steps=plan.steps, controlnets=("tiny",), depth=plan.depth, depth_resolution=252)
    assert plan.depth[-1] == "tiny"  # the depth ControlNet's own depth model


def test_memory_estimate_counts_a_loras_matrices_from_its_header(tmp_path: Path) -> None:
    from safetensors.torch import save_file

    lora = tmp_path / "style.safetensors"
    save_file({"unet.a.lora_A.weight": torch.zeros(4, 320), "unet.a.lora_B.weight": torch.zeros(320, 4)}, str(lora))
    plan = MemoryPlan(model="tiny", dtype=torch.float16, sizes=((64, 64),), loras=(str(lora), str(tmp_path / "gone")))
    estimate = estimate_memory(plan)
    assert {p.component: p.nbytes for p in estimate.parts}["LoRA 0"] == 2 * 320 * 4 * 2
    assert len(estimate.unknown) == 1 and "gone" in estimate.unknown[0]


def test_memory_estimate_refuses_a_library_show_before_its_model_loads(monkeypatch: pytest.MonkeyPatch) -> None:
    """build_live_show checks memory as `vj run` does; the device's free figure is the one thing faked here."""
    from vj.config_live import ControlsConfig, OutputsConfig, ShowConfig, WebConfig
    from vj.session import live_show, memory_check

    monkeypatch.setattr(memory_check, "device_free", lambda _device: 1024)
    loaded: list[object] = []
    monkeypatch.setattr("vj.session.live.LiveSession.__init__", lambda *a, **k: loaded.append(a))
    config = ShowConfig(controls=ControlsConfig(osc=False), outputs=OutputsConfig(), web=WebConfig(enabled=False))
    with pytest.raises(MemoryRefused, match="needs about .* but 0 MiB is free"):
        live_show.build_live_show(_preset(), config)
    assert loaded == []
