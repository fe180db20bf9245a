"""Where exported ONNX graphs and TensorRT engines live, and what makes an engine valid.

An engine is only valid for the weights, frame size, batch, precision, TensorRT version and
GPU it was built for; none of that is visible in the file. So each engine folder holds a
`manifest.json` of that key, written by `vj build-engines` and compared field by field
when the TensorRT backend loads: any difference is `StaleEngine`, naming the field and the
command that rebuilds it. Live parameters (guidance, t-index values, LoRA scales) are kept
out of the key: a scale change is a refit, not a rebuild.

Layout: `<cache>/<model fingerprint>/<W>x<H>/onnx/{encode,decode,unet-b<B>}.onnx` (the export
depends on nothing but the model and shape) and `<cache>/<model fingerprint>/<W>x<H>/
trt<version>-<gpu>-<precision>/{….engine, manifest.json}`.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import os
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vj.errors import BackendUnavailable

# Bump when the exported graphs' inputs, outputs or maths change: old engines then refuse to load.
EXPORT_VERSION = 1
MANIFEST = "manifest.json"
ENCODE, DECODE, UNET = "encode", "decode", "unet"


class StaleEngine(BackendUnavailable):
    """A missing engine, or one built for other weights, size, batch, TensorRT or GPU."""


def default_engine_dir() -> Path:
    """$VJ_CACHE_DIR/engines, else $XDG_CACHE_HOME/vj/engines, else ~/.cache/vj/engines."""
    if os.environ.get("VJ_CACHE_DIR"):
        return Path(os.environ["VJ_CACHE_DIR"]) / "engines"
    base = Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache")
    return base / "vj" / "engines"


def model_fingerprint(parts: Iterable[str]) -> str:
    """One digest of the weight fingerprints of every exported module (and the LoRAs' identity)."""
    digest = hashlib.sha256(f"export-v{EXPORT_VERSION}".encode())
    for part in parts:
        digest.update(part.encode() + b";")
    return digest.hexdigest()[:24]


def call_name(call: str, batch: int) -> str:
    """File stem of one call: the VAE runs at batch 1, the UNet at each batch the show uses."""
    return f"{UNET}-b{batch}" if call == UNET else call


@dataclass(frozen=True, slots=True)
class Target:
    """The hardware half of the key: what an engine is built for."""

    tensorrt: str
    gpu: str
    compute_capability: str
    precision: str = "fp16"

    def slug(self) -> str:
        gpu = re.sub(r"[^a-z0-9]+", "-", self.gpu.lower()).strip("-")
        return f"trt{self.tensorrt}-{gpu}-sm{self.compute_capability.replace('.', '')}-{self.precision}"


@dataclass(frozen=True, slots=True)
class EngineKey:
    """Everything an engine folder is valid for; written as its manifest."""

    model: str  # model_fingerprint(): weights of UNet and VAE, LoRA sources
    width: int
    height: int
    batches: tuple[int, ...]  # the UNet batches built (1 without CFG, 2 with full CFG)
    target: Target
    refittable: bool  # LoRA-carrying UNets are built refittable so a scale change is a refit
    export_version: int = EXPORT_VERSION

    def as_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["batches"] = list(self.batches)
        return data


@dataclass(frozen=True, slots=True)
class EngineFolder:
    root: Path  # the cache
    model: str
    width: int
    height: int

    @property
    def size_dir(self) -> Path:
        return self.root / self.model / f"{self.width}x{self.height}"

    @property
    def onnx_dir(self) -> Path:
        return self.size_dir / "onnx"

    def onnx(self, call: str, batch: int = 1) -> Path:
        return self.onnx_dir / f"{call_name(call, batch)}.onnx"

    def engine_dir(self, target: Target) -> Path:
        return self.size_dir / target.slug()

    def engine(self, target: Target, call: str, batch: int = 1) -> Path:
        return self.engine_dir(target) / f"{call_name(call, batch)}.engine"


def build_command(preset: str, width: int, height: int, batches: Iterable[int]) -> str:
    return f"vj build-engines {preset} --sizes {width}x{height} --batch {','.join(str(b) for b in sorted(batches))}"


def write_manifest(folder: Path, key: EngineKey) -> Path:
    """Atomically: a crash mid-write never leaves a manifest that vouches for half a build."""
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / MANIFEST
    partial = path.with_suffix(".json.partial")
    partial.write_text(json.dumps(key.as_json(), indent=2, sort_keys=True) + "\n", encoding="utf-8")
    os.replace(partial, path)
    return path


def check_manifest(folder: Path, expected: EngineKey, *, needed: Mapping[str, Path], rebuild: str) -> None:
    """Raise `StaleEngine` unless `folder` holds every needed engine built for exactly `expected`.

    `rebuild` is the command that makes them; every refusal ends with it. A requested UNet
    batch need only be one of the batches built.
    """
    path = folder / MANIFEST
    if not path.is_file():
        raise StaleEngine(f"no TensorRT engines in {folder} (no {MANIFEST}); build them with `{rebuild}`")
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise StaleEngine(f"{path} is unreadable ({err}); rebuild the engines with `{rebuild}`") from err
    if not isinstance(found, dict):
        raise StaleEngine(f"{path} holds no JSON object; rebuild the engines with `{rebuild}`")
    want = expected.as_json()
    for field in ("export_version", "model", "width", "height", "target", "refittable"):
        if found.get(field) != want[field]:
            raise StaleEngine(f"the TensorRT engines in {folder} are stale: {field} is {found.get(field)!r}, this "
                              f"run needs {want[field]!r}; rebuild them with `{rebuild}`")
    missing_batches = sorted(set(expected.batches) - set(found.get("batches") or []))
    if missing_batches:
        raise StaleEngine(f"the TensorRT engines in {folder} were built for UNet batches {found.get('batches')}, "
                          f"this run needs {missing_batches}; build them with `{rebuild}`")
    for call, engine in needed.items():
        if not engine.is_file():
            raise StaleEngine(f"the {call} engine {engine} is missing; build it with `{rebuild}`")


def manifest_batches(folder: Path) -> list[int]:
    """The UNet batches a folder's manifest says were built ([] when there is none to read)."""
    try:
        found = json.loads((folder / MANIFEST).read_text(encoding="utf-8"))
        return [int(b) for b in found.get("batches", [])]
    except (OSError, UnicodeDecodeError, ValueError, TypeError, AttributeError):
        return []
