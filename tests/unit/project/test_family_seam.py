"""Everything that differs between model families lives in vj/engine/families: no family branch elsewhere.

The scan reads the code, not the prose: identifiers and string constants (docstrings and
comments may name a family). A hit outside the families folder is a place where a new
family would need another edit; move it behind the `ModelFamily` protocol instead.
`Conditioning`'s `pooled` and `time_ids` slots are the container every family's encoder fills
(blends, fades and saved state act on them field by field): their attribute names are not
branches, but the UNet input names ("text_embeds", "time_ids") as strings are.
"""

from __future__ import annotations

import ast
import re
import subprocess
import sys
from pathlib import Path

import pytest

import vj

PACKAGE = Path(vj.__file__).parent
FAMILIES = PACKAGE / "engine" / "families"
# Names that only one family has: its UNet inputs, its second encoder, its pipeline classes, "is it XL".
FAMILY_NAME = re.compile(r"(?i)(^|_)(is_)?s?d?xl($|_)|xl_|text_encoder_2|tokenizer_2|text_embeds|"
                         r"addition_embed_type|text_time|StableDiffusionXL|XLNoise|conditioner\.embedders")
FAMILY_STRING = re.compile(r"(?i)^(s?d?xl|tiny-xl)$|sdxl|text_encoder_2|tokenizer_2|^text_embeds$|^time_ids$|"
                           r"addition_embed_type|text_time|StableDiffusionXL|conditioner\.embedders")


def _docstrings(tree: ast.AST) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and node.body:
            first = node.body[0]
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def family_branches(path: Path, root: Path = PACKAGE.parent) -> list[str]:
    """`file:line: what` for each family-specific name or string in the code of `path`."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    skip = _docstrings(tree)
    hits = []
    for node in ast.walk(tree):
        text = None
        if isinstance(node, ast.Name):
            text = node.id if FAMILY_NAME.search(node.id) else None
        elif isinstance(node, ast.Attribute):
            text = node.attr if FAMILY_NAME.search(node.attr) else None
        elif isinstance(node, (ast.FunctionDef, ast.ClassDef, ast.AsyncFunctionDef)):
            text = node.name if FAMILY_NAME.search(node.name) else None
        elif isinstance(node, ast.arg) or isinstance(node, ast.keyword) and node.arg is not None:
            text = node.arg if FAMILY_NAME.search(node.arg) else None
        elif isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in skip:
            text = node.value if FAMILY_STRING.search(node.value) else None
        if text is not None:
            hits.append(f"{path.relative_to(root)}:{getattr(node, 'lineno', 0)}: {text[:60]!r}")
    return hits


def outside_families() -> list[str]:
    return [hit for path in sorted(PACKAGE.rglob("*.py")) if FAMILIES not in path.parents
            for hit in family_branches(path)]


def test_no_family_branch_outside_the_families_folder() -> None:
    hits = outside_families()
    assert hits == [], f"{len(hits)} family-specific places outside vj/engine/families:\n" + "\n".join(hits)


def test_the_scan_reads_code_not_prose(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text('"""SDXL in a docstring is prose."""\n\n\n'
                      'def f(backend):  # SDXL in a comment too\n'
                      '    return backend.is_xl or "text_time" in backend.kind\n', encoding="utf-8")
    hits = family_branches(sample, tmp_path)
    assert hits == ["sample.py:5: 'is_xl'", "sample.py:5: 'text_time'"]


@pytest.mark.parametrize("module", ["vj.engine.families.family", "vj.engine.families.lookup",
                                    "vj.engine.families.sd", "vj.engine.families.sdxl"])
def test_a_family_module_imports_on_its_own(module: str) -> None:
    """The families sit below the backends: importing one first must not run into a backend mid-import."""
    done = subprocess.run([sys.executable, "-c", f"import {module}"], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
