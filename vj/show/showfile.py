"""The show file: a TOML file naming the engines of one show and the one control surface over them.

```toml
[show]
osc_port = 9000          # the one OSC port every engine is played from (UDP)
bpm = 120
link = true              # every engine joins one Ableton Link session (one tempo, one beat grid)

[engines.left]
preset = "drift"
device = "cuda:0"
ndi = true               # an NDI source named "vj-left"
record = "left.mkv"

[engines.remote]
host = "10.0.0.7"        # an engine another machine runs with `vj run`: played, not started
osc_port = 9000
```

Parsed into frozen dataclasses; an unknown key, a wrong type, a name used twice or a port
used twice is a `ConfigError` naming the file, the key path, what was expected and what was
found, before anything starts (vj.show.checks adds the checks that look beyond the file).
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from vj.control.osc import PREFIX
from vj.control.osc.addresses import address_map
from vj.errors import ConfigError
from vj.output_size import MAX_SIDE, MIN_SIDE, RATE_MODES

DEFAULT_OSC_PORT = 9000
LOCAL_HOST = "127.0.0.1"
ENGINE_NAME = re.compile(r"^[a-z][a-z0-9_-]{0,31}$")
OUTPUT_SIZE = re.compile(r"^(\d{1,5})x(\d{1,5})$")

SHOW_KEYS = frozenset({"osc_host", "osc_port", "oscquery_port", "web_port", "web_host", "bpm", "link", "midi",
                       "midi_map", "zeroconf", "restart", "output_size", "output_fps", "output_rate_mode", "model"})
LOCAL_ENGINE_KEYS = frozenset({"preset", "device", "model", "width", "height", "fps", "steps", "seed", "output_size",
                               "output_fps", "output_rate_mode", "ndi", "ndi_name", "record", "vcam", "vcam_device",
                               "spout", "syphon", "midi", "midi_map", "osc_port", "oscquery_port", "web_port",
                               "target_fps"})
REMOTE_ENGINE_KEYS = frozenset({"host", "osc_port", "oscquery_port", "web_port"})


@dataclass(frozen=True)
class EngineEntry:
    """One engine of the show: a local `vj run` child (`preset` set) or a remote one (`host` set)."""

    name: str
    preset: str | None = None
    host: str = LOCAL_HOST
    device: str | None = None
    model: str | None = None
    width: int | None = None
    height: int | None = None
    fps: float | None = None
    steps: int | None = None
    seed: int | None = None
    target_fps: float | None = None
    output_size: tuple[int, int] | None = None
    output_fps: float | None = None  # the outputs' tick rate (a 60 Hz screen), independent of the engine's
    output_rate_mode: str | None = None  # vj.output_size.RATE_MODES (None: vj run's default, repeat)
    ndi: bool = False
    ndi_name: str | None = None  # None: "vj-<name>"
    record: Path | None = None
    vcam: bool = False
    vcam_device: str | None = None
    spout: str | None = None
    syphon: str | None = None
    midi: bool = True  # open the show's MIDI input (when the show names one)
    midi_map: str | None = None  # its own mapping of that input (None: the show's): a fader for this engine alone
    osc_port: int | None = None  # None: a free port, chosen when the show starts
    oscquery_port: int | None = None
    web_port: int | None = None

    @property
    def remote(self) -> bool:
        return self.preset is None

    @property
    def ndi_source(self) -> str | None:
        """The NDI source name this engine sends as, when it sends NDI."""
        if not self.ndi:
            return None
        return self.ndi_name or f"vj-{self.name}"


@dataclass(frozen=True)
class ShowFile:
    """The whole show: its control surface and its engines, in the file's order."""

    source: str
    engines: tuple[EngineEntry, ...]
    osc_host: str = LOCAL_HOST
    osc_port: int = DEFAULT_OSC_PORT  # 0: any free port
    oscquery_port: int | None = None  # None: osc_port + 1 (any free port with osc_port 0)
    web_port: int | None = None  # None: osc_port + 2 (any free port with osc_port 0)
    web_host: str = LOCAL_HOST
    bpm: float | None = None
    link: bool = True
    midi: str | None = None
    midi_map: str | None = None
    zeroconf: bool = True
    restart: bool = True  # restart an engine that dies, with its last state

    def engine(self, name: str) -> EngineEntry:
        return next(e for e in self.engines if e.name == name)


def reserved_engine_names() -> frozenset[str]:
    """First segments of vj's own addresses: an engine under one of them would shadow that address."""
    segments = {row.address[len(PREFIX):].split("/")[0] for row in address_map()}
    return frozenset(s for s in segments if not s.startswith("<"))


def load_show_file(path: str | Path) -> ShowFile:
    """Read and check a show file; a `ConfigError` (one line) on anything wrong in it."""
    source = str(path)
    try:
        data = tomllib.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise ConfigError(source, "", "a show file (TOML)", "no such file") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as err:
        raise ConfigError(source, "", "valid TOML", str(err)) from None
    return parse_show(data, source)


