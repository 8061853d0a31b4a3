"""Measures of a 2-D latent space and of the mosaic decoded from it: numpy in, plain Python out."""

from __future__ import annotations

import numpy as np
import torch

KNN_CHUNK = 1000  # test rows per distance block: 1000 x 60,000 float32 is 240 MB at most


def in_square_fraction(codes: np.ndarray, half_width: float) -> float:
    """Fraction of the N x 2 codes with every coordinate in [-half_width, half_width]."""
    codes = np.asarray(codes, dtype=np.float64)
    if codes.shape[0] == 0:
        return 0.0
    return float(np.mean(np.all(np.abs(codes) <= half_width, axis=1)))


def code_extent(codes: np.ndarray) -> dict[str, list[float]]:
    """The 1st and 99th percentile of the codes, per dimension: {"p1": [...], "p99": [...]}."""
    p1, p99 = np.percentile(np.asarray(codes, dtype=np.float64), [1, 99], axis=0)
    return {"p1": [float(v) for v in p1], "p99": [float(v) for v in p99]}


def _vote(neighbour_labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Majority class of each row of labels, nearest first; a tie goes to the nearest tied class."""
    counts = torch.zeros(neighbour_labels.shape[0], n_classes, dtype=torch.int64)
    counts.scatter_add_(1, neighbour_labels, torch.ones_like(neighbour_labels))
    tied = counts == counts.max(dim=1, keepdim=True).values
    # The first neighbour (in distance order) whose class is among the tied winners decides.
    first = torch.gather(tied, 1, neighbour_labels).to(torch.int8).argmax(dim=1)
    return torch.gather(neighbour_labels, 1, first[:, None])[:, 0]


def knn_predict(
    train_codes: np.ndarray, train_labels: np.ndarray, test_codes: np.ndarray, k: int = 5
) -> np.ndarray:
    """Class of each test code by a majority vote of its k nearest training codes (Euclidean).

    A tie in the vote goes to the tied class whose member is nearest to the test code. Neighbours
    at exactly equal distance are ordered as torch.topk returns them.
    """
    train = torch.as_tensor(np.asarray(train_codes, dtype=np.float32))
    test = torch.as_tensor(np.asarray(test_codes, dtype=np.float32))
    labels = torch.as_tensor(np.asarray(train_labels, dtype=np.int64))
    if k < 1 or k > train.shape[0]:
        raise ValueError(f"k must be between 1 and the number of training codes, got {k}")
    n_classes = int(labels.max()) + 1
    predictions = []
    for start in range(0, test.shape[0], KNN_CHUNK):
        # Exact differences, not the matrix-product shortcut, which loses precision on far codes.
        dist = torch.cdist(
            test[start : start + KNN_CHUNK], train, compute_mode="donot_use_mm_for_euclid_dist"
        )
        nearest = dist.topk(k, dim=1, largest=False, sorted=True).indices
        predictions.append(_vote(labels[nearest], n_classes))
    if not predictions:
        return np.zeros(0, dtype=np.int64)
    return torch.cat(predictions).numpy()


def knn_accuracy(
    train_codes: np.ndarray,
    train_labels: np.ndarray,
    test_codes: np.ndarray,
    test_labels: np.ndarray,
    k: int = 5,
) -> float:
    """Fraction of test codes whose k-nearest-neighbour vote (see knn_predict) names their class."""
    predicted = knn_predict(train_codes, train_labels, test_codes, k)
    return float(np.mean(predicted == np.asarray(test_labels)))


def tile_class_summary(probs: np.ndarray, min_tiles: int = 5) -> dict:
    """Class histogram, classes present, mean top probability and inception score of T x C probs."""
    probs = np.asarray(probs, dtype=np.float64)
    histogram = np.bincount(probs.argmax(axis=1), minlength=probs.shape[1])
    marginal = probs.mean(axis=0)
    # 0 * log 0 = 0: a zero probability contributes nothing to the KL divergence.
    ratio = np.divide(probs, marginal, out=np.ones_like(probs), where=probs > 0)
    kl = np.sum(probs * np.log(ratio), axis=1)
    return {
        "histogram": [int(n) for n in histogram],
        "classes_present": int(np.sum(histogram >= min_tiles)),
        "mean_top_prob": float(probs.max(axis=1).mean()),
        "inception_score": float(np.exp(kl.mean())),
    }


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
