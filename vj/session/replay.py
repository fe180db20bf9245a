"""Re-render a live take from its control timeline, frame by frame, possibly at higher quality.

`vj render --replay take.jsonl --out take_hq.mp4 [--width --height --steps --model]`.

The store is built from the recorded preset exactly as the live session built it; before
each frame the `ControlEvent`s that landed in that frame live are applied again
(`ParamStore.apply_event`), and the engine's clock replays the recorded `t` and `dt`
(`RecordedClock`), so smoothing and motion see the same elapsed time as on stage. The
engine runs in live-motion mode (increments scaled by the recorded dt), but every prompt
of the take is encoded before the first frame, so no frame waits for the text encoder.

With `paced=True` (what `vj render --replay` does) the outputs get each frame as many
times as the live take's video showed it (`vj.output.ticks`): the replay, written at the
take's output rate, lasts exactly as long as the take. A freeze is in it that way (the held
frame was shown for many ticks), and the blackouts are events, faded on the take's clock.

With the same settings the parameter snapshots match the live take exactly; replay
checks each frame's digest and reports the first frame that differs. What is not in the
timeline cannot be replayed: LFO/tempo modulators and the schedules of a preset switched
to mid-show (its values and prompts are replayed, they are events).

A model switch is an event too: the model it names is loaded when its frame comes (after the
playing one is let go, as a switch that did not fit live does) and the switch happens on the
same frame, with the same crossfade on the recorded clock. A replay with `--model` keeps that
model throughout. The ControlNets of a switched-to preset are not in the event: not replayed.
"""

from __future__ import annotations

import logging
from collections import deque
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path

from vj.config import PresetConfig
from vj.engine.backends import Backend, load_backend
from vj.engine.backends.diffusers import DiffusersBackend
from vj.engine.clock import RecordedClock
from vj.engine.coherence.feature_bank import FeatureBank
from vj.engine.cpu_threads import on_the_render_cores
from vj.engine.loop import Engine
from vj.engine.model_swap import ModelParts, Staged, model_parts, prime_parts
from vj.errors import VjError
from vj.frames import Frame, FrameSink
from vj.output.master import Blackout, MasterStage
from vj.output.protocol import Output
from vj.output.ticks import OutputTicks, output_ticks
from vj.output.timeline import Timeline, TimelineFrame, read_timeline, snapshot_digest
from vj.output_size import GeometrySpec
from vj.prompt_mix import PromptEntry, PromptMix, mix_from_json
from vj.session.build_engine import build_engine
from vj.session.controlnet import build_controlnets
from vj.session.model_switch import controlnets_from_data, model_from_data, model_key
from vj.session.offline import started_outputs
from vj.session.presets import build_store
from vj.snapshot import blackout_switch, model_switch, model_switch_event
from vj.store import ControlEvent, ParamStore

log = logging.getLogger(__name__)


@dataclass
class ReplayResult:
    frames: int = 0
    events: int = 0
    mismatches: int = 0
    first_mismatch: int | None = None
    gaps_filled: int = 0
    checked: bool = True  # False when overrides change parameters, so digests cannot match
    ticks: OutputTicks | None = None  # with paced=True: how the output frames follow the live take
    output_frames: int = 0  # frames handed to the outputs (= frames unless paced)
    snapshots: list = field(default_factory=list)  # ParamSnapshot per frame when keep_snapshots
    model_switches: list = field(default_factory=list)  # vj.engine.model_swap.Switched, in order


def replay_preset(timeline: Timeline, *, model: str | None = None, width: int | None = None,
                  height: int | None = None, steps: int | None = None, device: str | None = None) -> PresetConfig:
    """The recorded preset with the replay's overrides (validated like CLI overrides)."""
    return timeline.preset.with_overrides(model=model, width=width, height=height, steps=steps, device=device)


def dense_frames(timeline: Timeline) -> tuple[list[TimelineFrame], int]:
    """Frames in index order; a frame that failed live (a gap) gets an interpolated time."""
    frames = list(timeline.frames)
    out: list[TimelineFrame] = []
    filled = 0
    for frame in frames:
        if out and frame.index > out[-1].index + 1:
            prev = out[-1]
            missing = frame.index - prev.index
            for k in range(1, missing):
                t = prev.time_s + (frame.time_s - prev.time_s) * k / missing
                out.append(TimelineFrame(prev.index + k, t, t - out[-1].time_s, ""))
                filled += 1
        out.append(frame)
    return out, filled


