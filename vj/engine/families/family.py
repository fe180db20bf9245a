"""What differs between model families, as one protocol: each family is one file meeting it.

The backends, the exporters, the ControlNet loader and the model loader ask the model's
family instead of testing for one (vj.engine.families.lookup finds it). A member is here
only where the families really differ:

- detection from config files: a pipeline class name, a UNet (or ControlNet) config, a
  single-file checkpoint's tensor names;
- prompt encoding: which tokenizer/encoder pairs a pipeline has, and how their outputs make a
  `Conditioning` (SDXL adds a pooled embedding);
- the UNet call: the module that calls it, the extra inputs after (sample, timestep, context)
  (their names are the ONNX/TensorRT input names and the ControlNet's added conditioning),
  their per-size part, and example tensors for an export;
- the noise schedule, the frame-size rule, the VAE float32 upcast rule;
- the tiny random model the tests and the offline demo run (`--model <tiny_source>`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import torch

from vj.engine.conditioning.embeddings import Conditioning
from vj.engine.families.size_rule import SizeRule
from vj.engine.sampling import NoiseSchedule


@dataclass(frozen=True, slots=True)
class TextEncoder:
    """One tokenizer and the text encoder that reads its tokens (already on the model's device)."""

    tokenizer: Any
    model: Any


# The hub repository of the public IP-Adapters; a hub id or folder without a file path follows its layout.
IP_ADAPTER_HUB = "h94/IP-Adapter"


@dataclass(frozen=True, slots=True)
class IPAdapterLayout:
    """One IP-Adapter in IP_ADAPTER_HUB's layout: `subfolder`/`weight_name`, its CLIP image encoder in
    `subfolder`/image_encoder."""

    subfolder: str
    weight_name: str
    label: str  # the models it is for, for people: "SD 1.5"
    # The encoder of this folder's "vit-h" adapters, when it is not the one beside them (diffusers reads a
    # folder with a "/" from the repository's root): h94's SDXL vit-h adapters use the SD 1.5 ViT-H encoder.
    vit_h_encoder: str = "image_encoder"

    def encoder_folder(self, subfolder: str, weight_name: str) -> str:
        """The image encoder's folder for the adapter file `subfolder`/`weight_name`."""
        if subfolder == self.subfolder and "vit-h" in weight_name:
            return self.vit_h_encoder
        return "image_encoder"


class ModelFamily(Protocol):
    name: str  # short and stable: messages, tests, engine-cache keys ("sd", "xl")
    label: str  # for people: "Stable Diffusion 1.x/2.x", "SDXL"
    described: str  # the label with its article, for messages: "an SDXL"
    tiny_source: str  # the model source that builds its tiny random model ("tiny", "tiny-xl")
    pipeline_names: tuple[str, ...]  # the diffusers pipeline classes (model_index.json `_class_name`) it loads
    honours_force_upcast: bool  # runs a VAE whose config says force_upcast in float32 under float16
    extra_input_names: tuple[str, ...]  # the UNet's inputs after (sample, timestep, context), in call order
    text_encoder_folders: tuple[str, ...]  # a diffusers folder's text encoders (read by the memory estimate)
    tiny_vae_id: str  # the TAESD offered when the model's own VAE does not fit in memory

    def claims_unet(self, unet_config: Mapping[str, Any]) -> bool:
        """Whether a UNet (or ControlNet) config is this family's."""
        ...

    def unet_evidence(self, unet_config: Mapping[str, Any]) -> str:
        """The config keys that made `claims_unet` true, for an error message."""
        ...

    def claims_checkpoint(self, tensor_names: Iterable[str]) -> bool:
        """Whether a single-file checkpoint with these tensor names is this family's."""
        ...

    def pipeline_class(self) -> Any:
        """The diffusers pipeline class a folder, hub id or single file of this family loads with."""
        ...

    def build_tiny_pipeline(self) -> Any:
        """Its tiny random model as a diffusers pipeline, identical on every call."""
        ...

    def text_encoders(self, pipe: Any) -> list[tuple[Any, Any]]:
        """The pipeline's (tokenizer, text encoder) pairs, in the order `encode_prompt` reads them."""
        ...

    def encode_prompt(self, encoders: Sequence[Any], token_ids: Sequence[torch.Tensor],
                      dtype: torch.dtype) -> Conditioning:
        """One prompt's conditioning from each encoder's token ids (the encoders of `text_encoders`)."""
        ...

    def noise_predictor(self, unet: Any) -> torch.nn.Module:
        """The module that calls the UNet: (sample, timestep, context, *extra inputs, timestep_cond, residuals)."""
        ...

    def size_conditioning(self, height: int, width: int, device: torch.device,
                          dtype: torch.dtype) -> torch.Tensor | None:
        """What the UNet takes about the frame size (made once per size on the device), or None."""
        ...

    def extra_inputs(self, cond: Conditioning, size: torch.Tensor | None, batch: int) -> tuple[torch.Tensor, ...]:
        """The UNet's inputs named by `extra_input_names` for one call; ValueError if `cond` lacks one."""
        ...

    def example_extra_inputs(self, text_encoders: Sequence[TextEncoder], width: int, height: int, batch: int,
                             device: torch.device, dtype: torch.dtype) -> dict[str, torch.Tensor]:
        """Example tensors of the extra inputs at one size and batch (an ONNX export's static shapes)."""
        ...

    def noise_schedule(self, model: str, scheduler_config: Mapping[str, Any]) -> NoiseSchedule:
        """The training noise schedule from the pipeline's scheduler config; ValueError for one it cannot run."""
        ...

    def size_rule(self, model: str, vae_factor: int, unet_config: Mapping[str, Any]) -> SizeRule:
        """Which frame sizes the model can render."""
        ...

    def ip_adapter_layout(self, unet_config: Mapping[str, Any]) -> IPAdapterLayout | None:
        """Where IP_ADAPTER_HUB keeps the IP-Adapter of a model with this UNet config; None: it has none."""
        ...


# Shared by the families that have them: a family whose rule differs writes its own.
def scaled_linear_schedule(model: str, scheduler_config: Mapping[str, Any]) -> NoiseSchedule:
    """The DDPM scaled-linear schedule of SD 1.x/2.x and SDXL; any other beta schedule is refused."""
    betas_kind = scheduler_config.get("beta_schedule", "scaled_linear")
    if betas_kind != "scaled_linear":
        raise ValueError(f"{model}: beta_schedule {betas_kind!r} is not supported (scaled_linear only)")
    return NoiseSchedule.scaled_linear(
        scheduler_config.get("beta_start", 0.00085), scheduler_config.get("beta_end", 0.012),
        scheduler_config.get("num_train_timesteps", 1000), scheduler_config.get("prediction_type", "epsilon"))


def unet_size_rule(model: str, vae_factor: int, unet_config: Mapping[str, Any]) -> SizeRule:
    """A UNet halves the latents once per down block after the first."""
    return SizeRule(model, vae_factor, 2 ** (len(unet_config["block_out_channels"]) - 1))


def token_embeddings(encoder: Any, token_ids: torch.Tensor, dtype: torch.dtype) -> torch.Tensor:
    """The text encoder's last hidden state (SD 1.x/2.x's context)."""
    return encoder(token_ids)[0].to(dtype)
