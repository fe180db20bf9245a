"""A size the model cannot take names the nearest ones it can: one step down and one up, nearest in aspect."""

from __future__ import annotations

import pytest

from vj.config import ModelConfig
from vj.engine.backends.sizes import check_size_before_load
from vj.engine.families.size_rule import SizeRule, nearest_sizes
from vj.errors import SizeRefused


@pytest.mark.parametrize(("asked", "multiple", "larger", "smaller"), [
    # 1000x560 is 1.786:1. Up: 1024x576 (1.778). Down: 960x512 (1.875) beats 960x576 (1.667)
    # and 1024x512 (2.0) on aspect, though 960x576 is nearer in area.
    ((1000, 560), 64, (1024, 576), (960, 512)),
    # 1000x600 is 5:3. Down: 960x576 is exactly 5:3. Up: 1024x640 (1.6); 1024x576 is smaller in area.
    ((1000, 600), 64, (1024, 640), (960, 576)),
    # A side that is already a multiple stays: 72x64 at 16 px is 80x64 or 64x64.
    ((72, 64), 16, (80, 64), (64, 64)),
    # 200x120 (1.667) at 16 px: up 208x128 (1.625) beats 192x128 (1.5); down 192x112 (1.714) beats 208x112.
    ((200, 120), 16, (208, 128), (192, 112)),
    # Tall frames the same way round: 560x1000 → 576x1024 or 512x960.
    ((560, 1000), 64, (576, 1024), (512, 960)),
    # Near the engine's limits (64..2048 px a side): nothing below 64 or above 2048.
    ((2040, 2040), 64, (2048, 2048), (1984, 1984)),
    ((2040, 2040), 96, None, (2016, 2016)),
    ((96, 64), 128, (128, 128), None),
])
def test_nearest_sizes_one_step_either_side(asked: tuple[int, int], multiple: int,
                                            larger: tuple[int, int] | None, smaller: tuple[int, int] | None) -> None:
    assert nearest_sizes(*asked, multiple) == (larger, smaller)


def test_the_refusal_names_the_nearest_sizes_in_one_line() -> None:
    with pytest.raises(SizeRefused) as info:
        SizeRule("stabilityai/sd-turbo", 8, 8).check(1000, 560)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("stabilityai/sd-turbo: render size: expected width and height multiples of 64 px")
    assert message.endswith("found '1000x560'; the nearest sizes it takes: 1024x576 or 960x512")
    assert info.value.nearest == ((1024, 576), (960, 512))


def test_the_tiny_model_names_its_own_nearest_sizes_before_loading() -> None:
    with pytest.raises(SizeRefused, match=r"'200x120'; the nearest sizes it takes: 208x128 or 192x112$"):
        check_size_before_load(ModelConfig(source="tiny"), 200, 120)
