"""`--dry-run` and `--no-memory-check` of `vj run` and `vj render`: the plan and the memory estimate, nothing loaded.

The dry run runs every check a real start runs before the model loads, prints what would
start (device, dtype, backend, compile mode, sizes, the controls and outputs) and the memory
estimate part by part, and exits 0; where the real start would be refused for memory, it
prints the same refusal and exits 2. No weight loads and no server starts (the port checks
bind and close at once, as a real start's do).
"""

from __future__ import annotations

import argparse
from collections.abc import Iterable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from vj.config import PresetConfig
    from vj.config_live import ShowConfig
    from vj.session.memory_check import MemoryReport


def add_memory_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("memory")
    g.add_argument("--dry-run", action="store_true",
                   help="print the plan (device, dtype, backend, compile mode, sizes, controls, outputs) and the "
                        "memory estimate per component, then exit without loading a model or starting a server")
    g.add_argument("--no-memory-check", action="store_true",
                   help="start even when the memory estimate exceeds what the device has free")


def check_memory(preset: PresetConfig, args: argparse.Namespace, *, sizes: tuple[tuple[int, int], ...],
                 wants_depth: bool = False) -> MemoryReport | None:
    """The memory check before the model loads (skipped by --no-memory-check, except in a dry run)."""
    from vj.session.memory_check import check_memory_before_load, memory_report

    if args.dry_run:
        return memory_report(preset, sizes=sizes, wants_depth=wants_depth)
    if args.no_memory_check:
        return None
    return check_memory_before_load(preset, sizes=sizes, wants_depth=wants_depth)


def print_dry_run(command: str, preset: PresetConfig, report: MemoryReport, *, show: ShowConfig | None = None,
                  steps: Iterable[int] = ()) -> int:
    """The plan and the estimate on stdout; 0, or MemoryRefused (exit 2) where the start would be refused."""
    from vj.engine.compile.jit import resolve_compile_mode
    from vj.engine.memory_estimate import gib, readable
    from vj.session.memory_check import MemoryRefused, refusal

    model, plan = preset.model, report.plan
    out = [f"vj {command} --dry-run: preset {preset.name!r} (no model loaded, no server started)",
           f"  model     {model.source}" + (f" with tiny VAE {model.tiny_vae}" if model.tiny_vae else ""),
           f"  device    {report.device}, {str(plan.dtype).removeprefix('torch.')}, {model.backend} backend, "
           f"compile {resolve_compile_mode(model.compile, report.device)}",
           f"  sizes     {', '.join(f'{w}x{h}' for w, h in plan.sizes)} warmed; UNet batch up to {plan.batch} "
           f"(cfg {model.cfg}); steps {', '.join(map(str, sorted(set(steps) or set(plan.steps))))}"]
    if preset.controlnet:
        out.append("  controlnet " + ", ".join(f"{u.source} ({u.conditioning})" for u in preset.controlnet))
    if model.ip_adapter:
        pictures = len(preset.reference.images)
        out.append(f"  ip-adapter {model.ip_adapter}, {pictures} starting picture{'s' if pictures != 1 else ''}")
    if plan.depth:
        out.append(f"  depth     {', '.join(plan.depth)} at resolution {plan.depth_resolution}")
    if show is not None:
        out += [f"  controls  {', '.join(_controls(show)) or 'none'}", f"  outputs   {', '.join(_outputs(show))}"]
    estimate = report.estimate
    out.append("memory (weights counted from the config files on meta; activations, graphs and margin modelled, "
               "not yet measured on a GPU):")
    out += [f"  {p.component:<28} {p.kind:<12} {readable(p.nbytes):>9}  {p.detail}" for p in estimate.parts]
    out.append(f"  {'total':<28} {'':<12} {gib(estimate.total):>9}")
    for unknown in estimate.unknown:
        out.append(f"  not estimated: {unknown}")
    if report.free is None:
        out.append(f"  on {report.device}: no device limit applies (the estimate is what a GPU would need)")
    elif not estimate.complete:
        out.append(f"  {gib(report.free)} free on {report.device}: not compared (the estimate is incomplete)")
    else:
        verdict = "fits" if report.fits else "does not fit"
        out.append(f"  {gib(report.free)} free on {report.device}: {verdict}")
    print("\n".join(out), flush=True)
    if not report.fits:
        raise MemoryRefused(refusal(preset, report))
    return 0


def _controls(show: ShowConfig) -> list[str]:
    c, web = show.controls, show.web
    found = []
    if c.osc:
        found.append(f"OSC udp {c.osc_host}:{c.osc_port}")
        if c.oscquery:
            port = c.oscquery_port if c.oscquery_port is not None else (c.osc_port + 1 if c.osc_port else 0)
            found.append(f"OSCQuery http {c.osc_host}:{port}")
    if web.enabled:
        port = web.port if web.port is not None else (c.osc_port + 2 if c.osc_port else 0)
        found.append(f"control page http://{web.host}:{port}/")
    if c.midi:
        found.append(f"MIDI {c.midi!r}" + (f" mapped by {c.midi_map}" if c.midi_map else ""))
    if c.link:
        found.append("Ableton Link")
    if show.audio.device:
        found.append(f"audio in {show.audio.device!r}")
    return found


def _outputs(show: ShowConfig) -> list[str]:
    o = show.outputs
    found = [f"recording {o.record}"] if o.record else []
    found += [name for name, on in (("virtual camera", o.vcam), ("NDI " + repr(o.ndi_name), o.ndi),
                                    ("preview" + (" fullscreen" if o.preview_fullscreen else ""), o.preview)) if on]
    found += [f"{kind} {name!r}" for kind, name in (("Spout", o.spout), ("Syphon", o.syphon)) if name]
    if not found:
        return ["none (status line only)"]
    g = o.geometry
    if g is not None:
        upscaler = f", upscaler {g.upscaler}" if g.upscaler else ""
        found.append(f"at {g.size[0]}x{g.size[1]} ({g.fit}, {g.resample}{upscaler}; recorded at the "
                     f"{'render' if g.keep_render_copy else 'output'} size)")
    found += [f"{s.output} at {s.size[0]}x{s.size[1]} ({s.fit})" for s in o.output_sizes]
    if o.blend:
        where = f"{o.in_betweens} made on the device per frame" if o.in_betweens else "on the host"
        found.append(f"blending between frames ({where})")
    return found

