"""The table of metrics: every measure the pipeline reports, in one place.

Each entry says what a computation needs to know of it: which stage writes it, which direction is
better, whether it is measured by each judge (then a run holds one value per judge, and a verdict
on it must exceed the judges' spread), which kinds of model have it (an AE has no KL), whether it
is a headline metric (`reports/metrics.json`, what `dvc metrics show` and `dvc exp show`
display), and the smallest change it can make (a count moves by whole units; `check-results`
uses it as a floor of its tolerance). How the report names
and explains each metric is latentlab/report/labels.py, keyed by the name. The evaluate, render and
paths stages pass what they measure through `record`, which refuses anything other than the
table's entries for the stage; the train and judge stages' files are DVCLive's summaries of what
they log (a judge's loss is not a measure of the maps, so it is not listed).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

HIGHER, LOWER, NEITHER = "higher", "lower", ""


@dataclass(frozen=True)
class Metric:
    """One measure: who writes it, which way is better, and how its noise is told."""

    name: str
    stage: str  # train, evaluate, render, paths or judge
    better: str = NEITHER  # NEITHER: descriptive, never a verdict
    per_judge: bool = False  # one value per judge
    per_item: bool = False  # a mean over items (paths) whose every value the stage keeps too
    headline: bool = False
    kinds: tuple[str, ...] | None = None  # the kinds of model that have it; None: every kind
    resolution: float = 0.0  # a count changes by whole units: 1.0


METRICS = (
    # train: the last epoch's mean loss per image (DVCLive's summary)
    Metric("loss", "train"),
    Metric("bce", "train"),
    Metric("kl", "train", kinds=("vae",)),
    Metric("mmd", "train", kinds=("wae",)),
    # evaluate: the test set
    Metric("test_bce", "evaluate", LOWER, headline=True),
    Metric("test_neg_elbo", "evaluate", LOWER, kinds=("vae",)),
    Metric("test_kl", "evaluate", kinds=("vae",)),
    Metric("log_likelihood", "evaluate", HIGHER, headline=True, kinds=("vae",)),
    Metric("knn_accuracy", "evaluate", HIGHER),
    # evaluate: is each model what its name claims? (the mechanisms' diagnostics)
    Metric("posterior_sigma", "evaluate", kinds=("vae",)),
    Metric("spread_to_sigma", "evaluate", kinds=("vae",)),
    Metric("code_eigenvalue_largest", "evaluate"),
    Metric("code_eigenvalue_smallest", "evaluate"),
    # render: each map (the lab's square and the model's own)
    Metric("codes_in_square", "render", HIGHER, headline=True),
    Metric("tiles_with_data", "render"),
    Metric("coverage", "render", HIGHER, per_judge=True, headline=True),
    Metric("classes_present", "render", HIGHER, per_judge=True, headline=True, resolution=1.0),
    Metric("inception_score", "render", HIGHER, per_judge=True, headline=True),
    Metric("precision", "render", HIGHER, per_judge=True, headline=True),
    Metric("density", "render", HIGHER, per_judge=True),
    Metric("frechet_distance", "render", LOWER, per_judge=True, headline=True),
    Metric("blank_fraction", "render"),
    Metric("smoothness_mean", "render"),
    Metric("smoothness_p95", "render"),
    # paths: straight lines between the codes of test images of different classes
    Metric("path_evenness", "paths", LOWER, headline=True, per_item=True),
    Metric("path_middle_precision", "paths", HIGHER, per_judge=True, headline=True),
    Metric("path_class_changes", "paths", per_judge=True),
    # judge
    Metric("test_accuracy", "judge", HIGHER, headline=True),
)
BY_NAME = {m.name: m for m in METRICS}


def written_by(stage: str, kind: str | None = None) -> list[Metric]:
    """The metrics a stage writes for a model of `kind` (an AE has no KL or likelihood); None for
    a stage whose metrics do not depend on the kind of model."""
    metrics = [m for m in METRICS if m.stage == stage]
    if kind is None:
        if any(m.kinds is not None for m in metrics):
            raise ValueError(f"the {stage} stage writes metrics that depend on the model's kind")
        return metrics
    return [m for m in metrics if m.kinds is None or kind in m.kinds]


def record(stage: str, values: dict[str, Any], kind: str | None = None) -> dict[str, Any]:
    """The metrics a stage writes, in the table's order; they must be exactly the table's
    entries for that stage (and model `kind`, see written_by), so that a metric is added in one
    place (the table) or nowhere."""
    names = [m.name for m in written_by(stage, kind)]
    if set(values) != set(names):
        raise ValueError(f"the {stage} stage measured {sorted(values)}, the table lists {names}")
    return {name: values[name] for name in names}
