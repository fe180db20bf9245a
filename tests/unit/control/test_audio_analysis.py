"""Audio analysis and modulators on generated sound: onsets on the expected frames, bands, envelopes, actions."""

from __future__ import annotations

import math

import numpy as np
import pytest

from tests.audio_signals import RATE, click_track, sweep, tone
from vj.config import parse_preset
from vj.config_audio import AnalysisConfig, OnsetConfig
from vj.control.audio.analysis import BandAnalyser
from vj.control.audio.files import AudioTrack
from vj.control.audio.modulators import AudioMod, AudioModulators, Envelope, parse_audio_mod
from vj.control.audio.offline import OfflineAudio, modulated_columns
from vj.control.modulators import ModulatorBank
from vj.control.tempo import TempoClock
from vj.errors import ConfigError
from vj.prompt_mix import PromptEntry, PromptMix
from vj.store import ParamStore

FPS = 24.0


def _track(x: np.ndarray) -> AudioTrack:
    return AudioTrack(x[:, None], RATE, "generated")


def _driver(track: AudioTrack, preset_text: str = "", fps: float = FPS) -> tuple[OfflineAudio, ParamStore]:
    preset = parse_preset(f"[render]\nfps = {fps}\n{preset_text}", "audio.toml")
    store = ParamStore(base=preset.params, prompts=preset.prompts.to_mix())
    bank = ModulatorBank.on_engine_time(store, preset.modulators)
    return OfflineAudio.install(track, preset, store, bank), store


@pytest.mark.parametrize(("bpm", "fps"), [(120.0, 24.0), (128.0, 30.0), (90.0, 25.0)])
def test_a_click_track_gives_onsets_on_the_frames_holding_the_clicks(bpm: float, fps: float) -> None:
    x, clicks = click_track(bpm, 6.0, first_s=0.1)
    driver, _ = _driver(_track(x), fps=fps)
    for i in range(driver.track.frame_count(fps)):
        driver.before_frame(i)
    onset_frames = [i for i, f in enumerate(driver.features) if f.onset]
    expected = [math.floor(t * fps + 1e-9) for t in clicks]
    assert onset_frames == expected
    assert driver.features[-1].bpm == pytest.approx(bpm, rel=0.03)


def test_no_onsets_in_a_steady_tone_or_silence() -> None:
    x = np.concatenate([np.zeros(RATE, np.float32), tone(440, 3.0)])
    driver, _ = _driver(_track(x))
    for i in range(driver.track.frame_count(FPS)):
        driver.before_frame(i)
    onsets = [i for i, f in enumerate(driver.features) if f.onset]
    assert onsets == [24]  # the tone's start, nothing after


def test_a_sine_sweep_lands_in_the_expected_bands() -> None:
    cfg = AnalysisConfig()
    x, freq = sweep(30.0, 15000.0, 4.0)
    analyser = BandAnalyser(cfg, RATE)
    edges = cfg.band_edges
    block = 1024
    checked = 0
    for start in range(0, len(x) - block, block):
        f = analyser.push(x[start:start + block])
        if start < cfg.window:
            continue
        now = freq[start + block - 1]
        band = next(n for n, lo, hi in zip(cfg.band_names, edges, edges[1:], strict=False) if lo <= now < hi)
        lo, hi = edges[cfg.band_names.index(band)], edges[cfg.band_names.index(band) + 1]
        if now < lo * 1.3 or now > hi / 1.3:  # near an edge the Hann window straddles two bands
            continue
        loudest = max(f.bands, key=lambda n: f.bands[n])
        assert loudest == band, (now, f.bands)
        assert f.bands[band] > 0.85 and all(v < 0.6 for n, v in f.bands.items() if n != band), (now, f.bands)
        checked += 1
    assert checked > 100


def test_band_level_is_dbfs_mapped_from_the_floor() -> None:
    analyser = BandAnalyser(AnalysisConfig(floor_db=-60.0), RATE)
    assert analyser.push(tone(1000, 0.1, amplitude=1.0)).bands["mid"] == pytest.approx(1.0, abs=0.01)
    assert analyser.push(tone(1000, 0.1, amplitude=0.1)).bands["mid"] == pytest.approx(40 / 60, abs=0.01)  # -20 dB
    assert analyser.push(np.zeros(4096, np.float32)).bands["mid"] == 0.0


