"""What a live preset switch keeps of the show: the loaded model, its LoRAs and its ControlNets.

A preset that names another model switches the model (vj.session.model_switch: it loads beside
the playing one and brings its own LoRAs and ControlNets); this is the policy for a preset on
the same model, and for one whose model switch was refused (one already under way). LoRAs and
ControlNets load with the model, so a switched-to preset on the same model that names others
cannot bring them. Where it names the same ones, its scales become the base values (release and
panic return to them); where it names others, the show's stay at their scales, one warning says
so and the status line keeps a note until the next switch.
"""

from __future__ import annotations

import dataclasses
import logging
from dataclasses import dataclass

from vj.config import ControlNetConfig, ModelConfig, PresetConfig

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class KeptOnSwitch:
    """The show's loaded parts, with the switched preset's scales where it names the same ones."""

    model: ModelConfig
    controlnet: tuple[ControlNetConfig, ...]
    notes: tuple[str, ...]  # for the status line; empty when the preset asked for nothing the show lacks


def keep_loaded(show: PresetConfig, preset: PresetConfig) -> KeptOnSwitch:
    notes: list[str] = []
    model = show.model
    if preset.model.source != show.model.source:
        log.warning("preset %r names model %s; keeping %s (the command line fixed it, or its model switch was "
                    "refused)", preset.name, preset.model.source, show.model.source)
        notes.append(f"model kept: {show.model.source} (preset names {preset.model.source})")
    elif _lora_files(preset.model) == _lora_files(show.model):
        model = dataclasses.replace(show.model, loras=preset.model.loras)
    elif preset.model.loras:  # one without LoRAs plays on with the show's, unremarked
        log.warning("preset %r names other LoRAs (%s); keeping the show's (%s) at their scales (LoRAs are fused "
                    "once per show)", preset.name, ", ".join(_lora_files(preset.model)),
                    ", ".join(_lora_files(show.model)) or "none")
        notes.append(f"LoRAs kept: {len(show.model.loras)} (preset names {len(preset.model.loras)})")
    controlnet = show.controlnet
    if _units(preset) == _units(show):
        controlnet = preset.controlnet
    elif preset.controlnet:  # likewise one without ControlNets
        log.warning("preset %r names other ControlNets; keeping the show's %d unit(s) at their scales "
                    "(ControlNets load once per show)", preset.name, len(show.controlnet))
        notes.append(f"ControlNets kept: {len(show.controlnet)} (preset names others)")
    return KeptOnSwitch(model, controlnet, tuple(notes))


def _lora_files(model: ModelConfig) -> tuple[str, ...]:
    return tuple(lora.source for lora in model.loras)


def _units(preset: PresetConfig) -> tuple[tuple[str, str], ...]:
    return tuple((unit.source, unit.conditioning) for unit in preset.controlnet)
