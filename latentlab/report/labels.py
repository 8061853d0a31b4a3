"""How the report names each metric of latentlab/analysis/metrics.py, and what the measures that
test a claim mean, keyed by the metric's name.

The wording lives here, beside the report, and not with the metrics' definitions, so that
rewording a label reruns only the report stage. A label or meaning may name params in braces,
filled in from the run's params by `label` and `meaning`.
"""

from __future__ import annotations

from latentlab.core.params import Params

LABELS = {
    # train: the last epoch's mean loss per image
    "loss": "final train loss per image",
    "bce": "final train BCE per image",
    "kl": "final train KL per image",
    "mmd": "final train MMD of the codes from the prior (per batch)",
    # evaluate: the test set
    "test_bce": "test reconstruction BCE per image (mean code)",
    "test_neg_elbo": "test -ELBO per image",
    "test_kl": "test KL per image",
    "log_likelihood": "test log-likelihood, importance-weighted ({iw_samples} samples)",
    "knn_accuracy": "{knn_k}-NN class accuracy of test codes",
    # evaluate: is each model what its name claims? (the mechanisms' diagnostics)
    "posterior_sigma": "mean posterior sigma of the test images",
    "spread_to_sigma": "test codes' spread / mean posterior sigma",
    "code_eigenvalue_largest": "largest eigenvalue of the test codes' covariance",
    "code_eigenvalue_smallest": "smallest eigenvalue of the test codes' covariance",
    # render: each map
    "codes_in_square": "test codes inside the mapped square",
    "tiles_with_data": "tiles that hold a test code",
    "coverage": "coverage: test images whose {k}-NN ball holds a tile",
    "classes_present": (
        "classes with {min_tiles}+ confident (p >= {min_confidence:g}), realistic tiles"
    ),
    "inception_score": "inception score of the tiles (judges' classes)",
    "precision": "precision: tiles inside a test image's {k}-NN ball",
    "density": "density of tiles in test images' {k}-NN balls",
    "frechet_distance": "Frechet distance, tiles to test images (judges' features)",
    "blank_fraction": "blank tiles",
    "smoothness_mean": "neighbour-tile RMS difference, mean",
    "smoothness_p95": "neighbour-tile RMS difference, 95th percentile",
    # paths
    "path_evenness": "largest step's share of a path's pixel change ({steps} steps)",
    "path_middle_precision": "precision of the paths' middle images",
    "path_class_changes": "class changes along a path",
    # judge
    "test_accuracy": "judge's test accuracy",
}

# One sentence for each measure that tests a claim (report.comparison.CLAIMS) and for each of the
# mechanisms' diagnostics.
MEANINGS = {
    "posterior_sigma": "The encoder's sigma, averaged over the test images and the code's "
    "dimensions: how wide the distribution is that the VAE encodes each image as.",
    "spread_to_sigma": "The standard deviation of the test images' posterior means (averaged over "
    "the code's dimensions) over the mean posterior sigma: how many sigmas the codes span, so the "
    "larger it is, the more each image's distribution is a point among the others.",
    "codes_in_square": "The share of the test images whose code lies inside the mapped square: "
    "where the map is decoded from codes real images have.",
    "code_eigenvalue_largest": "The variance of the test codes (a VAE's posterior means) along "
    "their longest principal axis: 1 for codes distributed as the prior N(0, I).",
    "code_eigenvalue_smallest": "The variance of the test codes along their shortest principal "
    "axis: 1 for codes distributed as the prior N(0, I).",
    "coverage": "The share of test images whose {k}-nearest-neighbour ball among real images, "
    "in a judge's features, holds at least one map tile (Naeem et al., 2020).",
    "classes_present": "The classes that own at least {min_tiles} tiles which a judge classifies "
    "with probability {min_confidence:g} or more and which lie inside a real image's ball in at "
    "least half of the real subsets.",
    "inception_score": "How confidently and how evenly a judge spreads the tiles over the ten "
    "classes.",
    "path_evenness": "Along straight paths between the codes of {pairs} pairs of test images of "
    "different classes, the largest step's share of the path's total pixel change (1/{steps} is "
    "perfectly even, 1 a single jump); it cannot tell a smooth blur from a smooth morph.",
    "path_middle_precision": "The share of the paths' in-between images inside a real image's "
    "{k}-NN ball: whether what lies between two items looks like an item.",
    "precision": "The share of tiles inside some real image's {k}-NN ball in a judge's features "
    "(Kynkaanniemi et al., 2019): tiles outside every ball look like no real item.",
    "frechet_distance": "The distance between Gaussians fitted to the tiles' and the test images' "
    "features: FID's formula (Heusel et al., 2017) in a judge's features, so not an Inception "
    "FID.",
}


def _fill(text: str, p: Params) -> str:
    return text.format(
        knn_k=p.evaluate.knn_k,
        iw_samples=p.evaluate.iw_samples,
        k=p.realism.k,
        min_tiles=p.latent_map.min_tiles,
        min_confidence=p.latent_map.min_confidence,
        steps=p.interpolate.steps,
        pairs=p.interpolate.pairs,
    )


def label(metric: str, p: Params) -> str:
    """The report's name for a metric, with the params it names filled in."""
    return _fill(LABELS[metric], p)


def meaning(metric: str, p: Params) -> str:
    """What a claim's measure means, in one sentence, with the params it names filled in."""
    return _fill(MEANINGS[metric], p)
