"""Where every stage reads and writes; dvc.yaml lists the same paths as deps and outs."""

from __future__ import annotations

from pathlib import Path

DATA_ROOT = Path("data/raw")
RUNS = Path("runs")
JUDGE = RUNS / "judge"
REPORTS = Path("reports")
FIGURES = REPORTS / "figures"


def run_dir(model: str, seed: int) -> Path:
    """The folder holding everything about one model trained with one seed."""
    return RUNS / model / f"seed{seed}"
