"""The GPU check's first part: the environment, and the two rates the rest is judged against.

Prints the versions and the device, then measures (about 5 s in all) the bf16 matmul rate (TFLOP/s:
the floor of gpu_loop.py divides by it, not by the datasheet's) and the device-to-device copy rate
(GB/s), and writes both to the JSON file named by --out.

    python benchmarks/gpu_env.py --out env.json [--seconds 2]
"""

from __future__ import annotations

import argparse
import importlib
import json
import platform
import subprocess
import time
from pathlib import Path

import torch

PACKAGES = ("torch", "numpy", "transformers", "huggingface_hub", "safetensors", "diffusers", "onnx", "onnxruntime",
            "peft", "PIL")


def _version(name: str) -> str:
    try:
        return str(getattr(importlib.import_module(name), "__version__", "?"))
    except ImportError:
        return "absent"


def _timed(work: object, seconds: float, device: torch.device) -> tuple[int, float]:
    """Calls of `work` in about `seconds`, and the seconds they took (device work waited for)."""
    assert callable(work)
    work()  # first call: kernels chosen, memory allocated
    _sync(device)
    calls, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in range(10):
            work()
        calls += 10
        _sync(device)
    return calls, time.perf_counter() - start


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def matmul_tflops(device: torch.device, seconds: float, n: int) -> float:
    a = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    b = torch.randn(n, n, device=device, dtype=torch.bfloat16)
    calls, took = _timed(lambda: a @ b, seconds, device)
    return 2 * n**3 * calls / took / 1e12


def copy_gbps(device: torch.device, seconds: float, mib: int) -> float:
    src = torch.empty(mib * 2**20, dtype=torch.uint8, device=device)
    dst = torch.empty_like(src)
    calls, took = _timed(lambda: dst.copy_(src), seconds, device)
    return 2 * src.numel() * calls / took / 1e9  # read + write


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--seconds", type=float, default=2.0, help="per rate (default 2)")
    args = parser.parse_args(argv)
    cuda = torch.cuda.is_available()
    device = torch.device("cuda" if cuda else "cpu")
    versions = {name: _version(name) for name in PACKAGES}
    info: dict[str, object] = {
        "python": platform.python_version(),
        "versions": versions,
        "cuda": torch.version.cuda,
        "device": torch.cuda.get_device_name(0) if cuda else f"cpu ({platform.machine()})",
    }
    if cuda:
        try:
            smi = subprocess.run(["nvidia-smi", "--query-gpu=name,driver_version,clocks.sm,clocks.max.sm,memory.total,"
                                  "power.limit", "--format=csv,noheader"], capture_output=True, text=True, timeout=10)
            info["nvidia_smi"] = smi.stdout.strip()
        except (OSError, subprocess.TimeoutExpired) as err:
            info["nvidia_smi"] = f"not run: {err}"
    # Large enough on a GPU to reach the tensor cores' rate; small on a CPU, where this only shows it runs.
    info["bf16_matmul_tflops"] = matmul_tflops(device, args.seconds, 8192 if cuda else 256)
    info["copy_gbps"] = copy_gbps(device, args.seconds, 1024 if cuda else 16)
    args.out.write_text(json.dumps(info, indent=2), encoding="utf-8")
    listed = ", ".join(f"{k} {v}" for k, v in versions.items())
    print(f"env: python {info['python']}, CUDA {info['cuda']}, device {info['device']}\nenv: {listed}")
    if "nvidia_smi" in info:
        print(f"env: nvidia-smi: {info['nvidia_smi']}")
    print(f"env: bf16 matmul {info['bf16_matmul_tflops']:.3g} TFLOP/s, device copy {info['copy_gbps']:.3g} GB/s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
