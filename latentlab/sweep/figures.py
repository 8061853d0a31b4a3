"""The sweep report's figures: the claims' measures against the swept param, and the maps side by
side along it, each pixel for pixel."""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pandas as pd
from matplotlib.figure import Figure
from PIL import Image, ImageDraw, ImageFont

from latentlab.analysis.metrics import BY_NAME, HIGHER
from latentlab.core.artifacts import atomic_path
from latentlab.report.comparison import CLAIMS, MECHANISM, square_of

MEASURES = (*(m for claim in CLAIMS for m in claim.measures), MECHANISM)
CLAIM_OF = {m: claim.key for claim in CLAIMS for m in claim.measures} | {MECHANISM: "mechanism"}
LABEL_PX = 16  # the maps' label text
GAP_PX = 12  # white between two maps

Box = tuple[int, int, int, int]  # left, top, width, height in PNG pixels


@dataclass(frozen=True)
class Axis:
    """Where each experiment sits along the x axis, and how the axis is drawn."""

    positions: list[float]
    scale: str  # linear, log, symlog (a log axis that holds 0) or category
    labels: list[str]  # one per experiment
    title: str  # the swept params


def value_text(value: object) -> str:
    """A param value as a label: numbers in short form, anything else as written."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return str(value)
    return f"{value:g}"


def axis(values: Sequence[Sequence[object]], keys: Sequence[str]) -> Axis:
    """The x axis for experiments whose swept params take `values` (one tuple per experiment,
    in `keys` order): numeric along one param, on a log scale when it spans a factor of ten or
    more (symlog when it holds 0); otherwise one evenly spaced category per experiment."""
    title = ", ".join(keys)
    if len(keys) == 1:
        xs = [v[0] for v in values]
        if all(isinstance(x, int | float) and not isinstance(x, bool) for x in xs):
            floats = [float(x) for x in xs]
            labels = [value_text(x) for x in xs]
            positive = [x for x in floats if x > 0]
            if positive and min(floats) >= 0 and max(positive) >= 10 * min(positive):
                scale = "log" if len(positive) == len(floats) else "symlog"
                return Axis(floats, scale, labels, title)
            return Axis(floats, "linear", labels, title)
    labels = [", ".join(value_text(v) for v in point) for point in values]
    return Axis([float(i) for i in range(len(values))], "category", labels, title)


def _panel_title(metric: str) -> str:
    better = BY_NAME[metric].better
    arrow = " (higher is better)" if better == HIGHER else " (lower is better)" if better else ""
    return f"{CLAIM_OF[metric]}: {metric}{arrow}"


def measures_figure(
    summaries: Sequence[pd.DataFrame],
    models: Sequence[str],
    x: Axis,
    marks: Sequence[tuple[float, str]] = (),
) -> Figure:
    """One panel per claim measure and the mechanism: each model's mean over seeds in each
    experiment (one summary.csv each, in x's order), error bars one standard deviation over
    seeds; `marks` are vertical lines at named values of the swept param."""
    columns = 4
    rows = math.ceil(len(MEASURES) / columns)
    fig = Figure(figsize=(4.2 * columns, 3.4 * rows), layout="constrained")
    for k, metric in enumerate(MEASURES):
        ax = fig.add_subplot(rows, columns, k + 1)
        for model in models:
            means, spreads = [], []
            for summary in summaries:
                row = summary[
                    (summary["model"] == model)
                    & (summary["metric"] == metric)
                    & (summary["square"].fillna("") == square_of(metric))
                ]
                means.append(float(row["mean"].iloc[0]) if len(row) else np.nan)
                spreads.append(float(row["std_seeds"].iloc[0]) if len(row) else np.nan)
            if not np.isnan(means).all():
                ax.errorbar(x.positions, means, yerr=spreads, marker="o", ms=4, capsize=3,
                            label=model)  # fmt: skip
        for value, name in marks:
            ax.axvline(value, color="grey", ls=":", lw=1)
            ax.annotate(name, (value, 1), xycoords=("data", "axes fraction"), fontsize=7,
                        ha="left", va="top", color="grey")  # fmt: skip
        if x.scale == "category":
            ax.set_xticks(x.positions, x.labels, rotation=30, ha="right", fontsize=7)
        elif x.scale == "symlog":
            linthresh = min(p for p in x.positions if p > 0)
            ax.set_xscale("symlog", linthresh=linthresh)
            # Matplotlib's margins mirror the axis below 0, where no value can lie.
            ax.set_xlim(-0.3 * linthresh, max(x.positions) * 1.5)
        elif x.scale == "log":
            ax.set_xscale("log")
        ax.set_xlabel(x.title)
        ax.set_title(_panel_title(metric), fontsize=9)
        if k == 0:
            ax.legend(fontsize=7)
    return fig


def save_figure(fig: Figure, path: Path, dpi: int) -> None:
    """Write a figure as PNG, atomically."""
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi)


def maps_strip(maps: Sequence[bytes], labels: Sequence[str], path: Path) -> list[Box]:
    """The maps (PNG bytes) side by side, each pixel for pixel under its label, written to
    `path`; returns where each map lies in the strip."""
    images = []
    for data in maps:
        with Image.open(io.BytesIO(data)) as image:
            images.append(image.convert("L"))
    font = ImageFont.load_default(size=LABEL_PX)
    top = LABEL_PX + 8
    width = sum(im.width for im in images) + GAP_PX * (len(images) - 1)
    strip = Image.new("L", (width, top + max(im.height for im in images)), 255)
    draw = ImageDraw.Draw(strip)
    boxes, left = [], 0
    for image, label in zip(images, labels, strict=True):
        strip.paste(image, (left, top))
        draw.text((left + image.width // 2, top // 2), label, fill=0, font=font, anchor="mm")
        boxes.append((left, top, image.width, image.height))
        left += image.width + GAP_PX
    with atomic_path(path) as tmp:
        strip.save(tmp, format="png")
    return boxes
