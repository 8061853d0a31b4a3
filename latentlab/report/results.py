"""Every run's metrics gathered into one pandas table, and their summaries over seeds and judges.

The table is long: one row per (model, seed, square, metric, judge) with its value. `square` is
"lab" or "own" for a map's measures and "" otherwise; `judge` is the judge's seed for a measure
taken by each judge and 0 otherwise. Which files hold which metrics comes from the table of
metrics (latentlab/analysis/metrics.py).
"""

from __future__ import annotations

import math
import reprlib
from typing import Any

import numpy as np
import pandas as pd

from latentlab.analysis.measures import REFERENCE_SETS
from latentlab.analysis.metrics import BY_NAME, METRICS, written_by
from latentlab.core import paths
from latentlab.core.artifacts import load_arrays, read_json
from latentlab.core.errors import UserError
from latentlab.core.fashion_mnist import CLASSES
from latentlab.core.params import Params

COLUMNS = ["model", "seed", "square", "metric", "judge", "value"]
ITEM_COLUMNS = ["model", "seed", "metric", "item", "value"]
CALIBRATION_COLUMNS = ["reference", "metric", "judge", "value"]
SQUARES = ("lab", "own")
RUN_STAGES = ("train", "evaluate", "render", "interpolate")  # the stages that measure each run


def finite_number(value: Any, file: object, key: str) -> float:
    """`value` as a float, refused unless it is a finite number (not NaN, infinity, text or
    a boolean), in one sentence naming the file and the key."""
    if isinstance(value, (int, float)) and not isinstance(value, bool):
        try:
            number = float(value)
        except OverflowError:  # an integer beyond any float
            number = math.inf
        if math.isfinite(number):
            return number
    raise UserError(
        f"{file}: {key} is {reprlib.repr(value)}, but it must be a finite number; restore the "
        f"file with `dvc checkout --force {file}` or rerun the stage that writes it"
    )


def _mapping(value: Any, file: object, key: str = "") -> dict:
    """A JSON object of a stage's results, refused (naming the file and key) if it is not one."""
    if not isinstance(value, dict):
        where = f"{key} " if key else ""
        raise UserError(
            f"{file}: {where}is {reprlib.repr(value)}, not an object of results; restore the "
            f"file with `dvc checkout --force {file}` or rerun the stage that writes it"
        )
    return value


def _rows(
    model: str,
    seed: int,
    square: str,
    values: dict,
    file: object,
    names: list[str],
    judges: list[int],
    where: str = "",
) -> list[tuple]:
    """The table's rows of the metrics `names` in `values`, the object at key `where` of `file`."""
    rows = []
    values = _mapping(values, file, where)
    for name in names:
        key = f"{where}.{name}" if where else name
        if name not in values:
            raise UserError(f"{file} has no {key!r}; rerun `dvc repro` to rewrite it")
        value = values[name]
        if BY_NAME[name].per_judge:
            if not isinstance(value, list) or len(value) != len(judges):
                raise UserError(
                    f"{file}: {key} does not hold one value per judge "
                    f"({len(judges)}); rerun `dvc repro`"
                )
            rows += [
                (model, seed, square, name, j, finite_number(v, file, f"{key}[{i}]"))
                for i, (j, v) in enumerate(zip(judges, value, strict=True))
            ]
        else:
            rows.append((model, seed, square, name, 0, finite_number(value, file, key)))
    return rows


def gather(p: Params) -> pd.DataFrame:
    """Every compared model's per-seed metrics, and the judges' accuracies (model "judge")."""
    judges = p.judge.seeds
    rows: list[tuple] = []
    judge_file = paths.JUDGE / "metrics.json"
    judge_metrics = _mapping(read_json(judge_file), judge_file)
    for j in judges:
        rows += _rows(
            "judge",
            j,
            "",
            judge_metrics.get(f"seed{j}", {}),
            judge_file,
            ["test_accuracy"],
            judges,
            f"seed{j}",
        )
    for m in p.compared:
        names = {stage: [x.name for x in written_by(stage, m.kind)] for stage in RUN_STAGES}
        train_file = paths.train_dir(m.name) / "metrics.json"
        trained = _mapping(read_json(train_file), train_file)
        for seed in p.seeds:
            rows += _rows(
                m.name,
                seed,
                "",
                trained.get(f"seed{seed}", {}),
                train_file,
                names["train"],
                judges,
                f"seed{seed}",
            )
            for stage, file in (
                ("evaluate", paths.eval_metrics(m.name, seed)),
                ("interpolate", paths.path_metrics(m.name, seed)),
            ):
                rows += _rows(m.name, seed, "", read_json(file), file, names[stage], judges)
            file = paths.map_metrics(m.name, seed)
            rendered = _mapping(read_json(file), file)
            for square in SQUARES:
                rows += _rows(
                    m.name,
                    seed,
                    square,
                    rendered.get(square, {}),
                    file,
                    names["render"],
                    judges,
                    square,
                )
    return pd.DataFrame(rows, columns=COLUMNS)


