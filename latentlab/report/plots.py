"""The report's plots without map pixels: training curves and tile counts, laid out by
matplotlib itself (no decoded image is drawn, so nothing needs pixel-exact placement)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no screen on CI or servers; set before pyplot is imported

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.ticker import MaxNLocator

from latentlab.core.artifacts import atomic_path
from latentlab.core.fashion_mnist import CLASSES


def _save(fig: Figure, path: Path, dpi: int) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)


# What each logged term is, per image: the BCE and KL in nats (natural logarithms, summed over
# the pixels or the code's dimensions); the loss adds a VAE's KL (times beta) or a WAE's MMD
# (times its weight, a kernel discrepancy without a unit) to the BCE.
UNITS = {
    "loss": "train loss per image (nats of BCE, + beta x KL or weight x MMD)",
    "bce": "train BCE per image (nats)",
    "kl": "train KL per image (nats)",
    "mmd": "train MMD of the codes to N(0, I), per batch (no unit)",
}
# One line style and marker per seed, repeating after four: a one-epoch run is dots only.
SEED_STYLES = (("-", "o"), ("--", "s"), (":", "^"), ("-.", "D"))


def training_curves(
    curves: dict[str, dict[int, list[dict[str, float]]]], path: Path, dpi: int
) -> None:
    """Per-epoch training loss terms of every model, one panel per term, one colour per model
    and one line style per seed (named in a second legend)."""
    terms = sorted(
        {k for runs in curves.values() for rows in runs.values() for k in rows[0]} - {"epoch"},
        key=lambda k: (k != "loss", k),
    )
    seeds = sorted({s for runs in curves.values() for s in runs})
    style = {s: SEED_STYLES[i % len(SEED_STYLES)] for i, s in enumerate(seeds)}
    fig, axes = plt.subplots(1, len(terms), figsize=(5 * len(terms), 4), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, term in zip(axes[0], terms, strict=True):
        for i, (name, runs) in enumerate(curves.items()):
            for j, (seed, rows) in enumerate(runs.items()):
                if term in rows[0]:
                    ax.plot(
                        [r["epoch"] for r in rows],
                        [r[term] for r in rows],
                        color=cmap(i),
                        ls=style[seed][0],
                        marker=style[seed][1],
                        ms=3,
                        lw=1,
                        label=name if j == 0 else None,
                    )
        ax.set_title(UNITS.get(term, f"train {term} per image"), fontsize=9)
        ax.set_xlabel("epoch")
        epochs = sorted(
            {r["epoch"] for runs in curves.values() for rs in runs.values() for r in rs}
        )
        if len(epochs) <= 12:
            ax.set_xticks(epochs)
        else:
            ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.legend(title="model", fontsize=8)
    keys = [
        Line2D(
            [], [], color="black", ls=style[s][0], marker=style[s][1], ms=3, lw=1, label=f"seed {s}"
        )
        for s in seeds
    ]
    fig.legend(handles=keys, loc="lower center", ncol=len(seeds), bbox_to_anchor=(0.5, -0.02))
    fig.subplots_adjust(bottom=0.2)
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
