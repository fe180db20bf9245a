"""Small builders shared by the output tests (frames without an engine, a fake clock, the NDI loopback probe)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from types import MappingProxyType
from typing import Any

import numpy as np
import pytest

from vj.frames import Frame
from vj.prompt_mix import PromptEntry, PromptMix
from vj.registry import REGISTRY
from vj.store import ControlEvent, ParamSnapshot

REPO = Path(__file__).resolve().parents[2]


def run_ndi_probe(tmp_path: Path, script: str, argument: str, timeout_s: float) -> dict[str, Any]:
    """Run an NDI sender/receiver script in a child process on loopback; its `RESULT {json}` line, parsed.

    A child process, so NDI_CONFIG_DIR is set before libndi starts and its threads end with it;
    discovery without mDNS (no Avahi here): NDI's "extra IPs" setting makes the finder ask
    127.0.0.1 directly, so this needs only loopback.
    """
    (tmp_path / "ndi-config.v1.json").write_text(json.dumps({"ndi": {"networks": {"ips": "127.0.0.1"}}}))
    path = tmp_path / "probe.py"
    path.write_text(script)
    env = {"NDI_CONFIG_DIR": str(tmp_path), "PYTHONPATH": str(REPO), "HOME": str(tmp_path), "PATH": "/usr/bin:/bin"}
    try:
        done = subprocess.run([sys.executable, str(path), argument], cwd=REPO, env=env, capture_output=True,
                              text=True, timeout=timeout_s)
    except subprocess.TimeoutExpired:
        pytest.fail(f"the NDI loopback probe did not finish within {timeout_s:g} s")
    lines = [line for line in done.stdout.splitlines() if line.startswith("RESULT ")]
    assert done.returncode == 0 and lines, f"probe failed (rc {done.returncode}):\n{done.stdout}\n{done.stderr}"
    result: dict[str, Any] = json.loads(lines[-1][len("RESULT "):])
    return result


def make_snapshot(index: int = 0, time_s: float = 0.0, dt_s: float = 1 / 24,
                  events: tuple[ControlEvent, ...] = (), prompt: str = "a red fox") -> ParamSnapshot:
    values = {name: spec.default for name, spec in REGISTRY.items()}
    return ParamSnapshot(index, time_s, dt_s, MappingProxyType(values), PromptMix((PromptEntry(prompt, 1.0),)),
                         events)


def make_frame(index: int = 0, width: int = 64, height: int = 48, *, value: int | None = None,
               time_s: float | None = None, events: tuple[ControlEvent, ...] = ()) -> Frame:
    """A frame whose pixels encode its index (R = index, G = 100, B = 200) unless `value` is given."""
    image = np.empty((height, width, 3), np.uint8)
    image[..., 0] = (index if value is None else value) % 256
    image[..., 1] = 100
    image[..., 2] = 200
    t = index / 24 if time_s is None else time_s
    return Frame(index, t, image, make_snapshot(index, t, events=events))


class FakeTime:
    """A clock that only moves when someone waits on it; `on_advance` hooks run as it moves."""

    def __init__(self, start_s: float = 1000.0) -> None:
        self.now = start_s
        self.hooks: list[Callable[[float], None]] = []

    def clock(self) -> float:
        return self.now

    def wait(self, _event: threading.Event, seconds: float) -> None:
        self.now += seconds
        for hook in self.hooks:
            hook(self.now)
