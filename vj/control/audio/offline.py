"""A sound track driving a preset's audio modulators offline, one video frame at a time.

`OfflineAudio.before_frame(i)` analyses the samples under frame i (frame-exact at the
render's fps) and steps the modulators by exactly 1/fps, between frames, so a render with
the same track is the same every time. `vj render --audio` and `vj schedule --audio` use it;
the live input (live.py) feeds the same analysis block by block.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np

from vj.config import PresetConfig
from vj.control.audio.analysis import AudioFeatures, BandAnalyser
from vj.control.audio.files import AudioTrack
from vj.control.audio.modulators import AudioModulators
from vj.control.modulators import ModulatorBank
from vj.store import ParamStore

log = logging.getLogger(__name__)


@dataclass
class OfflineAudio:
    track: AudioTrack
    fps: float
    modulators: AudioModulators
    analyser: BandAnalyser = field(init=False)
    features: list[AudioFeatures] = field(default_factory=list)
    actions: dict[int, str] = field(default_factory=dict)  # frame -> onset action fired

    def __post_init__(self) -> None:
        self.analyser = BandAnalyser(self.modulators.analysis, self.track.rate)

    @classmethod
    def install(cls, track: AudioTrack, preset: PresetConfig, store: ParamStore, bank: ModulatorBank) -> OfflineAudio:
        modulators = AudioModulators(store, bank)
        modulators.install_preset(preset.modulators)
        if not modulators.assigned() and preset.modulators.onset.action == "none":
            log.warning("the preset has no [modulators.audio.<param>] and no onset action: the track is muxed "
                        "but moves nothing")
        return cls(track, preset.render.fps, modulators)

    def before_frame(self, index: int) -> AudioFeatures:
        """Analyse frame `index`'s samples and step the modulators (call once per frame, in order)."""
        if index != len(self.features):
            raise ValueError(f"audio frames go in order: expected frame {len(self.features)}, found {index}")
        features = self.analyser.push(self.track.frame_samples(index, self.fps))
        action = self.modulators.step(features, 1.0 / self.fps)
        if action is not None:
            self.actions[index] = action
        self.features.append(features)
        return features

    def band_columns(self) -> dict[str, np.ndarray]:
        names = self.modulators.analysis.band_names
        columns = {name: np.array([f.bands[name] for f in self.features]) for name in names}
        columns["onset"] = np.array([1.0 if f.onset else 0.0 for f in self.features])
        return columns


def modulated_columns(preset: PresetConfig, track: AudioTrack, params: list[str],
                      frames: int | None = None) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """Frame numbers, and per frame the bands, onsets and `params` as the engine would see them.

    The store is set up as a render sets it up (base values, schedules, LFOs on frame time,
    the audio modulators driven by the track) and snapshotted at each frame's time, so the
    values include smoothing and clamping. `vj schedule PRESET --audio TRACK` prints and plots them.
    """
    from vj.schedule.keyframes import compile_preset_schedules

    store = ParamStore(base=preset.params, prompts=preset.prompts.to_mix())
    bank = ModulatorBank.on_engine_time(store, preset.modulators)
    for name, fn in compile_preset_schedules(preset).items():
        store.set_schedule(name, fn)
    bank.install_preset(preset.modulators)
    driver = OfflineAudio.install(track, preset, store, bank)
    fps = preset.render.fps
    count = frames if frames is not None else track.frame_count(fps)
    names = params or list(driver.modulators.assigned()) or ["zoom"]
    values: dict[str, list[float]] = {name: [] for name in names}
    for i in range(count):
        driver.before_frame(i)
        snap = store.snapshot(i, (i + 1) / fps, 1.0 / fps)
        for name in names:
            values[name].append(snap.num(name))
    return np.arange(count), {**driver.band_columns(), **{n: np.asarray(v) for n, v in values.items()}}
