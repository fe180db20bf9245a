"""Deforum's outside pictures → [input]: Video Input mode, init images, Video Input / Image colour coherence."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.input_helpers import write_clip, write_halves
from vj.deforum.settings import convert_settings
from vj.errors import ConfigError

pytest.importorskip("cv2", reason="OpenCV reads the video (pip install 'vj[headless]')")


def test_video_input_mode_becomes_a_frame_synced_clip_at_full_mix(tmp_path: Path) -> None:
    clip = write_clip(tmp_path / "in.mkv", frames=10)
    result = convert_settings({"animation_mode": "Video Input", "video_init_path": "in.mkv", "extract_nth_frame": 2,
                               "extract_from_frame": 1, "max_frames": 100, "diffusion_cadence": 3,
                               "color_coherence": "Video Input"}, str(tmp_path / "s.txt"))
    assert result.data["input"] == {"source": str(clip), "mode": "once", "sync": "frame", "every_nth": 2,
                                    "from_frame": 1, "to_frame": -1, "color_anchor": "input"}
    assert result.preset.render.frames == 5  # clip frames 1, 3, 5, 7, 9: max_frames capped, as Deforum does
    assert result.preset.params["video_mix"] == 1.0 and result.preset.params["cadence"] == 1
    assert result.preset.params["color_coherence"] == "lab" and "video_init_path" not in result.unsupported
    assert any("capped" in n or "rendering 5 of max_frames 100" in n for n in result.notes)


def test_init_images_and_image_coherence(tmp_path: Path) -> None:
    write_halves(tmp_path / "start.png")
    write_halves(tmp_path / "palette.png")
    result = convert_settings({"use_init": True, "init_image": str(tmp_path / "start.png"), "strength": 0.6,
                               "color_coherence": "Image", "color_coherence_image_path": str(tmp_path / "palette.png")},
                              "s.txt")
    assert result.preset.input.init_image == str(tmp_path / "start.png") and result.preset.input.init_strength == 0.6
    assert result.preset.input.color_anchor == "image" and result.preset.input.color_image.endswith("palette.png")
    off = convert_settings({"use_init": False, "init_image": "https://deforum.github.io/a1/I1.png"}, "s.txt")
    assert "input" not in off.data and "init_image" not in off.unsupported  # switched off: Deforum ignores it too


@pytest.mark.parametrize("init_image", ["https://example.com/a.png", "C:\\Users\\me\\a.png", "/nowhere/a.png"])
def test_an_init_image_not_on_this_machine_is_kept_as_written_with_a_note(init_image: str) -> None:
    result = convert_settings({"use_init": True, "init_image": init_image}, "s.txt")
    assert result.preset.input.init_image == init_image
    assert any(note.startswith(f"init_image {init_image}: ") for note in result.notes)


@pytest.mark.parametrize(("settings", "message"), [
    ({"animation_mode": "Video Input"}, "video_init_path"),
    ({"animation_mode": "Video Input", "video_init_path": "/nowhere/in.mp4"}, "no such file"),
])
def test_what_cannot_be_used_is_refused_naming_the_key(settings: dict[str, object], message: str) -> None:
    with pytest.raises(ConfigError, match=message):
        convert_settings(settings, "s.txt")
