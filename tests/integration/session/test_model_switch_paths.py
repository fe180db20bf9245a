"""The other paths of a model switch on the tiny models: it does not fit, it runs out of memory, it fails to load.

The device's free memory is given as a figure (a CPU has no limit); the out-of-memory error is torch's
own `torch.cuda.OutOfMemoryError`, raised by the new model's decode on the render thread: what is
faked is only the moment, chosen by the test.
"""

from __future__ import annotations

import logging
import threading
from typing import Any

import pytest
import torch

import vj.engine.model_swap as model_swap
import vj.session.model_switch as model_switch
from tests.helpers import CollectFrames, wait_for
from vj.config import ModelConfig
from vj.session import LiveSession
from vj.session.model_switch import ModelSwitcher


def started(tiny_backend: Any, tiny_preset: Any) -> tuple[LiveSession, CollectFrames]:
    session = LiveSession(tiny_preset, backend=tiny_backend)
    sink = CollectFrames()
    session.add_output(sink)
    session.start()
    wait_for(lambda: session.engine.stats.frames >= 4, timeout_s=60)
    return session, sink


def test_model_switch_that_does_not_fit_beside_the_playing_one_holds_the_frame_while_swapping(
        tiny_backend, tiny_preset, monkeypatch, caplog) -> None:  # noqa: ANN001
    order: list[str] = []
    real_release, real_load = model_swap.release_parts, model_switch.load_backend

    def release(parts: Any, **kwargs: Any) -> None:
        order.append(f"release {parts.key}")
        real_release(parts, **kwargs)

    def load(config: ModelConfig) -> Any:
        order.append(f"load {config.source}")
        return real_load(config)

    monkeypatch.setattr(model_swap, "release_parts", release)
    monkeypatch.setattr(model_switch, "load_backend", load)
    caplog.set_level(logging.INFO, logger="vj.session.model_switch")
    session, sink = started(tiny_backend, tiny_preset)
    session.models = ModelSwitcher(session, free=lambda device: 64 << 20)  # 64 MiB free: tiny-xl needs more
    lines: list[str] = []  # the status line as each step of the switch said its word (on whatever thread)
    real_progress = session.models._progress

    def progress(note: str) -> None:
        real_progress(note)
        lines.append(session.status_line())

    session.models._progress = progress  # type: ignore[method-assign]
    try:
        assert session.models.by_source("tiny-xl") == "tiny-xl"
        # Said before anything loads, with the estimate against the free figure.
        wait_for(lambda: any("does not fit beside" in r.getMessage() for r in caplog.records), timeout_s=60)
        said = [r.getMessage() for r in caplog.records if "does not fit beside" in r.getMessage()]
        assert "64 MiB free" in said[0] and "needed" in said[0]

        wait_for(lambda: session.engine.models.switched != [], timeout_s=120)
        wait_for(lambda: len(sink.frames) > session.engine.models.switched[0].frame + 3, timeout_s=60)
    finally:
        session.stop()
    assert session.engine.fatal_error is None
    switch = session.engine.models.switched[0]
    assert (switch.key, switch.held) == ("tiny-xl", True) and session.models.held_paths == 1
    # The old model was let go before the new one loaded (the background path loads first, releases after).
    assert order.index("release tiny") < order.index("load tiny-xl")
    assert any("does not fit beside the playing one" in line for line in lines)
    assert any("loading model tiny-xl" in line or "warming model tiny-xl" in line for line in lines)
    # The outputs held the last frame meanwhile, and the new model's frames fade in from it.
    held = next(f for f in sink.frames if f.index == switch.frame - 1)
    first_new = next(f for f in sink.frames if f.index == switch.frame)
    assert not (first_new.image == held.image).all()
    assert abs(first_new.image.astype(int) - held.image.astype(int)).mean() < 40  # mostly the held picture yet


def oom_on_the_render_thread(monkeypatch: pytest.MonkeyPatch, raised: list[int]) -> None:
    """The next model loaded for a switch runs out of memory in its decode once it renders on stage."""
    real_load = model_switch.load_backend

    def load(config: ModelConfig) -> Any:
        backend = real_load(config)
        decode = backend.decode

        def failing(latents: torch.Tensor) -> torch.Tensor:
            if threading.current_thread().name == "render":
                raised.append(1)
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 20.00 GiB")
            return decode(latents)  # the warm-up, on the loading thread, fits

        backend.decode = failing
        return backend

    monkeypatch.setattr(model_switch, "load_backend", load)


