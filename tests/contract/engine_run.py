"""Running the real engine's frames on `meta` models: the backend, the engine, the counted frame.

The publish copy is the one stubbed step: `meta` tensors hold no data to copy out. Every
other step runs as on a GPU; `steady_frame` counts the host→device copies of one frame.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import pytest
import torch

from tests.contract.meta_models import (
    DTYPE,
    META,
    openclip_h_text_encoder,
    pipeline_parts,
    sd21_unet,
    sd_vae,
    taesd,
)
from tests.contract.transfers import count_host_to_device
from vj.choices import CfgMode
from vj.config import PresetConfig, parse_preset
from vj.engine.backends.diffusers import DiffusersBackend
from vj.engine.clock import FixedClock
from vj.engine.loop import Engine, EngineSettings
from vj.frames import Frame
from vj.session import build_store

SIZE = 512
PROMPT, OTHER = "a tunnel of neon light", "a forest of glass trees"
BASE = f"""
[render]
width = {SIZE}
height = {SIZE}
fps = 24
[prompts]
negative = "blurry"
[[prompts.mix]]
text = "{PROMPT}"
[params]
zoom = 1.02
angle = 1.0
strength = 0.5
noise = 0.05
antiblur_amount = 0.2
seed = 7
"""


@pytest.fixture(scope="session")
def models() -> dict[str, Any]:
    return {"unet": sd21_unet(), "lcm_unet": sd21_unet(lcm=True), "text": openclip_h_text_encoder(),
            "vae": sd_vae(), "taesd": taesd()}


def backend(models: dict[str, Any], *, lcm: bool = False, tiny_vae: bool = False) -> DiffusersBackend:
    parts = pipeline_parts(models["lcm_unet" if lcm else "unet"], models["text"], models["vae"], lcm=lcm)
    return DiffusersBackend(parts, name="sd-turbo architecture", device=META, dtype=DTYPE,
                            tiny_vae=models["taesd"] if tiny_vae else None)


class Sink:
    def __init__(self) -> None:
        self.frames: list[Frame] = []

    def offer(self, frame: Frame) -> None:
        self.frames.append(frame)


@dataclass
class Run:
    engine: Engine
    sink: Sink
    unet_calls: list[torch.Tensor] = field(default_factory=list)
    published: list[torch.Tensor] = field(default_factory=list)


def contract_preset(params: dict[str, object], extra_toml: str = "") -> PresetConfig:
    """The contract's preset, with `extra_toml` tables ([[controlnet]], [input], …) and `params`."""
    preset = parse_preset(BASE + extra_toml, "contract.toml")
    return preset.replace(params={**preset.params, **params})


def start(b: DiffusersBackend, params: dict[str, object], cfg: str = CfgMode.RCFG_SELF, *,
          preset: PresetConfig | None = None, **engine_options: Any) -> Run:
    """An engine on `b`, primed; `engine_options` go to Engine (depth, controls, inputs)."""
    preset = preset if preset is not None else contract_preset(params)
    store = build_store(preset)
    sink = Sink()
    engine = Engine(b, store, EngineSettings(SIZE, SIZE, 24, offline=True, cfg=cfg), sink, FixedClock(24),
                    **engine_options)
    run = Run(engine, sink)
    b.unet.register_forward_pre_hook(lambda module, args: run.unet_calls.append(args[0]))

    def copy_out_stub(slot: Any) -> None:  # the one stubbed step: meta tensors hold nothing to copy
        assert slot.staged.device == META and slot.staged.dtype == torch.uint8
        pixels = slot.staged.shape[0] - 1
        signal = pixels % (SIZE * SIZE) == 4  # the similarity skip's measure rides there (with an input)
        assert pixels - 4 * signal in {SIZE * SIZE * 3, SIZE * SIZE * 4}  # with a depth channel
        run.published.append(slot.staged)
        slot.host[-1] = 1  # "all pixels finite"
        if signal:
            slot.host[-5:-1].view(torch.float32).fill_(float("nan"))  # "nothing measured"

    engine._publisher._copy_out = copy_out_stub  # type: ignore[method-assign]
    engine.prime(store.prompts())
    return run


def steady_frame(run: Run) -> None:
    """One frame under the transfer counter: no host→device copy may happen in it."""
    before = len(run.unet_calls)
    with count_host_to_device() as transfers:
        run.engine.render_frame()
    assert transfers.copies == [], f"host→device copies in a steady-state frame:\n{transfers.report()}"
    assert len(transfers.staged) <= 1
    for sample in run.unet_calls[before:]:
        assert sample.device == META and sample.dtype == DTYPE
