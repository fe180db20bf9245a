"""How much a recording flickers: each frame against the one before it, warped onto it by optical flow.

For each pair of analysed frames (previous, current):

- the *warped residual* is |current - previous moved by the dense flow from previous to current|, per pixel
  and colour channel in 8-bit levels (0-255): the change that motion does not explain, i.e. flicker.
  Pixels whose source lies outside the previous frame (what enters at a border) are left out;
- the *raw difference* is |current - previous| with no warp: all change, motion included;
- the *flow magnitude* is the length of the flow vector per pixel, in pixels per analysed step.

Means are exact; percentiles come from fixed-width histograms filled as the frames stream past, so
memory stays bounded whatever the length of the file. A steady picture has a residual near 0 (the
codec's own noise), a picture that moves smoothly a small one, a boiling texture a large one.
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from vj.analysis.decode import DecodedFrame, VideoInfo, probe, rgb_frames
from vj.analysis.flow import FlowWarp
from vj.analysis.shown import ShownFrames, shown_frames
from vj.errors import VjError

log = logging.getLogger(__name__)

PERCENTILES = (50.0, 90.0, 99.0)
LEVEL_BIN = 0.25  # histogram resolution of differences, in 8-bit levels
LEVEL_TOP = 256.0
FLOW_BIN = 0.05  # of flow magnitudes, in pixels
FLOW_TOP = 512.0  # longer vectors count in the top bin (a flow that long is a cut, not motion)


class Histogram:
    """Counts of non-negative values in fixed-width bins from 0 to `top` (values above land in the top bin)."""

    def __init__(self, bin_width: float, top: float) -> None:
        self.bin_width = bin_width
        self.counts = np.zeros(int(round(top / bin_width)), np.int64)
        self.total = 0
        self.sum = 0.0

    def add(self, values: np.ndarray) -> None:
        flat = np.asarray(values, np.float64).ravel()
        if not flat.size:
            return
        bins = np.minimum((flat / self.bin_width).astype(np.int64), len(self.counts) - 1)
        self.counts += np.bincount(bins, minlength=len(self.counts))
        self.total += flat.size
        self.sum += float(flat.sum())

    @property
    def mean(self) -> float:
        return self.sum / self.total if self.total else 0.0

    def percentile(self, q: float) -> float:
        """The q-th percentile, interpolated inside its bin (exact to one bin width)."""
        if not self.total:
            return 0.0
        rank = q / 100.0 * self.total
        cumulative = np.cumsum(self.counts)
        index = int(np.searchsorted(cumulative, rank, side="left"))
        index = min(index, len(self.counts) - 1)
        below = int(cumulative[index - 1]) if index else 0
        inside = int(self.counts[index])
        fraction = (rank - below) / inside if inside else 0.0
        return (index + min(max(fraction, 0.0), 1.0)) * self.bin_width


@dataclass(frozen=True, slots=True)
class Figure:
    """Mean and percentiles of one per-pixel quantity over the whole analysis."""

    mean: float
    percentiles: dict[float, float]

    @classmethod
    def of(cls, histogram: Histogram) -> Figure:
        return cls(histogram.mean, {q: histogram.percentile(q) for q in PERCENTILES})


@dataclass(frozen=True, slots=True)
class PairResult:
    previous: int  # video frame numbers, from 0 in decoding order
    current: int
    residual: float  # mean warped residual over the pixels with a source, 8-bit levels
    raw: float  # mean raw difference, 8-bit levels
    flow: float  # mean flow magnitude, pixels
    compared: float  # share of pixels whose source lies inside the previous frame


@dataclass(frozen=True, slots=True)
class FlickerReport:
    video: VideoInfo
    method: str
    every: int
    frames_decoded: int
    frames_analysed: int
    residual: Figure
    raw: Figure
    flow: Figure
    pairs: tuple[PairResult, ...]
    shown: ShownFrames | None = None
    ticks: tuple[int, ...] = ()  # with a timeline: the tick each decoded frame showed, by frame number
    notes: tuple[str, ...] = field(default_factory=tuple)

    @property
    def worst(self) -> PairResult:
        return max(self.pairs, key=lambda p: p.residual)

    def split_by_shown(self) -> tuple[tuple[PairResult, ...], tuple[PairResult, ...]] | None:
        """(pairs into a newly diffused frame, pairs over a held one), from the timeline; None without one."""
        if self.shown is None or not self.shown.engine_frame or not self.ticks:
            return None
        kinds = [(p, self.shown.is_new(self.ticks[p.previous], self.ticks[p.current])) for p in self.pairs]
        return tuple(p for p, new in kinds if new), tuple(p for p, new in kinds if new is False)

    def shown_counts(self) -> tuple[int, int] | None:
        """(diffused, held) among the decoded video frames, from the timeline; None without one."""
        if self.shown is None or not self.shown.engine_frame or not self.ticks:
            return None
        return self.shown.counts(self.ticks)


@dataclass(frozen=True, slots=True)
class Analysed:
    """One picture taken for the analysis: its number in the video and its pixels."""

    number: int
    rgb: np.ndarray
    time_s: float | None = None


def sampled(frames: Iterable[DecodedFrame], every: int, max_frames: int | None) -> Iterator[Analysed]:
    """Every `every`-th frame (0, every, 2*every, ...), at most `max_frames` of them; stops decoding there."""
    taken = 0
    for number, frame in enumerate(frames):
        if number % every:
            continue
        taken += 1
        yield Analysed(number, frame.rgb, frame.time_s)
        if max_frames is not None and taken >= max_frames:
            return


class FlickerMeter:
    """Fed the analysed pictures in order; keeps histograms and one small record per pair."""

    def __init__(self, method: str = "dis") -> None:
        self.flow_warp = FlowWarp(method)
        self.residual = Histogram(LEVEL_BIN, LEVEL_TOP)
        self.raw = Histogram(LEVEL_BIN, LEVEL_TOP)
        self.magnitude = Histogram(FLOW_BIN, FLOW_TOP)
        self.pairs: list[PairResult] = []
        self.notes: list[str] = []
        self._previous: tuple[Analysed, np.ndarray] | None = None

    def add(self, frame: Analysed) -> None:
        gray = self.flow_warp.gray(frame.rgb)
        previous = self._previous
        self._previous = (frame, gray)
        if previous is None:
            return
        before, before_gray = previous
        if before.rgb.shape != frame.rgb.shape:  # a cut to another size: nothing to compare across it
            self.notes.append(f"frame {frame.number}: size changed from {before.rgb.shape[1]}x{before.rgb.shape[0]} "
                              f"to {frame.rgb.shape[1]}x{frame.rgb.shape[0]}; that pair is left out")
            return
        flow = self.flow_warp.flow(before_gray, gray)
        warped, inside = self.flow_warp.warp(before.rgb, flow)
        current = frame.rgb.astype(np.int16)
        residual = np.abs(current - warped.astype(np.int16))[inside]
        raw = np.abs(current - before.rgb.astype(np.int16))
        magnitude = np.hypot(flow[..., 0], flow[..., 1])
        self.residual.add(residual)
        self.raw.add(raw)
        self.magnitude.add(magnitude)
        self.pairs.append(PairResult(before.number, frame.number, float(residual.mean()) if residual.size else 0.0,
                                     float(raw.mean()), float(magnitude.mean()), float(inside.mean())))


def analyze_video(path: str | Path, *, every: int = 1, max_frames: int | None = None, method: str = "dis",
                  use_timeline: bool = True) -> FlickerReport:
    """Measure a video in one streaming pass; `use_timeline` reads a vj control timeline beside it, if any."""
    if every < 1:
        raise VjError(f"every: expected a whole number of frames >= 1, found {every}")
    if max_frames is not None and max_frames < 2:
        raise VjError(f"max frames: expected at least 2 (a pair to compare), found {max_frames}")
    meter = FlickerMeter(method)  # before decoding: a missing OpenCV is one line, at once
    info = probe(path)
    times: list[float | None] = []  # of every decoded frame: which tick it showed, for the timeline

    def counted() -> Iterator[DecodedFrame]:
        for frame in rgb_frames(path):
            times.append(frame.time_s)
            yield frame

    analysed = 0
    for frame in sampled(counted(), every, max_frames):
        meter.add(frame)
        analysed += 1
    decoded = len(times)
    if not meter.pairs:
        step = f" (one frame in {every}: {analysed} taken)" if every > 1 else ""
        raise VjError(f"{path}: {decoded} decoded frame(s){step}; expected at least two frames to compare")
    shown = shown_frames(Path(path)) if use_timeline else None
    notes = list(meter.notes)
    ticks: tuple[int, ...] = ()
    if shown is not None:
        notes.extend(shown.notes)
        ticks = tuple(shown.tick_of(t, times[0], number) for number, t in enumerate(times))
        notes.extend(_tick_notes(shown, ticks, whole=max_frames is None or analysed < max_frames))
    log.debug("analysed %d of %d frames of %s", analysed, decoded, path)
    return FlickerReport(info, method, every, decoded, analysed, Figure.of(meter.residual), Figure.of(meter.raw),
                         Figure.of(meter.magnitude), tuple(meter.pairs), shown, ticks, tuple(notes))


def _tick_notes(shown: ShownFrames, ticks: tuple[int, ...], *, whole: bool) -> list[str]:
    """What a reader of the diffused/held split should know: ticks the recorder skipped, a count that differs."""
    if not shown.engine_frame or not ticks:
        return []
    notes = []
    skipped = ticks[-1] + 1 - len(ticks)
    if skipped > 0:
        notes.append(f"{skipped} tick(s) missing from the video (skipped by the recorder under load): frames are "
                     "matched to the timeline by their time")
    if whole and ticks[-1] + 1 != len(shown.engine_frame):
        notes.append(f"timeline {shown.timeline.name} accounts for {len(shown.engine_frame)} video frames, the "
                     f"file spans {ticks[-1] + 1}: diffused/held may be off (a take cut short?)")
    return notes
