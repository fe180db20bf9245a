"""A model switch mid-show, tiny SD to tiny SDXL, in a running `vj run` session with a real take.

The session is `vj run`'s own (its flags through `attach_run_components`: OSC on a real UDP port, the
quantise grid, a recording to a real video file and control timeline); the switch is sent as an OSC
message by python-osc. Checked: the frames keep coming while the SDXL model loads and warms beside
the playing one (no gap between two frames longer than STALL_BOUND_S on this 2-core CPU, where
loading and warming it alone takes about 1–2 s), the frames of the crossfade are a mix of the old
model's last picture and the new model's (numerically: each pixel within the band a lerp allows),
and the take's control timeline and its replay switch on the same frame.
"""

from __future__ import annotations

import numpy as np
from pythonosc.udp_client import SimpleUDPClient

from tests.helpers import CollectFrames, wait_for
from tests.integration.session.test_live_control_session import run_args
from vj.cli.run import attach_run_components
from vj.frames import Frame
from vj.output.timeline import read_timeline, timeline_path_for
from vj.session import LiveSession
from vj.session.model_switch import DEFAULT_FADE_S
from vj.session.replay import replay

STALL_BOUND_S = 2.0  # the longest gap between two frames while the new model loads (measured: under 0.7 s)
TOLERANCE = 2.5 / 255  # the frames are uint8: a lerp of two of them is within rounding of the band


def by_time(sink: CollectFrames, index: int) -> float:
    return next(f.snapshot.time_s for f in sink.frames if f.index == index)


def crossfade_misses(frame: Frame, held: np.ndarray, start_s: float, fade_s: float) -> tuple[float, float]:
    """(weight, share of pixels outside the band) for a frame of the crossfade from `held`.

    A frame lerp(held, new, w) with new in [0, 1] lies in [(1 - w) held, (1 - w) held + w]."""
    weight = (frame.snapshot.time_s - start_s) / fade_s
    pixels = frame.image.astype(np.float64) / 255.0
    low = (1.0 - weight) * held - TOLERANCE
    high = (1.0 - weight) * held + weight + TOLERANCE
    return weight, float(np.mean((pixels < low) | (pixels > high)))


def test_model_switch_tiny_sd_to_tiny_sdxl_loads_beside_crossfades_and_replays_on_the_same_frame(
        tiny_backend, tiny_preset, tmp_path) -> None:  # noqa: ANN001
    session = LiveSession(tiny_preset, backend=tiny_backend)
    attach_run_components(session, run_args("--bpm", "240", "--quantise", "beat", "--record",
                                            str(tmp_path / "take.mkv")))
    sink = CollectFrames()
    session.add_output(sink)
    session.start()
    try:
        osc = next(c for c in session.controls if type(c).__name__ == "OscControl")
        wait_for(lambda: session.engine.stats.frames >= 6, timeout_s=60)
        client = SimpleUDPClient("127.0.0.1", osc.port)
        client.send_message("/vj/angle", 7.0)  # a live value, held by the performer across the switch
        wait_for(lambda: session.store.held_by("angle") == "osc")
        asked_at = len(sink.frames)
        client.send_message("/vj/model", "tiny-xl")
        # Waited for from the outside: the first published frame whose events carry the switch.
        wait_for(lambda: any(e.kind == "model" for f in sink.frames[asked_at:] for e in f.snapshot.events),
                 timeout_s=120)
        switch = session.engine.models.switched[0]
        # The picture plays on past the crossfade, then the take is closed by OSC as a performer would.
        wait_for(lambda: sink.frames[-1].snapshot.time_s > by_time(sink, switch.frame) + DEFAULT_FADE_S + 1.0,
                 timeout_s=60)
        SimpleUDPClient("127.0.0.1", osc.port).send_message("/vj/record", 0)
        wait_for(lambda: session.take is not None and not session.take.is_recording)
    finally:
        session.stop()
    assert session.engine.fatal_error is None
    assert (switch.key, switch.held) == ("tiny-xl", False)
    assert [f.index for f in sink.frames if any(e.kind == "model" for e in f.snapshot.events)] == [switch.frame]
    assert session.backend.name == "tiny-xl" and session.preset.model.source == "tiny-xl"
    # What the performer played carries over: the held value, the prompts, the seed.
    last = sink.frames[-1].snapshot
    assert session.store.held_by("angle") == "osc" and abs(last.params.angle - 7.0) < 1e-3
    assert last.prompts == sink.frames[asked_at].snapshot.prompts
    assert last.params.seed == sink.frames[0].snapshot.params.seed
    by_index = {f.index: f for f in sink.frames}

    # The frame counter never stalled while the model loaded beside the playing one.
    loading = [f for f in sink.frames if sink.frames[asked_at].index <= f.index <= switch.frame]
    gaps = [b.snapshot.time_s - a.snapshot.time_s for a, b in zip(loading, loading[1:], strict=False)]
    assert len(loading) >= 5, "frames kept coming while the new model loaded"
    assert max(gaps) < STALL_BOUND_S, f"a {max(gaps):.2f} s stall while the model loaded"

    # The crossfade: from the last frame of the old model, held, into the new model's frames.
    held_frame = by_index[switch.frame - 1]
    held = held_frame.image.astype(np.float64) / 255.0
    start_s = held_frame.snapshot.time_s
    fading = [f for f in sink.frames if f.index >= switch.frame and f.snapshot.time_s - start_s < DEFAULT_FADE_S]
    assert len(fading) >= 3, "the crossfade spans several frames"
    weights = []
    for frame in fading:
        weight, misses = crossfade_misses(frame, held, start_s, DEFAULT_FADE_S)
        weights.append(weight)
        assert misses < 0.002, f"frame {frame.index} (weight {weight:.2f}) is not a mix: {misses:.1%} outside"
        assert not np.array_equal(frame.image, held_frame.image)  # the new model shows through
    assert weights == sorted(weights) and 0.0 < weights[0] < 0.5
    after = [f for f in sink.frames if f.snapshot.time_s - start_s > DEFAULT_FADE_S + 0.5]
    assert after and float(np.mean(np.abs(after[-1].image / 255.0 - held))) > 0.05  # the new model's own picture

    # The take records the switch on that frame; the replay performs it there.
    timeline = read_timeline(timeline_path_for(session.take.paths[-1]))  # type: ignore[union-attr]
    recorded = [(f.index, e.value["key"]) for f in timeline.frames for e in f.events  # type: ignore[index]
                if e.kind == "model"]
    assert recorded == [(switch.frame, "tiny-xl")]
    assert timeline.preset.model.source == "tiny"  # the take began on the first model
    replayed: dict[int, Frame] = {}
    result = replay(timeline, backend=tiny_backend, on_frame=lambda f: replayed.update({f.index: f}))
    assert [(s.frame, s.key) for s in result.model_switches] == [(switch.frame, "tiny-xl")]
    assert result.mismatches == 0
    replay_held = replayed[switch.frame - 1].image.astype(np.float64) / 255.0
    for frame in (replayed[f.index] for f in fading if f.index in replayed):
        assert crossfade_misses(frame, replay_held, start_s, DEFAULT_FADE_S)[1] < 0.002
    assert tiny_backend.unet is not None  # the fixture's model was handed in: dropped, never closed
