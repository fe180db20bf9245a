"""The list of show commands, and which transports leave one out (and why).

A transport exposes a command by a table entry naming it (`OSC_COMMANDS`, `WEB_COMMANDS`,
`MIDI_COMMANDS`, `PREVIEW_COMMANDS` beside each adapter); a test walks this list and checks every
transport offers every command not listed as an exception here.
"""

from __future__ import annotations

from enum import StrEnum


class Command(StrEnum):
    SET_PARAM = "set_param"  # a parameter value (or its position 0..1)
    LORA_SCALE = "lora_scale"
    CONTROLNET_SCALE = "controlnet_scale"
    PROMPT_TEXT = "prompt_text"
    PROMPT_WEIGHT = "prompt_weight"
    NEGATIVE = "negative"
    PRESET = "preset"  # by name or number
    PRESET_STEP = "preset_step"  # next / previous
    MODEL = "model"  # switch the model by its source (loaded beside the playing one, then crossfaded)
    RELEASE = "release"  # hand a parameter (or all) back to its schedule / preset
    RECORD = "record"
    LEARN = "learn"
    BLACKOUT = "blackout"
    FREEZE = "freeze"
    PANIC = "panic"
    TAP = "tap"
    BPM = "bpm"
    QUANTISE = "quantise"
    LFO = "lfo"  # attach, change, remove
    AUDIO = "audio"  # attach, change, remove an audio modulator
    AUDIO_ONSET = "audio_onset"
    RESET_MOTION = "reset_motion"
    REOPEN_PREVIEW = "reopen_preview"
    REFERENCE = "reference"  # the IP-Adapter's picture: named, grabbed, uploaded, or off


_TEXT = "a MIDI controller sends numbers, not text"
_KEYS = ("the preview keys are the performer's emergency set on the output window: record, presets, "
         "blackout, freeze, panic and the window's own keys")

# transport -> {command: why it is not offered}
NOT_OFFERED: dict[str, dict[Command, str]] = {
    "osc": {
        Command.PRESET_STEP: "OSC names the preset (/vj/preset <name|number>); stepping is a button's gesture",
        Command.RESET_MOTION: "OSC writes the motion parameters themselves (/vj/zoom 1 ...)",
    },
    "web": {
        Command.PRESET_STEP: "the page lists the presets and switches by name",
        Command.RESET_MOTION: "the page's sliders write the motion parameters themselves",
    },
    "midi": {
        Command.PROMPT_TEXT: _TEXT,
        Command.NEGATIVE: _TEXT,
        Command.AUDIO_ONSET: "the onset action is a word, not a position",
        Command.MODEL: "a model is named by text; a controller switches models with presets that name them "
                       "(program change)",
        Command.BPM: "MIDI sets the tempo by its clock (24 pulses a beat) or the tap button",
        Command.QUANTISE: "the quantise grid is a choice of words, set by OSC, the page or the preset",
        Command.REOPEN_PREVIEW: "a controller's buttons play the show; the window is fixed by its w key, OSC "
                                "or the page",
        Command.REFERENCE: "a reference picture is named, grabbed or uploaded by OSC or the page",
    },
    "preview": {c: _KEYS for c in Command if c not in (
        Command.RECORD, Command.PRESET_STEP, Command.BLACKOUT, Command.FREEZE, Command.PANIC,
        Command.REOPEN_PREVIEW)},
}
