"""Every file and function of latentlab/ short enough to read whole: at most MAX_FILE_LINES lines
a file, MAX_FUNCTION_LINES a function (from its `def` to its last line, nested ones included)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 60
# latentlab/core/params.py is being rewritten (its schema declared once, issue 22); it is left
# out until that lands.
SKIPPED = {"latentlab/core/params.py"}
FILES = sorted(
    p.relative_to(REPO).as_posix()
    for p in (REPO / "latentlab").rglob("*.py")
    if p.relative_to(REPO).as_posix() not in SKIPPED
)


def long_functions(source: str, limit: int = MAX_FUNCTION_LINES) -> list[tuple[str, int]]:
    """(name, lines) of every function or method in `source` longer than `limit` lines."""
    return [
        (node.name, node.end_lineno - node.lineno + 1)
        for node in ast.walk(ast.parse(source))
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and node.end_lineno - node.lineno + 1 > limit
    ]


def test_the_function_check_counts_from_def_to_last_line():
    source = "def f():\n    x = 1\n\n    return x\n\nclass A:\n    def g(self):\n        pass\n"
    assert long_functions(source, 3) == [("f", 4)]
    assert long_functions(source, 1) == [("f", 4), ("g", 2)]


@pytest.mark.parametrize("path", FILES)
def test_files_and_functions_are_short(path: str) -> None:
    source = (REPO / path).read_text(encoding="utf-8")
    assert len(source.splitlines()) <= MAX_FILE_LINES, f"{path} is over {MAX_FILE_LINES} lines"
    assert long_functions(source) == [], f"{path}: over {MAX_FUNCTION_LINES} lines"
