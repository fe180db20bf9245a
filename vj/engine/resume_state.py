"""The engine's state between two frames, saved after a render and restored to continue it.

What the next frame depends on, besides the parameter store (which a continued render
rebuilds by taking the same snapshots again, as it is a pure function of the frame
clock): the frame index, the two latest images of the cadence (floats, as they left the
decoder, so nothing is lost to 8-bit rounding), the cadence counters, the colour anchor,
the seed sequence, the noise morph and the prompt fade. Tensors are kept on the CPU, the
rest as plain numbers, strings and lists, so `torch.load(weights_only=True)` reads it back
without unpickling code.
"""

from __future__ import annotations

import random
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch

from vj.engine.colour import ColourStats
from vj.engine.conditioning import Conditioning
from vj.prompt_mix import mix_from_json, mix_to_json
from vj.registry import ColourSpace

if TYPE_CHECKING:
    from vj.engine.loop import Engine

STATE_VERSION = 2  # 2: prompts saved as conditionings (embeddings, pooled, time ids)


def _cpu(t: torch.Tensor | None) -> torch.Tensor | None:
    return None if t is None else t.detach().to("cpu").clone()


def _dev(t: torch.Tensor | None, device: torch.device) -> torch.Tensor | None:
    return None if t is None else t.to(device)


def _cond_cpu(c: Conditioning | None) -> dict[str, torch.Tensor | None] | None:
    return None if c is None else {"embeddings": _cpu(c.embeddings), "pooled": _cpu(c.pooled),
                                   "time_ids": _cpu(c.time_ids)}


def _cond_dev(saved: dict[str, torch.Tensor | None] | None, device: torch.device) -> Conditioning | None:
    if saved is None:
        return None
    embeddings = _dev(saved["embeddings"], device)
    assert embeddings is not None
    return Conditioning(embeddings, _dev(saved["pooled"], device), _dev(saved["time_ids"], device))


def engine_state(engine: Engine) -> dict[str, Any]:
    """Everything the engine carries into its next frame (see the module docstring)."""
    seeds, noise, prompts = engine._seeds, engine._noise, engine._prompts
    anchor = engine._anchor
    rng_version, rng_internal, rng_gauss = seeds._rng.getstate()
    return {
        "version": STATE_VERSION, "index": engine._index, "size": [engine.width, engine.height],
        "turbo_prev": _cpu(engine._turbo_prev), "turbo_next": _cpu(engine._turbo_next),
        "cadence_left": engine._cadence_left, "block_cadence": engine._block_cadence,
        "anchor": None if anchor is None else {"space": anchor.space.value, "mean": _cpu(anchor.mean),
                                               "std": _cpu(anchor.std)},
        "last_seed": engine._last_seed,
        "seeds": {"rng": [rng_version, list(rng_internal), rng_gauss], "base": seeds._base,
                  "current": seeds._current, "count": seeds._count},
        "noise": {"morph_from": _cpu(noise._morph_from), "morph_start_s": noise._morph_start_s,
                  "last_base": noise._last_base, "last_noise": _cpu(noise._last_noise)},
        "prompts": {"mix": None if prompts._mix is None else mix_to_json(prompts._mix),
                    "blend": str(prompts._blend_mode),
                    "pending": None if prompts._pending is None else mix_to_json(prompts._pending),
                    "target": _cond_cpu(prompts._target), "negative": _cond_cpu(prompts._negative),
                    "from": _cond_cpu(prompts._from), "current": _cond_cpu(prompts._current),
                    "fade_start_s": prompts._fade_start_s},
    }


def restore_engine_state(engine: Engine, state: dict[str, Any]) -> None:
    """Put a saved state back (after `prime`, which resets the prompt fade)."""
    if state.get("version") != STATE_VERSION:
        raise ValueError(f"engine state version {state.get('version')!r}; this vj reads version {STATE_VERSION}")
    if list(state["size"]) != [engine.width, engine.height]:
        raise ValueError(f"engine state is for {state['size'][0]}x{state['size'][1]}, the engine renders "
                         f"{engine.width}x{engine.height}")
    device = engine.device
    engine._index = int(state["index"])
    engine._turbo_prev = _dev(state["turbo_prev"], device)
    engine._turbo_next = _dev(state["turbo_next"], device)
    engine._cadence_left, engine._block_cadence = int(state["cadence_left"]), int(state["block_cadence"])
    anchor = state["anchor"]
    engine._anchor = None if anchor is None else ColourStats(ColourSpace(anchor["space"]),
                                                              anchor["mean"].to(device), anchor["std"].to(device))
    engine._last_seed = int(state["last_seed"])
    seeds = state["seeds"]
    rng = random.Random()
    version, internal, gauss = seeds["rng"]
    rng.setstate((version, tuple(internal), gauss))
    engine._seeds._rng = rng
    engine._seeds._base, engine._seeds._current, engine._seeds._count = seeds["base"], seeds["current"], seeds["count"]
    noise = state["noise"]
    engine._noise._morph_from = _dev(noise["morph_from"], device)
    engine._noise._morph_start_s = float(noise["morph_start_s"])
    engine._noise._last_base = noise["last_base"]
    engine._noise._last_noise = _dev(noise["last_noise"], device)
    p = state["prompts"]
    conditioner = engine._prompts
    conditioner._mix = None if p["mix"] is None else mix_from_json(p["mix"])
    conditioner._blend_mode = p["blend"]
    conditioner._pending = None if p["pending"] is None else mix_from_json(p["pending"])
    for attr in ("target", "negative", "from", "current"):
        setattr(conditioner, f"_{attr}", _cond_dev(p[attr], device))
    conditioner._fade_start_s = float(p["fade_start_s"])


def save_engine_state(engine: Engine, path: str | Path) -> None:
    torch.save(engine_state(engine), str(path))


def load_engine_state(path: str | Path) -> dict[str, Any]:
    state: dict[str, Any] = torch.load(str(path), map_location="cpu", weights_only=True)
    return state
