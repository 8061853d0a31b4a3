"""Are decoded images like real ones, and do they cover the real ones? Measured in a feature space.

Every measure compares a set of generated images (a map's tiles, the middle images of paths) with
real test images, both embedded by a judge (its penultimate layer), through k-nearest-neighbour
balls drawn around the real images:
- precision: the share of generated images inside some real image's ball (Kynkaanniemi et al.,
  2019, "Improved Precision and Recall Metric for Assessing Generative Models");
- density: how many real balls hold a generated image, per generated image and divided by k, and
  coverage: the share of real images whose ball holds a generated image (Naeem et al., 2020,
  "Reliable Fidelity and Diversity Metrics for Generative Models").
Kynkaanniemi's recall is left out: it draws balls around the generated images, and a grid's
neighbouring tiles nearly coincide, so those balls shrink to nothing and recall is about 0 for
every map. The Frechet distance between the two sets' feature Gaussians is FID's formula
(Heusel et al., 2017) in the judges' features, not Inception's: its values are not FIDs.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def squared_distances(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Squared Euclidean distances (len(a) x len(b)) between rows, as |a|^2 + |b|^2 - 2 a.b.

    In float32, in place: the paths' 3,000 middle images against as many real images make
    matrices of 9 million entries, compared many times over; float64 would double the time for
    a precision the ball comparisons do not need.
    """
    a = np.asarray(a, dtype=np.float32)
    b = np.asarray(b, dtype=np.float32)
    d = a @ b.T
    d *= -2.0
    d += (a * a).sum(1)[:, None]
    d += (b * b).sum(1)[None, :]
    return np.maximum(d, 0.0, out=d)


def knn_radii_squared(real: np.ndarray, k: int) -> np.ndarray:
    """Squared distance from each real row to its k-th nearest other real row.

    Read down the columns of squared_distances(real, real), the same orientation in which a
    generated row's distance to a real row is computed, so that a set compared with itself finds
    each row's k-th neighbour exactly on the ball's edge despite float32 rounding.
    """
    if not 1 <= k < len(real):
        raise ValueError(f"k must be between 1 and {len(real) - 1} for {len(real)} real rows")
    d = squared_distances(real, real)
    np.fill_diagonal(d, np.inf)  # a row is not its own neighbour
    # The columns as contiguous rows: partitioning along them is faster than down strides, and
    # the result is a new array, not a view that would keep the whole matrix alive.
    columns = np.ascontiguousarray(d.T)
    return np.partition(columns, k - 1, axis=1)[:, k - 1].copy()


@dataclass(frozen=True)
class Balls:
    """The k-nearest-neighbour balls of a set of real feature rows: centres and squared radii."""

    centres: np.ndarray
    radii_squared: np.ndarray
    k: int


def balls(real: np.ndarray, k: int) -> Balls:
    """Each real row's ball: it reaches the row's k-th nearest other real row."""
    return Balls(np.asarray(real), knn_radii_squared(real, k), k)


CHUNK = 2048  # generated rows compared at once: 2048 x 10,000 float32 distances are 80 MB


def realism_in(real: Balls, fake: np.ndarray) -> dict[str, object]:
    """Precision, density and coverage of `fake` (rows are feature vectors) against the real
    balls, and `inside`: for each fake row, whether it lies in some real ball."""
    inside = np.zeros(len(fake), dtype=bool)
    covered = np.zeros(len(real.centres), dtype=bool)
    hits = 0
    for start in range(0, len(fake), CHUNK):
        within = squared_distances(fake[start : start + CHUNK], real.centres)
        within = within <= real.radii_squared[None, :]
        inside[start : start + CHUNK] = within.any(axis=1)
        covered |= within.any(axis=0)
        hits += int(within.sum())
    return {
        "precision": float(inside.mean()),
        "density": float(hits / (real.k * len(fake))),
        "coverage": float(covered.mean()),
        "inside": inside,
    }


def realism(real: np.ndarray, fake: np.ndarray, k: int) -> dict[str, object]:
    """`realism_in` of `fake` against the k-NN balls of `real`."""
    return realism_in(balls(real, k), fake)


def real_subsets(n_real: int, size: int, subsets: int, seed: int) -> np.ndarray:
    """`subsets` rows of `min(size, n_real)` distinct indices into the real images, drawn with
    `seed`: the same subsets for every model and every judge."""
    rng = np.random.default_rng(seed)
    size = min(size, n_real)
    return np.stack([np.sort(rng.choice(n_real, size, replace=False)) for _ in range(subsets)])


def subset_radii(real: np.ndarray, k: int, subsets: np.ndarray) -> np.ndarray:
    """The squared radii of the k-NN balls of each subset of the real rows (one row of indices
    per subset): subsets x subset size."""
    return np.stack([knn_radii_squared(real[index], k) for index in subsets])


def subset_balls(
    real: np.ndarray, k: int, subsets: np.ndarray, radii: np.ndarray | None = None
) -> list[Balls]:
    """The balls of each subset of the real rows (one row of indices per subset), used for every
    generated set compared with them; `radii` as subset_radii gave them, or None to compute
    them here."""
    radii = subset_radii(real, k, subsets) if radii is None else radii
    if radii.shape != subsets.shape:
        raise ValueError(f"radii of shape {radii.shape} for subsets of shape {subsets.shape}")
    return [Balls(np.asarray(real)[index], r, k) for index, r in zip(subsets, radii, strict=True)]


def subset_realism(real: list[Balls], fake: np.ndarray) -> dict[str, object]:
    """`realism_in` averaged over the balls of several real subsets; `inside` becomes each fake
    row's share of subsets in which it is inside a ball."""
    results = [realism_in(b, fake) for b in real]
    averaged: dict[str, object] = {
        key: float(np.mean([r[key] for r in results]))
        for key in ("precision", "density", "coverage")
    }
    averaged["inside"] = np.mean([r["inside"] for r in results], axis=0)
    return averaged


def _sqrt_psd(matrix: np.ndarray) -> np.ndarray:
    """The symmetric square root of a symmetric positive semi-definite matrix."""
    values, vectors = np.linalg.eigh(matrix)
    return (vectors * np.sqrt(np.clip(values, 0.0, None))) @ vectors.T


def frechet_distance(a: np.ndarray, b: np.ndarray) -> float:
    """Frechet distance between Gaussians fitted to two sets of feature rows:
    |mu_a - mu_b|^2 + tr(C_a + C_b - 2 (C_a^1/2 C_b C_a^1/2)^1/2)."""
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    cov_a, cov_b = np.cov(a, rowvar=False), np.cov(b, rowvar=False)
    root_a = _sqrt_psd(cov_a)
    cross = root_a @ cov_b @ root_a
    trace_root = np.sqrt(np.clip(np.linalg.eigvalsh((cross + cross.T) / 2), 0.0, None)).sum()
    distance = ((a.mean(0) - b.mean(0)) ** 2).sum() + np.trace(cov_a) + np.trace(cov_b)
    return float(max(distance - 2.0 * trace_root, 0.0))
