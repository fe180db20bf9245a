"""A preset's memory estimate (vj.engine.memory_estimate) against what the device has free, before the model loads.

Refused in one line saying how much is needed, how much is free, and which change would fit:
each candidate change (fp16, the tiny VAE, fewer ControlNets, a smaller size) is estimated
again, and only those that fit are offered. On a CPU no device limit applies: the estimate is
printed by the dry run and nothing is refused.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable
from dataclasses import dataclass

import torch

from vj.config import PresetConfig
from vj.engine.backends.loading import pick_device, pick_dtype
from vj.engine.backends.sizes import size_rule
from vj.engine.compile.jit import resolve_compile_mode
from vj.engine.conditioning.guidance import unet_batches
from vj.engine.families.family import ModelFamily
from vj.engine.memory_estimate import MemoryEstimate, MemoryPlan, estimate_memory, readable
from vj.errors import VjError
from vj.registry import REGISTRY
from vj.session.build_engine import wants_feature_bank
from vj.session.controlnet import control_depth_source
from vj.session.depth import depth_source_to_load

log = logging.getLogger(__name__)

SIZE_STEPS = (0.875, 0.75, 0.625, 0.5)  # fractions of the side a smaller size is tried at, largest first


class MemoryRefused(VjError):
    """The show would not fit in the device's free memory."""


@dataclass(frozen=True, slots=True)
class MemoryReport:
    plan: MemoryPlan
    estimate: MemoryEstimate
    device: torch.device
    free: int | None  # bytes free on the device now; None where no device limit applies (a CPU)

    @property
    def fits(self) -> bool:
        return self.free is None or not self.estimate.complete or self.estimate.total <= self.free


def warm_sizes(preset: PresetConfig, extra: Iterable[PresetConfig] = (), *, fixed_size: bool = False
               ) -> tuple[tuple[int, int], ...]:
    """Every frame size the show warms up (as LiveSession.warmup_variants decides)."""
    sizes = {(preset.render.width, preset.render.height)}
    if not fixed_size:
        sizes |= {(p.render.width, p.render.height) for p in extra}
    return tuple(sorted(sizes))


def memory_plan(preset: PresetConfig, *, sizes: tuple[tuple[int, int], ...] | None = None,
                wants_depth: bool = False) -> MemoryPlan:
    model = preset.model
    device = pick_device(model.device)
    depth = depth_source_to_load(preset, wants_depth)
    depths = tuple(s for s in (depth,) if s is not None)
    if any(unit.conditioning == "depth" for unit in preset.controlnet):
        depths += (control_depth_source(preset),)  # a depth ControlNet loads its own depth model
    steps = int(preset.params.get("steps", REGISTRY["steps"].default))
    # The UNet's batch under full CFG is 2 unless the UNet embeds guidance (LCM): the estimate reads its config.
    return MemoryPlan(model=model.source, dtype=pick_dtype(model.dtype, device),
                      sizes=sizes or ((preset.render.width, preset.render.height),),
                      batch=max(unet_batches(model.cfg, embeds_guidance=False)), steps=(steps,),
                      tiny_vae=model.tiny_vae, controlnets=tuple(u.source for u in preset.controlnet),
                      loras=tuple(lora.source for lora in model.loras),
                      depth=depths, depth_resolution=preset.depth.resolution,
                      cuda_graphs=device.type == "cuda" and resolve_compile_mode(model.compile, device) == "jit",
                      feature_bank=wants_feature_bank(preset), ip_adapter=model.ip_adapter)


def device_free(device: torch.device) -> int | None:
    """Bytes free on a CUDA device now; None elsewhere (a CPU has no device limit; MPS reports none)."""
    if device.type != "cuda":
        return None
    free, _total = torch.cuda.mem_get_info(device)
    return int(free)


def memory_report(preset: PresetConfig, *, sizes: tuple[tuple[int, int], ...] | None = None,
                  wants_depth: bool = False, free: int | None = None) -> MemoryReport:
    """The estimate for `preset` and the device's free memory (`free`: a known figure, for tests)."""
    plan = memory_plan(preset, sizes=sizes, wants_depth=wants_depth)
    device = pick_device(preset.model.device)
    return MemoryReport(plan, estimate_memory(plan), device, free if free is not None else device_free(device))


