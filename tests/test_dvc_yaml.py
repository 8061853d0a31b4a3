"""dvc.yaml against the code: deps match imports, outs match latentlab.core.paths, and nothing
from params.yaml is interpolated into a command or a path."""

from __future__ import annotations

import ast
import functools
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from latentlab.core import paths
from latentlab.core.params import read_yaml
from scripts import readme_graph
from scripts.code_measures import concrete_stages

REPO = Path(__file__).resolve().parents[1]
PIPELINE = yaml.safe_load((REPO / "dvc.yaml").read_text())
MODELS = next(v["models"] for v in PIPELINE["vars"] if "models" in v)
CODE = ("latentlab", "stages")
CONCRETE = concrete_stages(PIPELINE)


@functools.cache  # the stages of one foreach run one module
def imported_files(module: str) -> frozenset[str]:
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
    return frozenset(
        f.relative_to(REPO).as_posix()
        for f in files
        if any(f.is_relative_to(REPO / top) for top in CODE)
    )


def docstring_only(path: Path) -> bool:
    """Whether a module holds a docstring and nothing else (a change to it changes no result)."""
    body = ast.parse(path.read_text()).body
    return all(isinstance(n, ast.Expr) and isinstance(n.value, ast.Constant) for n in body)


def package_data(imported: frozenset[str]) -> set[str]:
    """The files other than Python beside a latentlab module that is imported (the report's
    template): the module reads them, so an edit to one can change what the stage writes."""
    folders = {(REPO / f).parent for f in imported if f.startswith("latentlab/")}
    return {
        p.relative_to(REPO).as_posix()
        for folder in folders
        for p in folder.iterdir()
        if p.is_file() and p.suffix not in (".py", ".pyc") and not p.name.startswith(".")
    }


def code_deps(definition: dict) -> list[str]:
    return [d for d in definition["deps"] if d.split("/")[0] in CODE]


@pytest.mark.parametrize("stage", sorted(CONCRETE))
def test_code_deps_are_exactly_what_the_stage_imports(stage: str) -> None:
    """File by file, so that an edit reruns only the stages that run the edited file; a package's
    __init__.py that holds only a docstring cannot change a result, so it is not listed."""
    _, definition = CONCRETE[stage]
    module = definition["cmd"].split()[2]  # python -m stages.<name> ...
    imported = imported_files(module)
    needed = {f for f in imported if not docstring_only(REPO / f)} | package_data(imported)
    declared = code_deps(definition)
    assert len(declared) == len(set(declared)), f"{stage} lists a file twice"
    missing, extra = needed - set(declared), set(declared) - needed
    assert not missing, f"{stage} runs {sorted(missing)} but dvc.yaml does not list them"
    assert not extra, f"{stage} lists {sorted(extra)} but runs no code of them (list files)"


def stage_outputs(stage: str, model: str = "") -> dict[str, bool]:
    """What a stage writes, by the path functions of latentlab/core/paths.py, with whether DVC
    caches it: what dvc.yaml must declare (test_pipeline.py checks that nothing else is written).
    Every stage but validate and the report caches all it writes, so that DVC can run-cache it
    and a failed run can put its outputs back."""
    run = paths.RUNS / model
    outputs = {
        "validate": {paths.VALIDATED: False},
        "download": {paths.DATA_ROOT / "FashionMNIST": True},
        "judge": {
            paths.JUDGE / "models": True,
            paths.JUDGE_FEATURES: True,
            paths.JUDGE / "metrics.json": True,
            paths.JUDGE / "plots" / "metrics": True,
            paths.JUDGE / "plots" / "custom": True,
        },
        "balls": {paths.REAL_BALLS: True},
        "calibrate": {paths.CALIBRATION: True},
        "train": {
            run / "models": True,
            paths.train_dir(model) / "metrics.json": True,
            paths.train_dir(model) / "plots" / "metrics": True,
            paths.train_dir(model) / "plots" / "custom": True,
            paths.train_dir(model) / "plots" / "images": True,
        },
        "evaluate": {run / "evaluate": True, run / "codes": True},
        "render": {run / "render": True, paths.MAPS / model: True},
        "interpolate": {run / "interpolate": True, run / "strips": True},
        "report": {
            paths.REPORTS / "report.md": False,
            paths.FIGURES: False,
            paths.HEADLINE: False,
            paths.VERDICTS: False,
            paths.SUMMARY: False,
        },
    }[stage]
    return {p.as_posix(): cached for p, cached in outputs.items()}


@pytest.mark.parametrize("stage", sorted(CONCRETE))
def test_outs_are_where_the_code_writes(stage: str) -> None:
    model, definition = CONCRETE[stage]
    declared = {}
    for section in ("outs", "metrics", "plots"):
        for out in definition.get(section, []):
            path, props = next(iter(out.items())) if isinstance(out, dict) else (out, {})
            declared[path] = props.get("cache", True)
    assert declared == stage_outputs(stage.split("@")[0], model)


def _within(path: str, folder: str) -> bool:
    return path == folder or path.startswith(folder + "/")


def test_every_stage_is_downstream_of_validation() -> None:
    """So a full `dvc repro` or `dvc exp run` meets a bad param before any stage runs."""
    writers = {
        out: stage
        for stage, (model, _) in CONCRETE.items()
        for out in stage_outputs(stage.split("@")[0], model)
    }
    for stage in CONCRETE:
        seen: set[str] = set()
        todo = [stage]
        while todo:
            current = todo.pop()
            if current in seen:
                continue
            seen.add(current)
            for dep in CONCRETE[current][1]["deps"]:
                todo += [w for out, w in writers.items() if _within(out, dep) or _within(dep, out)]
        assert "validate" in seen, f"{stage} does not wait for validate"


def test_nothing_from_params_is_interpolated() -> None:
    """Only dvc.yaml's own vars (the model names) and foreach's item reach commands and paths."""
    text = (REPO / "dvc.yaml").read_text()
    assert set(re.findall(r"\$\{([^}]*)\}", text)) == {"item", "models"}
    assert all(isinstance(v, dict) for v in PIPELINE["vars"]), "vars must not name a file"
    assert "models" not in read_yaml(REPO / "params.yaml")


def test_declared_models_are_plain_names_with_params_sections() -> None:
    params = read_yaml(REPO / "params.yaml")
    for name in MODELS:
        assert name.isidentifier() and name in params


def test_the_readme_shows_the_current_dag() -> None:
    """The README's Mermaid graph is what `dvc dag --mermaid` prints for this dvc.yaml."""
    readme = (REPO / "README.md").read_text()
    current = readme_graph.with_graph(readme, readme_graph.dag(REPO))
    assert current == readme, "README.md's pipeline graph is stale: run `make readme-graph`"


def test_the_quick_loop_shortens_every_declared_model() -> None:
    """`make quick` sets one epoch for each model dvc.yaml declares."""
    makefile = (REPO / "Makefile").read_text()
    for name in MODELS:
        assert f"-S {name}.epochs=1" in makefile, name
