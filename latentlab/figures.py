"""The report's figures, drawn only from tracked artifacts (mosaics, codes, curves, tile counts)."""

from __future__ import annotations

from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no screen on CI or servers; set before pyplot is imported

import matplotlib.pyplot as plt
import numpy as np
from matplotlib.figure import Figure
from matplotlib.patches import Rectangle

from latentlab.artifacts import atomic_path
from latentlab.fashion_mnist import CLASSES


def _save(fig: Figure, path: Path, dpi: int) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)


def _map_extent(codes: np.ndarray) -> tuple[float, float, float, float]:
    """imshow extent that centres each tile on its code, so the axes read in z units."""
    z1, z2 = codes[0, :, 0], codes[:, 0, 1]
    half = (z1[1] - z1[0]) / 2
    return (z1[0] - half, z1[-1] + half, z2[-1] - half, z2[0] + half)


def _draw_map(ax: plt.Axes, mosaic: np.ndarray, codes: np.ndarray, title: str) -> None:
    ax.imshow(
        mosaic, cmap="gray", vmin=0, vmax=1, extent=_map_extent(codes), interpolation="nearest"
    )
    ax.set_title(title)
    ax.set_xlabel("$z_1$")
    ax.set_ylabel("$z_2$")


def latent_maps(maps: dict[str, tuple[np.ndarray, np.ndarray]], path: Path, dpi: int) -> None:
    """The latent maps side by side, `maps[name] = (mosaic, codes)`, axes marked in z."""
    fig, axes = plt.subplots(1, len(maps), figsize=(5.2 * len(maps), 5.4), squeeze=False)
    for ax, (name, (mosaic, codes)) in zip(axes[0], maps.items(), strict=True):
        _draw_map(ax, mosaic, codes, f"{name} latent map")
    _save(fig, path, dpi)


def map_and_codes(
    mosaic: np.ndarray,
    grid: np.ndarray,
    codes: np.ndarray,
    labels: np.ndarray,
    name: str,
    path: Path,
    dpi: int,
) -> None:
    """A model's latent map next to its test codes coloured by class, the mapped square drawn."""
    fig, (left, right) = plt.subplots(1, 2, figsize=(12, 5.4))
    _draw_map(left, mosaic, grid, f"{name} latent map")
    cmap = plt.get_cmap("tab10")
    for c, class_name in enumerate(CLASSES):
        pts = codes[labels == c]
        right.scatter(
            pts[:, 0], pts[:, 1], s=2, color=cmap(c), label=class_name, alpha=0.6, rasterized=True
        )
    r = float(grid[0, -1, 0])
    right.add_patch(
        Rectangle(
            (-r, -r),
            2 * r,
            2 * r,
            fill=False,
            lw=1.5,
            ls="--",
            color="k",
            label=f"mapped square [-{r:g}, {r:g}]²",
        )
    )
    right.set_title(f"{name} test codes")
    right.set_xlabel("$z_1$")
    right.set_ylabel("$z_2$")
    right.set_aspect("equal", adjustable="datalim")
    right.legend(loc="center left", bbox_to_anchor=(1.01, 0.5), markerscale=5, fontsize=8)
    _save(fig, path, dpi)


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
    """Tiles per judged class in each model's map (mean over seeds), bars grouped by class."""
    fig, ax = plt.subplots(figsize=(11, 4))
    width = 0.8 / len(counts)
    x = np.arange(len(CLASSES))
    for i, (name, values) in enumerate(counts.items()):
        ax.bar(x + (i - (len(counts) - 1) / 2) * width, values, width, label=name)
    ax.set_xticks(x, CLASSES, rotation=30, ha="right")
    ax.set_ylabel("tiles (mean over seeds)")
    ax.set_title("Decoded map tiles per class, as judged by the CNN")
    ax.legend()
    _save(fig, path, dpi)
