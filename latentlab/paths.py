"""Where every stage reads and writes; dvc.yaml lists the same paths as deps and outs."""

from __future__ import annotations

from pathlib import Path

DATA_ROOT = Path("data/raw")
RUNS = Path("runs")
MAPS = Path("maps")
JUDGE = RUNS / "judge"
REPORTS = Path("reports")
FIGURES = REPORTS / "figures"


def run_dir(model: str, seed: int) -> Path:
    """The folder holding everything about one model trained with one seed."""
    return RUNS / model / f"seed{seed}"


def map_file(model: str, seed: int, suffix: str) -> Path:
    """One seed's latent map (`.npz` arrays or `.png` image), in its model's folder of maps."""
    return MAPS / model / f"seed{seed}{suffix}"


def map_metrics(model: str) -> Path:
    """The measures of every seed's map of a model, keyed `seed<N>`."""
    return MAPS / f"{model}.json"
