"""Settings files on disk: recognise them, convert them (`vj render`, `vj schedule`), write presets (`vj convert`)."""

from __future__ import annotations

import json
import random
from pathlib import Path

import tomli_w

from vj.config import PresetConfig
from vj.deforum.astria import PROMPT_LINE, parse_astria
from vj.deforum.settings import ImportResult, convert_settings, short_value
from vj.errors import ConfigError
from vj.files import is_file, read_utf8


def sniff(path: str) -> str | None:
    """'deforum' for a JSON settings file, 'astria' for Astria text, None for anything else (a preset)."""
    p = Path(path)
    if not is_file(p) or p.suffix.lower() == ".toml":
        return None
    head = p.read_text(encoding="utf-8", errors="replace")[:4096].lstrip()
    if head.startswith("{"):
        return "deforum"
    if any(PROMPT_LINE.match(line) for line in head.splitlines()):
        return "astria"
    return None


def load_settings(path: str, *, rng: random.Random | None = None, prompt_crossfade_frames: int = 0,
                  warn: bool = True) -> ImportResult:
    """Read a Deforum JSON or Astria file, convert, and log the one warning of what was left out."""
    kind = sniff(path)
    text = read_utf8(path, "a Deforum settings file or Astria prompt file")
    if kind == "deforum":
        try:
            settings = json.loads(text)
        except json.JSONDecodeError as err:
            raise ConfigError(path, f"line {err.lineno}", "valid JSON (a Deforum settings file)", err.msg) from err
        if not isinstance(settings, dict):
            raise ConfigError(path, "", "a JSON object of Deforum settings", type(settings).__name__)
    elif kind == "astria":
        settings = parse_astria(text, path)
    else:
        raise ConfigError(path, "", "a Deforum settings file (JSON) or an Astria prompt file", "neither")
    result = convert_settings(settings, path, rng=rng, prompt_crossfade_frames=prompt_crossfade_frames)
    if warn:
        result.log_warning(path)
    return result


def render_source(path: str) -> PresetConfig | None:
    """`vj render` loader: a settings file becomes a preset; anything else is not ours."""
    if sniff(path) is None:
        return None
    return load_settings(path).preset


def write_preset(result: ImportResult, out: str) -> None:
    header = "# Converted by `vj convert`; see docs/guide/deforum.md in vj's repository.\n"
    if result.unsupported:
        header += "# Not carried over (vj does not implement them):\n"
        header += "".join(f"#   {k} = {short_value(v, 70)}\n" for k, v in sorted(result.unsupported.items()))
    Path(out).write_text(header + tomli_w.dumps(result.data), encoding="utf-8")
