"""What a preset brings to a running store, and the one policy for switching presets.

`install_preset` is the only place a preset's `[schedules]`, `[prompt_schedule]` and
`[modulators]` reach a `ParamStore`; every entry point (live, offline render, replay,
library callers) goes through `build_store` or `install_preset`, so none can forget them.
`PresetSwitcher` is how MIDI, OSC and the preview keys change presets: from the preset
that is playing, landing on the quantise grid, then re-arming pickup.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Protocol

from vj.config import PresetConfig
from vj.control.modulators import ModulatorBank
from vj.control.tempo import Quantiser, TempoClock
from vj.errors import VjError
from vj.preset_files import list_presets, load_settled_preset
from vj.registry import MAX_LORAS, ParamValue, controlnet_scale_name, lora_scale_name, slot_index
from vj.schedule.keyframes import compile_preset_schedules
from vj.schedule.prompts import compile_preset_prompt_schedule
from vj.store import ParamStore

if TYPE_CHECKING:  # the store side needs no torch at import time
    from vj.control.audio.modulators import AudioModulators
    from vj.engine.backends.base import Backend

log = logging.getLogger(__name__)


def install_preset(store: ParamStore, preset: PresetConfig, modulators: ModulatorBank,
                   audio: AudioModulators | None = None) -> None:
    """Install the preset's schedules, prompt schedule, LFOs and audio modulators (values and prompts
    are the store's job)."""
    for name, fn in compile_preset_schedules(preset).items():
        store.set_schedule(name, fn)
    store.set_prompt_schedule(compile_preset_prompt_schedule(preset))  # None clears the previous one
    modulators.install_preset(preset.modulators)
    if audio is not None:
        audio.install_preset(preset.modulators)


def base_values(preset: PresetConfig, backend: Backend | None, *, announce: bool = False) -> dict[str, ParamValue]:
    """The preset's values over what the model implies (its sampler, an LCM UNet's guidance).

    A value the preset or the command line set always wins; `announce` logs what was taken
    from the model (once per show, not on every preset switch).
    """
    taken = {name: d for name, d in (backend.param_defaults if backend is not None else {}).items()
             if name not in preset.params}
    if taken and announce:
        log.info("from the model %s: %s (set them in the preset or on the command line to change this)",
                 backend.name if backend is not None else "", "; ".join(
                     f"{name} = {d.value} ({d.why})" for name, d in taken.items()))
    # The preset's [model] loras[i].scale is the base of lora_<i>_scale: release and panic return to it.
    loras = {lora_scale_name(i): lora.scale for i, lora in enumerate(preset.model.loras[:MAX_LORAS])}
    # Likewise each [[controlnet]] unit's scale is the base of controlnet_<i>_scale (the config caps the count).
    units = {controlnet_scale_name(i): unit.scale for i, unit in enumerate(preset.controlnet)}
    return {**{name: d.value for name, d in taken.items()}, **loras, **units, **preset.params}


def build_store(preset: PresetConfig, backend: Backend | None = None) -> ParamStore:
    """A store holding the preset: base values, prompts, schedules and LFOs (offline render, replay).

    With `backend`, the model's own defaults fill what the preset leaves unset (`base_values`).
    The LFOs run on engine time at the preset's tempo, so a render is reproducible frame for
    frame. A live show's store is `build_show_store`'s, with LFOs on the show's tempo clock.
    """
    return build_store_and_bank(preset, backend)[0]


def build_store_and_bank(preset: PresetConfig, backend: Backend | None = None) -> tuple[ParamStore, ModulatorBank]:
    """`build_store`, also returning the LFO bank (an offline render adds the audio modulators to it)."""
    store = _preset_store(preset, backend)
    bank = ModulatorBank.on_engine_time(store, preset.modulators)
    install_preset(store, preset, bank)
    return store, bank


def build_show_store(preset: PresetConfig, backend: Backend | None, tempo: TempoClock, *,
                     engine_time: bool = False) -> tuple[ParamStore, ModulatorBank, AudioModulators]:
    """A live show's store: the LFOs on the show's tempo clock, and the audio modulators (stepped by a
    sound input, if the show has one). `engine_time`: beats from the frame time (a session run offline)."""
    from vj.control.audio.modulators import AudioModulators

    store = _preset_store(preset, backend)
    bank = ModulatorBank(store, tempo, engine_time=engine_time)
    audio = AudioModulators(store, bank)
    install_preset(store, preset, bank, audio)
    return store, bank, audio


