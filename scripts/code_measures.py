"""How far a one-file edit in latentlab/ reaches, and how big its files and functions are.

Read statically from dvc.yaml and the sources, nothing run: for every .py file of latentlab/, the
concrete stages (train@ae, ...) whose deps hold it (the file itself, or a folder above it), which
DVC then reports as changed; their mean over the files; the biggest file and the longest
function (from its `def` to its last line).

    python -m scripts.code_measures [--per-file]
"""

from __future__ import annotations

import argparse
import ast
from pathlib import Path
from typing import Any

import yaml

REPO = Path(__file__).resolve().parents[1]


def concrete_stages(pipeline: dict[str, Any]) -> dict[str, tuple[str, dict[str, Any]]]:
    """Each concrete stage of a parsed dvc.yaml (`train@vae`, ...): its model ("" for a stage
    without foreach) and its definition with `${item}` filled in. foreach must name `${models}`
    from `vars`, as in this project's dvc.yaml."""
    models = next(v["models"] for v in pipeline.get("vars", []) if "models" in v)
    stages: dict[str, tuple[str, dict[str, Any]]] = {}
    for name, entry in pipeline["stages"].items():
        if "foreach" not in entry:
            stages[name] = ("", entry)
            continue
        text = yaml.safe_dump(entry["do"])
        for m in models:
            stages[f"{name}@{m}"] = (m, yaml.safe_load(text.replace("${item}", m)))
    return stages


def within(path: str, dep: str) -> bool:
    """Whether a change to the file `path` changes the dependency `dep` (a file or a folder)."""
    return path == dep or path.startswith(dep.rstrip("/") + "/")


def staled_by(pipeline: dict[str, Any], files: list[str]) -> dict[str, list[str]]:
    """For each file (a path relative to the repository), the concrete stages an edit to it
    makes stale."""
    stages = concrete_stages(pipeline)
    return {
        f: [s for s, (_, d) in stages.items() if any(within(f, dep) for dep in d.get("deps", []))]
        for f in files
    }


def function_lengths(source: str) -> list[tuple[str, int]]:
    """(name, lines from `def` to the last line) of every function and method in `source`,
    nested ones included."""
    return [
        (node.name, node.end_lineno - node.lineno + 1)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
    ]


def code_files(root: Path = REPO) -> list[str]:
    """Every .py file of latentlab/, relative to `root`, sorted."""
    return sorted(p.relative_to(root).as_posix() for p in (root / "latentlab").rglob("*.py"))


def main(argv: list[str] | None = None) -> None:
    """Print the mean number of stages a one-file edit stales, the biggest file and the longest
    function of latentlab/."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--per-file", action="store_true", help="list the stages of every file")
    args = parser.parse_args(argv)
    pipeline = yaml.safe_load((REPO / "dvc.yaml").read_text())
    files = code_files()
    staled = staled_by(pipeline, files)
    if args.per_file:
        for f, stages in staled.items():
            print(f"{len(stages):3d}  {f}  {' '.join(stages)}")
    mean = sum(map(len, staled.values())) / len(files)
    print(
        f"a one-file edit in latentlab/ stales {mean:.1f} of "
        f"{len(concrete_stages(pipeline))} stages on average ({len(files)} files)"
    )
    sources = {f: (REPO / f).read_text(encoding="utf-8") for f in files}
    biggest = max(files, key=lambda f: len(sources[f].splitlines()))
    print(f"biggest file: {biggest}, {len(sources[biggest].splitlines())} lines")
    lengths = [(n, f, name) for f in files for name, n in function_lengths(sources[f])]
    n, f, name = max(lengths)
    print(f"longest function: {name} in {f}, {n} lines")


if __name__ == "__main__":
    main()
