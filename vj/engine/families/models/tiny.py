"""A tiny Stable Diffusion with random weights, built from config: no download, seeded.

It has the real architecture's shape (a 4-block VAE that downsamples by 8 like SD's, a
cross-attention UNet, a CLIP text encoder and tokenizer) at a size that renders a 64 px
frame in tens of milliseconds on a CPU. Its pictures are abstract patterns, not art: it
exists so that the offline demo and the tests run the same code path as a real model.
"""

from __future__ import annotations

import torch

TINY_SEED = 0
# Read by vj.engine.backends.sizes too: the frame sizes the model can render follow from them.
TINY_UNET_BLOCK_OUT_CHANNELS = (32, 64)
TINY_VAE_BLOCK_OUT_CHANNELS = (8, 16, 32, 32)


def _byte_characters() -> list[str]:
    """The 256 printable stand-ins byte-level BPE uses for the bytes 0..255."""
    printable = [*range(ord("!"), ord("~") + 1), *range(ord("¡"), ord("¬") + 1), *range(ord("®"), ord("ÿ") + 1)]
    chars, extra = [], 0
    for byte in range(256):
        if byte in printable:
            chars.append(chr(byte))
        else:  # unprintable bytes map past 255, in order
            chars.append(chr(256 + extra))
            extra += 1
    return chars


def _byte_vocab() -> dict[str, int]:
    # transformers ships no test vocabulary: start/end tokens, then every byte-level
    # character alone and as a word ending; no merges, so every character is a token.
    chars = _byte_characters()
    vocab = {"<|startoftext|>": 0, "<|endoftext|>": 1}
    for ch in chars:
        vocab[ch] = len(vocab)
    for ch in chars:
        vocab[ch + "</w>"] = len(vocab)
    return vocab


def build_tiny_tokenizer():  # noqa: ANN201 - a transformers tokenizer
    from transformers import CLIPTokenizer

    # model_max_length matters: the default is huge and prompts are padded to it.
    return CLIPTokenizer(vocab=_byte_vocab(), merges=[], model_max_length=77)


# An LCM-distilled UNet's guidance-embedding width (real ones use 256): small, but the same layer.
TINY_LCM_TIME_COND_DIM = 16


def build_tiny_components(vae: str = "kl8", *, lcm: bool = False) -> dict[str, object]:
    """The components of a tiny SD img2img pipeline, identical on every call (seeded).

    `lcm`: an LCM-distilled model instead, as such a model is saved: a UNet that takes the
    guidance scale as an embedding (`time_cond_proj_dim`) and an `LCMScheduler`.
    """
    from diffusers import (
        AutoencoderKL,
        AutoencoderTiny,
        EulerAncestralDiscreteScheduler,
        LCMScheduler,
        UNet2DConditionModel,
    )
    from transformers import CLIPTextConfig, CLIPTextModel

    torch.manual_seed(TINY_SEED)
    unet = UNet2DConditionModel(
        block_out_channels=TINY_UNET_BLOCK_OUT_CHANNELS, layers_per_block=2, sample_size=32, in_channels=4,
        out_channels=4,
        down_block_types=("DownBlock2D", "CrossAttnDownBlock2D"), up_block_types=("CrossAttnUpBlock2D", "UpBlock2D"),
        cross_attention_dim=32, time_cond_proj_dim=TINY_LCM_TIME_COND_DIM if lcm else None,
    )
    torch.manual_seed(TINY_SEED)
    if vae == "kl8":
        autoencoder: object = AutoencoderKL(
            block_out_channels=list(TINY_VAE_BLOCK_OUT_CHANNELS), in_channels=3, out_channels=3, latent_channels=4,
            down_block_types=["DownEncoderBlock2D"] * 4, up_block_types=["UpDecoderBlock2D"] * 4,
            norm_num_groups=8, layers_per_block=1,
        )
    elif vae == "taesd":
        autoencoder = AutoencoderTiny()
    else:
        raise ValueError(f"tiny vae must be kl8 or taesd, found {vae!r}")
    torch.manual_seed(TINY_SEED)
    text_encoder = CLIPTextModel(CLIPTextConfig(
        hidden_size=32, intermediate_size=37, num_attention_heads=4, num_hidden_layers=5, vocab_size=1000,
        bos_token_id=0, eos_token_id=1, pad_token_id=1, max_position_embeddings=77,
    ))
    schedule = dict(beta_start=0.00085, beta_end=0.012, beta_schedule="scaled_linear", timestep_spacing="trailing",
                    steps_offset=1)
    scheduler = LCMScheduler(**schedule) if lcm else EulerAncestralDiscreteScheduler(**schedule)
    return {"unet": unet, "vae": autoencoder, "text_encoder": text_encoder, "tokenizer": build_tiny_tokenizer(),
            "scheduler": scheduler}


def build_tiny_pipeline(vae: str = "kl8", *, lcm: bool = False):  # noqa: ANN201 - a diffusers pipeline
    """The tiny model as a diffusers `StableDiffusionImg2ImgPipeline` (also the benchmark's naive loop)."""
    from diffusers import StableDiffusionImg2ImgPipeline

    return StableDiffusionImg2ImgPipeline(
        **build_tiny_components(vae, lcm=lcm), safety_checker=None, feature_extractor=None,
        requires_safety_checker=False,
    )


def build_tiny_taesd():  # noqa: ANN201
    """A random-weight TAESD (full architecture), for testing the `--tiny-vae` path offline."""
    from diffusers import AutoencoderTiny

    torch.manual_seed(TINY_SEED)
    return AutoencoderTiny()
