"""The models a memory plan puts on the device, built from their config files on the `meta` device.

Nothing here reads a weight or allocates memory: diffusers and transformers classes are built
from config files found locally (a folder, or the local Hugging Face cache; never the network),
the tiny random models as they are (they are small), and a LoRA's size is read from its
safetensors header. What is not on this machine is listed as unknown, never guessed.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path
from typing import Any

import torch

from vj.engine.backends.sizes import cached_config
from vj.engine.families.family import ModelFamily
from vj.engine.families.lookup import family_of_pipeline, tiny_family

log = logging.getLogger(__name__)

LORA_WEIGHT_NAME = "pytorch_lora_weights.safetensors"  # diffusers' file name for a LoRA on the hub


@dataclass(frozen=True, slots=True)
class MemoryPlan:
    """What the estimate needs to know: resolved sources, dtype and shapes (no preset, no torch device)."""

    model: str
    dtype: torch.dtype
    sizes: tuple[tuple[int, int], ...]  # every (width, height) warmed
    batch: int = 1  # the largest UNet batch (2 under full CFG; a UNet that embeds guidance, LCM's, runs 1)
    steps: tuple[int, ...] = (1,)
    tiny_vae: str = ""
    controlnets: tuple[str, ...] = ()
    loras: tuple[str, ...] = ()  # peft keeps each adapter's matrices on the device beside the fused weights
    depth: tuple[str, ...] = ()  # resolved depth sources, one per depth model that loads (warp, depth ControlNet)
    depth_resolution: int = 252
    cuda_graphs: bool = False  # compile jit on a CUDA device
    feature_bank: bool = False  # the preset loads the feature bank (its rings, one set at the largest size)
    ip_adapter: str = ""  # the IP-Adapter's source ("" = none): its image encoder and its own weights


@dataclass(slots=True)
class MetaModel:
    """One model built on meta: its module and config (a dict for diffusers, an object for transformers)."""

    module: Any
    config: Any
    dtype: torch.dtype


@dataclass(slots=True)
class PlanModels:
    family: ModelFamily | None = None
    unet: MetaModel | None = None
    text_encoders: list[MetaModel] = field(default_factory=list)
    vae: MetaModel | None = None
    tiny_vae: bool = False
    controlnets: list[MetaModel] = field(default_factory=list)
    depths: list[MetaModel] = field(default_factory=list)
    loras: list[tuple[str, int]] = field(default_factory=list)  # (source, tensor elements)
    image_encoder: MetaModel | None = None  # the IP-Adapter's CLIP image encoder
    ip_adapter: tuple[str, int] | None = None  # (source, elements): its image projection and attention weights
    unknown: list[str] = field(default_factory=list)


def dtype_bytes(dtype: torch.dtype) -> int:
    return torch.empty((), dtype=dtype, device="meta").element_size()


def parameter_count(module: Any) -> int:
    return sum(p.numel() for p in module.parameters())


def on_meta(build: Callable[[], Any]) -> Any:
    """A module built on the `meta` device: shapes only, no memory."""
    with torch.device("meta"):
        return build()


def _diffusers_model(class_name: str, config: Mapping[str, Any]) -> Any:
    import diffusers

    cls = getattr(diffusers, class_name)
    return on_meta(lambda: cls.from_config(dict(config)))


def _transformers_model(class_name: str, config: Mapping[str, Any]) -> Any:
    import transformers

    cls = getattr(transformers, class_name)
    return on_meta(lambda: cls(cls.config_class.from_dict(dict(config))))


def _pipeline_models(plan: MemoryPlan, models: PlanModels) -> None:
    """The UNet, text encoders and VAE: the tiny models built as they are, others from config files."""
    from vj.engine.backends.diffusers import vae_runs_in_float32

    vae_module: Any = None
    tiny = tiny_family(plan.model)
    if tiny is not None:
        pipe = tiny.build_tiny_pipeline()
        models.family = tiny
        models.unet = MetaModel(pipe.unet, dict(pipe.unet.config), plan.dtype)
        models.text_encoders = [MetaModel(encoder, encoder.config, plan.dtype)
                                for _, encoder in tiny.text_encoders(pipe)]
        vae_module = pipe.vae
    else:
        index = cached_config(plan.model, "model_index.json")
        if index is None:
            models.unknown.append(f"{plan.model} (no model_index.json of it on this machine: a single file, or "
                                  "not downloaded yet)")
            return
        family = family_of_pipeline(plan.model, str(index.get("_class_name", "")))
        models.family = family
        for folder in ("unet", *family.text_encoder_folders, "vae"):
            config = cached_config(plan.model, f"{folder}/config.json")
            entry = index.get(folder)
            if config is None or not isinstance(entry, list) or len(entry) != 2:
                models.unknown.append(f"{plan.model}: {folder}/config.json")
                continue
            library, class_name = entry
            build = _diffusers_model if library == "diffusers" else _transformers_model
            try:
                model = MetaModel(build(str(class_name), config), config, plan.dtype)
            except Exception as err:  # a config its own class cannot build: loading says why, in its words
                log.debug("%s: %s/config.json does not build on meta", plan.model, folder, exc_info=True)
                models.unknown.append(f"{plan.model}: {folder} (its config does not build: {type(err).__name__})")
                continue
            if folder == "unet":
                models.unet = model
            elif folder == "vae":
                vae_module = model.module
            else:
                models.text_encoders.append(model)
    if plan.tiny_vae:
        models.tiny_vae = True
        vae_module = _tiny_vae_module(plan.tiny_vae, models)
    if vae_module is None:
        return
    honours = models.family.honours_force_upcast if models.family is not None else False
    vae_config = dict(vae_module.config)
    vae_dtype = torch.float32 if vae_runs_in_float32(vae_config, plan.dtype, honours_force_upcast=honours) \
        else plan.dtype
    models.vae = MetaModel(vae_module, vae_config, vae_dtype)


def _tiny_vae_module(source: str, models: PlanModels) -> Any:
    if source == "tiny":
        from vj.engine.families.models.tiny import build_tiny_taesd

        return build_tiny_taesd()
    config = cached_config(source, "config.json")
    if config is None:
        models.unknown.append(f"tiny VAE {source} (no config.json of it on this machine)")
        return None
    return _diffusers_model("AutoencoderTiny", config)


def _controlnet_models(plan: MemoryPlan, models: PlanModels) -> None:
    for source in plan.controlnets:
        if source == "tiny":  # as build_tiny_controlnet shapes it: the UNet's encoder half
            if models.unet is None:
                continue
            from diffusers import ControlNetModel

            unet, steps = models.unet.module, max(vae_factor(models).bit_length() - 1, 0)
            channels = tuple(16 * 2**i for i in range(steps + 1))
            module = on_meta(partial(ControlNetModel.from_unet, unet, conditioning_embedding_out_channels=channels,
                                     load_weights_from_unet=False))
        else:
            config = cached_config(source, "config.json")
            if config is None:
                models.unknown.append(f"ControlNet {source} (no config.json of it on this machine)")
                continue
            module = _diffusers_model("ControlNetModel", config)
        models.controlnets.append(MetaModel(module, dict(module.config), plan.dtype))


def _depth_models(plan: MemoryPlan, models: PlanModels) -> None:
    from transformers import AutoConfig, AutoModelForDepthEstimation

    from vj.engine.warp.depth_estimator import depth_model_folder, tiny_depth_config
    from vj.errors import BackendUnavailable

    for source in plan.depth:
        if source == "tiny":
            config = tiny_depth_config()
        else:
            try:
                folder = depth_model_folder(source)
            except BackendUnavailable:
                models.unknown.append(f"depth model {source} (not on this machine)")
                continue
            config = AutoConfig.from_pretrained(str(folder), local_files_only=True)
        module = on_meta(partial(AutoModelForDepthEstimation.from_config, config))
        models.depths.append(MetaModel(module, config, plan.dtype))


def _lora_file(source: str) -> Path | None:
    """A LoRA's .safetensors file: the file, the one in a folder, or a hub id's in the local cache."""
    path = Path(source).expanduser()
    if path.is_dir():
        files = sorted(path.glob("*.safetensors"))
        return files[0] if len(files) == 1 else None
    if path.is_file():
        return path
    from huggingface_hub import try_to_load_from_cache

    try:
        cached = try_to_load_from_cache(source, LORA_WEIGHT_NAME)
    except ValueError:  # not a hub id: loading says so
        return None
    return Path(cached) if isinstance(cached, str) else None


def _lora_sizes(plan: MemoryPlan, models: PlanModels) -> None:
    """Each LoRA's element count, from its safetensors header (no tensor read)."""
    from safetensors import SafetensorError, safe_open

    for source in plan.loras:
        found = _lora_file(source)
        try:
            if found is None:
                raise OSError("no .safetensors file of it on this machine")
            with safe_open(str(found), framework="pt") as f:
                names = list(f.keys())  # noqa: SIM118 - a safe_open handle is not a mapping
                count = sum(math.prod(f.get_slice(name).get_shape()) for name in names)
        except (OSError, SafetensorError) as err:
            models.unknown.append(f"LoRA {source} ({err})")
            continue
        models.loras.append((source, count))


