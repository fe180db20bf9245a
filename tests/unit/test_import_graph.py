"""vj.engine must import neither vj.control nor vj.output (DESIGN.md)."""

from __future__ import annotations

import ast
from pathlib import Path

import vj

FORBIDDEN = ("vj.control", "vj.output")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def test_engine_imports_neither_control_nor_output() -> None:
    engine_dir = Path(vj.__file__).parent / "engine"
    files = list(engine_dir.rglob("*.py"))
    assert len(files) > 5
    offenders = [(f.name, name) for f in files for name in _imports(f)
                 if any(name == bad or name.startswith(bad + ".") for bad in FORBIDDEN)]
    assert offenders == []


def test_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from vj.output.recorder import VideoRecorder\nimport vj.control.osc\n")
    assert _imports(bad) == ["vj.output.recorder", "vj.control.osc"]
