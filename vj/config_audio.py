"""Audio reactivity in a preset: `[modulators.analysis]`, `[modulators.audio.<param>]`, `[modulators.onset]`.

The same tables drive a live input (`vj run --audio-in`) and a track analysed offline
(`vj render --audio`); vj.control.audio turns them into modulators. Each class checks
itself like every other config dataclass (vj.config_checks).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any

from vj.config_checks import check_range, check_scalar_fields, config_field, one_of
from vj.errors import ConfigError

DEFAULT_BAND_NAMES = ("bass", "mid", "high")
DEFAULT_BAND_EDGES = (20.0, 250.0, 4000.0, 16000.0)
# Besides the bands: the whole spectrum's level, and onsets (a pulse that decays with release_ms).
EXTRA_SOURCES = ("level", "onset")
AUDIO_CURVES = ("linear", "exponential", "logarithmic")
ONSET_ACTIONS = ("none", "next_prompt", "seed_step", "zoom_punch")
BLOCK_SIZES = (256, 512, 1024, 2048, 4096)


def _block_size(value: Any) -> str | None:
    return None if value in BLOCK_SIZES else f"one of {', '.join(map(str, BLOCK_SIZES))}"


@dataclass(frozen=True, slots=True, kw_only=True)
class AnalysisConfig:
    """How the sound is cut into bands and onsets (the FFT of the newest `window` samples)."""

    window: int = config_field(2048, _block_size, "FFT size in samples")
    band_names: tuple[str, ...] = field(default=DEFAULT_BAND_NAMES)
    band_edges: tuple[float, ...] = field(default=DEFAULT_BAND_EDGES)
    floor_db: float = config_field(-60.0, check_range(-120.0, -6.0), "band level shown as 0 (dBFS)")
    onset_threshold: float = config_field(1.5, check_range(1.0, 10.0),
                                          "an onset needs this many times the recent spectral flux")
    onset_min_ms: float = config_field(80.0, check_range(0.0, 2000.0), "no two onsets closer than this")

    def __post_init__(self) -> None:
        check_scalar_fields(self)
        owner = type(self).__name__
        names, edges = self.band_names, self.band_edges
        if not isinstance(names, (tuple, list)) or not names or not all(isinstance(n, str) and n for n in names):
            raise ConfigError(owner, "band_names", "an array of band names", names)
        if len(set(names)) != len(names) or set(names) & set(EXTRA_SOURCES):
            raise ConfigError(owner, "band_names", f"distinct names other than {', '.join(EXTRA_SOURCES)}", names)
        if (not isinstance(edges, (tuple, list)) or len(edges) != len(names) + 1
                or not all(isinstance(e, (int, float)) and not isinstance(e, bool) and math.isfinite(e)
                           for e in edges)):
            raise ConfigError(owner, "band_edges", f"{len(names) + 1} frequencies in Hz (one more than the bands)",
                              edges)
        if any(b <= a for a, b in zip(edges, edges[1:], strict=False)) or edges[0] < 0:
            raise ConfigError(owner, "band_edges", "rising frequencies from 0 Hz up", edges)
        object.__setattr__(self, "band_names", tuple(names))
        object.__setattr__(self, "band_edges", tuple(float(e) for e in edges))

    @property
    def sources(self) -> tuple[str, ...]:
        return (*self.band_names, *EXTRA_SOURCES)


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioModConfig:
    """One parameter following one source: `offset + depth × curve(envelope)`, in the parameter's units."""

    source: str = config_field("bass", doc="a band name, level or onset")
    depth: float = config_field(0.0, check_range(-1e6, 1e6), "amount at full level, parameter units")
    offset: float = config_field(0.0, check_range(-1e6, 1e6), "constant added, parameter units")
    attack_ms: float = config_field(10.0, check_range(0.0, 10000.0), "rise time of the envelope")
    release_ms: float = config_field(200.0, check_range(0.0, 10000.0), "fall time of the envelope")
    curve: str = config_field("linear", one_of(AUDIO_CURVES), "linear, exponential or logarithmic")

    def __post_init__(self) -> None:
        check_scalar_fields(self)


@dataclass(frozen=True, slots=True, kw_only=True)
class OnsetConfig:
    """What an onset does besides feeding the `onset` source."""

    action: str = config_field("none", one_of(ONSET_ACTIONS), "none, next_prompt, seed_step or zoom_punch")
    cooldown_ms: float = config_field(250.0, check_range(0.0, 60000.0), "the action fires at most this often")
    punch: float = config_field(0.05, check_range(-1.0, 1.0), "zoom_punch: zoom added at the onset, per frame")
    punch_release_ms: float = config_field(250.0, check_range(1.0, 10000.0), "zoom_punch: how fast it decays")

    def __post_init__(self) -> None:
        check_scalar_fields(self)
