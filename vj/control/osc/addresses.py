"""The OSC address table: what the router answers, listed for `vj osc-map`, docs/reference/osc.md and OSCQuery."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from vj.prompt_mix import MAX_PROMPT_CHARS, MAX_PROMPT_WEIGHT, MAX_PROMPTS
from vj.registry import (
    CONTROLNET_SCALE_MAX,
    CONTROLNET_SCALE_MIN,
    LORA_SCALE_MAX,
    LORA_SCALE_MIN,
    MAX_CONTROLNETS,
    MAX_LORAS,
    REGISTRY,
    ParamSpec,
)

PREFIX = "/vj/"


@dataclass(frozen=True, slots=True)
class OscAddress:
    address: str
    args: str
    description: str


def address_map(registry: Mapping[str, ParamSpec] = REGISTRY) -> list[OscAddress]:
    """Every address the server answers, for `vj osc-map`, docs/reference/osc.md and OSCQuery."""
    rows: list[OscAddress] = []
    for spec in registry.values():
        if spec.numeric:
            kind = "int" if spec.kind.value == "int" else "float"
            rng = f"{spec.minimum:g}..{spec.maximum:g}"
            rows.append(OscAddress(f"{PREFIX}{spec.name}", f"<{kind} {rng}>",
                                   f"{spec.description} [{spec.unit}]" if spec.unit else spec.description))
        else:
            rows.append(OscAddress(f"{PREFIX}{spec.name}", f"<{'|'.join(spec.choices)}|index>", spec.description))
        rows.append(OscAddress(f"{PREFIX}norm/{spec.name}", "<float 0..1>", f"{spec.name} mapped onto its range"))
    rows += [
        OscAddress(f"{PREFIX}lora/<i>/scale", f"<float {LORA_SCALE_MIN:g}..{LORA_SCALE_MAX:g}>",
                   f"scale of LoRA i (0..{MAX_LORAS - 1}), same as {PREFIX}lora_<i>_scale; re-fuses at the next frame"),
        OscAddress(f"{PREFIX}controlnet/<i>/scale", f"<float {CONTROLNET_SCALE_MIN:g}..{CONTROLNET_SCALE_MAX:g}>",
                   f"scale of ControlNet unit i (0..{MAX_CONTROLNETS - 1}), same as {PREFIX}controlnet_<i>_scale; "
                   f"times {PREFIX}controlnet_scale"),
        OscAddress(f"{PREFIX}prompt/<i>/text", f"<string ≤{MAX_PROMPT_CHARS} chars>",
                   f"prompt text of slot i (0..{MAX_PROMPTS - 1})"),
        OscAddress(f"{PREFIX}prompt/<i>/weight", f"<float 0..{MAX_PROMPT_WEIGHT:g}>", "blend weight of prompt slot i"),
        OscAddress(f"{PREFIX}negative", "<string>", "negative prompt"),
        OscAddress(f"{PREFIX}preset", "<name|int>", "switch preset at the next frame boundary (quantisable)"),
        OscAddress(f"{PREFIX}model", "<source>", "switch the model: loaded beside the playing one, then crossfaded "
                   "on the grid (a built-in tiny model or one the show's presets name)"),
        OscAddress(f"{PREFIX}release", "<param|prompt|all>", "hand a parameter back to its schedule or preset"),
        OscAddress(f"{PREFIX}record", "<1|0>", "start or stop recording"),
        OscAddress(f"{PREFIX}blackout", "[1|0]", "fade the outputs to black (1) or back (0) over blackout_fade_s; "
                   "no argument toggles"),
        OscAddress(f"{PREFIX}freeze", "[1|0]", "hold the picture (1) or resume (0); control changes keep landing; "
                   "no argument toggles"),
        OscAddress(f"{PREFIX}panic", "", "recall the playing preset now: live overrides released, live LFOs cleared, "
                   "freeze ended"),
        OscAddress(f"{PREFIX}tap", "", "tap tempo"),
        OscAddress(f"{PREFIX}bpm", "<float 20..300>", "set the tempo"),
        OscAddress(f"{PREFIX}quantise", "<off|beat|bar|2bars|4bars>", "where prompt, preset and seed changes land"),
        OscAddress(f"{PREFIX}lfo/<param>/set", "<shape> <rate_beats> <depth> [offset] | off",
                   "attach an LFO (sine, triangle, square, saw, random_smooth) to a numeric parameter"),
        OscAddress(f"{PREFIX}lfo/<param>/depth", "<float>", "LFO depth in the parameter's units"),
        OscAddress(f"{PREFIX}lfo/<param>/rate", "<float>", "LFO rate in beats per cycle"),
        OscAddress(f"{PREFIX}audio/<param>/set", "<source> <depth> [attack_ms release_ms [curve]] | off",
                   "make a numeric parameter follow a sound band (bass, mid, high), level or onset"),
        OscAddress(f"{PREFIX}audio/<param>/depth", "<float ±span>",
                   "audio modulator depth in the parameter's units, at most its range's span either way"),
        OscAddress(f"{PREFIX}audio/<param>/offset", "<float ±span>", "constant the audio modulator adds"),
        OscAddress(f"{PREFIX}audio/<param>/attack_ms", "<float 0..10000>", "audio envelope rise time"),
        OscAddress(f"{PREFIX}audio/<param>/release_ms", "<float 0..10000>", "audio envelope fall time"),
        OscAddress(f"{PREFIX}audio/onset", "<none|next_prompt|seed_step|zoom_punch>", "what an onset triggers"),
        OscAddress(f"{PREFIX}learn", "<param|prompt/<i>/weight|off>",
                   "MIDI learn: map the next control moved to this target"),
        OscAddress(f"{PREFIX}reopen_preview", "", "close and reopen the preview window (if it stays black)"),
        OscAddress(f"{PREFIX}reference", "<name> [weight] ...",
                   "IP-Adapter reference: pictures of the show's reference folder by name (never a path), blended"),
        OscAddress(f"{PREFIX}reference", "off", "fade the reference picture out"),
        OscAddress(f"{PREFIX}reference", "grab <input|output>",
                   "the live input's or the show's own next frame becomes the reference"),
        # Older forms, still routed for OSC senders; not in the OSCQuery tree (a method there is a leaf).
        OscAddress(f"{PREFIX}<param>/norm", "<float 0..1>", f"same as {PREFIX}norm/<param>"),
        OscAddress(f"{PREFIX}prompt/<i>", "<string>", f"same as {PREFIX}prompt/<i>/text"),
        OscAddress(f"{PREFIX}lfo/<param>", "<shape> <rate_beats> <depth> [offset] | off",
                   f"same as {PREFIX}lfo/<param>/set"),
        OscAddress(f"{PREFIX}audio/<param>", "<source> <depth> [attack_ms release_ms [curve]] | off",
                   f"same as {PREFIX}audio/<param>/set"),
    ]
    return rows