def test_model_switch_oom_during_the_crossfade_is_undone_back_to_the_old_model(
        tiny_backend, tiny_preset, monkeypatch) -> None:  # noqa: ANN001
    raised: list[int] = []
    oom_on_the_render_thread(monkeypatch, raised)
    session, sink = started(tiny_backend, tiny_preset)
    try:
        assert session.models.by_source("tiny-xl") == "tiny-xl"
        wait_for(lambda: session.engine.stats.oom_undone >= 1, timeout_s=120)
        at_undo = session.engine.stats.frames
        wait_for(lambda: session.engine.stats.frames >= at_undo + 4, timeout_s=60)  # the show goes on
        line = session.status_line()
    finally:
        session.stop()
    stats = session.engine.stats
    assert session.engine.fatal_error is None
    assert (stats.oom, stats.oom_undone, len(raised)) == (1, 1, 1)  # undone: never tried again
    assert session.engine.models.key == "tiny" and session.engine.backend is tiny_backend
    assert "model back to tiny" in stats.oom_note and "model back to tiny" in line
    # The way back is recorded in the take's events after the switch (here the new model's first frame failed:
    # both ride in the next frame that came out, in order, so a replay switches there and back).
    events = [(f.index, e.value["key"], e.source) for f in sink.frames for e in f.snapshot.events  # type: ignore[index]
              if e.kind == "model"]
    assert [(key, source) for _, key, source in events] == [("tiny-xl", "model"), ("tiny", "oom")]
    assert events[1][0] >= events[0][0]


def test_model_switch_that_fails_to_load_leaves_the_old_model_playing(tiny_backend, tiny_preset,  # noqa: ANN001
                                                                      monkeypatch) -> None:  # noqa: ANN001
    real_load = model_switch.load_backend

    def load(config: ModelConfig) -> Any:
        backend = real_load(config)

        def warmup(*args: Any, **kwargs: Any) -> None:
            raise torch.cuda.OutOfMemoryError("CUDA out of memory while warming up")

        backend.warmup = warmup
        return backend

    monkeypatch.setattr(model_switch, "load_backend", load)
    session, sink = started(tiny_backend, tiny_preset)
    try:
        assert session.models.by_source("tiny-xl") == "tiny-xl"
        wait_for(lambda: "failed" in session.status_line(), timeout_s=120)
        frames = session.engine.stats.frames
        wait_for(lambda: session.engine.stats.frames >= frames + 3, timeout_s=60)
        assert session.models.by_source("tiny-xl") == "tiny-xl"  # not busy any more: another try may start
    finally:
        session.stop()
    assert session.engine.models.switched == [] and session.engine.models.key == "tiny"
    assert session.engine.fatal_error is None and session.engine.stats.oom == 0


def test_model_switch_refuses_a_name_no_preset_gives_and_a_second_switch_while_one_loads(
        tiny_backend, tiny_preset, caplog) -> None:  # noqa: ANN001
    session = LiveSession(tiny_preset, backend=tiny_backend)
    caplog.set_level(logging.WARNING, logger="vj.session.model_switch")
    assert session.models.by_source("/etc/passwd") is None
    assert any("not a model the show's presets name" in r.getMessage() for r in caplog.records)
    try:
        assert session.models.by_source("tiny-xl") == "tiny-xl"  # loads for a second or more
        assert session.models.by_source("tiny-xl") is None
        assert any("a switch to tiny-xl is under way" in r.getMessage() for r in caplog.records)
        assert session.models.by_source("tiny") == "tiny"  # the model playing: nothing to do
    finally:
        session.stop()


def test_model_switch_by_a_preset_naming_another_model_brings_its_values_and_size(
        tiny_backend, tiny_preset, tmp_path) -> None:  # noqa: ANN001
    path = tmp_path / "xl.toml"
    path.write_text('[preset]\nname = "xl"\n[model]\nsource = "tiny-xl"\ndevice = "cpu"\n[render]\nwidth = 96\n'
                    'height = 96\nfps = 24\n[[prompts.mix]]\ntext = "a glass forest"\n[params]\nstrength = 0.4\n')
    session, sink = started(tiny_backend, tiny_preset)
    try:
        assert session.presets.by_name(str(path)) == "xl"
        wait_for(lambda: session.engine.models.switched != [], timeout_s=120)
        switch = session.engine.models.switched[0]
        wait_for(lambda: len(sink.frames) > 0 and sink.frames[-1].index > switch.frame + 2, timeout_s=60)
    finally:
        session.stop()
    assert session.engine.fatal_error is None and session.switch_notes == ()  # nothing kept back
    by_index = {f.index: f for f in sink.frames}
    before, first = by_index[switch.frame - 1], by_index[switch.frame]
    assert (before.width, first.width, first.height) == (64, 96, 96)  # the feedback picture resized with it
    # The preset's values and prompts landed with the model (the values glide there).
    assert first.snapshot.prompts.entries[0].text == "a glass forest" and session.store.target("strength") == 0.4
    assert session.preset.name == "xl" and session.preset.model.source == "tiny-xl"


