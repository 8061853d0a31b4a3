"""Every file and function of latentlab/ short enough to read whole: at most MAX_FILE_LINES lines
a file, MAX_FUNCTION_LINES a function (from its `def` to its last line, nested ones included)."""

from __future__ import annotations

from pathlib import Path

import pytest

from scripts.code_measures import code_files, function_lengths

REPO = Path(__file__).resolve().parents[1]
MAX_FILE_LINES = 500
MAX_FUNCTION_LINES = 60


@pytest.mark.parametrize("path", code_files(REPO))
def test_files_and_functions_are_short(path: str) -> None:
    source = (REPO / path).read_text(encoding="utf-8")
    assert len(source.splitlines()) <= MAX_FILE_LINES, f"{path} is over {MAX_FILE_LINES} lines"
    long = [(name, n) for name, n in function_lengths(source) if n > MAX_FUNCTION_LINES]
    assert not long, f"{path}: functions over {MAX_FUNCTION_LINES} lines: {long}"
