"""The render stage's work: decode a run's maps and prior samples, and measure the maps.

Each run gets two maps: over the lab's square [-range, range]^2 (the lab's question) and over
the square that holds the model's own test codes (so that a poor map can be told apart from a
square that missed the codes). Every judge measures both, and the values are kept per judge.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from latentlab.analysis import measures, realism
from latentlab.analysis.latent_grid import grid_codes, own_square, tiles_holding
from latentlab.analysis.metrics import record
from latentlab.core.fashion_mnist import CLASSES, IMAGE_SIDE
from latentlab.core.params import MapParams
from latentlab.nn.models import LatentModel


@dataclass(frozen=True)
class Square:
    """A square of the latent space: its centre and half-width."""

    name: str  # "lab" or "own"
    center: tuple[float, float]
    half_width: float


def squares(test_codes: np.ndarray, lm: MapParams) -> list[Square]:
    """The lab's square, then the one that holds the model's own test codes."""
    center, half_width = own_square(test_codes, lm.own_percentile)
    return [Square("lab", (0.0, 0.0), lm.range), Square("own", center, half_width)]


def decode_square(model: LatentModel, square: Square, grid: int) -> tuple[np.ndarray, np.ndarray]:
    """The grid x grid x 2 codes of a square and their decoded tiles (grid x grid x 28 x 28)."""
    z = grid_codes(grid, square.half_width, square.center)
    return z, model.decode_grid(z)


def prior_samples(model: LatentModel, count: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """`count` codes drawn from N(0, I) with `seed` (the same for every model), and their images."""
    z = np.random.default_rng(seed).standard_normal((count, model.latent_dim)).astype(np.float32)
    device = next(model.parameters()).device
    images = model.decode(torch.from_numpy(z).to(device)).cpu().numpy()
    return z, images.reshape(count, IMAGE_SIDE, IMAGE_SIDE)


def map_measures(
    tiles: np.ndarray,
    z: np.ndarray,
    test_codes: np.ndarray,
    square: Square,
    judged: list[tuple[np.ndarray, np.ndarray]],
    real: list[np.ndarray],
    real_balls: list[list[realism.Balls]],
    lm: MapParams,
) -> dict:
    """Every measure of one map: judge-based ones as a list with one value per judge.

    `judged` holds each judge's (probabilities, features) of the tiles, `real` each judge's
    features of the test images and `real_balls` its k-NN balls of each real subset.
    """
    per_judge, kept_per_class = measures.judged_measures(
        judged, real, real_balls, lm.min_confidence, lm.min_tiles
    )
    smooth = measures.smoothness(tiles)
    measured = {
        "codes_in_square": measures.in_square_fraction(
            test_codes, square.half_width, square.center
        ),
        "tiles_with_data": float(np.mean(tiles_holding(test_codes, z) > 0)),
        **per_judge,
        "blank_fraction": measures.blank_fraction(
            tiles.reshape(-1, IMAGE_SIDE, IMAGE_SIDE), lm.blank_std
        ),
        "smoothness_mean": smooth["mean"],
        "smoothness_p95": smooth["p95"],
    }
    return {
        **record("render", measured),
        "square": {"center": list(square.center), "half_width": square.half_width},
        "tiles_per_class": dict(zip(CLASSES, (float(n) for n in kept_per_class), strict=True)),
    }
