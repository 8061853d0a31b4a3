"""The calibrate stage's work: what every judge-based map measure gives for images whose realism
is known, so that a map's value can be read against them.

Four sets of as many images as a map has tiles, drawn from the training images with a seed:
- real: training images as they are, the measures' ceiling (the judges were trained on them);
- blurred: the same images under a Gaussian blur of BLUR_SIGMA pixels, an item's outline without
  its detail, like an autoencoder's blurry tiles;
- ghosts: the pixel average of two training images of different classes, two items overlaid
  (a cross-fade), as a decoder that blends rather than morphs draws between two items;
- noise: uniform pixel noise, the floor.
A measure that scores blurred images or ghosts about as well as real ones cannot tell a map of
items from a map of blurs or ghosts.
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter

from latentlab.analysis import measures, realism
from latentlab.analysis.transitions import pick_pairs
from latentlab.judge.network import Judge, judge_all

BLUR_SIGMA = 2.0  # pixels of a 28-pixel image


def reference_images(
    images: np.ndarray, labels: np.ndarray, count: int, seed: int
) -> dict[str, np.ndarray]:
    """The reference sets (measures.REFERENCE_SETS, see the module's docstring) of `count` float
    images in [0, 1], each N x 28 x 28, from the uint8 training `images` and their `labels`."""
    rng = np.random.default_rng(seed)
    count = min(count, len(images))

    def pixels(index: np.ndarray) -> np.ndarray:  # only the images used, not all 60,000
        return np.asarray(images[index], dtype=np.float32) / 255.0

    real = pixels(np.sort(rng.choice(len(images), count, replace=False)))
    pairs = pick_pairs(labels, count, seed)
    sets = {
        "real": real,
        # Outside the image is black, like the data's background; sigma 0 keeps images apart.
        "blurred": gaussian_filter(real, sigma=(0, BLUR_SIGMA, BLUR_SIGMA), mode="constant"),
        "ghosts": (pixels(pairs[:, 0]) + pixels(pairs[:, 1])) / 2,
        "noise": rng.random(real.shape, dtype=np.float32),
    }
    return {name: sets[name] for name in measures.REFERENCE_SETS}


def calibrate(
    references: dict[str, np.ndarray],
    judges: list[Judge],
    real: list[np.ndarray],
    real_balls: list[list[realism.Balls]],
    min_confidence: float,
    min_tiles: int,
) -> dict[str, dict[str, list[float]]]:
    """Every judge-based map measure of each reference set, one value per judge, measured as a
    map's tiles are (`real`, `real_balls`: each judge's test features and their balls)."""
    return {
        name: measures.judged_measures(
            judge_all(judges, images), real, real_balls, min_confidence, min_tiles
        )[0]
        for name, images in references.items()
    }
