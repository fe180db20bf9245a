"""IP-Adapter sources → diffusers' own `load_ip_adapter` on a loaded pipeline, checked against its family.

Sources: a Hugging Face id (`h94/IP-Adapter`, the model family's file in that layout; or
`owner/name:path/in/repo.safetensors`), a local folder (the hub layout, or one
`ip-adapter*.safetensors` beside an `image_encoder/` folder), a `.safetensors`/`.bin` file with an
`image_encoder/` folder beside it, or `tiny`: a random IP-Adapter and CLIP image encoder shaped
for the loaded UNet, written in the hub layout to a temporary folder and loaded from there by
the very same code as a real one.
"""

from __future__ import annotations

import logging
import re
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch

from vj.engine.conditioning.ip_adapter_attention import install_live_scale
from vj.engine.families.family import IP_ADAPTER_HUB, IPAdapterLayout
from vj.engine.families.lookup import family_of_unet, ip_adapter_models
from vj.errors import BackendUnavailable

log = logging.getLogger(__name__)

TINY_IP_ADAPTER = "tiny"
TINY_EMBED_DIM = 16  # the tiny image encoder's embedding width
TINY_IP_ADAPTER_SEED = 4321
_HF_ID = re.compile(r"^[A-Za-z0-9][\w.-]*/[\w.-]+$")
_WEIGHT_SUFFIXES = (".safetensors", ".bin")
IMAGE_ENCODER = "image_encoder"


@dataclass(frozen=True, slots=True)
class IPAdapterFiles:
    """What `load_ip_adapter` is called with: a folder or hub id, the subfolder and file in it, and the
    image encoder's folder (relative to `subfolder`)."""

    location: str
    subfolder: str
    weight_name: str
    hub: bool


def layout_of(unet_config: Any, what: str) -> IPAdapterLayout:
    """The family's IP-Adapter layout, or the one-line refusal for a model that has none."""
    family = family_of_unet(unet_config)
    layout = family.ip_adapter_layout(unet_config)
    if layout is None:
        raise BackendUnavailable(f"{what} has no IP-Adapter: {ip_adapter_models()}.")
    return layout


def resolve_source(source: str, layout: IPAdapterLayout) -> IPAdapterFiles:
    """Where `source` keeps its IP-Adapter file; BackendUnavailable naming what was expected."""
    path = Path(source).expanduser()
    if path.is_file():
        if path.suffix not in _WEIGHT_SUFFIXES:
            raise BackendUnavailable(f"IP-Adapter {source!r} is not a .safetensors or .bin file")
        if not (path.parent / IMAGE_ENCODER).is_dir():
            raise BackendUnavailable(f"IP-Adapter {source!r}: no {IMAGE_ENCODER}/ folder beside it (the CLIP image "
                                     "encoder it was trained with, as the hub's layout keeps it)")
        return IPAdapterFiles(str(path.parent), "", path.name, hub=False)
    if path.is_dir():
        if (path / layout.subfolder / layout.weight_name).is_file():
            return IPAdapterFiles(str(path), layout.subfolder, layout.weight_name, hub=False)
        found = sorted(p.name for p in path.glob("ip-adapter*") if p.suffix in _WEIGHT_SUFFIXES)
        if len(found) == 1 and (path / IMAGE_ENCODER).is_dir():
            return IPAdapterFiles(str(path), "", found[0], hub=False)
        raise BackendUnavailable(
            f"IP-Adapter folder {source!r}: expected {layout.subfolder}/{layout.weight_name} (the hub's layout), or "
            f"one ip-adapter*.safetensors beside an {IMAGE_ENCODER}/ folder; found {', '.join(found) or 'neither'}")
    hub_id, _, inner = source.partition(":")
    if not _HF_ID.match(hub_id):
        raise BackendUnavailable(f"IP-Adapter {source!r}: no such file or folder, and not a Hugging Face id "
                                 f"(owner/name[:path/in/repo.safetensors], e.g. {IP_ADAPTER_HUB}) nor 'tiny'")
    if not inner:
        return IPAdapterFiles(hub_id, layout.subfolder, layout.weight_name, hub=True)
    inner_path = Path(inner)
    if inner_path.suffix not in _WEIGHT_SUFFIXES:
        raise BackendUnavailable(f"IP-Adapter {source!r}: the path after ':' must name a .safetensors or .bin file")
    parent = inner_path.parent.as_posix()
    return IPAdapterFiles(hub_id, "" if parent == "." else parent, inner_path.name, hub=True)


