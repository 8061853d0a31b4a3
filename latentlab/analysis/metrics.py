"""The table of metrics: every measure the pipeline reports, in one place.

Each entry says what a computation needs to know of it: which stage writes it, which direction is
better, whether it is measured by each judge (then a run holds one value per judge, and a verdict
on it must exceed the judges' spread), which kinds of model have it (an AE has no KL), whether it
is a headline metric (`reports/metrics.json`, what `dvc metrics show` and `dvc exp show`
display), the smallest change it can make (a count moves by whole units; `check-results` uses it
as a floor of its tolerance) and the values it can take (`check-results` clips its tolerance to
them). How the report names and explains each metric is latentlab/report/labels.py, keyed by the
name. The evaluate, render and interpolate stages pass what they measure through `record`, which
refuses anything other than the table's entries for the stage; the train and judge stages' files
are DVCLive's summaries of what they log (a judge's loss is not a measure of the maps, so it is
not listed).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

HIGHER, LOWER, NEITHER = "higher", "lower", ""

# The values a metric can take, (lowest, highest), each from what the metric is:
UNBOUNDED = (-math.inf, math.inf)
SHARE = (0.0, 1.0)  # a fraction of images, tiles, codes or of a path's change; an accuracy
PIXELS = (0.0, 1.0)  # a root-mean-square difference of pixel values, which lie in [0, 1]
NON_NEGATIVE = (0.0, math.inf)  # a sum of per-pixel BCEs, a KL divergence, a distance, a count
LOG_PROBABILITY = (-math.inf, 0.0)  # the log of a mean of Bernoulli likelihoods, each at most 1
CLASSES = (0.0, 10.0)  # how many of Fashion-MNIST's ten classes
# exp(I(class; tile)) over ten classes: 1 when the class says nothing, 10 at most
INCEPTION = (1.0, 10.0)


@dataclass(frozen=True)
class Metric:
    """One measure: who writes it, which way is better, and how its noise is told."""

    name: str
    stage: str  # train, evaluate, render, interpolate or judge
    better: str = NEITHER  # NEITHER: descriptive, never a verdict
    per_judge: bool = False  # one value per judge
    per_item: bool = False  # a mean over items (paths) whose every value the stage keeps too
    headline: bool = False
    kinds: tuple[str, ...] | None = None  # the kinds of model that have it; None: every kind
    resolution: float = 0.0  # a count changes by whole units: 1.0
    bounds: tuple[float, float] = UNBOUNDED  # the values it can take: one of those above


METRICS = (
    # train: the last epoch's mean loss per image (DVCLive's summary)
    Metric("loss", "train", bounds=NON_NEGATIVE),
    Metric("bce", "train", bounds=NON_NEGATIVE),
    Metric("kl", "train", kinds=("vae",), bounds=NON_NEGATIVE),
    Metric("mmd", "train", kinds=("wae",)),  # an unbiased estimate: may fall below 0
    # evaluate: the test set
    Metric("test_bce", "evaluate", LOWER, headline=True, bounds=NON_NEGATIVE),
    Metric("test_neg_elbo", "evaluate", LOWER, kinds=("vae",), bounds=NON_NEGATIVE),
    Metric("test_kl", "evaluate", kinds=("vae",), bounds=NON_NEGATIVE),
    Metric(
        "log_likelihood", "evaluate", HIGHER, headline=True, kinds=("vae",), bounds=LOG_PROBABILITY
    ),
    Metric("knn_accuracy", "evaluate", HIGHER, bounds=SHARE),
    # evaluate: is each model what its name claims? (the mechanisms' diagnostics)
    Metric("posterior_sigma", "evaluate", kinds=("vae",), bounds=NON_NEGATIVE),
    Metric("spread_to_sigma", "evaluate", kinds=("vae",), bounds=NON_NEGATIVE),
    Metric("code_eigenvalue_largest", "evaluate", bounds=NON_NEGATIVE),
    Metric("code_eigenvalue_smallest", "evaluate", bounds=NON_NEGATIVE),
    # render: each map (the lab's square and the model's own)
    Metric("codes_in_square", "render", HIGHER, headline=True, bounds=SHARE),
    Metric("tiles_with_data", "render", bounds=SHARE),
    Metric("coverage", "render", HIGHER, per_judge=True, headline=True, bounds=SHARE),
    Metric(
        "classes_present",
        "render",
        HIGHER,
        per_judge=True,
        headline=True,
        resolution=1.0,
        bounds=CLASSES,
    ),
    Metric("inception_score", "render", HIGHER, per_judge=True, headline=True, bounds=INCEPTION),
    Metric("precision", "render", HIGHER, per_judge=True, headline=True, bounds=SHARE),
    Metric("density", "render", HIGHER, per_judge=True, bounds=NON_NEGATIVE),
    Metric("frechet_distance", "render", LOWER, per_judge=True, headline=True, bounds=NON_NEGATIVE),
    Metric("blank_fraction", "render", bounds=SHARE),
    Metric("smoothness_mean", "render", bounds=PIXELS),
    Metric("smoothness_p95", "render", bounds=PIXELS),
    # interpolate: straight paths between the codes of test images of different classes
    Metric("path_evenness", "interpolate", LOWER, headline=True, per_item=True, bounds=SHARE),
    Metric(
        "path_middle_precision", "interpolate", HIGHER, per_judge=True, headline=True, bounds=SHARE
    ),
    Metric("path_class_changes", "interpolate", per_judge=True, bounds=NON_NEGATIVE),
    # judge
    Metric("test_accuracy", "judge", HIGHER, headline=True, bounds=SHARE),
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
