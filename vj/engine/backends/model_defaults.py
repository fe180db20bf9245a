"""Parameter defaults a model brings with it: the sampler its saved scheduler implies, and
the guidance an LCM-distilled UNet was trained around.

They become base values only where the preset and the command line set nothing, so a
preset that names `sampler` or `guidance` always wins.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from vj.choices import Sampler
from vj.registry import REGISTRY, ParamValue

# LCM-distilled UNets embed the guidance scale (trained on about 5-15); 8 is LCM's own default.
LCM_DISTILLED_GUIDANCE = 8.0
_SAMPLER_OF_SCHEDULER = {
    "LCMScheduler": Sampler.LCM,
    "EulerAncestralDiscreteScheduler": Sampler.EULER_A,
    "EulerDiscreteScheduler": Sampler.EULER_A,  # sd-turbo ships this one
}


@dataclass(frozen=True, slots=True)
class ModelDefault:
    value: ParamValue
    why: str


def model_param_defaults(scheduler: Any, unet_config: Mapping[str, Any],
                         lcm_lora: str | None = None) -> dict[str, ModelDefault]:
    """The defaults that differ from the registry's, read from a pipeline's scheduler and UNet config.

    `lcm_lora`: the source of a fused LCM-LoRA, which makes any SD model an LCM model
    whatever scheduler it was saved with (its guidance stays ordinary CFG: no embedding).
    """
    found: dict[str, ModelDefault] = {}
    kind = type(scheduler).__name__
    sampler = _SAMPLER_OF_SCHEDULER.get(kind)
    if lcm_lora is not None:
        found["sampler"] = ModelDefault(Sampler.LCM.value, f"it carries the LCM-LoRA {lcm_lora}")
    elif sampler is not None and sampler != REGISTRY["sampler"].default:
        found["sampler"] = ModelDefault(sampler.value, f"its scheduler is {kind}")
    if unet_config.get("time_cond_proj_dim") is not None:
        found["guidance"] = ModelDefault(LCM_DISTILLED_GUIDANCE,
                                         "its UNet is LCM-distilled and embeds the guidance scale")
    return found
