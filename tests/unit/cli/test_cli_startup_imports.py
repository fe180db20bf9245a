"""Commands that do not render never import torch (or the engine / session), so they start at once.

Checked in a fresh interpreter per command: run the command, then list which heavy modules it loaded.
Timing is in benchmarks/startup.py, never here.
"""

from __future__ import annotations

import subprocess
import sys

import pytest

HEAVY = ("torch", "diffusers", "vj.engine", "vj.session")

_WRAPPER = """
import sys
from vj.cli.main import main
try:
    main(sys.argv[1:])
except SystemExit:
    pass
sys.stdout.flush()
print("LOADED", sorted(m for m in {heavy!r} if m in sys.modules), file=sys.stderr)
"""


@pytest.mark.parametrize("argv", [
    ["--help"],
    ["params"],
    ["presets"],
    ["osc-map"],
    ["schedule", "0: (1.0), 30: (1.0+0.02*sin(t/10))", "--max-frames", "40"],
    ["schedule", "drift", "--frames", "0:3"],
    ["run", "--help"],
    ["audio-devices"],
], ids=lambda argv: " ".join(argv)[:20])
def test_command_imports_no_torch(argv: list[str]) -> None:
    done = subprocess.run([sys.executable, "-c", _WRAPPER.format(heavy=HEAVY), *argv], capture_output=True,
                          text=True, timeout=120)
    loaded = [line for line in done.stderr.splitlines() if line.startswith("LOADED")]
    assert loaded == ["LOADED []"], done.stderr[-2000:]


def test_the_command_line_loads_no_pyav_before_the_preview_can_load_opencv() -> None:
    # PyAV and OpenCV wheels bundle X libraries under one file name: whichever loads first wins, and the
    # preview window hangs if it is PyAV (vj.output.preview_gui.prepare_preview imports cv2 first).
    done = subprocess.run([sys.executable, "-c", "import sys, vj.cli.main; print('av' in sys.modules)"],
                          capture_output=True, text=True, timeout=120)
    assert done.stdout.strip() == "False", done.stderr[-2000:]
