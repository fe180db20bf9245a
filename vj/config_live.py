"""What a live show is wired with besides its preset: controls, outputs, the web page and the sound input.

Frozen dataclasses with the defaults `vj run` uses; `vj run`'s flags only fill them in
(vj.cli.run_flags), and a library caller builds them directly and hands them to
`vj.session.live_show.build_live_show` / `attach_show`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from vj.control.osc import DEFAULT_HOST, DEFAULT_PORT
from vj.control.osc.pickup import PickupMode
from vj.control.tempo import Quantise
from vj.output.ndi import DEFAULT_SOURCE_NAME as DEFAULT_NDI_NAME
from vj.output_size import GeometrySpec, OutputSize


@dataclass(frozen=True)
class ControlsConfig:
    """OSC, OSCQuery, MIDI and the tempo."""

    osc: bool = True
    osc_host: str = DEFAULT_HOST
    osc_port: int = DEFAULT_PORT  # 0: any free port
    oscquery: bool = True
    oscquery_port: int | None = None  # None: the OSC port + 1 (any free port with OSC on port 0)
    osc_pickup: PickupMode = PickupMode.CHANGE
    zeroconf: bool = True  # advertise OSCQuery on the network
    presets_dirs: tuple[Path, ...] = ()  # folders OSC and the page may switch to by name
    midi: str | None = None  # open MIDI inputs whose name contains this, or "all"
    midi_map: str | None = None  # mapping file or shipped profile (None: the profile matching the port)
    midi_learn_file: str | None = None
    bpm: float | None = None  # start tempo (None: the preset's)
    quantise: Quantise | None = None  # None: the preset's
    link: bool = False  # follow an Ableton Link session (also a preset's [modulators] link)


@dataclass(frozen=True)
class OutputsConfig:
    """The take (always there, idle unless `record` names a file) and the outputs the show sends to."""

    record: str | None = None  # start recording at once, to this file
    record_codec: str = "libx264"
    record_crf: int = 20
    record_preset: str = "veryfast"
    fps: float | None = None  # rate of the virtual camera, preview and recording (None: the preset's)
    vcam: bool = False
    vcam_backend: str = "auto"
    vcam_device: str | None = None
    preview: bool = False
    snapshot_dir: str = "."
    preview_fullscreen: bool = False
    preview_monitor: int | None = None  # monitor number of `xrandr --listmonitors` (None: where it opens)
    preview_help: bool = True
    preview_status: bool = False
    show: str = "image"  # what the preview shows: "image" or "depth"
    ndi: bool = False
    ndi_name: str = DEFAULT_NDI_NAME
    ndi_depth: bool = False
    spout: str | None = None  # sender name
    syphon: str | None = None  # server name
    geometry: GeometrySpec | None = None  # the show-wide output size, made on the device (None: the render's)
    output_sizes: tuple[OutputSize, ...] = ()  # an output's own size, made on its host thread
    blend: bool = False  # outputs blend the two latest frames on each tick (False: repeat the last one)
    in_betweens: int = 0  # with `blend`: pictures the device makes between two frames (0: blended on the host)

    @property
    def wants_depth(self) -> bool:
        """Whether an output shows the depth map (the frames then carry it, and the depth model loads)."""
        return self.show == "depth" or self.ndi_depth


@dataclass(frozen=True)
class WebConfig:
    enabled: bool = True
    host: str = "127.0.0.1"
    port: int | None = None  # None: the OSC port + 2 (any free port with OSC on port 0)
    token: bool = False  # require the printed token on loopback too


@dataclass(frozen=True)
class AudioInConfig:
    device: str | None = None  # an input of `vj audio-devices`, or file:PATH
    block: int = 512
    record: bool = False  # put the input's sound into each take


@dataclass(frozen=True)
class ShowConfig:
    """Everything a live show is wired with besides its preset."""

    controls: ControlsConfig = field(default_factory=ControlsConfig)
    outputs: OutputsConfig = field(default_factory=OutputsConfig)
    web: WebConfig = field(default_factory=WebConfig)
    audio: AudioInConfig = field(default_factory=AudioInConfig)
