"""The engine's state between two frames, saved after a render and restored to continue it.

What the next frame depends on, besides the parameter store (which a continued render
rebuilds by taking the same snapshots again, as it is a pure function of the frame
clock): the frame index, the two latest images of the cadence (floats, as they left the
decoder, so nothing is lost to 8-bit rounding), the cadence counters, the colour anchor,
the seed sequence, the noise morph and the prompt fade. Tensors are kept on the CPU, the
rest as plain numbers, strings and lists, so `torch.load(weights_only=True)` reads it back
without unpickling code. The engine and its components hand out and take back their state as
values (`Engine.carried_state`, vj.engine.feedback_state); this module only maps those to the
file's layout, which stays as version 2 wrote it.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from vj.choices import ColourSpace
from vj.engine.colour import ColourStats
from vj.engine.conditioning.embeddings import CONDITIONING_FIELDS, Conditioning
from vj.engine.conditioning.prompt_conditioner import PromptState
from vj.engine.conditioning.seeds import NoiseState, SeedState
from vj.engine.feedback_state import CarriedState, FeedbackState
from vj.prompt_mix import PromptMix, mix_from_json, mix_to_json

if TYPE_CHECKING:
    from vj.engine.loop import Engine

STATE_VERSION = 2  # 2: prompts saved as conditionings (embeddings, pooled, time ids)


def _cpu(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.detach().to("cpu").clone()


def _cond_cpu(c: Conditioning | None) -> dict[str, torch.Tensor | None] | None:
    """Every field of the conditioning under its own name (the file keeps the names version 2 wrote)."""
    return None if c is None else {name: _cpu(getattr(c, name)) for name in CONDITIONING_FIELDS}


def _cond_from(saved: dict[str, torch.Tensor | None] | None) -> Conditioning | None:
    if saved is None:
        return None
    embeddings = saved["embeddings"]
    assert embeddings is not None
    return Conditioning(embeddings, **{name: saved[name] for name in CONDITIONING_FIELDS[1:]})


def _mix_json(mix: PromptMix | None) -> dict[str, Any] | None:
    return None if mix is None else mix_to_json(mix)


def _mix_from(saved: dict[str, Any] | None) -> PromptMix | None:
    return None if saved is None else mix_from_json(saved)


def _to_file(carried: CarriedState, size: list[int]) -> dict[str, Any]:
    """The file's layout (version 2) of a carried state: CPU tensors, plain numbers, strings and lists."""
    f, seeds, noise, prompts = carried.feedback, carried.seeds, carried.noise, carried.prompts
    anchor = f.anchor
    rng_version, rng_internal, rng_gauss = seeds.rng
    return {
        "version": STATE_VERSION, "index": f.index, "size": size,
        "turbo_prev": _cpu(f.turbo_prev), "turbo_next": _cpu(f.turbo_next),
        "cadence_left": f.cadence_left, "block_cadence": f.block_cadence,
        "anchor": None if anchor is None else {"space": anchor.space.value, "mean": _cpu(anchor.mean),
                                               "std": _cpu(anchor.std)},
        "last_seed": f.last_seed,
        "seeds": {"rng": [rng_version, list(rng_internal), rng_gauss], "base": seeds.base,
                  "current": seeds.current, "count": seeds.count},
        "noise": {"morph_from": _cpu(noise.morph_from), "morph_start_s": noise.morph_start_s,
                  "last_base": noise.last_base, "last_noise": _cpu(noise.last_noise)},
        "prompts": {"mix": _mix_json(prompts.mix), "blend": prompts.blend, "pending": _mix_json(prompts.pending),
                    "target": _cond_cpu(prompts.target), "negative": _cond_cpu(prompts.negative),
                    "from": _cond_cpu(prompts.fade_from), "current": _cond_cpu(prompts.current),
                    "fade_start_s": prompts.fade_start_s},
    }


def _from_file(state: dict[str, Any]) -> CarriedState:
    """`_to_file` undone (tensors stay on the CPU: the engine moves them to its device)."""
    anchor = state["anchor"]
    feedback = FeedbackState(
        int(state["index"]), state["turbo_prev"], state["turbo_next"], int(state["cadence_left"]),
        int(state["block_cadence"]),
        None if anchor is None else ColourStats(ColourSpace(anchor["space"]), anchor["mean"], anchor["std"]),
        int(state["last_seed"]))
    s = state["seeds"]
    version, internal, gauss = s["rng"]
    seeds = SeedState((version, tuple(internal), gauss), s["base"], s["current"], s["count"])
    n = state["noise"]
    noise = NoiseState(n["morph_from"], float(n["morph_start_s"]), n["last_base"], n["last_noise"])
    p = state["prompts"]
    prompts = PromptState(_mix_from(p["mix"]), p["blend"], _mix_from(p["pending"]), _cond_from(p["target"]),
                          _cond_from(p["negative"]), _cond_from(p["from"]), _cond_from(p["current"]),
                          float(p["fade_start_s"]))
    return CarriedState(feedback, seeds, noise, prompts)


def engine_state(engine: Engine) -> dict[str, Any]:
    """Everything the engine carries into its next frame (see the module docstring)."""
    return _to_file(engine.carried_state(), [engine.width, engine.height])


def restore_engine_state(engine: Engine, state: dict[str, Any]) -> None:
    """Put a saved state back (after `prime`, which resets the prompt fade)."""
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"engine state version {state.get('version')!r}; this vj reads version {STATE_VERSION}")
    if list(state["size"]) != [engine.width, engine.height]:
        raise ValueError(f"engine state is for {state['size'][0]}x{state['size'][1]}, the engine renders "
                         f"{engine.width}x{engine.height}")
    engine.restore_carried(_from_file(state))


def save_engine_state(engine: Engine, path: str | Path) -> None:
    torch.save(engine_state(engine), str(path))


def load_engine_state(path: str | Path) -> dict[str, Any]:
    state: dict[str, Any] = torch.load(str(path), map_location="cpu", weights_only=True)
    return state
