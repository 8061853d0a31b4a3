"""Measures of a 2-D latent space and of the tiles decoded from it: numpy in, plain Python out."""

from __future__ import annotations

import numpy as np


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
