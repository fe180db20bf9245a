"""The shipped presets have sizes their model takes, and wide ones ship for both the 2D and the 3D warp."""

from __future__ import annotations

from vj.engine.families.size_rule import SizeRule
from vj.preset_files import list_presets, load_preset


def test_shipped_presets_have_sizes_sd_turbo_takes_and_some_are_wide() -> None:
    sd_turbo = SizeRule("stabilityai/sd-turbo", 8, 8)  # SD 2.1's VAE (8) and 4-block UNet (8 more): 64 px multiples
    wide_modes = set()
    for path in list_presets():
        preset = load_preset(str(path))
        assert preset.model.source == "stabilityai/sd-turbo", path
        sd_turbo.check(preset.render.width, preset.render.height)
        if preset.render.width >= 1.7 * preset.render.height:
            wide_modes.add(str(preset.params.get("animation_mode", "2d")))
    assert wide_modes == {"2d", "3d"}
