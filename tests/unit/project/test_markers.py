"""The markers that need something this machine may lack skip themselves, with the reason, in a real pytest run."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[3]


def _run_marked(tmp_path: Path, env: dict[str, str]) -> str:
    test_file = tmp_path / "test_marked.py"
    test_file.write_text("import pytest\n\n\n@pytest.mark.hardware\ndef test_needs_a_device() -> None:\n"
                         "    pass\n")
    result = subprocess.run([sys.executable, "-m", "pytest", "-p", "tests.conftest", "-c", str(ROOT / "pyproject.toml"),
                             "--rootdir", str(ROOT), "-rs", "-q", "-p", "no:cacheprovider", str(test_file)],
                            cwd=ROOT, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_hardware_tests_skip_with_the_reason_unless_asked_for(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "VJ_RUN_HARDWARE"}
    out = _run_marked(tmp_path, env)
    assert "1 skipped" in out and "needs a MIDI device, /dev/video* or a display: set VJ_RUN_HARDWARE=1" in out, out
    out = _run_marked(tmp_path, {**env, "VJ_RUN_HARDWARE": "1"})
    assert "1 passed" in out, out