def gather_items(p: Params) -> pd.DataFrame:
    """Every compared model's per-item values of the measures that are means over items (each
    path's evenness): one row per (model, seed, metric, item), from the interpolate stage's strips.
    Item i must be the same pair of test images for every model and seed, or nothing is paired."""
    names = [m.name for m in METRICS if m.per_item]
    if any(BY_NAME[n].stage != "interpolate" for n in names):
        raise ValueError("only the interpolate stage keeps per-item values (in its strips files)")
    frames, first = [], None
    for m in p.compared:
        for seed in p.seeds:
            file = paths.path_strips(m.name, seed)
            pairs, *arrays = load_arrays(file, "pairs", *names)
            rerun = f"rerun `dvc repro interpolate@{m.name}`"
            if pairs.shape != (p.interpolate.pairs, 2) or any(
                a.shape != (p.interpolate.pairs,) for a in arrays
            ):
                raise UserError(
                    f"{file} does not hold interpolate.pairs ({p.interpolate.pairs}) paths; {rerun}"
                )
            for name, values in zip(names, arrays, strict=True):
                if not np.issubdtype(values.dtype, np.number) or not np.isfinite(values).all():
                    raise UserError(
                        f"{file}: {name} holds a value that is not a finite number; {rerun}"
                    )
            first = (file, pairs) if first is None else first
            if not np.array_equal(pairs, first[1]):
                raise UserError(f"{file} pairs other test images than {first[0]}; {rerun}")
            for name, values in zip(names, arrays, strict=True):
                frames.append(
                    pd.DataFrame(
                        {
                            "model": m.name,
                            "seed": seed,
                            "metric": name,
                            "item": np.arange(len(values)),
                            "value": values.astype(float),
                        }
                    )
                )
    return pd.concat(frames, ignore_index=True) if frames else pd.DataFrame(columns=ITEM_COLUMNS)


def tiles_per_class(p: Params) -> dict[str, list[float]]:
    """Per compared model, the mean over seeds of how many of its lab map's tiles each class
    owns (confident and realistic tiles, as `classes_present` counts them), in CLASSES order."""
    counts = {}
    for m in p.compared:
        per_seed = []
        for seed in p.seeds:
            file = paths.map_metrics(m.name, seed)
            owned = _mapping(_mapping(read_json(file), file).get("lab", {}), file, "lab")
            owned = owned.get("tiles_per_class")
            if not isinstance(owned, dict) or set(owned) != set(CLASSES):
                raise UserError(
                    f"{file} has no tiles per class of the lab's square; rerun "
                    f"`dvc repro render@{m.name}`"
                )
            key = "lab.tiles_per_class"
            per_seed.append([finite_number(owned[c], file, f"{key}.{c}") for c in CLASSES])
        counts[m.name] = list(np.mean(per_seed, axis=0))
    return counts


def gather_calibration(p: Params) -> pd.DataFrame:
    """The calibrate stage's measures of the reference images: one row per (reference, metric,
    judge) with its value, the judges as p.judge.seeds names them, in the order the stage wrote
    them."""
    file = paths.CALIBRATION
    measured = _mapping(read_json(file), file)
    if list(measured) != list(REFERENCE_SETS):
        raise UserError(
            f"{file} holds the sets {', '.join(measured)}, not {', '.join(REFERENCE_SETS)}; "
            f"rerun `dvc repro calibrate`"
        )
    names = [m.name for m in written_by("render") if m.per_judge]
    rows = []
    for reference, values in measured.items():
        for name in names:
            judged = _mapping(values, file, reference).get(name)
            if not isinstance(judged, list) or len(judged) != len(p.judge.seeds):
                raise UserError(
                    f"{file}: {reference} has no {name} with one value per judge; rerun "
                    f"`dvc repro calibrate`"
                )
            key = f"{reference}.{name}"
            rows += [
                (reference, name, judge, finite_number(v, file, f"{key}[{i}]"))
                for i, (judge, v) in enumerate(zip(p.judge.seeds, judged, strict=True))
            ]
    return pd.DataFrame(rows, columns=CALIBRATION_COLUMNS)


