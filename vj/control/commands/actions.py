"""`ShowActions`: the session's hooks a show command reaches, handed over once for every transport.

The session builder fills it from the session's fields (preset switcher, take, performer, tempo
clock, quantiser, LFO bank, audio modulators, MIDI learn, preview window); tests fill it from the
same real parts without an engine. A hook left None makes its command answer 'unavailable'.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from vj.control.audio.modulators import AudioModulators
from vj.control.modulators import ModulatorBank
from vj.control.tempo import Quantiser, TempoClock


@dataclass
class ShowActions:
    # a preset by name or number from a remote surface: shipped names and --presets-dir only, never a path;
    # returns None when refused (the switcher lands it on the quantise grid itself)
    preset: Callable[[str], object] | None = None
    # a preset named in the performer's own MIDI mapping file ([program].presets: a name or a path)
    preset_file: Callable[[str], object] | None = None
    preset_step: Callable[[int], object] | None = None  # +1 next, -1 previous
    preset_number: Callable[[int], object] | None = None  # the n-th shipped preset
    # a model by its source (a tiny model or one the show's presets name); returns None when refused
    model: Callable[[str], object] | None = None
    record: Callable[[bool], object] | None = None
    is_recording: Callable[[], bool] | None = None
    learn: Callable[[str], bool] | None = None  # False: not a mappable target
    blackout: Callable[[bool | None], object] | None = None  # True on, False off, None toggle; returns the state
    freeze: Callable[[bool | None], object] | None = None
    panic: Callable[[], object] | None = None
    reopen_preview: Callable[[], object] | None = None
    # the IP-Adapter's pictures (None: no IP-Adapter): a blend of named pictures from the show's folder (empty:
    # off), a grab of the input or the output frame, an uploaded picture's bytes
    reference: Callable[[tuple[tuple[str, float], ...]], object] | None = None
    reference_grab: Callable[[str], object] | None = None
    reference_upload: Callable[[bytes], object] | None = None
    tempo: TempoClock | None = None
    quantiser: Quantiser | None = None
    modulators: ModulatorBank | None = None
    audio: AudioModulators | None = None
