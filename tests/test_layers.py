"""The layers of latentlab import only downward: ALLOWED below, which latentlab/__init__.py says in
words.

Every module is parsed with `ast`, so that an import inside a function counts as much as one at
the top; then the modules that must not need torch are imported in a fresh interpreter.
"""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "latentlab"

# layer -> the layers its modules may import from (besides their own)
ALLOWED = {
    "core": {"core"},
    "nn": {"core", "nn"},
    "analysis": {"analysis"},
    "judge": {"core", "nn", "judge"},
    "report": {"core", "analysis", "report"},
    "sweep": {"core", "analysis", "report", "sweep"},  # tooling: no stage imports it
    "stage": {"core", "nn", "analysis", "judge"},  # latentlab/*.py: the work of one stage each
}
# The report stage runs without torch, and so do the sweep tools.
NO_TORCH = {"core", "analysis", "report", "sweep"}


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def layer_of(module: str) -> str:
    """The layer of a latentlab module: its subpackage, or "stage" for latentlab/*.py."""
    parts = module.split(".")
    if len(parts) == 1:
        return "package"
    if (PACKAGE / parts[1]).is_dir():
        return parts[1]
    return "stage"


def imports_of(module: str, source: str | None = None) -> list[tuple[str, int]]:
    """(imported module, line) for every import in a module, relative ones resolved; `from a
    import b` counts as a.b when a/b is a module, else as a."""
    path = MODULES.get(module, PACKAGE / "_probe.py")
    tree = ast.parse(path.read_text() if source is None else source, filename=str(path))
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [(alias.name, node.lineno) for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                parent = ".".join(base + ([node.module] if node.module else []))
            else:
                parent = node.module or ""
            for alias in node.names:
                child = f"{parent}.{alias.name}"
                found.append((child if child in MODULES else parent, node.lineno))
    return found


def test_the_package_has_every_layer():
    layers = {layer_of(m) for m in MODULES}
    assert layers == {"package", *ALLOWED}
    for sub in ("core", "nn", "analysis", "judge", "report", "sweep"):
        assert f"latentlab.{sub}" in MODULES, f"latentlab/{sub}/__init__.py is missing"


def test_the_import_parser_sees_every_form():
    """The checks below rest on this: plain, from, relative and nested imports are all found."""
    source = (
        "import os, torch.nn\n"
        "from latentlab.core import paths\n"
        "from . import measures\n"
        "from .realism import frechet_distance\n"
        "def f():\n"
        "    import stages.train\n"
    )
    names = [name for name, _ in imports_of("latentlab.analysis._probe", source)]
    assert names == [
        "os",
        "torch.nn",
        "latentlab.core.paths",
        "latentlab.analysis.measures",
        "latentlab.analysis.realism",
        "stages.train",
    ]


def violations(module: str, source: str | None = None) -> list[str]:
    """The imports of a module that break the layers, each with its line and the rule."""
    layer = layer_of(module)
    wrong = []
    for name, line in imports_of(module, source):
        top = name.split(".")[0]
        if top == "stages":
            wrong.append(f"line {line}: {name} (nothing in latentlab imports stages)")
        elif top == "latentlab":
            target = name.split(".")[1] if "." in name else ""
            target_layer = layer_of(name) if name in MODULES else target
            allowed = set() if layer == "package" else ALLOWED[layer]
            if target_layer not in allowed:
                wrong.append(f"line {line}: {name} ({layer} may import {sorted(allowed)})")
        elif layer in NO_TORCH and top == "torch":
            wrong.append(f"line {line}: {name} ({layer} must not need torch)")
    return wrong


@pytest.mark.parametrize(
    ("module", "source", "count"),
    [
        ("latentlab.analysis._probe", "import torch\nfrom latentlab.core import paths\n", 2),
        ("latentlab.analysis._probe", "from latentlab.analysis import realism\n", 0),
        ("latentlab.report._probe", "from latentlab.judge.network import Judge\n", 1),
        ("latentlab.report._probe", "def f():\n    import torch.nn\n", 1),
        ("latentlab.report._probe", "from latentlab.core.params import Params\n", 0),
        ("latentlab.core._probe", "from latentlab.nn import models\n", 1),
        ("latentlab.core._probe", "import torch\n", 1),
        ("latentlab.nn._probe", "import torch\nfrom latentlab.core import errors\n", 0),
        ("latentlab.nn._probe", "from latentlab.judge import network\n", 1),
        ("latentlab.judge._probe", "from latentlab.analysis import realism\n", 1),
        ("latentlab._probe", "from latentlab.report import results\n", 1),
        ("latentlab._probe", "from latentlab.analysis import realism\nimport torch\n", 0),
        ("latentlab._probe", "import stages\n", 1),
        ("latentlab.sweep._probe", "from latentlab.report import comparison\n", 0),
        ("latentlab.sweep._probe", "from latentlab.nn import models\nimport torch\n", 2),
        ("latentlab._probe", "from latentlab.sweep import grid\n", 1),
    ],
)
def test_the_layer_check_catches_a_wrong_import(module, source, count):
    assert len(violations(module, source)) == count, violations(module, source)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_imports_stay_within_the_allowed_layers(module):
    wrong = violations(module)
    assert not wrong, f"{MODULES[module].relative_to(REPO)}: " + "; ".join(wrong)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_every_latentlab_import_names_an_existing_module(module):
    """Every latentlab import names a module that exists: one inside a function would otherwise
    fail only when its line runs."""
    stale = [
        f"line {line}: {name}"
        for name, line in imports_of(module)
        if name.startswith("latentlab") and name not in MODULES
    ]
    assert not stale, f"{MODULES[module].relative_to(REPO)}: " + "; ".join(stale)


def test_no_stage_module_imports_the_report_layer():
    stage_modules = [m for m in MODULES if layer_of(m) == "stage"]
    assert {"latentlab.training", "latentlab.evaluation", "latentlab.download"} <= set(
        stage_modules
    )
    for module in stage_modules:
        assert not [n for n, _ in imports_of(module) if n.startswith("latentlab.report")], module


PROBE = """
import importlib, json, sys
result = {}
for name in sys.argv[1:]:
    before = "torch" in sys.modules
    try:
        importlib.import_module(name)
        result[name] = "torch" if "torch" in sys.modules and not before else "ok"
    except Exception as err:
        result[name] = f"{type(err).__name__}: {err}"
print(json.dumps(result))
"""


@pytest.fixture(scope="module")
def torch_free_imports() -> dict[str, str]:
    """Each module of core, analysis and report imported in turn in one fresh interpreter:
    "ok", "torch" when it pulled torch in, or the error it raised."""
    names = sorted(m for m in MODULES if layer_of(m) in NO_TORCH)
    done = subprocess.run(
        [sys.executable, "-c", PROBE, *names],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        check=True,
    )
    return json.loads(done.stdout)


@pytest.mark.parametrize("module", sorted(m for m in MODULES if layer_of(m) in NO_TORCH))
def test_core_analysis_and_report_do_not_import_torch(torch_free_imports, module):
    assert torch_free_imports[module] == "ok", torch_free_imports[module]


def test_the_report_text_module_alone_does_not_import_torch():
    code = (
        "import sys\n"
        "import latentlab.report.text, latentlab.report.comparison, latentlab.report.results\n"
        "print('torch' in sys.modules, 'pandas' in sys.modules)\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.split() == ["False", "True"]
