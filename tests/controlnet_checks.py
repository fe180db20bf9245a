"""A check run on the CPU (tests/integration) and on CUDA (tests/gpu): compiled ControlNet units
keep their own weights.

Under jit every unit is the same module class, so torch.compile may share one graph between
them with the weights as its inputs (or, frozen, as constants); either way each unit must run
with its own weights, which only shows when the units' weights differ.
"""

from __future__ import annotations

from typing import Any

import torch

from vj.config import ControlNetConfig
from vj.engine.backends.controlnet_load import load_controlnets
from vj.engine.backends.diffusers import DiffusersBackend
from vj.engine.families.models.tiny import build_tiny_pipeline, build_tiny_taesd


def _backend(device: torch.device, dtype: torch.dtype, mode: str) -> DiffusersBackend:
    backend = DiffusersBackend(build_tiny_pipeline(), name="tiny", device=device, dtype=dtype,
                               tiny_vae=build_tiny_taesd(), compile_mode=mode)
    units = [ControlNetConfig(source="tiny", conditioning="canny", scale=1.0),
             ControlNetConfig(source="tiny", conditioning="feedback", scale=0.7)]
    load_controlnets(units, backend)
    return backend


def _parameters(unit: Any) -> list[torch.Tensor]:
    return list(getattr(unit.call, "module", unit.call).parameters())


def _noise(backend: DiffusersBackend, hints: list[torch.Tensor], device: torch.device) -> torch.Tensor:
    latents = torch.randn(1, 4, 8, 8, generator=torch.Generator().manual_seed(1)).to(device)
    cond = backend.encode_prompt("a tunnel of neon light")
    assert backend.controls is not None
    backend.controls.set_frame(hints)
    return backend.predict_noise(latents, 500, cond).float()


def check_compiled_units_keep_their_own_weights(device: torch.device, dtype: torch.dtype) -> None:
    eager, compiled = _backend(device, dtype, "off"), _backend(device, dtype, "jit")
    assert eager.controls is not None and compiled.controls is not None
    hints = [torch.rand(1, 3, 64, 64, generator=torch.Generator().manual_seed(k)).to(device, dtype) for k in (2, 3)]
    before = _noise(eager, hints, device)
    generator = torch.Generator().manual_seed(5)
    with torch.no_grad():  # unit 1 made unlike unit 0, the same in both backends
        for mine, theirs in zip(_parameters(eager.controls.units[1]), _parameters(compiled.controls.units[1]),
                                strict=True):
            change = (torch.randn(mine.shape, generator=generator) * 0.2).to(device, mine.dtype)
            mine.add_(change)
            theirs.add_(change)
    expected = _noise(eager, hints, device)
    assert not torch.equal(_parameters(eager.controls.units[0])[0], _parameters(eager.controls.units[1])[0])
    own_effect = (expected - before).abs().mean()
    assert own_effect > 0, "unit 1's new weights changed nothing: the check would show nothing"
    for _ in range(3):  # compile, (CUDA graphs) record, replay
        error = (_noise(compiled, hints, device) - expected).abs().mean()
    assert error < 0.02 * own_effect, (float(error), float(own_effect))
