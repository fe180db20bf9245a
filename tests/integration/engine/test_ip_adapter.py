"""IP-Adapter on the tiny models (CPU): the random adapter is saved as the hub stores the real ones and loaded
by diffusers' own loader; the live-scale attention computes what diffusers' computes; scale 0 is no adapter;
a reference picture changes the frame; blends, fades and the background encoder behave as documented."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors import safe_open

from tests.conftest import TINY_PRESET
from tests.helpers import CollectFrames
from vj.config import ModelConfig, parse_preset
from vj.engine.backends import load_backend
from vj.engine.conditioning.ip_adapter_attention import install_live_scale
from vj.engine.conditioning.ip_adapter_load import (
    IMAGE_ENCODER,
    layout_of,
    load_ip_adapter_into,
    resolve_source,
    save_tiny_ip_adapter,
)
from vj.engine.conditioning.reference_images import Reference, ReferenceConditioner
from vj.engine.families.lookup import family_of_unet, tiny_family
from vj.errors import BackendUnavailable
from vj.session import render_offline


def _picture(seed: int, height: int = 48, width: int = 80) -> torch.Tensor:
    return torch.rand(1, 3, height, width, generator=torch.Generator().manual_seed(seed))


@pytest.fixture(scope="module")
def ip_backend():  # noqa: ANN201
    return load_backend(ModelConfig(source="tiny", device="cpu", ip_adapter="tiny"))


@pytest.mark.parametrize("model", ["tiny", "tiny-xl"])
def test_the_tiny_adapter_is_saved_in_the_hub_layout_and_loads_from_a_folder_and_a_file(
        model: str, tmp_path: Path) -> None:
    pipe = tiny_family(model).build_tiny_pipeline()  # type: ignore[union-attr]
    layout = layout_of(pipe.unet.config, model)
    weights = save_tiny_ip_adapter(pipe.unet, tmp_path, layout)
    assert weights == tmp_path / layout.subfolder / layout.weight_name
    encoder = weights.parent / IMAGE_ENCODER
    assert (encoder / "config.json").is_file() and (encoder / "model.safetensors").is_file()
    with safe_open(str(weights), framework="pt") as f:
        names = set(f.keys())
    assert {"image_proj.proj.weight", "image_proj.norm.weight"} <= names
    assert "ip_adapter.1.to_k_ip.weight" in names and all(n.split(".")[0] in ("image_proj", "ip_adapter")
                                                           for n in names)
    for source in (str(tmp_path), str(weights)):  # the hub layout's root, and the file beside image_encoder/
        fresh = tiny_family(model).build_tiny_pipeline()  # type: ignore[union-attr]
        load_ip_adapter_into(fresh, source, model)
        assert fresh.image_encoder is not None
        assert type(fresh.unet.encoder_hid_proj).__name__ == "ScaledImageProjection"


def test_sources_resolve_to_the_hub_layout_and_bad_ones_are_one_line(tmp_path: Path) -> None:
    pipe = tiny_family("tiny").build_tiny_pipeline()  # type: ignore[union-attr]
    layout = layout_of(pipe.unet.config, "tiny")
    hub = resolve_source("h94/IP-Adapter", layout)
    assert (hub.location, hub.subfolder, hub.weight_name, hub.hub) == ("h94/IP-Adapter", "models",
                                                                      "ip-adapter_sd15.safetensors", True)
    plus = resolve_source("h94/IP-Adapter:models/ip-adapter-plus_sd15.safetensors", layout)
    assert (plus.subfolder, plus.weight_name) == ("models", "ip-adapter-plus_sd15.safetensors")
    lonely = tmp_path / "ip-adapter_x.safetensors"
    lonely.write_bytes(b"")
    with pytest.raises(BackendUnavailable, match="no image_encoder/ folder beside it"):
        resolve_source(str(lonely), layout)
    with pytest.raises(BackendUnavailable, match="not a Hugging Face id"):
        resolve_source("no/such/thing", layout)
    with pytest.raises(BackendUnavailable, match=r"expected models/ip-adapter_sd15\.safetensors"):
        resolve_source(str(tmp_path / ".."), layout)


def test_stable_diffusion_2_is_refused_naming_the_models_that_have_one() -> None:
    pipe = tiny_family("tiny").build_tiny_pipeline()  # type: ignore[union-attr]
    sd2 = {**pipe.unet.config, "cross_attention_dim": 1024}
    with pytest.raises(BackendUnavailable) as refused:
        layout_of(sd2, "model 'stabilityai/sd-turbo'")
    message = str(refused.value)
    assert "has no IP-Adapter" in message and "SD 1.5" in message and "SDXL" in message and "\n" not in message
    assert family_of_unet(sd2).ip_adapter_layout(pipe.unet.config) is not None  # SD 1.x keeps its adapter


@pytest.mark.parametrize("model", ["tiny", "tiny-xl"])
def test_the_live_scale_attention_computes_what_diffusers_computes(model: str) -> None:
    pipe = tiny_family(model).build_tiny_pipeline()  # type: ignore[union-attr]
    layout = layout_of(pipe.unet.config, model)
    import tempfile

    with tempfile.TemporaryDirectory() as folder:
        save_tiny_ip_adapter(pipe.unet, Path(folder), layout)
        pipe.load_ip_adapter(folder, subfolder=layout.subfolder, weight_name=layout.weight_name)
    unet = pipe.unet
    torch.manual_seed(3)
    sample = torch.randn(2, 4, 8, 8)
    context = torch.randn(2, 77, unet.config.cross_attention_dim)
    embeds = pipe.image_encoder(torch.randn(2, 3, 32, 32)).image_embeds[:, None]
    added = {}
    if model == "tiny-xl":
        added = {"text_embeds": torch.randn(2, pipe.text_encoder_2.config.projection_dim), "time_ids": torch.ones(2, 6)}
    with torch.no_grad():
        pipe.set_ip_adapter_scale(0.7)
        theirs = unet(sample, 10, context, added_cond_kwargs={**added, "image_embeds": [embeds]}).sample
        install_live_scale(unet)
        ours = unet(sample, 10, context, added_cond_kwargs={**added, "image_embeds": ([embeds], torch.tensor(0.7))})
    assert torch.allclose(ours.sample, theirs, atol=1e-5, rtol=1e-4)


def test_scale_zero_is_the_model_without_an_adapter(ip_backend, tiny_backend) -> None:  # noqa: ANN001
    torch.manual_seed(0)
    latents = torch.randn(1, 4, 8, 8)
    cond = tiny_backend.encode_prompt("a tunnel of neon light")
    plain = tiny_backend.predict_noise(latents, 500, cond)
    refs = ReferenceConditioner(ip_backend.references.encoder, background=False)
    ip_backend.attach_references(refs)
    refs.prime([Reference("a", lambda: _picture(1))])
    refs.frame(0.0, 0.0, 0.0)
    assert torch.allclose(ip_backend.predict_noise(latents, 500, cond), plain, atol=1e-6)
    refs.frame(1.0, 0.0, 0.0)
    steered = ip_backend.predict_noise(latents, 500, cond)
    assert (steered - plain).abs().mean() > 1e-3 * plain.abs().mean()
    refs.prime([Reference("b", lambda: _picture(2))])
    other = ip_backend.predict_noise(latents, 500, cond)
    assert (other - steered).abs().max() > 0  # the picture itself matters, not only the adapter


def test_blends_are_weighted_means_and_a_new_blend_fades_in(ip_backend) -> None:  # noqa: ANN001
    encoder = ip_backend.references.encoder
    a, b = encoder.encode(_picture(1)), encoder.encode(_picture(2))
    refs = ReferenceConditioner(encoder, background=False)
    refs.frame(1.0, 2.0, 0.0)
    assert refs.inputs(1)[1] == 0.0  # no picture yet: the adapter adds nothing
    refs.set([Reference("a", lambda: _picture(1), 1.0), Reference("b", lambda: _picture(2), 3.0)])
    refs.frame(1.0, 2.0, 10.0)  # the fade starts at the first frame that sees the blend
    assert float(refs.inputs(1)[1]) == 0.0
    refs.frame(0.8, 2.0, 11.0)
    embeds, scale = refs.inputs(1)
    assert float(scale) == pytest.approx(0.4)  # half-way in, from no reference: the scale rises, the picture is set
    assert torch.allclose(embeds, 0.25 * a + 0.75 * b, atol=1e-6)
    refs.frame(0.8, 2.0, 12.0)
    assert float(refs.inputs(1)[1]) == pytest.approx(0.8)
    refs.set([Reference("a", lambda: _picture(1))])  # from one blend to another: the embedding glides
    refs.frame(0.8, 2.0, 20.0)
    refs.frame(0.8, 2.0, 21.0)
    assert torch.allclose(refs.inputs(1)[0], 0.5 * (0.25 * a + 0.75 * b) + 0.5 * a, atol=1e-6)
    assert refs.inputs(2)[0].shape[0] == 2  # CFG's batch
    refs.set([])  # cleared: fades out by the scale
    refs.frame(0.8, 0.0, 30.0)
    assert float(refs.inputs(1)[1]) == 0.0


def test_the_live_encoder_keeps_the_frame_going_and_the_old_picture_until_the_new_one_is_ready(
        ip_backend) -> None:  # noqa: ANN001
    import threading

    release = threading.Event()

    def slow_picture() -> torch.Tensor:
        assert release.wait(30.0)
        return _picture(5)

    refs = ReferenceConditioner(ip_backend.references.encoder, background=True)
    try:
        refs.prime([Reference("first", lambda: _picture(4))])
        before = refs.inputs(1)[0]
        refs.set([Reference("slow", slow_picture)])  # returns at once: the encoding waits on its own thread
        refs.frame(1.0, 0.0, 1.0)
        assert refs.inputs(1)[0] is before
        release.set()
        for _ in range(3000):
            refs.frame(1.0, 0.0, 2.0)
            if refs.inputs(1)[0] is not before:
                break
            threading.Event().wait(0.01)
        assert refs.names == ("slow",) and not torch.equal(refs.inputs(1)[0], before)
        refs.set([Reference("broken", lambda: (_ for _ in ()).throw(OSError("gone")))])
        for _ in range(3000):
            if refs.errors:
                break
            threading.Event().wait(0.01)
        assert refs.errors == 1 and "broken" in refs.last_error
    finally:
        refs.close()


def test_a_render_with_a_reference_differs_and_scale_zero_renders_the_plain_picture(tmp_path: Path,
                                                                                   ip_backend) -> None:  # noqa: ANN001
    from PIL import Image

    picture = tmp_path / "cover.png"
    Image.fromarray((_picture(7)[0].permute(1, 2, 0).numpy() * 255).astype(np.uint8)).save(picture)
    preset = parse_preset(TINY_PRESET, "t.toml").with_overrides(ip_adapter="tiny", references=[(str(picture), 1.0)])

    def frames(scale: float, with_picture: bool = True) -> list[np.ndarray]:
        wanted = preset.replace(params={**preset.params, "ip_adapter_scale": scale})
        if not with_picture:
            wanted = wanted.replace(reference=type(preset.reference)())
        sink = CollectFrames()
        render_offline(wanted, frames=2, outputs=[sink], backend=ip_backend)
        return [f.image for f in sink.frames]

    steered, zero, none = frames(1.0), frames(0.0), frames(1.0, with_picture=False)
    assert any(np.abs(a.astype(int) - b.astype(int)).max() > 0 for a, b in zip(steered, zero, strict=True))
    assert all(np.array_equal(a, b) for a, b in zip(zero, none, strict=True))


@pytest.mark.parametrize(("option", "said"), [({"fuse_qkv": True}, "fuse_qkv cannot be used with an IP-Adapter"),
                                              ({"compile": "aot"}, "cannot run under compile = 'aot'")])
def test_settings_that_would_drop_the_adapter_are_refused(option: dict[str, object], said: str) -> None:
    with pytest.raises(BackendUnavailable, match=said):
        load_backend(ModelConfig(source="tiny", device="cpu", ip_adapter="tiny", **option))  # type: ignore[arg-type]


def test_an_image_encoder_of_another_width_is_refused_and_vit_h_sdxl_files_take_the_vit_h_encoder(
        tmp_path: Path) -> None:
    from vj.engine.families.sd import IP_ADAPTER as SD_LAYOUT
    from vj.engine.families.sdxl import IP_ADAPTER as XL_LAYOUT

    assert XL_LAYOUT.encoder_folder("sdxl_models", "ip-adapter_sdxl_vit-h.safetensors") == "models/image_encoder"
    assert XL_LAYOUT.encoder_folder("sdxl_models", "ip-adapter_sdxl.safetensors") == "image_encoder"
    assert SD_LAYOUT.encoder_folder("models", "ip-adapter_sd15_vit-G.safetensors") == "image_encoder"
    pipe = tiny_family("tiny").build_tiny_pipeline()  # type: ignore[union-attr]
    weights = save_tiny_ip_adapter(pipe.unet, tmp_path, layout_of(pipe.unet.config, "tiny"))
    import json

    config_file = weights.parent / IMAGE_ENCODER / "config.json"
    config = json.loads(config_file.read_text())
    config["projection_dim"] = 24  # an encoder of another width beside the adapter
    config_file.write_text(json.dumps(config))
    from safetensors.torch import load_file, save_file

    tensors = load_file(str(weights.parent / IMAGE_ENCODER / "model.safetensors"))
    tensors["visual_projection.weight"] = torch.zeros(24, tensors["visual_projection.weight"].shape[1])
    save_file(tensors, str(weights.parent / IMAGE_ENCODER / "model.safetensors"))
    with pytest.raises(BackendUnavailable, match="takes a 16-wide image embedding, but the image encoder"):
        load_ip_adapter_into(pipe, str(weights), "tiny")
