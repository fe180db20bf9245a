"""Frame sizes the model can render, known from its config files before any weight loads."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from vj.cli.main import main
from vj.config import ModelConfig
from vj.engine.backends import loading
from vj.engine.backends.sizes import check_size_before_load, size_rule
from vj.engine.families.size_rule import SizeRule
from vj.errors import SizeRefused

SD15_UNET = {"_class_name": "UNet2DConditionModel", "block_out_channels": [320, 640, 1280, 1280]}


def _fake_diffusers_folder(root: Path, unet: dict[str, object]) -> Path:
    (root / "unet").mkdir(parents=True)
    (root / "model_index.json").write_text(json.dumps({"_class_name": "StableDiffusionPipeline"}))
    (root / "unet" / "config.json").write_text(json.dumps(unet))
    return root


@pytest.fixture()
def no_model_load(monkeypatch: pytest.MonkeyPatch) -> list[str]:
    """Records (and refuses) every attempt to load a model."""
    calls: list[str] = []

    def refuse(source: str, *_args: object) -> None:
        calls.append(source)
        raise AssertionError(f"the model {source!r} was loaded")

    monkeypatch.setattr(loading, "load_pipeline", refuse)
    return calls


def test_tiny_model_needs_multiples_of_16() -> None:
    assert size_rule(ModelConfig(source="tiny")) == SizeRule("tiny", 8, 2)
    assert size_rule(ModelConfig(source="tiny", tiny_vae="tiny")).multiple == 16
    check_size_before_load(ModelConfig(source="tiny"), 80, 64)


def test_a_tiny_size_that_is_a_multiple_of_8_but_not_16_is_refused_in_one_line() -> None:
    with pytest.raises(SizeRefused) as info:
        check_size_before_load(ModelConfig(source="tiny"), 72, 64)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith("tiny: render size: expected width and height multiples of 16 px")
    assert "72x64" in message
    assert isinstance(info.value, ValueError)  # the backend protocol's refusal


@pytest.mark.parametrize("command", ["render", "run"])
def test_vj_refuses_the_size_before_loading_the_model(command: str, no_model_load: list[str], tmp_path: Path,
                                                      capsys: pytest.CaptureFixture[str]) -> None:
    args = [command, "drift", "--model", "tiny", "--device", "cpu", "--width", "72", "--height", "64",
            "--frames", "1"]
    if command == "render":
        args += ["--out", str(tmp_path / "x.mp4"), "--no-progress"]
    assert main(args) != 0
    assert no_model_load == []
    err = capsys.readouterr().err.strip().splitlines()
    assert err[-1].startswith("vj: error: tiny: render size: expected width and height multiples of 16 px")
    assert "72x64" in err[-1]
    assert not (tmp_path / "x.mp4").exists()


def test_a_local_diffusers_folder_gives_its_unets_multiple(tmp_path: Path) -> None:
    sd15 = ModelConfig(source=str(_fake_diffusers_folder(tmp_path / "sd15", SD15_UNET)))
    assert size_rule(sd15) == SizeRule(sd15.source, 8, 8)
    check_size_before_load(sd15, 512, 576)
    with pytest.raises(SizeRefused, match=r"multiples of 64 px.*'520x512'"):
        check_size_before_load(sd15, 520, 512)
    small = _fake_diffusers_folder(tmp_path / "small", {"block_out_channels": [32, 64]})
    assert size_rule(ModelConfig(source=str(small))).multiple == 16


def test_a_folders_own_vae_config_counts(tmp_path: Path) -> None:
    folder = _fake_diffusers_folder(tmp_path / "m", SD15_UNET)
    (folder / "vae").mkdir()
    (folder / "vae" / "config.json").write_text(json.dumps({"block_out_channels": [64, 128, 256]}))
    assert size_rule(ModelConfig(source=str(folder))) == SizeRule(str(folder), 4, 8)


def test_a_hub_id_uses_the_cached_config_or_is_unknown(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    import huggingface_hub

    unet = tmp_path / "unet.json"
    unet.write_text(json.dumps(SD15_UNET))
    cached = {("owner/cached", "unet/config.json"): str(unet)}
    asked: list[tuple[str, str]] = []

    def from_cache(repo_id: str, filename: str) -> str | None:
        asked.append((repo_id, filename))
        return cached.get((repo_id, filename))

    monkeypatch.setattr(huggingface_hub, "try_to_load_from_cache", from_cache)
    assert size_rule(ModelConfig(source="owner/cached")) == SizeRule("owner/cached", 8, 8)
    assert size_rule(ModelConfig(source="owner/not-cached")) is None
    assert check_size_before_load(ModelConfig(source="owner/not-cached"), 520, 512) is None  # checked at load
    assert ("owner/not-cached", "unet/config.json") in asked


def test_single_files_and_missing_paths_are_unknown_until_loaded(tmp_path: Path) -> None:
    assert size_rule(ModelConfig(source=str(tmp_path / "model.safetensors"))) is None
    assert size_rule(ModelConfig(source=str(tmp_path / "missing"))) is None
