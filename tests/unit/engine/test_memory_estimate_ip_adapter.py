"""The memory estimate counts an IP-Adapter: its image encoder and its own weights, equal to what loads."""

from __future__ import annotations

import torch

from vj.config import ModelConfig
from vj.engine.backends import load_backend
from vj.engine.memory_estimate import MemoryPlan, estimate_memory, parameter_count


def _weights(plan: MemoryPlan) -> dict[str, int]:
    estimate = estimate_memory(plan)
    assert estimate.complete, estimate.unknown
    return {p.component: p.nbytes for p in estimate.parts if p.kind == "weights"}


def test_memory_estimate_ip_adapter_equals_the_loaded_tiny_adapter_and_its_image_encoder() -> None:
    plain = _weights(MemoryPlan(model="tiny", dtype=torch.float32, sizes=((64, 64),)))
    counted = _weights(MemoryPlan(model="tiny", dtype=torch.float32, sizes=((64, 64),), ip_adapter="tiny"))
    backend = load_backend(ModelConfig(source="tiny", device="cpu", ip_adapter="tiny"))
    unet = backend.unet  # type: ignore[attr-defined]
    encoder = backend.references.encoder  # type: ignore[attr-defined]
    adapter = parameter_count(unet.encoder_hid_proj) + sum(
        parameter_count(p) for name, p in unet.attn_processors.items() if not name.endswith("attn1.processor")
        and isinstance(p, torch.nn.Module))
    assert adapter > 0
    # What the estimate adds is the adapter's: the other parts are as without it.
    assert {k: v for k, v in counted.items() if not k.startswith("IP-Adapter")} == plain
    image_encoder = next(m for m in vars(encoder).values() if type(m).__name__ == "CLIPVisionModelWithProjection")
    assert counted["IP-Adapter image encoder"] == parameter_count(image_encoder) * 4
    assert counted["IP-Adapter"] == adapter * 4



def test_memory_estimate_reads_an_ip_adapter_folder_s_encoder_config_and_weights_header(tmp_path) -> None:  # noqa: ANN001
    from vj.engine.conditioning.ip_adapter_load import layout_of, save_tiny_ip_adapter
    from vj.engine.families.lookup import tiny_family

    pipe = tiny_family("tiny").build_tiny_pipeline()  # type: ignore[union-attr]
    weights = save_tiny_ip_adapter(pipe.unet, tmp_path, layout_of(pipe.unet.config, "tiny"))
    from_files = _weights(MemoryPlan(model="tiny", dtype=torch.float16, sizes=((64, 64),),
                                     ip_adapter=str(weights.parent)))
    built = _weights(MemoryPlan(model="tiny", dtype=torch.float16, sizes=((64, 64),), ip_adapter="tiny"))
    assert from_files == built and from_files["IP-Adapter"] > 0