def parse_show(data: Mapping[str, Any], source: str = "<show>") -> ShowFile:
    _no_unknown(data, {"show", "engines"}, source, "")
    show = _table(data.get("show", {}), source, "show")
    _no_unknown(show, SHOW_KEYS, source, "show.")
    engines_table = _table(data.get("engines"), source, "engines")
    if not engines_table:
        raise ConfigError(source, "engines", "at least one [engines.<name>] table", "none")
    defaults = {k: show[k] for k in ("output_size", "output_fps", "output_rate_mode", "model") if k in show}
    engines = tuple(_engine(name, _table(raw, source, f"engines.{name}"), defaults, source)
                    for name, raw in engines_table.items())
    osc_port = _int(show, "osc_port", source, "show.", 0, 65535, DEFAULT_OSC_PORT)
    result = ShowFile(
        source=source, engines=engines, osc_host=_str(show, "osc_host", source, "show.") or LOCAL_HOST,
        osc_port=osc_port, oscquery_port=_int(show, "oscquery_port", source, "show.", 0, 65535),
        web_port=_int(show, "web_port", source, "show.", 0, 65535),
        web_host=_str(show, "web_host", source, "show.") or LOCAL_HOST,
        bpm=_float(show, "bpm", source, "show.", 20.0, 300.0), link=_bool(show, "link", source, "show.", True),
        midi=_str(show, "midi", source, "show."), midi_map=_str(show, "midi_map", source, "show."),
        zeroconf=_bool(show, "zeroconf", source, "show.", True), restart=_bool(show, "restart", source, "show.", True))
    _no_shared_outputs(result)
    _no_shared_ports(result)
    return result


def show_ports(show: ShowFile) -> dict[str, int]:
    """The show's own ports, by what they serve (0: any free port)."""
    if show.osc_port == 0:
        return {"osc_port": 0, "oscquery_port": show.oscquery_port or 0, "web_port": show.web_port or 0}
    return {"osc_port": show.osc_port, "oscquery_port": show.oscquery_port or show.osc_port + 1,
            "web_port": show.web_port or show.osc_port + 2}


def engine_ports(engine: EngineEntry) -> dict[str, int]:
    """An engine's ports set in the file (OSCQuery and page default to its OSC port + 1 and + 2, as `vj run`)."""
    if engine.osc_port is None:
        return {k: v for k, v in (("oscquery_port", engine.oscquery_port), ("web_port", engine.web_port))
                if v is not None}
    return {"osc_port": engine.osc_port, "oscquery_port": engine.oscquery_port or engine.osc_port + 1,
            "web_port": engine.web_port or engine.osc_port + 2}


# ---------------------------------------------------------------------- one engine
def _engine(name: str, raw: Mapping[str, Any], defaults: Mapping[str, Any], source: str) -> EngineEntry:
    where = f"engines.{name}"
    if not ENGINE_NAME.match(name):
        raise ConfigError(source, where, "an engine name of lowercase letters, digits, - and _ (at most 32, "
                          "starting with a letter)", name)
    if name in reserved_engine_names():
        raise ConfigError(source, where, f"an engine name that is not one of vj's own addresses ({PREFIX}{name} "
                          "would reach every engine)", name)
    prefix = f"{where}."
    if "host" in raw and "preset" in raw:
        raise ConfigError(source, where, "either preset (an engine this show starts) or host (one another machine "
                          "runs with vj run), not both", "both")
    if "host" in raw:
        _no_unknown(raw, REMOTE_ENGINE_KEYS, source, prefix, why=" (a remote engine: its own vj run sets the rest)")
        if "osc_port" not in raw:
            raise ConfigError(source, f"{prefix}osc_port", "the OSC port of the vj run on that host", "nothing")
        return EngineEntry(name=name, host=_str(raw, "host", source, prefix) or LOCAL_HOST,
                           osc_port=_int(raw, "osc_port", source, prefix, 1, 65535),
                           oscquery_port=_int(raw, "oscquery_port", source, prefix, 1, 65535),
                           web_port=_int(raw, "web_port", source, prefix, 1, 65535))
    _no_unknown(raw, LOCAL_ENGINE_KEYS, source, prefix)
    preset = _str(raw, "preset", source, prefix)
    if not preset:
        raise ConfigError(source, f"{prefix}preset", "a preset name or file (or host = ... for a remote engine)",
                          "nothing")
    merged = {**defaults, **raw}
    width, height = _int(raw, "width", source, prefix, 8, 8192), _int(raw, "height", source, prefix, 8, 8192)
    record = _str(raw, "record", source, prefix)
    return EngineEntry(
        name=name, preset=preset, device=_str(raw, "device", source, prefix),
        model=_str(merged, "model", source, prefix),
        width=width, height=height, fps=_float(raw, "fps", source, prefix, 1.0, 240.0),
        steps=_int(raw, "steps", source, prefix, 1, 4), seed=_int(raw, "seed", source, prefix, -1, 2**32 - 1),
        target_fps=_float(raw, "target_fps", source, prefix, 0.0, 240.0),
        output_size=parse_output_size(merged.get("output_size"), source, f"{prefix}output_size"),
        output_fps=_float(merged, "output_fps", source, prefix, 1.0, 240.0),
        output_rate_mode=_choice(merged, "output_rate_mode", RATE_MODES, source, prefix),
        ndi=_bool(raw, "ndi", source, prefix, False), ndi_name=_str(raw, "ndi_name", source, prefix),
        record=Path(record) if record else None, vcam=_bool(raw, "vcam", source, prefix, False),
        vcam_device=_str(raw, "vcam_device", source, prefix), spout=_str(raw, "spout", source, prefix),
        syphon=_str(raw, "syphon", source, prefix), midi=_bool(raw, "midi", source, prefix, True),
        midi_map=_str(raw, "midi_map", source, prefix),
        osc_port=_int(raw, "osc_port", source, prefix, 1, 65535),
        oscquery_port=_int(raw, "oscquery_port", source, prefix, 1, 65535),
        web_port=_int(raw, "web_port", source, prefix, 1, 65535))


