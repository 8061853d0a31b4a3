"""The report's plots without map pixels: training curves and tile counts, laid out by
matplotlib itself (no decoded image is drawn, so nothing needs pixel-exact placement)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no screen on CI or servers; set before pyplot is imported

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure

from latentlab.core.artifacts import atomic_path
from latentlab.core.fashion_mnist import CLASSES


def _save(fig: Figure, path: Path, dpi: int) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)


def training_curves(
    curves: dict[str, dict[int, list[dict[str, float]]]], path: Path, dpi: int
) -> None:
    """Per-epoch training loss of every model, one thin line per seed, one panel per loss term."""
    terms = sorted(
        {k for runs in curves.values() for rows in runs.values() for k in rows[0]} - {"epoch"},
        key=lambda k: (k != "loss", k),
    )
    fig, axes = plt.subplots(1, len(terms), figsize=(5 * len(terms), 4), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, term in zip(axes[0], terms, strict=True):
        for i, (name, runs) in enumerate(curves.items()):
            for j, rows in enumerate(runs.values()):
                if term in rows[0]:
                    ax.plot(
                        [r["epoch"] for r in rows],
                        [r[term] for r in rows],
                        color=cmap(i),
                        marker="o",
                        ms=3,
                        lw=1,
                        label=name if j == 0 else None,
                    )
        ax.set_title(f"train {term} per image")
        ax.set_xlabel("epoch")
        ax.legend()
    _save(fig, path, dpi)


def tile_histograms(counts: dict[str, list[float]], path: Path, dpi: int) -> None:
    """Confident, realistic tiles per class in each model's map (mean over seeds and judges),
    bars grouped by class: the tiles that count towards the classes present."""
    fig, ax = plt.subplots(figsize=(11, 4))
    width = 0.8 / len(counts)
    x = np.arange(len(CLASSES))
    for i, (name, values) in enumerate(counts.items()):
        ax.bar(x + (i - (len(counts) - 1) / 2) * width, values, width, label=name)
    ax.set_xticks(x, CLASSES, rotation=30, ha="right")
    ax.set_ylabel("tiles (mean over seeds and judges)")
    ax.set_title("Map tiles per class that the judges classify confidently and find realistic")
    ax.legend()
    _save(fig, path, dpi)
