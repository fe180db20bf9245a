"""The resume state file keeps its layout: a file written by an older vj still continues its render.

`tests/data/resume_state_v2.pt` was written by vj before the engine's components exported their own
state (resume_state reached into their fields), after 3 frames of `PRESET` on the tiny model: the
split falls inside a cadence block, with a colour anchor and a ladder of seeds under way.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch

from tests.conftest import TINY_PRESET
from tests.helpers import CollectFrames
from vj.config import PresetConfig, parse_preset
from vj.engine.resume_state import STATE_VERSION, load_engine_state
from vj.frames import Frame
from vj.session import render_offline

OLD_STATE = Path(__file__).parents[2] / "data" / "resume_state_v2.pt"
PRESET = TINY_PRESET + """
cadence = 2
seed_behavior = "ladder"
[schedules]
angle = "0: (0), 8: (6)"
"""


def render(preset: PresetConfig, backend, frames: int, **kw: object) -> list[Frame]:  # noqa: ANN001
    sink = CollectFrames()
    render_offline(preset, frames=frames, outputs=[sink], backend=backend, **kw)  # type: ignore[arg-type]
    return sink.frames


def assert_same(old: Any, new: Any, where: str = "state", *, numbers: bool = True) -> None:
    """Same keys, types and values all the way down; tensors: same dtype and shape, and (`numbers`) values."""
    assert type(old) is type(new), f"{where}: {type(old).__name__} became {type(new).__name__}"
    if isinstance(old, dict):
        assert old.keys() == new.keys(), f"{where}: keys {sorted(old)} became {sorted(new)}"
        for key in old:
            assert_same(old[key], new[key], f"{where}.{key}", numbers=numbers)
    elif isinstance(old, list | tuple):
        assert len(old) == len(new), f"{where}: {len(old)} items became {len(new)}"
        for i, (a, b) in enumerate(zip(old, new, strict=True)):
            assert_same(a, b, f"{where}[{i}]", numbers=numbers)
    elif isinstance(old, torch.Tensor):
        assert old.dtype == new.dtype and old.shape == new.shape, f"{where}: {old.dtype} {tuple(old.shape)} " \
            f"became {new.dtype} {tuple(new.shape)}"
        assert not numbers or torch.equal(old, new), where
    else:
        assert old == new, f"{where}: {old!r} became {new!r}"


def test_an_old_state_file_restores_whole(tiny_backend, tmp_path: Path) -> None:  # noqa: ANN001
    """Restored and saved again at once, the old file comes back bit for bit: nothing in it is lost."""
    again = tmp_path / "again.resume.pt"
    old = load_engine_state(OLD_STATE)
    assert old["version"] == STATE_VERSION and old["index"] == 3 and old["cadence_left"] == 1
    render(parse_preset(PRESET, "p.toml"), tiny_backend, 0, resume_state=old, save_state=again)
    assert_same(load_engine_state(OLD_STATE), load_engine_state(again))


def test_an_old_state_file_continues_its_render_seamlessly(tiny_backend) -> None:  # noqa: ANN001
    preset = parse_preset(PRESET, "p.toml")
    whole = render(preset, tiny_backend, 6)
    second = render(preset, tiny_backend, 3, resume_state=load_engine_state(OLD_STATE))
    assert [f.index for f in second] == [3, 4, 5]
    for a, b in zip(whole[3:], second, strict=True):
        assert a.seed == b.seed and a.diffused == b.diffused and a.snapshot.values == b.snapshot.values
        # The file's images came from another process: CPU float sums differ with the thread count, and
        # so may a pixel's rounding. A state not carried whole (e.g. no colour anchor) is off by ~0.2 levels.
        off = np.abs(a.image.astype(np.int16) - b.image.astype(np.int16))
        assert off.max() <= 1 and off.mean() < 0.01, (a.index, off.max(), off.mean())


def test_a_new_state_file_has_the_old_layout(tiny_backend, tmp_path: Path) -> None:  # noqa: ANN001
    state = tmp_path / "new.resume.pt"
    render(parse_preset(PRESET, "p.toml"), tiny_backend, 3, save_state=state)
    assert_same(load_engine_state(OLD_STATE), load_engine_state(state), numbers=False)