def _prompt_texts(store: ParamStore, frames: Iterable[TimelineFrame]) -> PromptMix:
    """Every prompt text the take uses, as one mix (so `Engine.prime` encodes them all)."""
    texts = {e.text for e in store.prompts().entries} | {store.prompts().negative}
    for frame in frames:
        for event in frame.events:
            if event.kind in ("prompt", "negative"):
                texts.add(str(event.value))
            elif event.kind == "prompts":
                mix = mix_from_json(event.value)
                texts |= {e.text for e in mix.entries} | {mix.negative}
    return PromptMix(tuple(PromptEntry(t, 1.0) for t in sorted(texts) if t))


def _apply_start_state(store: ParamStore, timeline: Timeline) -> None:
    state = timeline.header.get("state") or {}
    live = state.get("live") or {}
    if live:
        store.set_many(live, source="replay")
    if "prompts" in state:
        store.set_prompts(mix_from_json(state["prompts"]), source="replay")


def replay(timeline: Timeline | str | Path, *, outputs: Iterable[Output] = (), backend: Backend | None = None,
           model: str | None = None, width: int | None = None, height: int | None = None,
           steps: int | None = None, device: str | None = None, keep_snapshots: bool = False,
           on_frame: Callable[[Frame], None] | None = None, paced: bool = False,
           output_geometry: GeometrySpec | None = None) -> ReplayResult:
    """Render every recorded frame again into `outputs` (started here, closed at the end).

    Give it a recorder with `live=False`: it applies back-pressure, so no frame is lost.
    `paced`: each frame goes to the outputs once per output tick the live take showed it
    (give the recorder the take's output rate, `vj.output.ticks.output_rate`).
    `output_geometry`: the frames leave the device at that size (the render stays the take's).
    """
    if not isinstance(timeline, Timeline):
        timeline = read_timeline(timeline)
    if not timeline.frames:
        raise VjError(f"{timeline.path}: the timeline holds no frames to replay")
    preset = replay_preset(timeline, model=model, width=width, height=height, steps=steps, device=device)
    handed_in = backend
    backend = backend if backend is not None else load_backend(preset.model)
    store = build_store(preset, backend)
    frames, filled = dense_frames(timeline)
    start = frames[0].index
    times = [0.0] * start + [f.time_s for f in frames]
    dts = [0.0] * start + [f.dt_s for f in frames]
    if start > 0:
        _apply_start_state(store, timeline)
    result = ReplayResult(gaps_filled=filled)
    result.checked = steps is None and filled == 0
    with on_the_render_cores(), started_outputs(outputs) as fanout:
        # The take's `master` moves and blackouts fade the re-render as they did live.
        start_state = timeline.header.get("state") or {}
        sink: FrameSink = _TakeBlackout(fanout, blacked_out=bool(start_state.get("blackout")))
        if paced:
            result.ticks = output_ticks(timeline)
            sink = _Repeat(sink, result.ticks.repeats, result)
        # A take started mid-show continues the live frame count, so schedules see the same index.
        engine = build_engine(preset, backend, store, sink, RecordedClock(times, dts), offline=False,
                              start_index=start)
        engine.models.key = model_key(preset.model)
        engine.owns_model = handed_in is None  # a switch away closes the replay's own model, not a caller's
        if output_geometry is not None:
            from vj.engine.output_geometry import build_output_geometry

            engine.output_geometry = build_output_geometry(output_geometry, backend.device, backend.dtype)
        try:
            engine.prime(_prompt_texts(store, frames))
            waiting: deque[TimelineFrame] = deque()  # recorded frames rendered but not yet handed out (pipelined)

            def published(frame: Frame) -> None:
                while waiting and waiting[0].index < frame.index:
                    waiting.popleft()  # held back as non-finite: never published
                recorded = waiting.popleft()
                if keep_snapshots:
                    result.snapshots.append(frame.snapshot)
                if result.checked and recorded.digest and snapshot_digest(frame.snapshot) != recorded.digest:
                    result.mismatches += 1
                    if result.first_mismatch is None:
                        result.first_mismatch = recorded.index
                        log.warning("replay: frame %d's parameters differ from the live take (something not in the "
                                    "timeline drove them: an LFO, tempo, or a preset switch's schedules)",
                                    recorded.index)
                if on_frame is not None:
                    on_frame(frame)

            models = _ReplayModels(engine, preset, handed_in, _prompt_texts(store, frames))
            for recorded in frames:
                for event in recorded.events:
                    if event.kind == "resize" and (width is not None or height is not None):
                        continue  # a replay at a size of its own keeps it (the governor's sizes were the take's)
                    if event.kind == "model":
                        if model is not None:
                            continue  # --model: that model throughout
                        event = models.stage(event, width, height)
                    store.apply_event(event)
                    result.events += 1
                waiting.append(recorded)
                frame = engine.render_frame()
                result.frames += 1
                result.output_frames += 0 if paced else 1
                if frame is not None:
                    published(frame)
            last = engine.flush()
            if last is not None:
                published(last)
        finally:
            result.model_switches = list(engine.models.switched)
            engine.stop()
    return result