def test_configurable_band_edges() -> None:
    cfg = AnalysisConfig(band_names=("sub", "rest"), band_edges=(0.0, 200.0, 20000.0))
    analyser = BandAnalyser(cfg, RATE)
    f = analyser.push(tone(50, 0.2, amplitude=1.0))
    assert f.bands["sub"] > 0.95 and f.bands["rest"] < 0.3
    f = analyser.push(tone(2000, 0.2, amplitude=1.0))
    assert f.bands["rest"] > 0.95 and f.bands["sub"] < 0.3


@pytest.mark.parametrize(("text", "key"), [
    ("[modulators.analysis]\nband_names = ['a', 'b']\nband_edges = [0, 100]", "modulators.analysis.band_edges"),
    ("[modulators.analysis]\nband_names = ['a', 'b']\nband_edges = [0, 100, 50]", "modulators.analysis.band_edges"),
    ("[modulators.analysis]\nband_names = ['onset']\nband_edges = [0, 100]", "modulators.analysis.band_names"),
    ("[modulators.audio.zoom]\nsource = 'treble'", "modulators.audio.zoom.source"),
    ("[modulators.audio.prompt_mode]\nsource = 'bass'", "modulators.audio.prompt_mode"),
    ("[modulators.audio.zoom]\ncurve = 'cubic'", "modulators.audio.zoom.curve"),
    ("[modulators.onset]\naction = 'explode'", "modulators.onset.action"),
    ("[modulators.analysis]\nwindow = 1000", "modulators.analysis.window"),
])
def test_bad_audio_tables_are_refused_naming_the_key(text: str, key: str) -> None:
    with pytest.raises(ConfigError, match=f"bad.toml: {key.replace('.', '[.]')}"):
        parse_preset(text, "bad.toml")


def test_envelope_attack_and_release_times() -> None:
    env = Envelope(attack_s=0.01, release_s=0.2)
    env.step(1.0, 0.01)
    assert env.value == pytest.approx(1 - math.exp(-1))
    env.value = 1.0
    env.step(0.0, 0.2)
    assert env.value == pytest.approx(math.exp(-1))
    assert Envelope(0.0, 0.0).step(0.7, 0.01) == 0.7


ZOOM_ON_BASS = """
[params]
zoom = 1.0
[modulators.audio.zoom]
source = "bass"
depth = 0.1
attack_ms = 0
release_ms = 100
"""


def test_a_modulator_adds_its_envelope_to_the_parameter_after_smoothing() -> None:
    x = np.concatenate([tone(80, 1.0, amplitude=1.0), np.zeros(RATE, np.float32)])
    frames, columns = modulated_columns(parse_preset(f"[render]\nfps = 24\n{ZOOM_ON_BASS}", "a.toml"),
                                        _track(x), ["zoom"])
    zoom = columns["zoom"]
    assert zoom[5:20] == pytest.approx(1.0 + 0.1 * columns["bass"][5:20], abs=1e-6)  # attack 0: at once
    assert zoom[12] == pytest.approx(1.1, abs=0.002)
    after = zoom[26:40] - 1.0  # release 100 ms: falls by e each 2.4 frames
    assert after[3] / after[0] == pytest.approx(math.exp(-3 / 2.4), rel=0.05)
    assert zoom[-1] == pytest.approx(1.0, abs=1e-4) and len(frames) == 48


def test_lfo_and_audio_modulators_add_on_one_parameter() -> None:
    store = ParamStore()
    bank = ModulatorBank(store, TempoClock(120.0, now=lambda: 0.25), engine_time=True)
    audio = AudioModulators(store, bank)
    from vj.choices import LfoShape
    from vj.control.modulators import Lfo
    bank.assign("angle", Lfo(LfoShape.SQUARE, 4.0, depth=2.0))
    audio.assign("angle", AudioMod("level", 3.0, attack_ms=0))
    analyser = BandAnalyser(audio.analysis, RATE)
    audio.step(analyser.push(tone(440, 0.1, amplitude=1.0)), 0.1)
    assert store.snapshot(0, 0.1, 0.1).num("angle") == pytest.approx(2.0 + 3.0, abs=0.01)
    bank.remove("angle")  # the audio one stays
    assert store.snapshot(1, 0.2, 0.1).num("angle") == pytest.approx(3.0, abs=0.01)
    audio.remove("angle")
    assert store.snapshot(2, 0.3, 0.1).num("angle") == 0.0


