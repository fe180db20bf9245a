"""A live show's outputs from an `OutputsConfig`: the take, virtual camera, NDI, Spout/Syphon and preview.

Output size and rate: the show-wide size is made by the engine on the device (`config.geometry`);
an output with a size of its own is wrapped to resize on its own thread (vj.output.resized); with
`config.blend` every paced output but the take blends between the two latest frames
(vj.output.frame_blend), from `config.in_betweens` pictures the engine makes on the device, or on the
host. The take records what the engine made, never a blend, so a replay matches it.

Recording: every show gets a `LiveTake` (`session.take`), idle unless `record` names a file
to start at once; `/vj/record`, the record button and the preview's r key switch it (path:
`record`, or a name stamped with each take's start time in the current folder).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from vj.config_live import OutputsConfig
from vj.errors import VjError

if TYPE_CHECKING:  # the session (and torch with it) loads only when a show is built
    from vj.control.commands import ShowActions
    from vj.output.monitors import Monitor
    from vj.output.protocol import Output
    from vj.session.live import LiveSession


def prepare_outputs(config: OutputsConfig) -> Monitor | None:
    """The preview's display, OpenCV and monitor, checked before the model loads (vj.output.preview_gui)."""
    if not (config.preview or config.preview_fullscreen):
        return None
    from vj.output.preview_gui import prepare_preview

    return prepare_preview(config.preview_monitor)


def check_outputs(config: OutputsConfig) -> None:
    """What can be checked before the model loads: the recording's files can be written, the per-output sizes
    name outputs that are on, an upscaler's file and spandrel are there."""
    from vj.output.paths import check_video_path, check_writable
    from vj.output.timeline import timeline_path_for

    if config.record:
        check_writable(timeline_path_for(check_video_path(config.record, "--record")), "--record (its timeline)")
    if config.geometry is not None and config.geometry.upscaler is not None:
        from vj.engine.upscaler import check_upscaler_file

        check_upscaler_file(config.geometry.upscaler)
    enabled = {"vcam": config.vcam, "ndi": config.ndi, "ndi-depth": config.ndi_depth, "spout": config.spout is not None,
               "syphon": config.syphon is not None, "preview": config.preview or config.preview_fullscreen}
    for spec in config.output_sizes:
        if not enabled.get(spec.output, False):
            flag = "--preview" if spec.output == "preview" else f"--{spec.output}"
            raise VjError(f"--output-size-for {spec.output}=...: that output is not on (add {flag})")


def attach_outputs(session: LiveSession, config: OutputsConfig, actions: ShowActions, *,
                   monitor: Monitor | None = None) -> None:
    """The take and the outputs `config` asks for; the preview keys reach `actions` (and it gains the
    preview's reopen). `monitor`: as `prepare_outputs` found it (else found here)."""
    from vj.control.commands import ShowCommands
    from vj.output.channels import DepthChannel
    from vj.output.preview import PreviewActions, PreviewWindow
    from vj.output.take import LiveTake
    from vj.output.texture_share import SPOUT, SYPHON, TextureShareOutput
    from vj.output.vcam import VirtualCameraOutput

    fps = config.fps or session.preset.render.fps
    if fps <= 0:
        raise VjError(f"--output-fps: expected a rate > 0, found {fps}")
    if config.geometry is not None:
        from vj.engine.output_geometry import build_output_geometry

        session.engine.output_geometry = build_output_geometry(config.geometry, session.backend.device,
                                                               session.backend.dtype)
    session.engine.in_betweens = config.in_betweens
    shaped = _OutputShaping(config)
    take = LiveTake(config.record or None, fps, lambda: session.preset,
                    live_state=session.store.live_overrides, blacked_out=lambda: session.performer.blackout_on,
                    codec=config.record_codec, crf=config.record_crf, encoder_preset=config.record_preset)
    session.attach_take(take)
    if config.record:
        take.start_recording()
    if config.vcam:
        session.add_output(shaped("vcam", VirtualCameraOutput(fps, backend=config.vcam_backend,
                                                              device=config.vcam_device)))
    if config.ndi or config.ndi_depth:
        from vj.output.ndi import NdiOutput

        if config.ndi:
            session.add_output(shaped("ndi", NdiOutput(fps, name=config.ndi_name)))
        if config.ndi_depth:
            session.add_output(DepthChannel(shaped("ndi-depth", NdiOutput(fps, name=f"{config.ndi_name} depth"))))
    for kind, name in ((SPOUT, config.spout), (SYPHON, config.syphon)):
        if name is not None:  # off with one line on another platform (TextureShareOutput.start)
            session.add_output(shaped(kind.name.lower(), TextureShareOutput(kind, fps, name=name)))
    if config.preview or config.preview_fullscreen:
        if monitor is None:
            monitor = prepare_outputs(config)
        commands = ShowCommands(session.store, actions, "preview")
        window = PreviewActions(quit=session.end_show, fps=lambda: session.engine.stats.fps,
                                bpm=lambda: session.tempo.bpm)
        preview = PreviewWindow(fps, commands=commands, actions=window, snapshot_dir=config.snapshot_dir,
                                fullscreen=config.preview_fullscreen, monitor=monitor,
                                show_help=config.preview_help, show_status=config.preview_status)
        actions.reopen_preview = preview.reopen
        shown = shaped("preview", preview)
        session.add_output(DepthChannel(shown) if config.show == "depth" else shown)


class _OutputShaping:
    """Wraps each output as the config asks: a blend on its ticks, a size of its own."""

    def __init__(self, config: OutputsConfig) -> None:
        self.blend = config.blend
        self.sizes = {spec.output: spec for spec in config.output_sizes}

    def __call__(self, name: str, output: Output) -> Output:
        if self.blend:
            from vj.output.frame_blend import blend_on_ticks

            blend_on_ticks(output.paced)  # type: ignore[attr-defined]  # every live output but the take is paced
        spec = self.sizes.get(name)
        if spec is None:
            return output
        from vj.output.resized import ResizedOutput

        return ResizedOutput(output, spec)