def check_encoder_width(pipe: Any, source: str) -> None:
    """The image encoder must give the width the adapter's projection takes (else every frame would fail)."""
    layer = pipe.unet.encoder_hid_proj.image_projection_layers[0]
    config = pipe.image_encoder.config
    if hasattr(layer, "image_embeds"):  # the plain IP-Adapter: the pooled, projected embedding
        wanted, given = int(layer.image_embeds.in_features), int(config.projection_dim)
    elif hasattr(layer, "proj_in"):  # Plus: the encoder's hidden states
        wanted, given = int(layer.proj_in.in_features), int(config.hidden_size)
    else:
        return
    if wanted != given:
        raise BackendUnavailable(f"IP-Adapter {source!r} takes a {wanted}-wide image embedding, but the image "
                                 f"encoder loaded with it gives {given}: it was trained with another encoder")


def _call_loader(pipe: Any, files: IPAdapterFiles, layout: IPAdapterLayout, source: str) -> None:
    kwargs = {"subfolder": files.subfolder, "weight_name": files.weight_name,
              "image_encoder_folder": layout.encoder_folder(files.subfolder, files.weight_name)}
    if files.hub:
        try:
            pipe.load_ip_adapter(files.location, local_files_only=True, **kwargs)
            return
        except (OSError, ValueError) as cached_err:
            log.info("IP-Adapter %s is not in the local cache (%s); trying to download it", source, cached_err)
    try:
        pipe.load_ip_adapter(files.location, **kwargs)
    except Exception as err:  # noqa: BLE001 - hub, file and format errors all end the same way
        first = str(err).splitlines()[0] if str(err) else ""
        raise BackendUnavailable(f"IP-Adapter {source!r} could not be loaded ({type(err).__name__}: {first})") from err


def load_ip_adapter_into(pipe: Any, source: str, model: str) -> None:
    """Load `source` into `pipe` through diffusers (image encoder included) and give it a live scale.

    Refuses a model family without an IP-Adapter before anything is read."""
    layout = layout_of(pipe.unet.config, f"model {model!r}")
    if source == TINY_IP_ADAPTER:
        with tempfile.TemporaryDirectory(prefix="vj-tiny-ip-adapter-") as folder:
            save_tiny_ip_adapter(pipe.unet, Path(folder), layout)
            _call_loader(pipe, resolve_source(folder, layout), layout, source)
    else:
        _call_loader(pipe, resolve_source(source, layout), layout, source)
    ours = int(pipe.unet.config.cross_attention_dim)
    if getattr(pipe, "image_encoder", None) is None:
        raise BackendUnavailable(f"IP-Adapter {source!r}: its image encoder did not load")
    check_encoder_width(pipe, source)
    replaced = install_live_scale(pipe.unet)
    log.info("IP-Adapter %s loaded (%d cross-attention layers, context width %d)", source, replaced, ours)


# ---- the tiny random IP-Adapter, saved as the hub stores the real ones

def tiny_image_encoder_config(projection_dim: int) -> dict[str, Any]:
    """A small CLIP vision tower (its real layers, few of them) with a `projection_dim` image embedding."""
    return {"hidden_size": 32, "intermediate_size": 37, "num_attention_heads": 4, "num_hidden_layers": 2,
            "image_size": 32, "patch_size": 8, "projection_dim": projection_dim}


def _cross_attention_widths(unet: Any) -> list[int]:
    """Each cross-attention's hidden width, in `attn_processors` order (the order diffusers numbers them)."""
    channels = list(unet.config.block_out_channels)
    widths = []
    for name in unet.attn_processors:
        if name.endswith("attn1.processor"):
            continue
        if name.startswith("mid_block"):
            widths.append(channels[-1])
        elif name.startswith("up_blocks"):
            widths.append(list(reversed(channels))[int(name[len("up_blocks.")])])
        else:
            widths.append(channels[int(name[len("down_blocks.")])])
    return widths


def adapter_elements(unet: Any, embed_dim: int, tokens: int = 4) -> int:
    """The plain IP-Adapter's weights for `unet` (as `save_tiny_ip_adapter` lays them out and h94's files hold
    them): the image projection to `tokens` context tokens, and a key and a value per cross-attention."""
    context = int(unet.config.cross_attention_dim)
    projection = tokens * context * embed_dim + tokens * context + 2 * context
    return projection + sum(2 * width * context for width in _cross_attention_widths(unet))


