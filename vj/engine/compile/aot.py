"""Ahead-of-time compiled model calls (AOTInductor), built once per shape and cached on disk.

`torch.export` traces a module for fixed input shapes; AOTInductor compiles the trace with
the weights baked in as constants into a `.pt2` package of native code. Calling it runs
no Python per kernel and no Dynamo guards: on the 2-core dev CPU the tiny model's three
calls per frame at 64 px take 7.7-8.8 ms back to back, against 12-14 ms under
`torch.compile` (see benchmarks/RESULTS.md). A package is keyed, like a TensorRT engine, by
everything that makes it valid: the weights (a fingerprint), the call, the input shapes and
dtypes, the device type and the torch version, and on CUDA the GPU (name and compute
capability) and the CUDA and Triton versions the kernels were generated for. A new key compiles (30-60 s a call for the
tiny model on the dev CPU, two variants timed; the real UNet takes minutes) and is written
atomically, so the next launch loads it in a fraction of a second. An unreadable package is reported and
rebuilt, never silently used.
"""

from __future__ import annotations

import hashlib
import logging
import os
import tempfile
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import torch

log = logging.getLogger(__name__)

# Bump when the wrapped modules' maths, the candidates or the package layout change: old packages then miss.
FORMAT_VERSION = 2

# Inductor settings tried for every build; the fastest on this machine is kept (TensorRT picks
# its tactics the same way). Freezing prepacks every convolution's weights for oneDNN: on the
# dev CPU that made the tiny VAE decoder (64×64 maps) 18 % faster and the UNet (8×8 maps) 70 %
# slower, where oneDNN's per-call cost outweighs the work. No single setting wins both.
CANDIDATES: tuple[tuple[str, dict[str, Any]], ...] = (("default", {}), ("frozen", {"freezing": True}))
# Freezing is a oneDNN (CPU) choice: on CUDA one variant is built, with inductor's defaults.
CUDA_CANDIDATES: tuple[tuple[str, dict[str, Any]], ...] = (("default", {}),)


def candidates_for(device: torch.device) -> tuple[tuple[str, dict[str, Any]], ...]:
    return CUDA_CANDIDATES if device.type == "cuda" else CANDIDATES


def _triton_version() -> str:
    try:
        from importlib.metadata import PackageNotFoundError, version

        return version("triton")
    except PackageNotFoundError:
        return "none"


def device_key(device: torch.device) -> str:
    """The part of a package's key that names the hardware and toolchain it was compiled for."""
    if device.type != "cuda":
        return device.type
    major, minor = torch.cuda.get_device_capability(device)
    return "|".join(("cuda", torch.cuda.get_device_name(device), f"sm{major}{minor}",
                     f"cuda{torch.version.cuda}", f"triton{_triton_version()}"))


def default_cache_dir() -> Path:
    """$VJ_CACHE_DIR/aot, else $XDG_CACHE_HOME/vj/aot, else ~/.cache/vj/aot."""
    if os.environ.get("VJ_CACHE_DIR"):
        return Path(os.environ["VJ_CACHE_DIR"]) / "aot"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "vj" / "aot"


def weights_fingerprint(module: torch.nn.Module) -> str:
    """A digest of every parameter and buffer: names, shapes, dtypes and contents.

    Contents are summarised by two reductions per tensor (a sum and a sum weighted by
    position), which changes when any value does, short of a deliberate collision; a full
    hash of a 2 GB UNet would cost seconds at every launch for no practical gain.
    """
    return tensors_fingerprint((*module.named_parameters(), *module.named_buffers()))


def tensors_fingerprint(named: Iterable[tuple[str, torch.Tensor]]) -> str:
    """`weights_fingerprint` of any (name, tensor) pairs (a LoRA's adapter matrices, say)."""
    digest = hashlib.sha256()
    with torch.no_grad():
        for name, tensor in named:
            flat = tensor.detach().reshape(-1).double()
            ramp = torch.linspace(1.0, 2.0, flat.numel(), dtype=torch.float64, device=flat.device)
            digest.update(f"{name}|{tuple(tensor.shape)}|{tensor.dtype}|".encode())
            digest.update(f"{flat.sum().item():.17g}|{(flat * ramp).sum().item():.17g};".encode())
    return digest.hexdigest()


def _describe(inputs: Sequence[torch.Tensor]) -> str:
    return ",".join(f"{tuple(t.shape)}:{str(t.dtype).removeprefix('torch.')}" for t in inputs)