def _preset_store(preset: PresetConfig, backend: Backend | None) -> ParamStore:
    return ParamStore(base=base_values(preset, backend, announce=True), prompts=preset.prompts.to_mix())


class PresetTarget(Protocol):
    """What a switch acts on: the playing preset and how to apply another (LiveSession)."""

    @property
    def preset(self) -> PresetConfig: ...

    def apply_preset(self, preset: PresetConfig) -> None: ...


class PresetSwitcher:
    """Preset switches from OSC (/vj/preset), MIDI (next/previous, program change) and the preview keys.

    Steps start from the preset that is playing; every switch lands on the quantise grid and
    then re-arms pickup in the sources registered with `on_recall` (MIDI faders wait until
    they reach the recalled values).
    """

    def __init__(self, target: PresetTarget, quantiser: Quantiser,
                 presets: Callable[[], list[Path]] = list_presets, folders: Sequence[Path] = ()) -> None:
        self.target = target
        self.quantiser = quantiser
        self._presets = presets
        self.folders = list(folders)  # --presets-dir: where remote sources may also pick presets by name
        self.refused = 0  # remote requests refused by name policy (status, tests)
        self._recall_listeners: list[Callable[[], None]] = []

    def paths(self) -> list[Path]:
        """The shipped presets (the list steps and numbers walk)."""
        return self._presets()

    def on_recall(self, listener: Callable[[], None]) -> None:
        self._recall_listeners.append(listener)

    def by_name(self, name: str, allow_paths: bool = True) -> str | None:
        """Switch to a shipped preset name, a preset number or a file; the name, or None if refused.

        Remote sources (OSC, which may listen on the whole network) pass `allow_paths=False`: only a
        bare name of a shipped preset or of one in `folders` is accepted, checked before any file
        is opened, so a sender cannot make vj read arbitrary paths.
        """
        if name.isascii() and name.isdigit():  # a preset number ("٣" and "²" are names, and none is shipped)
            index = slot_index(name, len(self._presets()))
            if index is None:
                self.refused += 1
                log.warning("preset switch refused: number %s, but %d presets are shipped",
                            name[:12] + ("…" if len(name) > 12 else ""), len(self._presets()))
                return None
            return self.by_index(index)
        if not allow_paths:
            path = self._named(name)
            if path is None:
                self.refused += 1
                log.warning("preset switch refused: %r is not a preset name (shipped: %s; folders: %s)", name[:80],
                            ", ".join(p.stem for p in self._presets()) or "none",
                            ", ".join(map(str, self.folders)) or "none (--presets-dir)")
                return None
            name = str(path)
        try:
            preset = load_settled_preset(name)
        except VjError as err:
            log.warning("preset switch refused: %s; %r plays on", err, self.target.preset.name)
            return None
        self.quantiser.submit(lambda: self._apply(preset))
        return preset.name

    def _named(self, name: str) -> Path | None:
        """The preset file a bare name stands for, or None; nothing is read here."""
        if not name or name.startswith(".") or any(c in name for c in "/\\:\0") or name.endswith(".toml"):
            return None
        for path in self._presets():
            if path.stem == name:
                return path
        for folder in self.folders:
            path = folder / f"{name}.toml"
            if path.is_file():
                return path
        return None

    def by_index(self, index: int) -> str | None:
        paths = self._presets()
        if not 0 <= index < len(paths):
            log.warning("preset switch refused: number %d, but %d presets are shipped", index, len(paths))
            return None
        return self.by_name(str(paths[index]))

    def step(self, delta: int) -> str | None:
        """The preset `delta` places from the playing one (wrapping); a custom file counts as before the first."""
        paths = self._presets()
        if not paths:
            return None
        names = [p.stem for p in paths]
        playing = Path(self.target.preset.source_path).stem
        here = names.index(playing) if playing in names else (-1 if delta > 0 else 0)
        return self.by_name(str(paths[(here + delta) % len(paths)]))

    def recall_now(self) -> None:
        """Re-apply the playing preset at once, off the quantise grid (panic), then re-arm pickup."""
        self._apply(self.target.preset)

    def _apply(self, preset: PresetConfig) -> None:
        self.target.apply_preset(preset)  # the session's policy keeps model, fps and a fixed size
        for listener in self._recall_listeners:
            listener()
