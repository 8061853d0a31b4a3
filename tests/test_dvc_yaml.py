"""dvc.yaml lists, for every stage, all the library code its script imports."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
STAGES = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]
# Imported by every stage, and left out of their deps: it holds a docstring and nothing else.
PACKAGE = "latentlab/__init__.py"


def imported_files(module: str) -> set[str]:
    """The repository's .py files that importing `module` loads, in a fresh interpreter."""
    code = (
        f"import json, sys, {module}; "
        "print(json.dumps([m.__file__ for m in list(sys.modules.values()) "
        "if getattr(m, '__file__', None)]))"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, check=True
    ).stdout
    files = {Path(f).resolve() for f in json.loads(out)}
    return {f.relative_to(REPO).as_posix() for f in files if f.is_relative_to(REPO / "latentlab")
            or f.is_relative_to(REPO / "stages")}


@pytest.mark.parametrize("stage", sorted(STAGES))
def test_stage_depends_on_every_file_it_imports(stage: str) -> None:
    module = STAGES[stage]["cmd"].split()[2]  # python -m stages.<name> ...
    missing = imported_files(module) - set(STAGES[stage]["deps"]) - {PACKAGE}
    assert not missing, f"{stage} imports {sorted(missing)} but dvc.yaml does not list them"


def test_the_package_file_holds_no_code() -> None:
    """Why PACKAGE may be left out of the deps: a change to it cannot change a result."""
    body = ast.parse((REPO / PACKAGE).read_text()).body
    assert all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)
