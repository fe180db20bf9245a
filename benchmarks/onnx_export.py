"""Export sd-turbo's full-size architecture (random weights) to ONNX and check it with onnxruntime.

Nothing is downloaded: the UNet (SD 2.1, 866 M parameters), VAE and a 23-layer OpenCLIP-sized
text encoder are built from config. Prints one table: per call, the export time, the graph
size on disk, the onnxruntime time of one call and the largest difference from PyTorch, and
the process's peak memory. Run: python benchmarks/onnx_export.py [--size 256] [--out DIR]
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

import numpy as np
import torch


def build_sd_turbo_random(dtype: torch.dtype):  # noqa: ANN201
    from diffusers import AutoencoderKL, EulerDiscreteScheduler, StableDiffusionPipeline, UNet2DConditionModel
    from transformers import CLIPTextConfig, CLIPTextModel

    from vj.engine.families.models.tiny import build_tiny_tokenizer

    torch.manual_seed(0)
    unet = UNet2DConditionModel(block_out_channels=(320, 640, 1280, 1280), cross_attention_dim=1024,
                                attention_head_dim=(5, 10, 20, 20), use_linear_projection=True, sample_size=64)
    vae = AutoencoderKL(block_out_channels=[128, 256, 512, 512], down_block_types=["DownEncoderBlock2D"] * 4,
                        up_block_types=["UpDecoderBlock2D"] * 4, latent_channels=4, layers_per_block=2,
                        scaling_factor=0.18215)
    text = CLIPTextModel(CLIPTextConfig(hidden_size=1024, intermediate_size=4096, num_attention_heads=16,
                                        num_hidden_layers=23, vocab_size=1000, bos_token_id=0, eos_token_id=1,
                                        pad_token_id=1, max_position_embeddings=77, hidden_act="gelu"))
    scheduler = EulerDiscreteScheduler(beta_schedule="scaled_linear", beta_start=0.00085, beta_end=0.012,
                                       timestep_spacing="trailing")
    pipe = StableDiffusionPipeline(vae=vae, text_encoder=text, tokenizer=build_tiny_tokenizer(), unet=unet,
                                   scheduler=scheduler, safety_checker=None, feature_extractor=None,
                                   requires_safety_checker=False)
    return pipe.to(dtype)


def main() -> None:
    import onnxruntime as ort

    from vj.engine.backends.diffusers import DiffusersBackend
    from vj.engine.compile.onnx_export import call_exports, export_onnx

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--size", type=int, default=256, help="square frame size (default 256)")
    parser.add_argument("--out", type=Path, help="folder for the graphs (default: a temporary one)")
    args = parser.parse_args()
    out = args.out or Path(tempfile.mkdtemp(prefix="vj-onnx-"))
    backend = DiffusersBackend(build_sd_turbo_random(torch.float32), name="sd-turbo-architecture",
                               device=torch.device("cpu"), dtype=torch.float32)
    rows = []
    for export in call_exports(backend, args.size, args.size, [1]):
        start = time.perf_counter()
        path = export_onnx(export, out / f"{export.name}.onnx")
        export_s = time.perf_counter() - start
        size = sum(p.stat().st_size for p in out.glob(f"{export.name}.onnx*"))
        session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        feed = {k: v.numpy() for k, v in export.inputs.items()}
        start = time.perf_counter()
        got = session.run(None, feed)[0]
        ort_s = time.perf_counter() - start
        with torch.no_grad():
            want = export.module(*export.inputs.values()).numpy()
        rows.append((export.name, export_s, size / 2**20, ort_s, float(np.abs(got - want).max()),
                     float(np.abs(want).max())))
        del session
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20
    print(f"sd-turbo architecture, random weights, {args.size}x{args.size}, float32, CPU")
    print(f"{'call':<8} {'export s':>9} {'MiB':>8} {'ort s':>7} {'max |diff|':>11} {'max |out|':>10}")
    for name, export_s, mib, ort_s, diff, scale in rows:
        print(f"{name:<8} {export_s:>9.1f} {mib:>8.0f} {ort_s:>7.2f} {diff:>11.2e} {scale:>10.2e}")
    print(f"peak RSS {peak:.1f} GiB")


if __name__ == "__main__":
    main()
