"""From an `[input]` table to running sources: checked before the model loads, then opened.

`check_inputs` is what `vj run` / `vj render` call before loading a model: a missing file, a
file that is not a video or an image, bad webcam syntax or a missing optional package end
the command with one clear line. A camera that is not there yet is no error (it is opened
when it appears, like a MIDI controller); `open_source` builds the source the engine reads.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

import numpy as np

from vj.config import InputConfig
from vj.input.clip import ClipSync, LiveClip, OfflineClip
from vj.input.spec import InputError, SourceKind, SourceSpec, parse_source
from vj.input.still import StillImage, load_image
from vj.input.video import ClipInfo, cv2_module, probe_clip


class InputSource(Protocol):
    """A running input: the session starts and closes it; the engine reads `frame_for`."""

    def start(self) -> None: ...
    def close(self) -> None: ...
    def status(self) -> str: ...
    def frame_for(self, index: int, time_s: float) -> np.ndarray | None: ...


@dataclass(frozen=True, slots=True)
class CheckedInputs:
    """What the checks found: the parsed source (with clip facts) and the loaded images."""

    spec: SourceSpec | None
    clip: ClipInfo | None
    init_image: np.ndarray | None
    color_image: np.ndarray | None


def check_source(spec: SourceSpec) -> ClipInfo | None:
    if spec.kind in (SourceKind.CLIP, SourceKind.IMAGE) and not spec.path.is_file():
        raise InputError(f"--input {spec.text}: no such file (expected webcam[:N], ndi:NAME, an image or a video "
                         "file)")
    if spec.kind is SourceKind.IMAGE:
        load_image(spec.path)
        return None
    if spec.kind is SourceKind.CLIP:
        info = probe_clip(str(spec.path))
        return info
    if spec.kind is SourceKind.WEBCAM:
        cv2_module()
        return None
    from vj.input.ndi import check_cyndilib

    check_cyndilib()
    return None


def check_inputs(config: InputConfig, *, offline: bool = False) -> CheckedInputs:
    """Everything about `[input]` that can be checked before a model loads."""
    spec = parse_source(config.source) if config.source else None
    if offline and spec is not None and spec.kind in (SourceKind.WEBCAM, SourceKind.NDI):
        raise InputError(f"--input {spec.text}: a live source; `vj render` takes a video clip or an image")
    clip = check_source(spec) if spec is not None else None
    if clip is not None and config.to_frame >= 0 and config.to_frame < config.from_frame:
        raise InputError(f"[input] to_frame {config.to_frame} is before from_frame {config.from_frame}")
    init = load_image(config.init_image, "--init-image") if config.init_image else None
    anchor = load_image(config.color_image, "[input] color_image") if config.color_anchor == "image" else None
    return CheckedInputs(spec, clip, init, anchor)


def open_source(config: InputConfig, checked: CheckedInputs, *, offline: bool, fps: float,
                start_index: int = 0) -> InputSource | None:
    """The source to start (None without one). Offline, a clip is read in step with the frames."""
    spec = checked.spec
    if spec is None:
        return None
    loop = config.mode == "loop"
    if spec.kind is SourceKind.IMAGE:
        return StillImage(spec.path)
    if spec.kind is SourceKind.CLIP:
        assert checked.clip is not None
        if offline:
            return OfflineClip(str(spec.path), checked.clip.fps, fps, sync=ClipSync(config.sync), loop=loop,
                               first=config.from_frame, every=config.every_nth, last=config.to_frame,
                               start=start_index)
        return LiveClip(str(spec.path), checked.clip.fps, loop=loop, first=config.from_frame,
                        every=config.every_nth, last=config.to_frame)
    if spec.kind is SourceKind.WEBCAM:
        from vj.input.camera import LiveCamera

        return LiveCamera(spec.camera)
    from vj.input.ndi import NdiInput

    return NdiInput(spec.target)