def calibration_means(calibration: pd.DataFrame) -> pd.Series:
    """The mean over judges of each (reference, metric) of gather_calibration's table."""
    return calibration.groupby(["reference", "metric"], sort=False)["value"].mean()


def summarise(table: pd.DataFrame) -> pd.DataFrame:
    """Per (model, square, metric): the mean over seeds of each seed's mean over judges, the
    standard deviation of those over seeds, the mean over seeds of the judges' standard
    deviation (0 where there is a single seed or judge), and how many seeds and judges."""
    keys = ["model", "square", "metric"]
    per_seed = table.groupby([*keys, "seed"], sort=False)["value"].agg(["mean", "std", "size"])
    summary = per_seed.groupby(level=keys, sort=False).agg(
        mean=("mean", "mean"),
        std_seeds=("mean", "std"),
        std_judges=("std", "mean"),
        seeds=("mean", "size"),
        judges=("size", "max"),
    )
    return summary.fillna({"std_seeds": 0.0, "std_judges": 0.0}).reset_index()


def headline(summary: pd.DataFrame, p: Params) -> dict:
    """The few metrics `dvc metrics show` displays: per compared model, the means of the headline
    metrics (a map's over the lab's square), and the judges' mean test accuracy."""
    lookup = summary.set_index(["model", "square", "metric"])["mean"]
    out: dict = {"judge_accuracy": float(lookup[("judge", "", "test_accuracy")])}
    for m in p.compared:
        values = {}
        for metric in METRICS:
            if not metric.headline or metric.stage == "judge":
                continue
            square = "lab" if metric.stage == "render" else ""
            key = (m.name, square, metric.name)
            if key in lookup.index:
                values[metric.name] = float(lookup[key])
        out[m.name] = values
    return out


def seed_values(table: pd.DataFrame, model: str, metric: str, square: str) -> pd.DataFrame:
    """One model's values of one metric: a seeds x judges frame (a single column, judge 0, for a
    metric that no judge takes)."""
    rows = table[(table.model == model) & (table.metric == metric) & (table.square == square)]
    if rows.empty:
        raise KeyError(f"no {metric} for {model}")
    return rows.pivot(index="seed", columns="judge", values="value").sort_index()


def square_of(metric: str) -> str:
    """Which square a map metric is decided on: the lab's, the question the lab asks."""
    return "lab" if BY_NAME[metric].stage == "render" else ""


class Numbers:
    """Lookups into the summary table (model, square, metric -> mean, spreads)."""

    def __init__(self, summary: pd.DataFrame) -> None:
        self.table = summary.set_index(["model", "square", "metric"])

    def has(self, model: str, metric: str, square: str | None = None) -> bool:
        """Whether the summary holds this metric for this model."""
        square = square_of(metric) if square is None else square
        return (model, square, metric) in self.table.index

    def mean(self, model: str, metric: str, square: str | None = None) -> float:
        """The mean over seeds (of the mean over judges)."""
        square = square_of(metric) if square is None else square
        return float(self.table.loc[(model, square, metric), "mean"])

    def spread(self, model: str, metric: str, square: str | None = None) -> float:
        """The standard deviation over seeds (of the mean over judges)."""
        square = square_of(metric) if square is None else square
        return float(self.table.loc[(model, square, metric), "std_seeds"])

    def cell(self, model: str, metric: str, square: str | None = None) -> str:
        """mean ± the seeds' std, and the judges' mean std for a measure every judge takes."""
        square = square_of(metric) if square is None else square
        if not self.has(model, metric, square):
            return "—"
        row = self.table.loc[(model, square, metric)]
        text = f"{row['mean']:.4g}"
        if row["seeds"] > 1:
            text += f" ± {row['std_seeds']:.2g}"
        if BY_NAME[metric].per_judge and row["std_judges"] > 0:
            text += f" (judges ± {row['std_judges']:.2g})"
        return text
