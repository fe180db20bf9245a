"""`vj run --target-fps` in a real child process: the governor's sizes are warmed, it steps, the status says so."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

REPO = str(Path(__file__).resolve().parents[3])


def vj(*args: str) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, "PYTHONPATH": REPO}
    return subprocess.run([sys.executable, "-m", "vj.cli", *args], capture_output=True, text=True, timeout=240,
                          env=env, cwd=REPO)


def test_vj_run_target_fps_warms_the_governor_sizes_and_steps_down() -> None:
    # A target no CPU reaches: the governor must step down, one level per dwell.
    result = vj("run", "drift", "--model", "tiny", "--width", "128", "--height", "128", "--duration", "6",
                "--target-fps", "200", "--osc-port", "0", "--no-zeroconf", "--no-web", "-v")
    assert result.returncode == 0, result.stderr
    warmed = next(line for line in result.stderr.splitlines() if line.startswith("vj: warmed up"))
    assert all(size in warmed for size in ("128x128", "96x96", "64x64")), warmed
    assert "governor: " in result.stderr and "against 200: level 1 (96x96 steps 1 cadence 1)" in result.stderr
    assert "governor 200 fps: level " in result.stderr  # the status line


def test_target_fps_out_of_range_is_one_error_line() -> None:
    result = vj("run", "drift", "--model", "tiny", "--target-fps", "-3")
    assert result.returncode == 2
    assert "expected a target frame rate (0 = off) >= 0 and <= 240, found -3" in result.stderr
