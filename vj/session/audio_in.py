"""A live show's sound input from an `AudioInConfig`: it drives the audio modulators, and can go into the take."""

from __future__ import annotations

import logging
from typing import TYPE_CHECKING

from vj.config import PresetConfig
from vj.config_live import AudioInConfig
from vj.control.audio.inputs import open_input
from vj.control.audio.live import AudioReactor
from vj.errors import VjError

if TYPE_CHECKING:  # the session (and torch with it) loads only when a show is built
    from vj.session.live import LiveSession

log = logging.getLogger(__name__)


def check_audio_in(config: AudioInConfig, preset: PresetConfig) -> None:
    """The combination asked for and the device itself, before the model loads."""
    if config.record and not config.device:
        raise VjError("--record-audio records the --audio-in input: add --audio-in DEVICE (or file:PATH)")
    if config.device:
        source = open_input(config.device, config.block)  # a missing device or package: one line now
        source.close()
    elif preset.modulators.audio or preset.modulators.onset.action != "none":
        log.info("the preset has audio modulators; without --audio-in they stay at rest")


def attach_audio(session: LiveSession, config: AudioInConfig) -> AudioReactor | None:
    """The live input, its analysis thread, and (with `record`) the take's sound stream."""
    if not config.device:
        return None
    source = open_input(config.device, config.block)
    reactor = AudioReactor(source, session.audio)
    if config.record:
        take = session.take
        if take is None:
            raise VjError("--record-audio needs the session's take (attach the outputs first)")
        take.audio_format = (source.rate, source.channels)
        reactor.add_listener(take.feed_audio)
    session.add_control(reactor)
    return reactor
