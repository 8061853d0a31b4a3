"""The table of metrics: every measure the pipeline reports, in one place.

Each entry says which stage writes it, what it is called in the report (labels may name params,
filled in by `label`), which direction is better, whether it is measured by each judge (then a
run holds one value per judge), which kinds of model have it (an AE has no KL), whether it is a
headline metric (`reports/metrics.json`, what
`dvc metrics show` and `dvc exp show` display), and the smallest change it can make (a count moves
by whole units; `check-results` uses it as a floor of its tolerance). The evaluate, render and
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
    """One measure: who writes it, how it reads, and which way is better."""

    name: str
    label: str
    stage: str  # train, evaluate, render, paths or judge
    better: str = NEITHER  # NEITHER: descriptive, never a verdict
    judged: bool = False  # one value per judge
    per_item: bool = False  # a mean over items (paths) whose every value the stage keeps too
    headline: bool = False
    kinds: tuple[str, ...] | None = None  # the kinds of model that have it; None: every kind
    resolution: float = 0.0  # a count changes by whole units: 1.0
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
    Metric("loss", "final train loss per image", "train"),
    Metric("bce", "final train BCE per image", "train"),
    Metric("kl", "final train KL per image", "train", kinds=("vae",)),
    Metric(
        "mmd", "final train MMD of the codes from the prior (per batch)", "train", kinds=("wae",)
    ),
    # evaluate: the test set
    Metric(
        "test_bce",
        "test reconstruction BCE per image (mean code)",
        "evaluate",
        LOWER,
        headline=True,
    ),
    Metric("test_neg_elbo", "test -ELBO per image", "evaluate", LOWER, kinds=("vae",)),
    Metric("test_kl", "test KL per image", "evaluate", kinds=("vae",)),
    Metric(
        "log_likelihood",
        "test log-likelihood, importance-weighted ({iw_samples} samples)",
        "evaluate",
        HIGHER,
        headline=True,
        kinds=("vae",),
    ),
    Metric("knn_accuracy", "{knn_k}-NN class accuracy of test codes", "evaluate", HIGHER),
    # evaluate: is each model what its name claims? (the mechanisms' diagnostics)
    Metric(
        "posterior_sigma",
        "mean posterior sigma of the test images",
        "evaluate",
        kinds=("vae",),
        meaning="The encoder's sigma, averaged over the test images and the code's dimensions: "
        "how wide the distribution is that the VAE encodes each image as.",
    ),
    Metric(
        "spread_to_sigma",
        "test codes' spread / mean posterior sigma",
        "evaluate",
        kinds=("vae",),
        meaning="The standard deviation of the test images' posterior means (averaged over the "
        "code's dimensions) over the mean posterior sigma: how many sigmas the codes span, so "
        "the larger it is, the more each image's distribution is a point among the others.",
    ),
    Metric(
        "code_eigenvalue_largest",
        "largest eigenvalue of the test codes' covariance",
        "evaluate",
        meaning="The variance of the test codes (a VAE's posterior means) along their longest "
        "principal axis: 1 for codes distributed as the prior N(0, I).",
    ),
    Metric(
        "code_eigenvalue_smallest",
        "smallest eigenvalue of the test codes' covariance",
        "evaluate",
        meaning="The variance of the test codes along their shortest principal axis: 1 for codes "
        "distributed as the prior N(0, I).",
    ),
    # render: each map (the lab's square and the model's own)
    Metric(
        "codes_in_square", "test codes inside the mapped square", "render", HIGHER, headline=True
    ),
    Metric(
        "tiles_with_data",
        "tiles that hold a test code",
        "render",
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
        meaning="How confidently and how evenly a judge spreads the tiles over the ten classes.",
    ),
    Metric(
        "precision",
        "precision: tiles inside a test image's {k}-NN ball",
        "render",
        HIGHER,
        judged=True,
        headline=True,
        meaning="The share of tiles inside some real image's {k}-NN ball in a judge's features "
        "(Kynkaanniemi et al., 2019): tiles outside every ball look like no real item.",
    ),
    Metric(
        "density", "density of tiles in test images' {k}-NN balls", "render", HIGHER, judged=True
    ),
    Metric(
        "frechet_distance",
        "Frechet distance, tiles to test images (judges' features)",
        "render",
        LOWER,
        judged=True,
        headline=True,
        meaning="The distance between Gaussians fitted to the tiles' and the test images' "
        "features: FID's formula (Heusel et al., 2017) in a judge's features, so not an "
        "Inception FID.",
    ),
    Metric("blank_fraction", "blank tiles", "render"),
    Metric("smoothness_mean", "neighbour-tile RMS difference, mean", "render"),
    Metric("smoothness_p95", "neighbour-tile RMS difference, 95th percentile", "render"),
    # paths: straight lines between the codes of test images of different classes
    Metric(
        "path_evenness",
        "largest step's share of a path's pixel change ({steps} steps)",
        "paths",
        LOWER,
        headline=True,
        per_item=True,
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
        meaning="The share of the paths' in-between images inside a real image's {k}-NN ball: "
        "whether what lies between two items looks like an item.",
    ),
    Metric("path_class_changes", "class changes along a path", "paths", judged=True),
    # judge
    Metric("test_accuracy", "judge's test accuracy", "judge", HIGHER, headline=True),
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
