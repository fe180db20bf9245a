"""`vj render`: an init image the preset names but this machine cannot open (a shared Deforum file's URL or
its author's `C:\\Users\\...` path) is one line naming the ways on; a URL is fetched only with `--fetch`."""

from __future__ import annotations

import argparse
import dataclasses
import sys
import urllib.error
import urllib.request
from pathlib import Path, PurePosixPath
from urllib.parse import urlsplit

from vj.config import PresetConfig
from vj.deforum.video_input import init_image_problem, is_url
from vj.errors import VjError

MAX_FETCH_BYTES = 64 * 1024 * 1024  # a picture; more is not one
FETCH_TIMEOUT_S = 30.0
_IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp", ".bmp", ".tif", ".tiff")


def add_fetch_argument(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--fetch", action="store_true",
                        help="download an init image the preset or settings file gives as a URL (saved beside --out)")


def usable_init_image(preset: PresetConfig, args: argparse.Namespace) -> PresetConfig:
    """The preset with an init image this machine can open (fetched when asked), or a VjError saying how on."""
    text = preset.input.init_image
    problem = init_image_problem(text) if text else ""
    if not problem:
        return preset
    if is_url(text) and args.fetch:
        saved = fetch_image(text, Path(args.out))
        print(f"vj: fetched the init image {text} to {saved}", file=sys.stderr)
        return preset.replace(input=dataclasses.replace(preset.input, init_image=str(saved)))
    fetch = ", or --fetch to download it" if is_url(text) else ""
    raise VjError(f"{preset.source_path}: init_image '{text}' cannot be opened: {problem}. Ways on: "
                  f"--init-image PATH (a copy on this machine), --init-image '' (start without one){fetch}")


def fetch_image(url: str, out: Path) -> Path:
    """Download `url` beside `out` (named after it) and return where it was saved."""
    suffix = PurePosixPath(urlsplit(url).path).suffix.lower()
    target = out.with_name(f"{out.stem}-init{suffix if suffix in _IMAGE_SUFFIXES else '.png'}")
    try:
        with urllib.request.urlopen(url, timeout=FETCH_TIMEOUT_S) as response:  # noqa: S310 (http(s) only: is_url)
            data = response.read(MAX_FETCH_BYTES + 1)
    except (urllib.error.URLError, OSError, ValueError) as err:
        raise VjError(f"--fetch {url}: could not download it ({getattr(err, 'reason', err)}); save it yourself "
                      f"and pass --init-image PATH") from None
    if len(data) > MAX_FETCH_BYTES:
        raise VjError(f"--fetch {url}: more than {MAX_FETCH_BYTES:,} bytes, not a picture to start from")
    try:
        target.write_bytes(data)
    except OSError as err:
        raise VjError(f"--fetch {url}: cannot save it to {target}: {err.strerror or err}") from None
    return target
