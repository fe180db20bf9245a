"""`vj build-engines`: export the per-frame calls to ONNX and build TensorRT engines, offline.

Everything that can be checked (preset, sizes, model, LoRAs) is checked before the first
export. Without TensorRT the ONNX half still runs, and the command then fails in one line
saying so: it never reports success for engines it did not build.
"""

from __future__ import annotations

import argparse
import json
import logging
from pathlib import Path

from vj.cli.argtypes import batches, sizes
from vj.cli.common import add_common_arguments, preset_from_args
from vj.errors import VjError

log = logging.getLogger(__name__)


def add_build_engines_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("preset", help="a preset file or the name of a shipped preset (its model and LoRAs)")
    parser.add_argument("--sizes", type=sizes, help="frame sizes WxH[,WxH...] (default: the preset's size)")
    parser.add_argument("--batch", type=batches, default=[1],
                        help="UNet batches B[,B...]: 1 without CFG, 2 with full CFG (default 1)")
    parser.add_argument("--cache-dir", type=Path,
                        help="engine cache (default $VJ_CACHE_DIR/engines or ~/.cache/vj/engines)")
    add_common_arguments(parser)


def cmd_build_engines(args: argparse.Namespace) -> int:
    from vj.engine.backends.loading import load_diffusers_backend
    from vj.engine.compile.engine_cache import (
        UNET,
        EngineFolder,
        EngineKey,
        build_command,
        default_engine_dir,
        write_manifest,
    )
    from vj.engine.compile.onnx_export import REFIT_MAP, backend_fingerprint, call_exports, export_onnx, refit_map
    from vj.engine.compile.trt_build import TENSORRT_MISSING, build_engine, current_target, import_tensorrt

    preset = preset_from_args(args)
    wanted = args.sizes or [(preset.render.width, preset.render.height)]
    backend = load_diffusers_backend(preset.model)  # exported from PyTorch whatever backend the preset runs
    for width, height in wanted:  # every size refused before the first export
        backend.check_resolution(width, height)
    cache = args.cache_dir or default_engine_dir()
    fingerprint = backend_fingerprint(backend)
    refittable = backend.loras is not None
    exported: list[tuple[EngineFolder, str, int, Path]] = []
    for width, height in wanted:
        folder = EngineFolder(cache, fingerprint, width, height)
        for export in call_exports(backend, width, height, args.batch):
            path = folder.onnx(export.call, export.batch)
            if path.is_file():
                log.info("%s: ONNX for %dx%d already exported (%s)", export.name, width, height, path)
            else:
                export_onnx(export, path)
                if refittable and export.call == UNET:
                    names = refit_map(path, export.module)
                    path.with_name(f"{path.stem}.{REFIT_MAP}").write_text(json.dumps(names), encoding="utf-8")
            exported.append((folder, export.call, export.batch, path))
    print(f"ONNX: {len(exported)} graphs in {cache / fingerprint}")
    trt = import_tensorrt()
    if trt is None:
        raise VjError(TENSORRT_MISSING)
    target = current_target(trt)
    timing_cache = cache / f"timing-{target.slug()}.cache"
    for folder, call, batch, onnx_path in exported:
        engine = folder.engine(target, call, batch)
        build_engine(trt, onnx_path, engine, timing_cache=timing_cache, refittable=refittable and call == UNET)
    for width, height in wanted:
        folder = EngineFolder(cache, fingerprint, width, height)
        key = EngineKey(model=fingerprint, width=width, height=height, batches=tuple(args.batch), target=target,
                        refittable=refittable)
        write_manifest(folder.engine_dir(target), key)
        print(f"engines for {width}x{height}: {folder.engine_dir(target)}  (rebuild: "
              f"{build_command(args.preset, width, height, args.batch)})")
    return 0
