"""CI runs ruff and mypy on the package: a lint or type error fails the test suite, printing what they found."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[3]


def _run_tool(module: str, *args: str) -> subprocess.CompletedProcess[str]:
    if importlib.util.find_spec(module) is None:
        pytest.fail(f"{module} is not installed: it comes with the test extra (pip install -e '.[test]')")
    return subprocess.run([sys.executable, "-m", module, *args], cwd=ROOT, capture_output=True, text=True,
                          timeout=840, check=False)


def test_ruff_finds_nothing_in_the_package() -> None:
    result = _run_tool("ruff", "check", "--no-cache", "vj/")
    assert result.returncode == 0, f"ruff check vj/ found problems:\n{result.stdout}{result.stderr}"


@pytest.mark.timeout(900)  # a cold mypy run on two shared cores takes minutes
def test_mypy_finds_nothing_in_the_package() -> None:
    result = _run_tool("mypy", "vj/")
    assert result.returncode == 0, f"mypy vj/ found problems:\n{result.stdout}{result.stderr}"