def test_model_switch_by_a_preset_brings_its_controlnets_built_for_the_new_model_and_the_replay_too(
        tiny_backend, tiny_preset, tmp_path, monkeypatch) -> None:  # noqa: ANN001
    import vj.session.replay as replay_module
    from vj.config import ControlNetConfig
    from vj.output.timeline import TimelineWriter, make_header, read_timeline

    xl = tiny_preset.replace(name="xl-canny", model=ModelConfig(source="tiny-xl", device="cpu"),
                             controlnet=(ControlNetConfig(source="tiny", conditioning="canny", scale=0.7),))
    session = LiveSession(tiny_preset, backend=tiny_backend)
    sink = CollectFrames()
    session.add_output(sink)
    session.add_output(TimelineWriter(tmp_path / "take.jsonl", make_header(session.preset)))
    session.start()
    try:
        wait_for(lambda: session.engine.stats.frames >= 4, timeout_s=60)
        assert session.engine.controls is None
        session.apply_preset(xl)
        wait_for(lambda: session.engine.models.switched != [], timeout_s=120)
        switch = session.engine.models.switched[0]
        wait_for(lambda: sink.frames[-1].index > switch.frame + 2, timeout_s=60)
    finally:
        session.stop()
    assert session.engine.fatal_error is None and session.engine.stats.errors == 0
    controls = session.engine.controls
    assert controls is not None and len(controls.units) == 1 and session.engine.controlnet_scales.loaded == 1
    assert session.store.target("controlnet_0_scale") == 0.7  # the unit's scale is the new base value
    assert session.unused_slots.isdisjoint({"controlnet_0_scale"})
    # The take's event names the ControlNet; the replay builds it for the new model on the same frame.
    (event,) = [e for f in read_timeline(tmp_path / "take.jsonl").frames for e in f.events if e.kind == "model"]
    assert event.value["model"]["controlnet"] == [{"source": "tiny", "conditioning": "canny", "scale": 0.7}]

    built: list[Any] = []
    real_build = replay_module.build_controlnets
    monkeypatch.setattr(replay_module, "build_controlnets",
                        lambda preset, backend: built.append((preset.controlnet, real_build(preset, backend)))
                        or built[-1][1])
    result = replay_module.replay(tmp_path / "take.jsonl", backend=tiny_backend)
    assert [s.frame for s in result.model_switches] == [switch.frame] and result.mismatches == 0
    ((configs, replayed),) = built
    assert [c.conditioning for c in configs] == ["canny"] and replayed is not None and len(replayed.units) == 1
    assert replayed.units[0].kind.value == "canny"


def test_model_switch_takes_the_feature_bank_into_the_new_model_and_starts_its_coherence_afresh() -> None:
    from tests.conftest import TINY_PRESET
    from vj.config import parse_preset
    from vj.engine.coherence.feature_bank import BankAttnProcessor

    def bank_layers(backend: Any) -> int:
        return sum(isinstance(p, BankAttnProcessor) for p in backend.unet.attn_processors.values())

    # A backend of its own: the bank replaces attention processors in the UNet it is installed in.
    preset = parse_preset(TINY_PRESET + "bank_strength = 0.6\nlatent_blend = 0.3\n", "bank.toml")
    session = LiveSession(preset)
    sink = CollectFrames()
    session.add_output(sink)
    session.start()
    try:
        wait_for(lambda: session.engine.stats.frames >= 4, timeout_s=60)
        old_bank = session.engine.coherence.bank
        assert old_bank is not None and bank_layers(session.engine.backend) > 0
        assert session.models.by_source("tiny-xl") == "tiny-xl"
        wait_for(lambda: session.engine.models.switched != [], timeout_s=120)
        switch = session.engine.models.switched[0]
        wait_for(lambda: len(sink.frames) > 0 and sink.frames[-1].index > switch.frame + 3, timeout_s=60)
        engine = session.engine
        assert engine.models.key == "tiny-xl" and engine.fatal_error is None
        # The bank the frames drive is the one in the playing UNet, not the released model's.
        assert engine.coherence.bank is not None and engine.coherence.bank is not old_bank
        assert bank_layers(engine.backend) == len(engine.coherence.bank.processors)
    finally:
        session.stop()


def test_model_switch_by_a_preset_waits_for_the_command_when_the_command_line_fixed_the_model(
        tiny_backend, tiny_preset) -> None:  # noqa: ANN001
    """`vj run PRESET --model M`: presets naming another model bring their values on M; /vj/model still switches."""
    xl = tiny_preset.replace(name="xl", model=ModelConfig(source="tiny-xl", device="cpu"),
                             params={**tiny_preset.params, "angle": 9.0})
    session = LiveSession(tiny_preset, backend=tiny_backend, fixed_model=True)
    sink = CollectFrames()
    session.add_output(sink)
    session.start()
    try:
        wait_for(lambda: session.engine.stats.frames >= 2, timeout_s=60)
        session.apply_preset(xl)
        assert session.preset.name == "xl" and session.store.target("angle") == 9.0  # its values, at once
        frames = session.engine.stats.frames
        wait_for(lambda: session.engine.stats.frames >= frames + 3, timeout_s=60)
        assert session.engine.models.switched == [] and session.engine.models.key == "tiny"
        assert "model kept: tiny (preset names tiny-xl)" in session.status_line()
        assert session.models.by_source("tiny-xl") == "tiny-xl"  # the performer's own command still switches
        wait_for(lambda: session.engine.models.switched != [], timeout_s=120)
    finally:
        session.stop()
    assert session.engine.fatal_error is None