def _onset_run(action: str, cooldown_ms: float, bpm: float = 240.0) -> tuple[OfflineAudio, ParamStore]:
    x, _ = click_track(bpm, 4.0, first_s=0.05)
    text = f"""
[params]
seed = 7
[[prompts.mix]]
text = "a"
[[prompts.mix]]
text = "b"
weight = 0.0
[[prompts.mix]]
text = "c"
weight = 0.0
[modulators.onset]
action = "{action}"
cooldown_ms = {cooldown_ms}
punch = 0.05
"""
    driver, store = _driver(_track(x), text)
    for i in range(driver.track.frame_count(FPS)):
        driver.before_frame(i)
    return driver, store


def test_seed_step_on_every_onset_outside_the_cooldown() -> None:
    driver, store = _onset_run("seed_step", cooldown_ms=0)
    assert driver.modulators.onsets == 16 and driver.modulators.fired["seed_step"] == 16
    assert store.target("seed") == 7 + 16
    driver, store = _onset_run("seed_step", cooldown_ms=400)  # clicks every 250 ms: every other one fires
    assert driver.modulators.fired["seed_step"] == 8 and store.target("seed") == 7 + 8
    fired = sorted(driver.actions)
    assert all(b - a >= 0.4 * FPS for a, b in zip(fired, fired[1:], strict=False))


def test_next_prompt_moves_the_weight_along_the_mix() -> None:
    driver, store = _onset_run("next_prompt", cooldown_ms=0, bpm=60.0)  # 4 clicks
    assert driver.modulators.fired["next_prompt"] == 4
    assert [e.weight for e in store.prompts().entries] == [0.0, 1.0, 0.0]  # a -> b -> c -> a -> b


def test_zoom_punch_adds_a_decaying_zoom() -> None:
    x, clicks = click_track(60.0, 3.0, first_s=0.5)
    preset = parse_preset("[params]\nzoom = 1.0\n[modulators.onset]\naction = 'zoom_punch'\npunch = 0.08\n"
                          "punch_release_ms = 100", "p.toml")
    _, columns = modulated_columns(preset, _track(x), ["zoom"])
    zoom = columns["zoom"]
    hit = math.floor(clicks[0] * 24)
    assert zoom[hit - 1] == pytest.approx(1.0) and zoom[hit] == pytest.approx(1.08, abs=1e-6)
    assert 1.0 < zoom[hit + 3] < zoom[hit + 1] < zoom[hit] and zoom[hit + 20] == pytest.approx(1.0, abs=1e-3)


def test_parse_audio_mod_from_osc_arguments() -> None:
    sources = AnalysisConfig().sources
    assert parse_audio_mod(["bass", 0.03], sources) == AudioMod("bass", 0.03)
    mod = parse_audio_mod(["onset", 1, 0, 300, "exponential"], sources)
    assert (mod.attack_ms, mod.release_ms, mod.curve.value) == (0.0, 300.0, "exponential")
    for bad in (["treble", 1.0], ["bass"], ["bass", "x"], ["bass", 1, 2, 3, "cubic"]):
        with pytest.raises(ValueError):
            parse_audio_mod(bad, sources)


def test_assign_refuses_text_parameters_and_unknown_sources() -> None:
    store = ParamStore()
    audio = AudioModulators(store, ModulatorBank(store, TempoClock()), onset=OnsetConfig())
    assert not audio.assign("border", AudioMod("bass", 1.0))
    assert not audio.assign("zoom", AudioMod("treble", 1.0))
    assert audio.assign("zoom", AudioMod("bass", 1.0)) and audio.update("zoom", depth=0.5)
    assert audio.get("zoom") == AudioMod("bass", 0.5)
    assert store.counters.rejected["wrong_type"] == 1 and store.counters.rejected["unknown_source"] == 1


def test_prompt_mix_helper_is_what_the_store_holds() -> None:  # next_prompt relies on the entries' order
    mix = PromptMix((PromptEntry("a", 1.0), PromptEntry("b", 0.0)))
    assert ParamStore(prompts=mix).prompts().entries == mix.entries