def _ip_adapter_models(plan: MemoryPlan, models: PlanModels) -> None:
    """The IP-Adapter's image encoder (from its config) and its weights (from the file's header where the file is
    on this machine, else the plain adapter's shapes: 4 image tokens)."""
    if not plan.ip_adapter or models.unet is None:
        return
    from vj.engine.conditioning import ip_adapter_load as ip
    from vj.errors import BackendUnavailable

    try:
        layout = ip.layout_of(models.unet.config, f"model {plan.model!r}")  # refused before loading anyway
        if plan.ip_adapter == ip.TINY_IP_ADAPTER:
            encoder_config: dict[str, Any] | None = ip.tiny_image_encoder_config(ip.TINY_EMBED_DIM)
            weights: Path | None = None
        else:
            files = ip.resolve_source(plan.ip_adapter, layout)
            encoder = layout.encoder_folder(files.subfolder, files.weight_name)
            inner = encoder if "/" in encoder or not files.subfolder else f"{files.subfolder}/{encoder}"
            encoder_config = cached_config(files.location, f"{inner}/config.json")
            weights = _cached_file(files.location, f"{files.subfolder}/{files.weight_name}".lstrip("/"))
    except BackendUnavailable as err:
        models.unknown.append(f"IP-Adapter {plan.ip_adapter} ({err})")
        return
    if encoder_config is None:
        models.unknown.append(f"IP-Adapter {plan.ip_adapter} (no image encoder config.json of it on this machine)")
        return
    module = _transformers_model("CLIPVisionModelWithProjection", encoder_config)
    models.image_encoder = MetaModel(module, module.config, plan.dtype)
    if weights is not None:
        from safetensors import safe_open

        with safe_open(str(weights), framework="pt") as f:
            count = sum(math.prod(f.get_slice(name).get_shape()) for name in f.keys())  # noqa: SIM118
    else:
        count = ip.adapter_elements(models.unet.module, int(module.config.projection_dim))
    models.ip_adapter = (plan.ip_adapter, count)


def _cached_file(location: str, name: str) -> Path | None:
    """A safetensors file of a local folder, or of a hub id in the local cache; None if not on this machine."""
    folder = Path(location).expanduser()
    if folder.is_dir():
        path = folder / name
        return path if path.is_file() and path.suffix == ".safetensors" else None
    from huggingface_hub import try_to_load_from_cache

    cached = try_to_load_from_cache(location, name)
    return Path(cached) if isinstance(cached, str) and cached.endswith(".safetensors") else None


def vae_factor(models: PlanModels) -> int:
    if models.vae is None:
        return 8
    config = models.vae.config
    blocks = config.get("encoder_block_out_channels") or config.get("block_out_channels") or (0,) * 4
    return int(2 ** (len(blocks) - 1))


def build_models(plan: MemoryPlan) -> PlanModels:
    """Every model of the plan built on meta (a tiny model for real: it is small)."""
    models = PlanModels()
    _pipeline_models(plan, models)
    _controlnet_models(plan, models)
    _depth_models(plan, models)
    _lora_sizes(plan, models)
    _ip_adapter_models(plan, models)
    return models
