"""The memory estimate reads each family's text encoders by folder name: the names must be the pipeline's own."""

from __future__ import annotations

import pytest

import vj.engine.backends  # noqa: F401 - first, as the engine imports it: families/ alone hits an import cycle
from vj.engine.families.family import ModelFamily
from vj.engine.families.lookup import FAMILIES


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_memory_estimate_text_encoder_folders_are_the_encoders_the_family_runs(family: ModelFamily) -> None:
    pipe = family.build_tiny_pipeline()
    runs = [encoder for _tokenizer, encoder in family.text_encoders(pipe)]
    assert [getattr(pipe, folder) for folder in family.text_encoder_folders] == runs
    assert family.tiny_vae_id.startswith("madebyollin/taesd")
