"""Where live sound comes from: a sound card through sounddevice (PortAudio), or a file played in real time.

Both deliver `(samples, t)` blocks to one callback: samples float32 (n, channels), `t` the
time of the block's first sample on the session's monotonic clock (the clock a take stamps
its video ticks with, so sound and picture line up). The callback only queues the block;
analysis happens on the audio thread (vj.control.audio.live), never in PortAudio's callback.

`file:PATH` as the device plays a sound file block by block at its real rate: rehearsal
without a sound card, and how the tests drive the live path.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from typing import Any, Protocol

import numpy as np

from vj.control.audio.files import load_track
from vj.errors import DeviceNotConnected, VjError

log = logging.getLogger(__name__)

Deliver = Callable[[np.ndarray, float], None]
Clock = Callable[[], float]
FILE_PREFIX = "file:"
INSTALL_HINT = "pip install 'vj[audio]'"


class AudioInput(Protocol):
    rate: int
    channels: int
    name: str

    def start(self, deliver: Deliver) -> None: ...
    def close(self) -> None: ...


def _sounddevice() -> Any:
    """The sounddevice module, or one clear line saying what to install."""
    try:
        import sounddevice
    except ImportError as err:
        raise VjError(f"live audio (--audio-in, vj audio-devices) needs the sounddevice package: {INSTALL_HINT} "
                      f"({err})") from err
    except OSError as err:  # the module is there but PortAudio's shared library is not
        raise VjError(f"live audio needs the PortAudio library ({err}): on Debian/Ubuntu apt install "
                      "libportaudio2; on macOS and Windows the sounddevice wheel brings it") from err
    return sounddevice


def input_devices() -> list[tuple[int, str, int, float]]:
    """(index, name, input channels, default rate) of every device that can record."""
    sd = _sounddevice()
    try:
        devices = sd.query_devices()
    except Exception as err:  # PortAudio refuses to enumerate: say so, once
        raise DeviceNotConnected(f"the audio system could not list devices: {err}") from err
    return [(i, str(d["name"]), int(d["max_input_channels"]), float(d["default_samplerate"]))
            for i, d in enumerate(devices) if int(d["max_input_channels"]) > 0]


def open_input(spec: str, block: int, clock: Clock = time.monotonic) -> AudioInput:
    """`file:PATH`, a device index, or part of a device name (see `vj audio-devices`)."""
    if spec.startswith(FILE_PREFIX):
        return FileAudioInput(spec[len(FILE_PREFIX):], block, clock=clock)
    return SoundDeviceInput(spec, block, clock=clock)


class FileAudioInput:
    """A sound file delivered block by block at its real rate, on the absolute schedule of `clock`."""

    def __init__(self, path: str, block: int, *, clock: Clock = time.monotonic, loop: bool = False,
                 realtime: bool = True) -> None:
        self.track = load_track(path, "--audio-in file:")
        self.rate, self.channels = self.track.rate, self.track.channels
        self.name = f"file {path}"
        self.block = block
        self.clock = clock
        self.loop = loop
        self.realtime = realtime
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None
        self.delivered = 0
        self.started_at: float | None = None  # `clock` at the first sample
        self.finished = threading.Event()

    def start(self, deliver: Deliver) -> None:
        self._thread = threading.Thread(target=self._play, args=(deliver,), name="vj-audio-file", daemon=True)
        self._thread.start()

    def _play(self, deliver: Deliver) -> None:
        samples = self.track.samples
        start = self.started_at = self.clock()
        position = 0
        while not self._stop.is_set():
            if position >= len(samples):
                if not self.loop:
                    break
                start += position / self.rate  # the loop goes on on the same schedule
                position = 0
            block = samples[position:position + self.block]
            first_s = start + position / self.rate
            due = first_s + len(block) / self.rate  # a block is there once its last sample was "heard"
            if self.realtime:
                wait = due - self.clock()
                if wait > 0 and self._stop.wait(wait):
                    break
            deliver(block, first_s)
            self.delivered += 1
            position += len(block)
        self.finished.set()

    def close(self) -> None:
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2.0)


class SoundDeviceInput:
    """A PortAudio input stream; its callback copies each block out and returns at once."""

    def __init__(self, device: str, block: int, *, clock: Clock = time.monotonic) -> None:
        sd = _sounddevice()
        index = _find_device(device)
        info = sd.query_devices(index)
        self.rate = int(info["default_samplerate"])
        self.channels = min(2, int(info["max_input_channels"]))
        self.name = str(info["name"])
        self.clock = clock
        self.block = block
        self.overflows = 0
        self._stream = sd.InputStream(device=index, channels=self.channels, samplerate=self.rate,
                                      blocksize=block, dtype="float32", callback=self._callback)
        self._deliver: Deliver | None = None

    def _callback(self, indata: np.ndarray, frames: int, _time: Any, status: Any) -> None:
        if status:
            self.overflows += 1
        deliver = self._deliver
        if deliver is not None:
            deliver(indata.copy(), self.clock() - frames / self.rate)

    def start(self, deliver: Deliver) -> None:
        self._deliver = deliver
        self._stream.start()
        log.info("audio input %s: %d Hz, %d channel(s), blocks of %d", self.name, self.rate, self.channels,
                 self.block)

    def close(self) -> None:
        self._deliver = None
        try:
            self._stream.stop()
            self._stream.close()
        except Exception as err:  # closing a device that went away: report, carry on
            log.warning("audio input %s: %s", self.name, err)


def _find_device(spec: str) -> int:
    devices = input_devices()
    if spec.isdigit():
        if any(i == int(spec) for i, *_ in devices):
            return int(spec)
    else:
        for i, name, *_ in devices:
            if spec.lower() in name.lower():
                return i
    listed = "; ".join(f"{i}: {name}" for i, name, *_ in devices) or "none"
    raise DeviceNotConnected(f"--audio-in {spec}: no such input (expected an index or part of a name from "
                             f"`vj audio-devices`: {listed}; or file:PATH)")
