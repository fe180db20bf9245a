"""The memory estimate reads each family's text encoders by folder name: the names must be the pipeline's own."""

from __future__ import annotations

from typing import TYPE_CHECKING

import pytest

from vj.engine.families.lookup import FAMILIES

if TYPE_CHECKING:  # importing family.py first runs into an import cycle (family -> backends -> families)
    from vj.engine.families.family import ModelFamily


@pytest.mark.parametrize("family", FAMILIES, ids=lambda f: f.name)
def test_memory_estimate_text_encoder_folders_are_the_encoders_the_family_runs(family: ModelFamily) -> None:
    pipe = family.build_tiny_pipeline()
    runs = [encoder for _tokenizer, encoder in family.text_encoders(pipe)]
    assert [getattr(pipe, folder) for folder in family.text_encoder_folders] == runs
    assert family.tiny_vae_id.startswith("madebyollin/taesd")