def parse_output_size(value: object, source: str, key: str) -> tuple[int, int] | None:
    """"WxH" -> (W, H): even sides (NDI's 4:2:2 and the recorder's 4:2:0 pair pixels) within 16..8192."""
    if value is None:
        return None
    expected = f"an output size WIDTHxHEIGHT, even sides of {MIN_SIDE}..{MAX_SIDE} px, e.g. \"1920x1080\""
    found = OUTPUT_SIZE.match(value) if isinstance(value, str) else None
    if found is None:
        raise ConfigError(source, key, expected, value)
    width, height = int(found.group(1)), int(found.group(2))
    if not all(MIN_SIDE <= side <= MAX_SIDE and side % 2 == 0 for side in (width, height)):
        raise ConfigError(source, key, expected, value)
    return width, height


# ---------------------------------------------------------------------- across engines
def _no_shared_outputs(show: ShowFile) -> None:
    """Two engines sending to one NDI name, take file, camera device, Spout or Syphon name would fight."""
    kinds = {"ndi_name": lambda e: e.ndi_source, "record": lambda e: str(e.record.resolve()) if e.record else None,
             "vcam_device": lambda e: e.vcam_device, "spout": lambda e: e.spout, "syphon": lambda e: e.syphon}
    for key, of in kinds.items():
        seen: dict[str, str] = {}
        for engine in show.engines:
            value = of(engine)
            if value is None:
                continue
            if value in seen:
                raise ConfigError(show.source, f"engines.{engine.name}.{key}",
                                  f"an output of its own (engine {seen[value]!r} already sends there)", value)
            seen[value] = engine.name


def _no_shared_ports(show: ShowFile) -> None:
    taken: dict[tuple[str, int], str] = {}
    for what, number in show_ports(show).items():
        if number:
            taken[(LOCAL_HOST, number)] = f"show.{what}"
    for engine in show.engines:
        host = LOCAL_HOST if not engine.remote else engine.host
        for what, number in engine_ports(engine).items():
            key = f"engines.{engine.name}.{what}"
            if (host, number) in taken:
                raise ConfigError(show.source, key, f"a port of its own ({taken[(host, number)]} already uses it)",
                                  number)
            taken[(host, number)] = key


# ---------------------------------------------------------------------- typed keys
def _no_unknown(table: Mapping[str, Any], known: frozenset[str] | set[str], source: str, prefix: str,
                why: str = "") -> None:
    for key in table:
        if key not in known:
            raise ConfigError(source, f"{prefix}{key}", f"one of {', '.join(sorted(known))}{why}", "an unknown key")


def _table(value: object, source: str, key: str) -> Mapping[str, Any]:
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise ConfigError(source, key, "a table", value)
    return value


def _str(table: Mapping[str, Any], key: str, source: str, prefix: str) -> str | None:
    value = table.get(key)
    if value is not None and (not isinstance(value, str) or not value.strip()):
        raise ConfigError(source, f"{prefix}{key}", "a non-empty string", value)
    return value


def _choice(table: Mapping[str, Any], key: str, choices: tuple[str, ...], source: str, prefix: str) -> str | None:
    value = table.get(key)
    if value is not None and value not in choices:
        raise ConfigError(source, f"{prefix}{key}", f"one of {', '.join(choices)}", value)
    return value


def _bool(table: Mapping[str, Any], key: str, source: str, prefix: str, default: bool) -> bool:
    value = table.get(key, default)
    if not isinstance(value, bool):
        raise ConfigError(source, f"{prefix}{key}", "true or false", value)
    return value


def _int(table: Mapping[str, Any], key: str, source: str, prefix: str, low: int, high: int,
         default: int | None = None) -> Any:
    value = table.get(key, default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int) or not low <= value <= high:
        raise ConfigError(source, f"{prefix}{key}", f"an integer {low}..{high}", value)
    return value


def _float(table: Mapping[str, Any], key: str, source: str, prefix: str, low: float, high: float) -> float | None:
    value = table.get(key)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float) or not low <= value <= high:
        raise ConfigError(source, f"{prefix}{key}", f"a number {low:g}..{high:g}", value)
    return float(value)
