"""IP-Adapter Plus on the tiny models (CPU): a random Plus adapter (a resampler over the image encoder's hidden
states) written as the original ip-adapter-plus files name their tensors, loaded from a folder by the same code
as any adapter; diffusers' conversion gives back exactly the resampler it was made from, the live-scale
attention computes what diffusers' does, the encoder hands over hidden states, and a picture steers a render."""

from __future__ import annotations

import tempfile
from pathlib import Path

import numpy as np
import pytest
import torch

from tests.conftest import TINY_PRESET
from tests.helpers import CollectFrames
from vj.config import ModelConfig, parse_preset
from vj.engine.backends import load_backend
from vj.engine.conditioning.ip_adapter_attention import install_live_scale
from vj.engine.conditioning.ip_adapter_load import (
    IMAGE_ENCODER,
    TINY_IP_ADAPTER_SEED,
    layout_of,
    plus_projection_weights,
    save_tiny_ip_adapter,
)
from vj.engine.families.lookup import tiny_family
from vj.session import render_offline


def _plus_folder(model: str, root: Path) -> Path:
    """A local folder as a user keeps a downloaded Plus adapter: ip-adapter-plus_*.safetensors beside image_encoder/."""
    pipe = tiny_family(model).build_tiny_pipeline()  # type: ignore[union-attr]
    saved = save_tiny_ip_adapter(pipe.unet, root / "hub", layout_of(pipe.unet.config, model), plus=True)
    folder = root / "plus"
    folder.mkdir()
    saved.rename(folder / "ip-adapter-plus_tiny.safetensors")
    (saved.parent / IMAGE_ENCODER).rename(folder / IMAGE_ENCODER)
    return folder


@pytest.mark.parametrize("model", ["tiny", "tiny-xl"])
def test_a_plus_adapter_loads_from_a_folder_as_the_resampler_it_was_made_from(model: str, tmp_path: Path) -> None:
    from diffusers.models.embeddings import IPAdapterPlusImageProjection

    backend = load_backend(ModelConfig(source=model, device="cpu", ip_adapter=str(_plus_folder(model, tmp_path))))
    layer = backend.unet.encoder_hid_proj.image_projection_layers[0]
    assert isinstance(layer, IPAdapterPlusImageProjection)
    assert backend.references is not None and backend.references.encoder.hidden_states  # hidden states, not embeds
    context = backend.unet.config.cross_attention_dim
    embed_dims = int(layer.proj_in.in_features)
    assert embed_dims == backend.references.encoder.model.config.hidden_size
    with torch.random.fork_rng(devices=[]):  # the writer's seed: the module it wrote out, in diffusers' names
        torch.manual_seed(TINY_IP_ADAPTER_SEED + 1)
        source = IPAdapterPlusImageProjection(embed_dims=embed_dims, output_dims=context, hidden_dims=64, depth=4,
                                              dim_head=64, heads=1, num_queries=4)
    assert plus_projection_weights(embed_dims, context, 4).keys().isdisjoint(source.state_dict().keys() - {
        "latents", "proj_in.weight", "proj_in.bias", "proj_out.weight", "proj_out.bias", "norm_out.weight",
        "norm_out.bias"})  # the file's names are the original ones, not diffusers'
    loaded = layer.state_dict()
    assert loaded.keys() == source.state_dict().keys()
    assert all(torch.equal(loaded[k].float(), v.float()) for k, v in source.state_dict().items())


def test_the_live_scale_attention_computes_what_diffusers_computes_with_plus() -> None:
    pipe = tiny_family("tiny").build_tiny_pipeline()  # type: ignore[union-attr]
    with tempfile.TemporaryDirectory() as folder:
        layout = layout_of(pipe.unet.config, "tiny")
        save_tiny_ip_adapter(pipe.unet, Path(folder), layout, plus=True)
        pipe.load_ip_adapter(folder, subfolder=layout.subfolder, weight_name=layout.weight_name)
    unet = pipe.unet
    torch.manual_seed(3)
    sample = torch.randn(2, 4, 8, 8)
    context = torch.randn(2, 77, unet.config.cross_attention_dim)
    hidden = pipe.image_encoder(torch.randn(2, 3, 32, 32), output_hidden_states=True).hidden_states[-2][:, None]
    with torch.no_grad():
        pipe.set_ip_adapter_scale(0.7)
        theirs = unet(sample, 10, context, added_cond_kwargs={"image_embeds": [hidden]}).sample
        install_live_scale(unet)
        ours = unet(sample, 10, context, added_cond_kwargs={"image_embeds": ([hidden], torch.tensor(0.7))})
    assert torch.allclose(ours.sample, theirs, atol=1e-5, rtol=1e-4)


def test_a_render_with_a_plus_reference_differs_and_scale_zero_renders_the_plain_picture(tmp_path: Path) -> None:
    from PIL import Image

    picture = tmp_path / "cover.png"
    pixels = torch.rand(48, 80, 3, generator=torch.Generator().manual_seed(7))
    Image.fromarray((pixels.numpy() * 255).astype(np.uint8)).save(picture)
    folder = _plus_folder("tiny", tmp_path)
    preset = parse_preset(TINY_PRESET, "t.toml").with_overrides(ip_adapter=str(folder),
                                                                references=[(str(picture), 1.0)])
    backend = load_backend(preset.model)

    def frames(scale: float) -> list[np.ndarray]:
        sink = CollectFrames()
        render_offline(preset.replace(params={**preset.params, "ip_adapter_scale": scale}), frames=2, outputs=[sink],
                       backend=backend)
        return [f.image for f in sink.frames]

    steered, zero = frames(1.0), frames(0.0)
    assert any(np.abs(a.astype(int) - b.astype(int)).max() > 0 for a, b in zip(steered, zero, strict=True))
    plain = CollectFrames()
    render_offline(parse_preset(TINY_PRESET, "t.toml"), frames=2, outputs=[plain])
    assert all(np.array_equal(a, f.image) for a, f in zip(zero, plain.frames, strict=True))


def test_the_memory_estimate_of_a_plus_folder_is_what_loads(tmp_path: Path) -> None:
    from vj.engine.memory_estimate import MemoryPlan, estimate_memory, parameter_count

    folder = _plus_folder("tiny", tmp_path)
    estimate = estimate_memory(MemoryPlan(model="tiny", dtype=torch.float32, sizes=((64, 64),), ip_adapter=str(folder)))
    assert estimate.complete, estimate.unknown
    counted = {p.component: p.nbytes for p in estimate.parts if p.kind == "weights"}
    unet = load_backend(ModelConfig(source="tiny", device="cpu", ip_adapter=str(folder))).unet  # type: ignore[attr-defined]
    adapter = parameter_count(unet.encoder_hid_proj) + sum(
        parameter_count(p) for name, p in unet.attn_processors.items() if not name.endswith("attn1.processor")
        and isinstance(p, torch.nn.Module))
    assert counted["IP-Adapter"] == adapter * 4  # the resampler and the per-layer keys and values, from the header
