"""The table of metrics: every measure the pipeline reports, in one place.

Each entry says which stage writes it, what it is called in the report (labels may name params,
filled in by `label`), which direction is better, whether it is measured by each judge (then a
run holds one value per judge), whether it is a headline metric (`reports/metrics.json`, what
`dvc metrics show` and `dvc exp show` display), the smallest change it can make (a count moves
by whole units; `check-results` uses it as a floor of its tolerance) and the values it can take
(`check-results` clips its tolerance to them). The evaluate, render and paths stages pass what
they measure through `record`, which refuses anything other than the table's entries for the
stage; the train and judge stages' files are DVCLive's summaries of what they log (a judge's
loss is not a measure of the maps, so it is not listed).
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
    """One measure: who writes it, how it reads, and which way is better."""

    name: str
    label: str
    stage: str  # train, evaluate, render, paths or judge
    better: str = NEITHER  # NEITHER: descriptive, never a verdict
    judged: bool = False  # one value per judge
    per_item: bool = False  # a mean over items (paths) whose every value the stage keeps too
    headline: bool = False
    vae_only: bool = False
    resolution: float = 0.0  # a count changes by whole units: 1.0
    bounds: tuple[float, float] = UNBOUNDED  # the values it can take: one of those above
    meaning: str = ""  # one sentence, for the measures that test a claim

    def label_for(self, params: Any) -> str:
        """The label with the params it names filled in (a validated Params)."""
        return self._fill(self.label, params)

    def meaning_for(self, params: Any) -> str:
        """The meaning with the params it names filled in."""
        return self._fill(self.meaning, params)

    @staticmethod
    def _fill(text: str, params: Any) -> str:
        return text.format(
            knn_k=params.evaluate.knn_k,
            iw_samples=params.evaluate.iw_samples,
            k=params.realism.k,
            min_tiles=params.latent_map.min_tiles,
            min_confidence=params.latent_map.min_confidence,
            steps=params.paths.steps,
            pairs=params.paths.pairs,
        )


METRICS = (
    # train: the last epoch's mean loss per image (DVCLive's summary)
    Metric("loss", "final train loss per image", "train", bounds=NON_NEGATIVE),
    Metric("bce", "final train BCE per image", "train", bounds=NON_NEGATIVE),
    Metric("kl", "final train KL per image", "train", vae_only=True, bounds=NON_NEGATIVE),
    # evaluate: the test set
    Metric(
        "test_bce",
        "test reconstruction BCE per image (mean code)",
        "evaluate",
        LOWER,
        headline=True,
        bounds=NON_NEGATIVE,
    ),
    Metric(
        "test_neg_elbo",
        "test -ELBO per image",
        "evaluate",
        LOWER,
        vae_only=True,
        bounds=NON_NEGATIVE,
    ),
    Metric("test_kl", "test KL per image", "evaluate", vae_only=True, bounds=NON_NEGATIVE),
    Metric(
        "log_likelihood",
        "test log-likelihood, importance-weighted ({iw_samples} samples)",
        "evaluate",
        HIGHER,
        headline=True,
        vae_only=True,
        bounds=LOG_PROBABILITY,
    ),
    Metric(
        "knn_accuracy",
        "{knn_k}-NN class accuracy of test codes",
        "evaluate",
        HIGHER,
        bounds=SHARE,
    ),
    # render: each map (the lab's square and the model's own)
    Metric(
        "codes_in_square",
        "test codes inside the mapped square",
        "render",
        HIGHER,
        headline=True,
        bounds=SHARE,
    ),
    Metric(
        "tiles_with_data",
        "tiles that hold a test code",
        "render",
        bounds=SHARE,
        meaning="The share of the map's tiles inside which at least one test image's code lies; "
        "the other tiles are decoded from codes no test image has.",
    ),
    Metric(
        "coverage",
        "coverage: test images whose {k}-NN ball holds a tile",
        "render",
        HIGHER,
        judged=True,
        headline=True,
        bounds=SHARE,
        meaning="The share of test images whose {k}-nearest-neighbour ball among real images, "
        "in a judge's features, holds at least one map tile (Naeem et al., 2020).",
    ),
    Metric(
        "classes_present",
        "classes with {min_tiles}+ confident (p >= {min_confidence:g}), realistic tiles",
        "render",
        HIGHER,
        judged=True,
        headline=True,
        resolution=1.0,
        bounds=CLASSES,
        meaning="The classes that own at least {min_tiles} tiles which a judge classifies with "
        "probability {min_confidence:g} or more and which lie inside a real image's ball in at "
        "least half of the real subsets.",
    ),
    Metric(
        "inception_score",
        "inception score of the tiles (judges' classes)",
        "render",
        HIGHER,
        judged=True,
        headline=True,
        bounds=INCEPTION,
        meaning="How confidently and how evenly a judge spreads the tiles over the ten classes.",
    ),
    Metric(
        "precision",
        "precision: tiles inside a test image's {k}-NN ball",
        "render",
        HIGHER,
        judged=True,
        headline=True,
        bounds=SHARE,
        meaning="The share of tiles inside some real image's {k}-NN ball in a judge's features "
        "(Kynkaanniemi et al., 2019): tiles outside every ball look like no real item.",
    ),
    Metric(
        "density",
        "density of tiles in test images' {k}-NN balls",
        "render",
        HIGHER,
        judged=True,
        bounds=NON_NEGATIVE,
    ),
    Metric(
        "frechet_distance",
        "Frechet distance, tiles to test images (judges' features)",
        "render",
        LOWER,
        judged=True,
        headline=True,
        bounds=NON_NEGATIVE,
        meaning="The distance between Gaussians fitted to the tiles' and the test images' "
        "features: FID's formula (Heusel et al., 2017) in a judge's features, so not an "
        "Inception FID.",
    ),
    Metric("blank_fraction", "blank tiles", "render", bounds=SHARE),
    Metric("smoothness_mean", "neighbour-tile RMS difference, mean", "render", bounds=PIXELS),
    Metric(
        "smoothness_p95",
        "neighbour-tile RMS difference, 95th percentile",
        "render",
        bounds=PIXELS,
    ),
    # paths: straight lines between the codes of test images of different classes
    Metric(
        "path_evenness",
        "largest step's share of a path's pixel change ({steps} steps)",
        "paths",
        LOWER,
        headline=True,
        per_item=True,
        bounds=SHARE,
        meaning="Along straight paths between the codes of {pairs} pairs of test images of "
        "different classes, the largest step's share of the path's total pixel change (1/{steps} "
        "is perfectly even, 1 a single jump); it cannot tell a smooth blur from a smooth morph.",
    ),
    Metric(
        "path_middle_precision",
        "precision of the paths' middle images",
        "paths",
        HIGHER,
        judged=True,
        headline=True,
        bounds=SHARE,
        meaning="The share of the paths' in-between images inside a real image's {k}-NN ball: "
        "whether what lies between two items looks like an item.",
    ),
    Metric(
        "path_class_changes",
        "class changes along a path",
        "paths",
        judged=True,
        bounds=NON_NEGATIVE,
    ),
    # judge
    Metric("test_accuracy", "judge's test accuracy", "judge", HIGHER, headline=True, bounds=SHARE),
)
BY_NAME = {m.name: m for m in METRICS}


def written_by(stage: str, kind: str | None = None) -> list[Metric]:
    """The metrics a stage writes for a model of `kind` (an AE has no KL or likelihood); None for
    a stage whose metrics do not depend on the kind of model."""
    metrics = [m for m in METRICS if m.stage == stage]
    if kind is None:
        if any(m.vae_only for m in metrics):
            raise ValueError(f"the {stage} stage writes metrics that depend on the model's kind")
        return metrics
    return [m for m in metrics if kind == "vae" or not m.vae_only]


def record(stage: str, values: dict[str, Any], kind: str | None = None) -> dict[str, Any]:
    """The metrics a stage writes, in the table's order; they must be exactly the table's
    entries for that stage (and model `kind`, see written_by), so that a metric is added in one
    place (the table) or nowhere."""
    names = [m.name for m in written_by(stage, kind)]
    if set(values) != set(names):
        raise ValueError(f"the {stage} stage measured {sorted(values)}, the table lists {names}")
    return {name: values[name] for name in names}
