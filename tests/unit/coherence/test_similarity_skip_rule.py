"""The similarity skip's rule on the host: StreamDiffusion's probability, a reproducible draw, a bound
on frames held in a row, and a measure that only a frame with a picture can change."""

from __future__ import annotations

import numpy as np
import torch

from vj.engine.coherence.similarity_skip import SimilaritySkip, skip_probability, uniform_for
from vj.engine.publish import FramePublisher


def test_the_probability_rises_from_the_threshold_to_identical_pictures() -> None:
    assert skip_probability(0.98, 0.98) == 0.0
    assert skip_probability(0.5, 0.98) == 0.0
    assert skip_probability(1.0, 0.98) == 1.0
    assert abs(skip_probability(0.99, 0.98) - 0.5) < 1e-9
    assert skip_probability(1.0, 0.0) == 0.0  # off
    assert skip_probability(float("nan"), 0.9) == 0.0


def test_the_draw_is_fixed_by_the_frame_index_and_spread_over_0_1() -> None:
    draws = [uniform_for(i) for i in range(4000)]
    assert draws == [uniform_for(i) for i in range(4000)]
    assert all(0.0 <= d < 1.0 for d in draws)
    assert 0.45 < float(np.mean(draws)) < 0.55 and len(set(draws)) == 4000


def test_a_still_picture_is_skipped_at_most_max_in_a_row() -> None:
    skip = SimilaritySkip(torch.device("cpu"))
    picture = torch.rand(1, 3, 40, 30)
    assert skip.measure(picture).isnan().all()  # nothing to compare with yet
    assert not skip.should_skip(0.9, 3, 0)  # and nothing known
    skip.diffused(picture)
    similarity = skip.measure(picture)
    assert abs(float(similarity) - 1.0) < 1e-5
    skip.observe(float(similarity))
    held = [skip.should_skip(0.9, 3, i) for i in range(1, 5)]
    assert held == [True, True, True, False] and skip.skipped == 3
    skip.diffused(picture)
    assert skip.in_a_row == 0 and skip.should_skip(0.9, 3, 9)


def test_a_changed_picture_stops_the_skipping_and_nan_measures_change_nothing() -> None:
    skip = SimilaritySkip(torch.device("cpu"))
    skip.diffused(torch.zeros(1, 3, 16, 16))
    skip.observe(float(skip.measure(torch.ones(1, 3, 16, 16))))  # black to white: opposite, centred
    assert not any(skip.should_skip(0.9, 10, i) for i in range(50))
    skip.observe(1.0)
    skip.observe(float("nan"))  # a frame that measured nothing keeps what was known
    skip.observe(None)
    assert skip.should_skip(0.9, 10, 0)
    skip.reset()
    assert not skip.should_skip(0.9, 10, 1)


def test_the_signal_rides_in_the_publish_copy_pipelined_or_not() -> None:
    for pipelined in (False, True):
        publisher: FramePublisher[int] = FramePublisher(torch.device("cpu"), pipelined=pipelined)
        got = []
        for i in range(3):
            got += publisher.submit(torch.rand(1, 3, 8, 8), i, signal=torch.tensor([0.25 + i]))
        got += publisher.flush()
        assert [(p.ticket, p.signal) for p in got] == [(0, 0.25), (1, 1.25), (2, 2.25)]
        plain = publisher.submit(torch.rand(1, 3, 8, 8), 9) + publisher.flush()
        assert plain[0].signal is None and plain[0].pixels is not None


def test_a_bank_strength_without_a_loaded_bank_is_said_once_and_changes_nothing(caplog) -> None:  # noqa: ANN001
    from vj.engine.coherence.stage import CoherenceStage
    from vj.registry import FrameParams

    stage = CoherenceStage(torch.device("cpu"))
    latents = torch.rand(1, 4, 8, 8)
    with caplog.at_level("WARNING", logger="vj.engine.coherence.stage"):
        for _ in range(3):
            assert stage.start(latents, FrameParams(bank_strength=0.5)) is latents
    assert [r.getMessage() for r in caplog.records] == [
        "bank_strength 0.50 changes nothing: this show has no feature bank (set bank_strength in the preset's "
        "[params], even to 0, to load it)"]
