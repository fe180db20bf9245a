"""Compiled ControlNet units keep their own weights (on this CPU; tests/gpu repeats it on CUDA)."""

from __future__ import annotations

import pytest
import torch

from tests.controlnet_checks import check_compiled_units_keep_their_own_weights


@pytest.mark.timeout(1200)
def test_two_compiled_units_with_different_weights_each_match_eager() -> None:
    check_compiled_units_keep_their_own_weights(torch.device("cpu"), torch.float32)