class AotCompiled:
    """Calls `module` through an AOTInductor package per distinct input signature.

    The first call with a new signature (shapes, dtypes) loads the package from the cache
    or builds it; later calls go straight to the loaded native code. Not thread-safe: one
    render thread owns it, as it owns the model.
    """

    def __init__(self, module: torch.nn.Module, *, call: str, fingerprint: str, device: torch.device,
                 cache_dir: Path) -> None:
        self.module = module.eval()
        self.call = call
        self.fingerprint = fingerprint
        self.device = device
        self.cache_dir = cache_dir
        self._runners: dict[str, Any] = {}
        self.builds = 0  # packages compiled by this process (a warm cache keeps it at 0)

    def package_path(self, inputs: Sequence[torch.Tensor]) -> Path:
        key = "|".join((f"v{FORMAT_VERSION}", self.call, self.fingerprint, _describe(inputs),
                        device_key(self.device), torch.__version__))
        return self.cache_dir / f"{self.call}-{hashlib.sha256(key.encode()).hexdigest()[:20]}.pt2"

    def __call__(self, *inputs: torch.Tensor) -> torch.Tensor:
        # A package is compiled for contiguous inputs and reads them by those strides: a
        # permuted or sliced view (the warp can produce one) would be read as garbage.
        inputs = tuple(t.contiguous() for t in inputs)
        signature = _describe(inputs)
        runner = self._runners.get(signature)
        if runner is None:
            runner = self._runners[signature] = _direct(self._load_or_build(inputs))
        return runner(*inputs)

    def _load_or_build(self, inputs: Sequence[torch.Tensor]) -> Any:
        path = self.package_path(inputs)
        if path.is_file():
            try:
                runner = torch._inductor.aoti_load_package(str(path))
                log.info("%s: loaded the compiled package for %s from %s", self.call, _describe(inputs), path)
                return runner
            except Exception as err:  # noqa: BLE001 - a truncated or foreign file fails in many ways
                log.warning("%s: the cached package %s cannot be loaded (%s: %s); compiling it again",
                            self.call, path, type(err).__name__, err)
        return self._build(inputs, path)

    def _build(self, inputs: Sequence[torch.Tensor], path: Path) -> Any:
        candidates = candidates_for(self.device)
        log.info("%s: compiling for %s with AOTInductor, %d variant(s) timed (seconds for small models, "
                 "minutes for SD on a CPU); cached in %s", self.call, _describe(inputs), len(candidates),
                 path.parent)
        start = time.perf_counter()
        path.parent.mkdir(parents=True, exist_ok=True)
        with torch.no_grad():
            program = torch.export.export(self.module, tuple(inputs))
        # Build next to the final name and rename the winner: a crash mid-build never leaves a half package.
        partials: list[str] = []
        try:
            timings: list[tuple[float, str, str]] = []
            for label, options in candidates:
                fd, partial = tempfile.mkstemp(prefix=f".{path.stem}-{label}-", suffix=".pt2", dir=path.parent)
                os.close(fd)
                partials.append(partial)
                torch._inductor.aoti_compile_and_package(program, package_path=partial, inductor_configs=options)
                runner = torch._inductor.aoti_load_package(partial)
                timings.append((_seconds_per_call(runner, inputs, self.device), label, partial))
            _, best, winner = min(timings)
            os.replace(winner, path)
        finally:
            for partial in partials:
                if os.path.exists(partial):
                    os.unlink(partial)
        self.builds += 1
        log.info("%s: compiled in %.1f s; per call %s → kept %s", self.call, time.perf_counter() - start,
                 ", ".join(f"{label} {s * 1000:.2f} ms" for s, label, _ in timings), best)
        return torch._inductor.aoti_load_package(str(path))


def _direct(package: Any) -> Any:
    """The package's native entry point, for a module with tensor inputs and one tensor output.

    The public wrapper re-parses the call's input/output tree specs from JSON on every call
    (about 80 us on the dev CPU, a quarter of a millisecond a frame over three calls); the
    loader's `boxed_run` takes the flat tensor list those specs describe.
    """
    loader = package.loader
    return lambda *inputs: loader.boxed_run(list(inputs))[0]


def _seconds_per_call(runner: Any, inputs: Sequence[torch.Tensor], device: torch.device,
                      budget_s: float = 0.3) -> float:
    """Median seconds of a call, after a warm-up, over about `budget_s` of calls (5 at least)."""
    def timed() -> float:
        start = time.perf_counter()
        runner(*inputs)
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        return time.perf_counter() - start

    first = max(timed() for _ in range(3))
    samples = sorted(timed() for _ in range(max(5, min(200, int(budget_s / max(first, 1e-6))))))
    return samples[len(samples) // 2]