class _ReplayModels:
    """The models a take's "model" events name, loaded on the render thread when their frame comes."""

    def __init__(self, engine: Engine, preset: PresetConfig, handed_in: Backend | None, prompts: PromptMix) -> None:
        """`handed_in`: the take's first model as the caller gave it (never closed, reused on a switch back)."""
        self.engine, self.preset, self.prompts = engine, preset, prompts
        self.first = (model_key(preset.model), handed_in)

    def stage(self, event: ControlEvent, width: int | None, height: int | None) -> ControlEvent:
        """Stage the model `event` names; the event, at the replay's own size if it has one."""
        switch = model_switch(event)
        self.engine.models.stage(switch.key, Staged(load=lambda: self._load(switch.key, switch.model)))
        if width is None and height is None:
            return event
        size = (width or switch.width, height or switch.height)
        return model_switch_event(switch.key, *size, switch.fade_s, event.source, switch.model)

    def _load(self, key: str, data: Mapping[str, object]) -> ModelParts:
        handed_in = self.first[1]
        # The take's show had a bank: every model gets it (the handed-in backend's is the one already in its UNet).
        with_bank = self.engine.coherence.bank is not None
        owned = not (key == self.first[0] and handed_in is not None)
        if not owned:
            assert handed_in is not None
            backend = handed_in
        else:  # a model the replay loads, closed when a later switch lets it go
            backend = load_backend(self.preset.model if key == self.first[0] else
                                   model_from_data(self.preset.model, data))
        # The ControlNets the switch's preset brought, built for this model as the show built them.
        controls = build_controlnets(self.preset.replace(controlnet=controlnets_from_data(data)), backend)
        if controls is None and isinstance(backend, DiffusersBackend):
            backend.detach_controlnets()  # a handed-in model may still carry the take's first ControlNets
        parts = model_parts(key, backend, controls, owned=owned,
                            bank=FeatureBank.install(backend) if with_bank else None)
        prime_parts(parts, self.prompts)
        return parts


class _TakeBlackout:
    """The master stage of a replay: the blackout switches ride in the frames' events and fade on the
    take's clock (each frame's recorded time), so the re-render goes black where the show did."""

    def __init__(self, sink: FrameSink, *, blacked_out: bool = False) -> None:
        """`blacked_out`: the take started mid-show during a blackout."""
        self._now = 0.0
        self.stage = MasterStage(sink, Blackout(lambda: self._now))
        if blacked_out:
            self.stage.blackout.set(True, 0.0)

    def offer(self, frame: Frame) -> None:
        self._now = frame.snapshot.time_s
        for event in frame.snapshot.events:
            if event.kind == "blackout":
                self.stage.blackout.set(*blackout_switch(event))
        self.stage.offer(frame)


class _Repeat:
    """Hands each frame on as many times as the live take's video showed it (0: a skipped frame)."""

    def __init__(self, sink: FrameSink, repeats: dict[int, int], result: ReplayResult) -> None:
        self._sink, self._repeats, self._result = sink, repeats, result

    def offer(self, frame: Frame) -> None:
        for _ in range(self._repeats.get(frame.index, 0)):
            self._sink.offer(frame)
            self._result.output_frames += 1


def event_summary(events: Iterable[ControlEvent]) -> str:
    kinds: dict[str, int] = {}
    for event in events:
        kinds[event.kind] = kinds.get(event.kind, 0) + 1
    return ", ".join(f"{k} {n}" for k, n in sorted(kinds.items())) or "none"