def save_tiny_ip_adapter(unet: Any, root: Path, layout: IPAdapterLayout, *, plus: bool = False) -> Path:
    """A random IP-Adapter for `unet` in `root`/<subfolder>: the weights file (image_proj.* and
    ip_adapter.<n>.to_k_ip/to_v_ip.* tensors) and image_encoder/ (config.json, model.safetensors).

    `plus`: an IP-Adapter Plus (a resampler over the encoder's hidden states, as ip-adapter-plus_*.safetensors),
    its projection written in the original files' names."""
    from safetensors.torch import save_file
    from transformers import CLIPVisionConfig, CLIPVisionModelWithProjection

    context = int(unet.config.cross_attention_dim)
    embed_dim = TINY_EMBED_DIM
    generator = torch.Generator().manual_seed(TINY_IP_ADAPTER_SEED)
    folder = root / layout.subfolder
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_IP_ADAPTER_SEED)
        encoder = CLIPVisionModelWithProjection(CLIPVisionConfig(**tiny_image_encoder_config(embed_dim)))
    encoder.save_pretrained(folder / IMAGE_ENCODER, safe_serialization=True)
    tokens = 4  # the plain IP-Adapter's image tokens (and the tiny Plus's queries)

    def rand(*shape: int, scale: float = 0.2) -> torch.Tensor:
        return torch.randn(shape, generator=generator) * scale

    if plus:
        hidden = int(encoder.config.hidden_size)  # Plus reads the encoder's hidden states, not its projection
        weights = {f"image_proj.{k}": v for k, v in plus_projection_weights(hidden, context, tokens).items()}
    else:
        weights = {"image_proj.proj.weight": rand(tokens * context, embed_dim),
                   "image_proj.proj.bias": rand(tokens * context),
                   "image_proj.norm.weight": torch.ones(context), "image_proj.norm.bias": torch.zeros(context)}
    for i, width in enumerate(_cross_attention_widths(unet)):
        key = 2 * i + 1  # the original numbering: every attention layer, cross-attentions odd
        weights[f"ip_adapter.{key}.to_k_ip.weight"] = rand(width, context)
        weights[f"ip_adapter.{key}.to_v_ip.weight"] = rand(width, context)
    save_file(weights, str(folder / layout.weight_name))
    return folder / layout.weight_name


PLUS_DEPTH = 4  # the resampler's blocks: the original files have 4, and diffusers' conversion names 4
PLUS_HEAD_DIM = 64  # diffusers infers the heads from the query width / 64


def plus_projection_weights(embed_dims: int, context: int, queries: int) -> dict[str, torch.Tensor]:
    """A random IP-Adapter Plus resampler (diffusers' `IPAdapterPlusImageProjection`, one head) as the original
    files name its tensors: latents, proj_in, proj_out, norm_out, and per block layers.<i>.0 (norm1, norm2, to_q,
    to_kv, to_out: the attention) and layers.<i>.1.<0|1|3> (the feed-forward's norm and two linears)."""
    from diffusers.models.embeddings import IPAdapterPlusImageProjection

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(TINY_IP_ADAPTER_SEED + 1)
        module = IPAdapterPlusImageProjection(embed_dims=embed_dims, output_dims=context, hidden_dims=PLUS_HEAD_DIM,
                                              depth=PLUS_DEPTH, dim_head=PLUS_HEAD_DIM, heads=1, num_queries=queries)
    theirs = module.state_dict()
    ours: dict[str, torch.Tensor] = {}
    for name, value in theirs.items():
        if not name.startswith("layers."):
            ours[name] = value
            continue
        _, block, part, rest = name.split(".", 3)
        head = f"layers.{block}"
        if part in ("ln0", "ln1"):
            ours[f"{head}.0.norm{int(part[-1]) + 1}.{rest}"] = value
        elif part == "attn" and rest.startswith(("to_q.", "to_out.0.")):
            ours[f"{head}.0.{rest.replace('to_out.0.', 'to_out.')}"] = value
        elif part == "attn" and rest.startswith("to_k."):
            ours[f"{head}.0.to_kv.{rest[len('to_k.'):]}"] = torch.cat([value, theirs[name.replace("to_k.", "to_v.")]])
        elif part == "ff":
            index = {"0": "0", "1.net.0.proj": "1", "1.net.2": "3"}[rest.rsplit(".", 1)[0]]
            ours[f"{head}.1.{index}.{rest.rsplit('.', 1)[1]}"] = value
    return ours
