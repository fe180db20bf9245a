"""A flicker report as an aligned table for people, or as JSON for scripts."""

from __future__ import annotations

import json
from typing import Any

from vj.analysis.flicker import PERCENTILES, Figure, FlickerReport, PairResult

ROWS = (
    ("warped residual", "residual", "levels", "change motion does not explain: flicker"),
    ("raw difference", "raw", "levels", "all change from frame to frame"),
    ("flow magnitude", "flow", "px", "how far the picture moves per step"),
)


def _mean(pairs: tuple[PairResult, ...], name: str) -> float:
    return sum(getattr(p, name) for p in pairs) / len(pairs) if pairs else 0.0


def _figure(report: FlickerReport, key: str) -> Figure:
    figure: Figure = getattr(report, key)
    return figure


def _head(report: FlickerReport) -> str:
    v = report.video
    rate = f" @ {v.fps:g} fps" if v.fps else ""
    step = f", one frame in {report.every}" if report.every > 1 else ""
    return (f"{v.path.name}: {v.width}x{v.height}{rate} {v.codec}; {report.frames_analysed} of "
            f"{report.frames_decoded} decoded frames analysed{step} ({len(report.pairs)} pairs), "
            f"{'DIS' if report.method == 'dis' else 'Farneback'} optical flow")


def format_table(report: FlickerReport, *, per_pair: bool = False) -> str:
    """The figures as text: one row per quantity (mean and percentiles), then the timeline's split."""
    labels = [f"p{q:g}" for q in PERCENTILES]
    lines = [_head(report), "", f"{'':<22}{'mean':>8}" + "".join(f"{label:>8}" for label in labels) + "  unit"]
    for title, key, unit, meaning in ROWS:
        figure = _figure(report, key)
        cells = "".join(f"{figure.percentiles[q]:>8.2f}" for q in PERCENTILES)
        lines.append(f"{title:<22}{figure.mean:>8.2f}{cells}  {unit:<7} {meaning}")
    lines.append("(levels: mean absolute difference per pixel and channel, 0-255)")
    worst = report.worst
    lines.append(f"worst pair: frames {worst.previous}->{worst.current}, residual {worst.residual:.2f} levels")
    lines.extend(_shown_lines(report))
    lines.extend(f"note: {note}" for note in report.notes)
    if per_pair:
        lines += ["", f"{'frames':>13}{'residual':>10}{'raw':>8}{'flow':>8}{'compared':>10}"]
        lines += [f"{p.previous:>6}->{p.current:<6}{p.residual:>10.2f}{p.raw:>8.2f}{p.flow:>8.2f}{p.compared:>10.3f}"
                  for p in report.pairs]
    return "\n".join(lines) + "\n"


def _shown_lines(report: FlickerReport) -> list[str]:
    shown = report.shown
    split = report.split_by_shown()
    counts = report.shown_counts()
    if shown is None or split is None or counts is None:
        return []
    diffused, held = counts
    what = "live take" if shown.live else "offline render: one video frame per diffused frame"
    lines = [f"timeline {shown.timeline.name} ({what}): {diffused} video frames diffused, {held} held"
             + (f", {shown.never_shown} diffused frame{'s' if shown.never_shown > 1 else ''} never shown"
                if shown.never_shown else "")]
    new, still = split
    for label, pairs in (("into a new frame", new), ("over a held frame", still)):
        if pairs:
            lines.append(f"  {len(pairs)} pairs {label}: residual {_mean(pairs, 'residual'):.2f}, "
                         f"raw {_mean(pairs, 'raw'):.2f} levels, flow {_mean(pairs, 'flow'):.2f} px")
    return lines


def _figure_json(figure: Figure) -> dict[str, float]:
    return {"mean": figure.mean, **{f"p{q:g}": value for q, value in figure.percentiles.items()}}


def _pairs_json(pairs: tuple[PairResult, ...]) -> dict[str, Any]:
    return {"pairs": len(pairs), "residual_mean": _mean(pairs, "residual"), "raw_mean": _mean(pairs, "raw"),
            "flow_mean": _mean(pairs, "flow")}


def to_json(report: FlickerReport, *, per_pair: bool = False) -> str:
    v = report.video
    data: dict[str, Any] = {
        "file": str(v.path), "width": v.width, "height": v.height, "fps": v.fps, "codec": v.codec,
        "flow_method": report.method, "every": report.every, "frames_decoded": report.frames_decoded,
        "frames_analysed": report.frames_analysed, "pairs": len(report.pairs), "units": {"residual": "levels 0-255",
                                                                                        "raw": "levels 0-255",
                                                                                        "flow": "pixels"},
        "residual": _figure_json(report.residual), "raw": _figure_json(report.raw),
        "flow": _figure_json(report.flow),
        "worst_pair": {"previous": report.worst.previous, "current": report.worst.current,
                       "residual": report.worst.residual},
        "timeline": None, "notes": list(report.notes),
    }
    split = report.split_by_shown()
    counts = report.shown_counts()
    if report.shown is not None and split is not None and counts is not None:
        diffused, held = counts
        data["timeline"] = {"file": str(report.shown.timeline), "live": report.shown.live, "diffused": diffused,
                            "held": held, "never_shown": report.shown.never_shown,
                            "new": _pairs_json(split[0]), "held_pairs": _pairs_json(split[1])}
    if per_pair:
        into_new = {p.current for p in split[0]} if split is not None else set()
        into_held = {p.current for p in split[1]} if split is not None else set()
        data["per_pair"] = [{"previous": p.previous, "current": p.current, "residual": p.residual, "raw": p.raw,
                             "flow": p.flow, "compared": p.compared,
                             "into": "new" if p.current in into_new else "held" if p.current in into_held else None}
                            for p in report.pairs]
    return json.dumps(data, indent=2) + "\n"
