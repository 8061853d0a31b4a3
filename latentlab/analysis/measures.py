"""Measures of a 2-D latent space and of the tiles decoded from it: numpy in, plain Python out."""

from __future__ import annotations

import numpy as np

from latentlab.analysis import realism


def in_square_fraction(
    codes: np.ndarray, half_width: float, center: tuple[float, float] = (0.0, 0.0)
) -> float:
    """Fraction of the N x 2 codes inside the square `center` +- `half_width`."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.shape[0] == 0:
        return 0.0
    return float(np.mean(np.all(np.abs(codes - np.asarray(center)) <= half_width, axis=1)))


def inception_score(probs: np.ndarray) -> float:
    """exp of the mean KL divergence of each image's class probabilities (T x C) from their mean
    (Salimans et al., 2016): high when images are classified confidently into many classes."""
    probs = np.asarray(probs, dtype=np.float64)
    marginal = probs.mean(axis=0)
    # 0 * log 0 = 0: a zero probability contributes nothing to the KL divergence.
    ratio = np.divide(probs, marginal, out=np.ones_like(probs), where=probs > 0)
    return float(np.exp(np.sum(probs * np.log(ratio), axis=1).mean()))


def class_histogram(probs: np.ndarray, keep: np.ndarray | None = None) -> np.ndarray:
    """How many images (rows of T x C probabilities) fall in each most probable class, counting
    only the rows where `keep` is true when it is given."""
    probs = np.asarray(probs)
    classes = probs.argmax(axis=1) if keep is None else probs.argmax(axis=1)[np.asarray(keep)]
    return np.bincount(classes, minlength=probs.shape[1])


def classes_present(
    probs: np.ndarray, realistic: np.ndarray, min_confidence: float, min_tiles: int
) -> int:
    """Classes owning at least `min_tiles` tiles that are both confidently classified (top
    probability >= `min_confidence`) and realistic: a blurred or noisy tile gets some class from
    any classifier, so only tiles that look like items count."""
    probs = np.asarray(probs)
    keep = (probs.max(axis=1) >= min_confidence) & np.asarray(realistic, dtype=bool)
    return int(np.sum(class_histogram(probs, keep) >= min_tiles))


def blank_fraction(tiles: np.ndarray, std_threshold: float) -> float:
    """Fraction of tiles (T x 28 x 28 or T x 784) whose pixel std is below the threshold."""
    tiles = np.asarray(tiles, dtype=np.float64)
    flat = tiles.reshape(tiles.shape[0], -1)
    return float(np.mean(flat.std(axis=1) < std_threshold))


def smoothness(tiles: np.ndarray) -> dict[str, float]:
    """Mean and 95th percentile of the RMS difference of each tile from its right and lower tile."""
    tiles = np.asarray(tiles, dtype=np.float64)
    grid = tiles.reshape(tiles.shape[0], tiles.shape[1], -1)
    right = np.sqrt(np.mean((grid[:, 1:] - grid[:, :-1]) ** 2, axis=-1))
    lower = np.sqrt(np.mean((grid[1:] - grid[:-1]) ** 2, axis=-1))
    rms = np.concatenate([right.ravel(), lower.ravel()])
    return {"mean": float(rms.mean()), "p95": float(np.percentile(rms, 95))}


# The calibrate stage's sets of images of known realism, real images first and noise last.
REFERENCE_SETS = ("real", "blurred", "ghosts", "noise")

# An image counts as realistic (for classes present) when it lies inside some real image's k-NN
# ball in at least this share of the real subsets: the subsets' majority, ties included.
REALISTIC_SHARE = 0.5


def judged_measures(
    judged: list[tuple[np.ndarray, np.ndarray]],
    real: list[np.ndarray],
    real_balls: list[list[realism.Balls]],
    min_confidence: float,
    min_tiles: int,
) -> tuple[dict[str, list[float]], np.ndarray]:
    """Every judge-based measure of a set of decoded images, one value per judge, and the images
    per class that the judges classify confidently and find realistic (mean over judges).

    `judged` holds each judge's (probabilities, features) of the images, `real` each judge's
    features of the test images and `real_balls` its k-NN balls of each real subset.
    """
    per_judge: dict[str, list[float]] = {
        name: []
        for name in (
            "coverage",
            "classes_present",
            "inception_score",
            "precision",
            "density",
            "frechet_distance",
        )
    }
    kept_per_class = np.zeros(judged[0][0].shape[1] if judged else 0)
    for (probs, features), real_features, balls in zip(judged, real, real_balls, strict=True):
        r = realism.subset_realism(balls, features)
        realistic = np.asarray(r["inside"]) >= REALISTIC_SHARE
        per_judge["coverage"].append(r["coverage"])
        per_judge["precision"].append(r["precision"])
        per_judge["density"].append(r["density"])
        per_judge["classes_present"].append(
            classes_present(probs, realistic, min_confidence, min_tiles)
        )
        per_judge["inception_score"].append(inception_score(probs))
        per_judge["frechet_distance"].append(realism.frechet_distance(features, real_features))
        keep = (probs.max(axis=1) >= min_confidence) & realistic
        kept_per_class += class_histogram(probs, keep) / len(judged)
    return per_judge, kept_per_class
