"""`vj schedule`: the per-frame values of a preset's, a settings file's or a bare string's schedules.

What Parseq users expect: see the numbers (a table or CSV) and the curves (a PNG through
matplotlib, an optional extra) before rendering anything.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from vj.config import PresetConfig
from vj.errors import ConfigError
from vj.registry import REGISTRY
from vj.schedule.expressions import ExpressionError
from vj.schedule.keyframes import (
    CompiledSchedule,
    ScheduleContext,
    compile_preset_schedules,
    compile_schedule,
    evaluate_schedule,
    parse_schedule,
    preset_context,
)
from vj.schedule.prompts import compile_preset_prompt_schedule


@dataclass
class PreviewTable:
    frames: np.ndarray
    columns: dict[str, np.ndarray]  # numeric columns
    prompts: list[str] | None = None  # the prompt of each frame, if a prompt schedule exists


def build_table(source: PresetConfig | str, params: Sequence[str] = (), start: int = 0, stop: int | None = None,
                max_frames: int | None = None, fps: float = 24.0, seed: int = 42) -> PreviewTable:
    """Evaluate a preset's schedules, or a bare schedule string, for frames start..stop-1."""
    if isinstance(source, str):
        return _bare_table(source, params, start, stop, max_frames, fps, seed)
    preset = source
    if max_frames is not None:
        preset = preset.replace(schedule=_with_max_frames(preset, max_frames))
    ctx = preset_context(preset)
    compiled = compile_preset_schedules(preset)
    stop = ctx.max_frames if stop is None else stop
    _check_range(start, stop)
    frames = np.arange(start, stop)
    names = list(params) or list(compiled)
    columns: dict[str, np.ndarray] = {}
    for name in names:
        spec = REGISTRY.get(name)
        if spec is None or not spec.numeric:
            raise ConfigError("--param", name, "a numeric parameter (see `vj params`)", name)
        fn = compiled.get(name)
        if fn is not None:
            # What the engine sees: the ParamStore clamps a scheduled value to the range.
            columns[name] = np.clip([fn(int(f)) for f in frames], spec.minimum, spec.maximum)
        else:
            columns[name] = np.full(len(frames), float(preset.params.get(name, spec.default)))  # type: ignore[arg-type]
    prompts = None
    prompt_fn = compile_preset_prompt_schedule(preset)
    if prompt_fn is not None and not params:
        prompts = [_describe(prompt_fn(int(f))) for f in frames]
    return PreviewTable(frames, columns, prompts)


def _with_max_frames(preset: PresetConfig, max_frames: int):  # noqa: ANN202
    import dataclasses

    return dataclasses.replace(preset.schedule, max_frames=max_frames)


def _describe(mix) -> str:  # noqa: ANN001
    text = " AND ".join(f"{e.text} :{e.weight:g}" if e.weight != 1.0 else e.text for e in mix.entries)
    return f"{text} --neg {mix.negative}" if mix.negative else text


def _check_range(start: int, stop: int) -> None:
    if start < 0 or stop <= start:
        raise ConfigError("--frames", "", "A:B with 0 <= A < B", f"{start}:{stop}")


def _bare_table(text: str, params: Sequence[str], start: int, stop: int | None, max_frames: int | None,
                fps: float, seed: int) -> PreviewTable:
    if len(params) > 1:
        raise ConfigError("--param", "", "at most one --param with a schedule string", list(params))
    n = max_frames or (stop if stop is not None else 0)
    if n <= 0:
        raise ConfigError("--max-frames", "", "a frame count for a bare schedule string (e.g. --max-frames 120)",
                          max_frames)
    ctx = ScheduleContext(max_frames=n, seed=seed, fps=fps)
    stop = n if stop is None else stop
    _check_range(start, stop)
    frames = np.arange(start, stop)
    if params:
        fn: CompiledSchedule = compile_schedule(text, params[0], ctx)
        spec = REGISTRY[params[0]]
        return PreviewTable(frames, {params[0]: np.clip([fn(int(f)) for f in frames], spec.minimum, spec.maximum)})
    values = evaluate_schedule(parse_schedule(text, "schedule"), ctx)
    held = CompiledSchedule("schedule", values)
    return PreviewTable(frames, {"schedule": np.array([held(int(f)) for f in frames])})


def parse_frames(spec: str | None) -> tuple[int, int | None]:
    """'A:B' → (A, B); 'A:' → (A, None); None → (0, None)."""
    if not spec:
        return 0, None
    try:
        a, _, b = spec.partition(":")
        return int(a or 0), (int(b) if b else None)
    except ValueError:
        raise ConfigError("--frames", "", "A:B (frame numbers), e.g. 0:120", spec) from None


def _fmt(x: float) -> str:
    return f"{x:.6g}" if math.isfinite(x) else str(x)


def format_table(table: PreviewTable, as_csv: bool = False) -> str:
    header = ["frame", *table.columns] + (["prompt"] if table.prompts is not None else [])
    rows = []
    for i, frame in enumerate(table.frames):
        row = [str(int(frame)), *(_fmt(float(col[i])) for col in table.columns.values())]
        if table.prompts is not None:
            row.append(table.prompts[i])
        rows.append(row)
    if as_csv:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(header)
        writer.writerows(rows)
        return out.getvalue()
    widths = [max(len(r[c]) for r in [header, *rows]) for c in range(len(header))]
    lines = ["  ".join(cell.rjust(w) if c < len(header) - (table.prompts is not None) else cell
                       for c, (cell, w) in enumerate(zip(r, widths, strict=True))) for r in [header, *rows]]
    return "\n".join(line.rstrip() for line in lines) + "\n"


def plot_table(table: PreviewTable, out: str, title: str = "") -> None:
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError as err:
        raise ConfigError("--plot", "", "matplotlib installed (pip install 'vj[plot]')", str(err)) from err
    n = max(len(table.columns), 1)
    fig, axes = plt.subplots(n, 1, figsize=(9, 2.2 * n), sharex=True, squeeze=False)
    for ax, (name, values) in zip(axes[:, 0], table.columns.items(), strict=False):
        ax.plot(table.frames, values, lw=1.2)
        unit = REGISTRY[name].unit if name in REGISTRY else ""
        ax.set_ylabel(f"{name}\n{unit}".strip(), fontsize=8)
        ax.grid(alpha=0.3)
    axes[-1, 0].set_xlabel("frame")
    if title:
        fig.suptitle(title, fontsize=10)
    fig.tight_layout()
    Path(out).parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(out, dpi=100)
    plt.close(fig)


__all__ = ["ExpressionError", "PreviewTable", "build_table", "format_table", "parse_frames", "plot_table"]
