"""`--input`, `--init-image` and friends: the `[input]` table of a preset, from the command line."""

from __future__ import annotations

import argparse
import dataclasses
import logging

from vj.config import INPUT_MODES, InputConfig, PresetConfig
from vj.errors import ConfigError

log = logging.getLogger("vj")


def add_input_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("input pictures (override the preset's [input])")
    g.add_argument("--input", metavar="SOURCE",
                   help="an input picture mixed into the feedback by video_mix: webcam[:N], a video clip, an image, "
                        "or ndi:NAME (video input needs OpenCV: pip install 'vj[headless]')")
    g.add_argument("--input-mode", choices=INPUT_MODES, help="a clip at its end: loop (default) or once (hold the "
                                                            "last frame)")
    g.add_argument("--video-mix", type=float, metavar="X",
                   help="share of the input in the init image, 0 (pure feedback, the default) to 1 (pure input)")
    g.add_argument("--init-image", metavar="PATH", help="start from this image (the first frame is img2img of it)")
    g.add_argument("--init-strength", type=float, metavar="X",
                   help="fraction of the init image kept on the first frame, 0-1 (default 0.8, as Deforum)")


def apply_input_overrides(preset: PresetConfig, args: argparse.Namespace) -> PresetConfig:
    """The flags over the preset's `[input]` and `video_mix`, validated like the preset's own values."""
    changes = {k: v for k, v in (("source", args.input), ("mode", args.input_mode), ("init_image", args.init_image),
                                 ("init_strength", args.init_strength)) if v is not None}
    if changes:
        try:
            config = InputConfig(**{**{f.name: getattr(preset.input, f.name)
                                       for f in dataclasses.fields(InputConfig)}, **changes})
        except ConfigError as err:
            flag = {"source": "--input", "mode": "--input-mode", "init_image": "--init-image",
                    "init_strength": "--init-strength"}.get(err.key_path, err.key_path)
            raise ConfigError("command line", flag, err.expected, err.found) from None
        preset = preset.replace(input=config)
    if args.video_mix is not None:
        try:
            preset = preset.replace(params={**preset.params, "video_mix": args.video_mix})
        except ConfigError as err:
            raise ConfigError("command line", "--video-mix", err.expected, err.found) from None
    if preset.input.source and "video_mix" not in preset.params and "video_mix" not in preset.schedules:
        log.info("input %s: video_mix is 0, so it shows once video_mix rises (--video-mix, [params], OSC "
                 "/vj/video_mix, MIDI)", preset.input.source)
    return preset
