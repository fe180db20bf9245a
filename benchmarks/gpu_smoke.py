"""The GPU check's second part: fail fast, before minutes go into the full-size compile.

1. imports every module of `vj.engine` and what the GPU path takes from diffusers and PIL (an
   import that fails here would end a later part minutes in);
2. builds sd-turbo's full-size components on `meta` (nothing allocated), a jit backend on them, and
   the naive loop's `AutoPipelineForImage2Image` from them;
3. renders a few frames of the tiny model in `--mode` (jit on CUDA: a compile or CUDA-graph problem
   shows here in seconds) and checks they are finite and that the last ones compiled nothing.
Prints one PASS/FAIL line per step and writes them to --out (JSON).

    python benchmarks/gpu_smoke.py --out smoke.json [--mode jit|off] [--device cuda|cpu]
"""

from __future__ import annotations

import argparse
import importlib
import json
import pkgutil
import sys
import time
import traceback
from pathlib import Path
from typing import Any

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))  # run from a plain checkout (no pip install)
sys.path.insert(0, str(Path(__file__).resolve().parent))

from gpu_counters import dynamo_window  # noqa: E402


def import_gpu_path() -> list[str]:
    """Import every vj.engine module and the libraries the GPU path uses; the failures, as lines."""
    import vj.engine

    names = ["diffusers", "PIL.Image", "tests.gpu.guards", "tests.gpu.test_cuda_frames"]
    names += [m.name for m in pkgutil.walk_packages(vj.engine.__path__, "vj.engine.")]
    failed = []
    for name in names:
        try:
            importlib.import_module(name)
        except Exception as err:  # noqa: BLE001 - every failure is reported, none stops the others
            failed.append(f"{name}: {type(err).__name__}: {err}")
    print(f"smoke: imported {len(names) - len(failed)} of {len(names)} modules of the GPU path", flush=True)
    return failed


def full_size_on_meta() -> None:
    """sd-turbo's full-size parts on `meta`, a jit backend and the naive loop's pipeline made from them."""
    from diffusers import AutoPipelineForImage2Image

    from vj.engine.backends.diffusers import DiffusersBackend
    from vj.engine.families.models.random_sd import SD_TURBO, build_random_components, build_random_pipeline

    meta = torch.device("meta")
    components = build_random_components(SD_TURBO, meta, torch.float16)
    params = sum(p.numel() for p in components["unet"].parameters())
    assert params > 800_000_000, f"the UNet has {params} parameters: not sd-turbo's full size"
    DiffusersBackend(build_random_pipeline(components), name="sd-turbo (meta)", device=meta, dtype=torch.float16,
                     tiny_vae=components["taesd"], compile_mode="jit")
    AutoPipelineForImage2Image.from_pipe(build_random_pipeline(components))
    print(f"smoke: sd-turbo's full size on meta: UNet {params / 1e6:.0f} M parameters, jit backend and "
          "AutoPipelineForImage2Image built", flush=True)


def tiny_frames(device: torch.device, mode: str, frames: int = 6) -> dict[str, Any]:
    """The tiny model's frames in `mode`; finite, and the last half compiling nothing."""
    from vj.engine.backends.diffusers import DiffusersBackend
    from vj.engine.clock import FixedClock
    from vj.engine.families.models.tiny import build_tiny_pipeline, build_tiny_taesd
    from vj.engine.loop import Engine, EngineSettings
    from vj.engine.warmup_plan import plan_variants

    sys.path.insert(0, str(Path(__file__).resolve().parent))
    from gpu_loop import _StageSink, _store

    dtype = torch.float16 if device.type == "cuda" else torch.float32
    backend = DiffusersBackend(build_tiny_pipeline(), name="tiny", device=device, dtype=dtype,
                               tiny_vae=build_tiny_taesd(), compile_mode=mode)
    store = _store(64, 1)
    settings = EngineSettings(64, 64, 24, offline=True)
    start = time.perf_counter()
    backend.warmup(plan_variants([(64, 64)], [1], cfg=settings.cfg, embeds_guidance=backend.embeds_guidance))
    engine = Engine(backend, store, settings, _StageSink(), FixedClock(24))
    engine.prime(store.prompts())
    for _ in range(frames // 2):
        engine.render_frame()
    engine.flush()
    with dynamo_window() as window:
        for _ in range(frames - frames // 2):
            engine.render_frame()
        engine.flush()
    return {"mode": mode, "seconds": time.perf_counter() - start, "frames": engine.stats.frames,
            "non_finite": engine.stats.non_finite, "recompiles": window.recompiles}


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--mode", default="jit", choices=["jit", "off"], help="the tiny model's compile mode")
    parser.add_argument("--device", default=None, help="default: cuda when available, else cpu")
    args = parser.parse_args(argv)
    device = torch.device(args.device or ("cuda" if torch.cuda.is_available() else "cpu"))
    torch.set_grad_enabled(False)
    lines: list[str] = []
    failed = import_gpu_path()
    lines.append("FAIL imports: " + "; ".join(failed) if failed else "PASS imports of the GPU path")
    try:
        full_size_on_meta()
        lines.append("PASS sd-turbo full size on meta (jit backend, AutoPipelineForImage2Image)")
    except Exception as err:  # noqa: BLE001 - reported as a FAIL line, the tiny frames still run
        traceback.print_exc()
        lines.append(f"FAIL sd-turbo full size on meta: {type(err).__name__}: {err}")
    tiny: dict[str, Any] = {}
    try:
        tiny = tiny_frames(device, args.mode)
        ok = tiny["non_finite"] == 0 and tiny["recompiles"] == 0 and tiny["frames"] > 0
        lines.append(f"{'PASS' if ok else 'FAIL'} tiny {args.mode} frames on {device.type}: {tiny['frames']} frames, "
                     f"non_finite {tiny['non_finite']}, recompiles after warm-up {tiny['recompiles']}, "
                     f"{tiny['seconds']:.1f} s")
    except Exception as err:  # noqa: BLE001
        traceback.print_exc()
        lines.append(f"FAIL tiny {args.mode} frames on {device.type}: {type(err).__name__}: {err}")
    for line in lines:
        print(f"smoke: {line}", flush=True)
    args.out.write_text(json.dumps({"lines": lines, "tiny": tiny}, indent=2), encoding="utf-8")
    return 1 if any(line.startswith("FAIL") for line in lines) else 0


if __name__ == "__main__":
    raise SystemExit(main())
