"""`vj run`'s sound: `--audio-in DEVICE` drives the audio modulators live, `--record-audio` puts it in the take."""

from __future__ import annotations

import argparse
import logging
from typing import TYPE_CHECKING

from vj.config import PresetConfig
from vj.control.audio.inputs import FILE_PREFIX, open_input
from vj.control.audio.live import AudioReactor
from vj.errors import VjError

if TYPE_CHECKING:  # the session (and torch with it) loads only when `vj run` runs
    from vj.session.live import LiveSession

log = logging.getLogger(__name__)

BLOCKS = (256, 512, 1024, 2048)


def add_audio_arguments(parser: argparse.ArgumentParser) -> None:
    g = parser.add_argument_group("audio reactivity")
    g.add_argument("--audio-in", metavar="DEVICE",
                   help="analyse this input live for [modulators.audio.*]: an index or part of a name from "
                        f"`vj audio-devices`, or {FILE_PREFIX}PATH to play a sound file in real time "
                        "(needs pip install 'vj[audio]' for a device)")
    g.add_argument("--audio-block", type=int, choices=BLOCKS, default=512,
                   help="samples per analysed block (default 512: about 11 ms at 44.1 kHz)")
    g.add_argument("--record-audio", action="store_true", help="record the --audio-in sound into each take, in sync")


def check_audio_before_load(args: argparse.Namespace, preset: PresetConfig) -> None:
    """Flag combinations and the device itself, before the model loads."""
    if args.record_audio and not args.audio_in:
        raise VjError("--record-audio records the --audio-in input: add --audio-in DEVICE (or file:PATH)")
    if args.audio_in:
        source = open_input(args.audio_in, args.audio_block)  # a missing device or package: one line now
        source.close()
    elif preset.modulators.audio or preset.modulators.onset.action != "none":
        log.info("the preset has audio modulators; without --audio-in they stay at rest")


def attach_audio(session: LiveSession, args: argparse.Namespace) -> AudioReactor | None:
    """The live input, its analysis thread, and (with --record-audio) the take's sound stream."""
    if not args.audio_in:
        return None
    source = open_input(args.audio_in, args.audio_block)
    reactor = AudioReactor(source, session.audio)
    if args.record_audio:
        take = session.take
        if take is None:
            raise VjError("--record-audio needs the session's take (vj run wires one)")
        take.audio_format = (source.rate, source.channels)
        reactor.add_listener(take.feed_audio)
    session.add_control(reactor)
    return reactor
