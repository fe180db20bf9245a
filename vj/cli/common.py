"""Arguments every rendering command shares: the model and picture overrides of a preset."""

from __future__ import annotations

import argparse
import sys

from vj.choices import CFG_MODES, SAMPLERS
from vj.cli.argtypes import (
    RANDOM_SEED,
    controlnet,
    int_range,
    lora,
    pixels,
    rate,
    reference,
    resolve_seed,
    seed,
)
from vj.cli.inputs import add_input_arguments, apply_input_overrides
from vj.config import BACKENDS, COMPILE_MODES, DTYPES, PresetConfig
from vj.preset_files import load_preset


def add_common_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("model and picture (override the preset)")
    g.add_argument("--model", help="Hugging Face id, local diffusers folder, .safetensors file, or 'tiny' "
                                   "(built-in random model for tests and the offline demo)")
    g.add_argument("--tiny-vae", help="TAESD id or path (e.g. madebyollin/taesd) to replace the VAE")
    g.add_argument("--lora", type=lora, action="append", metavar="SOURCE[:SCALE]",
                   help="add a LoRA (hub id, folder or .safetensors file), fused at SCALE (default 1); repeatable; "
                        "an LCM-LoRA makes the model a few-step LCM model")
    g.add_argument("--controlnet", type=controlnet, action="append", metavar="SOURCE[:KIND[:SCALE]]",
                   help="add a ControlNet (hub id, folder, or tiny) conditioned on KIND: depth, canny (default), "
                        "input or feedback, at SCALE 0..2 (default 1; live: controlnet/<i>/scale, and controlnet_scale "
                        "on all); repeatable, at most 4 with the preset's")
    g.add_argument("--ip-adapter", metavar="SOURCE",
                   help="an IP-Adapter (Hugging Face id such as h94/IP-Adapter, folder, .safetensors file with an "
                        "image_encoder/ folder beside it, or tiny): reference pictures steer the style, live weight "
                        "ip_adapter_scale; a model family without one is refused, naming those with one")
    g.add_argument("--reference", type=reference, action="append", metavar="IMAGE[:WEIGHT]",
                   help="a reference picture (PNG, JPEG, WebP, BMP) for the IP-Adapter, blended at WEIGHT "
                        "(default 1); repeatable; replaces the preset's [reference] images")
    g.add_argument("--reference-folder", metavar="DIR",
                   help="the folder whose pictures OSC and the page may name live (/vj/reference NAME): names, "
                        "never paths")
    g.add_argument("--width", type=pixels)
    g.add_argument("--height", type=pixels)
    g.add_argument("--fps", type=rate, help="reference fps of motion and the output rate")
    g.add_argument("--steps", type=int_range(1, what="steps"), help="denoising steps, 1-4")
    g.add_argument("--seed", type=seed, help="base seed 0..4294967295; -1 draws a random one (as Deforum)")
    g.add_argument("--guidance", type=float, help="guidance scale, 0-20 (<=1: no CFG; an LCM-distilled model "
                                                  "defaults to 8)")
    g.add_argument("--sampler", choices=sorted(SAMPLERS),
                   help="euler_a (sd-turbo) or lcm (LCM models); default: what the model's scheduler implies")
    g.add_argument("--strength", type=float, help="fraction of the previous frame kept, 0-1 (Deforum)")
    g.add_argument("--dtype", choices=DTYPES, help="auto (float16 on GPU, float32 on CPU), float16, bfloat16, "
                                                 "float32; on a CPU use bfloat16, not float16")
    g.add_argument("--device", help="auto (cuda, then mps, then cpu), cuda, cuda:N, mps or cpu")
    g.add_argument("--compile", nargs="?", const="auto", choices=COMPILE_MODES, metavar="MODE",
                   help="compile the UNet and VAE: auto (the default when the flag is given: jit on CUDA, aot "
                        "elsewhere), jit (torch.compile, CUDA graphs on GPU), aot (AOTInductor packages cached "
                        "on disk: fastest on CPU), off")
    g.add_argument("--backend", choices=BACKENDS,
                   help="how the model runs: diffusers (PyTorch) or tensorrt (engines built by `vj build-engines`)")
    g.add_argument("--cfg", choices=CFG_MODES,
                   help="guidance > 1: rcfg-self (default: residual CFG, one UNet call a step), rcfg-initialize "
                        "(negative prompt on the first step only), full (negative prompt every step, batch 2)")
    g.add_argument("--depth-model", metavar="MODEL",
                   help="depth model of the 3D warp: a Hugging Face id (from the local cache), a local folder, "
                        "'tiny' (random, for tests), 'none' (a flat plane) or a Deforum depth_algorithm name "
                        "(default: Depth Anything V2 Small; tiny with --model tiny)")
    add_input_arguments(parser)
    add_verbose_argument(parser)


def add_verbose_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("-v", "--verbose", action="store_true", help="debug logging")


def preset_from_args(args: argparse.Namespace) -> PresetConfig:
    return apply_common_overrides(load_preset(args.preset), args)


def apply_common_overrides(preset: PresetConfig, args: argparse.Namespace) -> PresetConfig:
    # Left out, --compile keeps the preset's own setting.
    chosen = resolve_seed(args.seed)
    if args.seed == RANDOM_SEED:  # say which, so a take worth keeping can be rendered again
        print(f"vj: --seed -1: drew the random seed {chosen}", file=sys.stderr)
    # The input first: a --controlnet of kind input is checked against the input the flags chose.
    preset = apply_input_overrides(preset, args)
    preset = preset.with_overrides(model=args.model, width=args.width, height=args.height, fps=args.fps,
                                   steps=args.steps, seed=chosen, device=args.device, tiny_vae=args.tiny_vae,
                                   compile=args.compile, dtype=args.dtype, guidance=args.guidance,
                                   sampler=args.sampler, strength=args.strength, backend=args.backend, cfg=args.cfg,
                                   loras=getattr(args, "lora", None), depth_model=getattr(args, "depth_model", None),
                                   controlnets=getattr(args, "controlnet", None),
                                   ip_adapter=getattr(args, "ip_adapter", None),
                                   references=getattr(args, "reference", None),
                                   reference_folder=getattr(args, "reference_folder", None))
    return preset
