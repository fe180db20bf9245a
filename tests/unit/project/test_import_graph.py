"""The arrows between packages point one way (DESIGN.md, Layout), checked on the source with `ast`.

- `vj.engine` (the render side) imports none of control / output / input / schedule / deforum / web / session /
  cli;
- control, output, input, schedule, deforum, web, analysis and show import nothing of `vj.engine` (the show's
  engines are processes of their own);
- `vj.schedule` imports no torch, so the keyframe grammar works without it.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

import vj

PACKAGE = Path(vj.__file__).parent
ENGINE_MAY_NOT = ("vj.control", "vj.output", "vj.input", "vj.schedule", "vj.deforum", "vj.web", "vj.session",
                  "vj.cli", "vj.show")
NOT_THE_ENGINE = ("control", "output", "input", "schedule", "deforum", "web", "analysis", "show")


def _imports(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    names: list[str] = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            names.append(node.module)
    return names


def _offenders(package: str, forbidden: tuple[str, ...]) -> list[tuple[str, str]]:
    files = list((PACKAGE / package).rglob("*.py"))
    assert files, f"vj/{package} has no modules"
    return [(str(f.relative_to(PACKAGE)), name) for f in files for name in _imports(f)
            if any(name == bad or name.startswith(bad + ".") for bad in forbidden)]


def test_engine_imports_no_other_package() -> None:
    assert len(list((PACKAGE / "engine").rglob("*.py"))) > 5
    assert _offenders("engine", ENGINE_MAY_NOT) == []


@pytest.mark.parametrize("package", [p for p in NOT_THE_ENGINE if (PACKAGE / p).is_dir()])
def test_package_imports_nothing_of_the_engine(package: str) -> None:
    assert _offenders(package, ("vj.engine",)) == []


def test_schedule_grammar_needs_no_torch() -> None:
    assert _offenders("schedule", ("torch", "vj.store", "vj.session")) == []


def test_checker_catches_a_forbidden_import(tmp_path: Path) -> None:
    bad = tmp_path / "bad.py"
    bad.write_text("from vj.output.recorder import VideoRecorder\nimport vj.control.osc\n"
                   "def f():\n    from vj.engine.loop import Engine\n")
    assert _imports(bad) == ["vj.output.recorder", "vj.control.osc", "vj.engine.loop"]


def test_schedule_and_config_import_without_torch_in_a_fresh_interpreter() -> None:
    import subprocess
    import sys

    code = ("import sys, vj.config, vj.schedule.keyframes, vj.schedule.prompts, vj.schedule.preview, vj.cli.main; "
            "print(sorted(m for m in ('torch', 'vj.engine', 'vj.session') if m in sys.modules))")
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[]"