def _smaller_sizes(preset: PresetConfig) -> list[tuple[int, int]]:
    rule = size_rule(preset.model)
    multiple = rule.multiple if rule is not None else 64
    width, height = preset.render.width, preset.render.height
    found: list[tuple[int, int]] = []
    for fraction in SIZE_STEPS:
        size = (max(multiple, int(width * fraction) // multiple * multiple),
                max(multiple, int(height * fraction) // multiple * multiple))
        if size not in found and size != (width, height):
            found.append(size)
    return found


Change = tuple[str, Callable[[MemoryPlan], MemoryPlan]]  # the flags a performer types, and what they change


def _keep_controlnets(keep: int) -> Callable[[MemoryPlan], MemoryPlan]:
    return lambda plan: dataclasses.replace(plan, controlnets=plan.controlnets[:keep])


def _resize(own: tuple[int, int], size: tuple[int, int]) -> Callable[[MemoryPlan], MemoryPlan]:
    """The preset's own size made smaller; the other sizes warmed are kept."""
    return lambda plan: dataclasses.replace(plan, sizes=tuple(sorted({size if s == own else s for s in plan.sizes})))


def _changes(preset: PresetConfig, plan: MemoryPlan) -> tuple[list[Change], list[Change], list[Change]]:
    """The changes to try, by kind: (fp16 and the tiny VAE), fewer ControlNets (most kept first), smaller sizes."""
    simple: list[Change] = []
    if plan.dtype == torch.float32:
        simple.append(("--dtype float16", lambda p: dataclasses.replace(p, dtype=torch.float16)))
    if not plan.tiny_vae:  # the built-in tiny VAE has TAESD's shape: its estimate is TAESD's
        simple.append((f"--tiny-vae {_family(plan).tiny_vae_id}", lambda p: dataclasses.replace(p, tiny_vae="tiny")))
    total = len(plan.controlnets)
    fewer = [(f"{keep} ControlNet{'s' if keep != 1 else ''} instead of {total}", _keep_controlnets(keep))
             for keep in range(total - 1, -1, -1)]
    smaller = [(f"--width {w} --height {h}", _resize((preset.render.width, preset.render.height), (w, h)))
               for w, h in _smaller_sizes(preset)]
    return simple, fewer, smaller


def _fits(plan: MemoryPlan, free: int) -> int | None:
    """The plan's estimate when it fits in `free`, else None."""
    estimate = estimate_memory(plan)
    return estimate.total if estimate.complete and estimate.total <= free else None


def fitting_changes(preset: PresetConfig, report: MemoryReport) -> list[str]:
    """Each single change that would fit, with its estimate (`--dtype float16 (5.1 GiB)`); the fewest ControlNets
    and the largest size dropped and kept. None fitting alone, the changes together in order, as far as needed."""
    if report.free is None:
        return []
    simple, fewer, smaller = _changes(preset, report.plan)
    found: list[str] = []
    for group, first_only in ((simple, False), (fewer, True), (smaller, True)):
        for label, change in group:
            total = _fits(change(report.plan), report.free)
            if total is not None:
                found.append(f"{label} ({readable(total)})")
                if first_only:
                    break
    if found:
        return found
    plan, labels, needed = report.plan, list[str](), report.estimate.total
    for group in (simple, fewer, smaller):  # one after another, each kept where it saves memory, until one fits
        for label, change in group:
            candidate = change(plan)
            kept = [done for done in labels if group is not fewer or "ControlNet" not in done]
            estimate = estimate_memory(candidate)
            if estimate.complete and estimate.total <= report.free:
                return [" and ".join([*kept, label]) + f" together ({readable(estimate.total)})"]
            if group is not smaller and estimate.total < needed:
                plan, labels, needed = candidate, [*kept, label], estimate.total
    return []


def _family(plan: MemoryPlan) -> ModelFamily:
    from vj.engine.families.lookup import DEFAULT_FAMILY, tiny_family
    from vj.engine.memory_estimate import build_models

    tiny = tiny_family(plan.model)
    if tiny is not None:
        return tiny
    family = build_models(dataclasses.replace(plan, controlnets=(), depth=())).family
    return family if family is not None else DEFAULT_FAMILY


def refusal(preset: PresetConfig, report: MemoryReport) -> str:
    """The one line a show that does not fit is refused with."""
    estimate = report.estimate
    parts = ", ".join(f"{kind} {readable(estimate.of_kind(kind))}"
                      for kind in ("weights", "activations", "graphs", "margin") if estimate.of_kind(kind))
    changes = fitting_changes(preset, report)
    offer = ("; this fits: " + " or ".join(changes)) if changes else \
        "; nothing fits (fp16, the tiny VAE, no ControlNets, half the size): free memory on the device first"
    return (f"preset {preset.name!r} needs about {readable(estimate.total)} on {report.device} ({parts}) but "
            f"{readable(report.free or 0)} is free{offer} (vj run --dry-run shows the estimate; --no-memory-check "
            "starts anyway)")


def check_memory_before_load(preset: PresetConfig, *, sizes: tuple[tuple[int, int], ...] | None = None,
                             wants_depth: bool = False, free: int | None = None) -> MemoryReport:
    """Raise MemoryRefused when the estimate exceeds the device's free memory; the report otherwise."""
    report = memory_report(preset, sizes=sizes, wants_depth=wants_depth, free=free)
    if not report.estimate.complete:
        log.info("memory not checked before loading: %s", "; ".join(report.estimate.unknown))
    elif report.free is None:
        log.info("memory: about %s needed on %s (no device limit applies)", readable(report.estimate.total),
                 report.device)
    elif not report.fits:
        raise MemoryRefused(refusal(preset, report))
    else:
        log.info("memory: about %s needed, %s free on %s", readable(report.estimate.total), readable(report.free),
                 report.device)
    return report
