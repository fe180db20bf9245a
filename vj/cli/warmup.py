"""`vj warmup PRESET`: run every variant a show may use once, with a progress bar.

`vj run` does the same before its first frame. On its own it fills the on-disk caches a
later show loads from (AOTInductor packages, inductor's compiled graphs), and says how long
the warm-up takes on this machine.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Iterable
from typing import TYPE_CHECKING

from vj.cli.common import add_common_arguments, preset_from_args

if TYPE_CHECKING:
    from vj.config import PresetConfig
    from vj.session.live import LiveSession


def add_warmup_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("preset", help="a preset file or the name of a shipped preset (see `vj presets`)")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    add_common_arguments(parser)


def warm_up_with_progress(session: LiveSession, extra: Iterable[PresetConfig] = (), *,
                          progress: bool = True) -> None:
    """`session.warmup()` over every variant, a tqdm bar on stderr meanwhile."""
    from tqdm import tqdm

    variants = session.warmup_variants(extra)
    start = time.monotonic()
    with tqdm(total=len(variants), unit="variant", desc="vj: warming up", disable=not progress,
              file=sys.stderr) as bar:
        session.warmup(variants, on_progress=lambda done, _of: bar.update(done - bar.n))
    print(f"vj: warmed up {len(variants)} variant{'s' if len(variants) != 1 else ''} in "
          f"{time.monotonic() - start:.1f} s: {'; '.join(map(str, variants))}", file=sys.stderr)


def cmd_warmup(args: argparse.Namespace) -> int:
    from vj.engine.backends.sizes import check_size_before_load
    from vj.session.live import LiveSession

    preset = preset_from_args(args)
    check_size_before_load(preset.model, preset.render.width, preset.render.height)
    print(f"vj: loading {preset.model.source} ({preset.model.backend} backend, compile {preset.model.compile})",
          file=sys.stderr)
    session = LiveSession(preset, offline=True, fixed_size=args.width is not None or args.height is not None)
    warm_up_with_progress(session, progress=not args.no_progress)
    session.backend.close()
    return 0
