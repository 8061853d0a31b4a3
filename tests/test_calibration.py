"""The calibrate stage's reference images (latentlab/calibration.py): what each set holds."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.analysis.measures import REFERENCE_SETS
from latentlab.analysis.transitions import pick_pairs
from latentlab.calibration import reference_images

RNG = np.random.default_rng(0)
IMAGES = np.zeros((300, 28, 28), dtype=np.uint8)  # items on a black background, like the data
IMAGES[:, 4:-4, 4:-4] = RNG.integers(0, 256, (300, 20, 20))
LABELS = RNG.integers(0, 10, 300)


def test_every_set_holds_count_float_images_in_the_unit_range():
    sets = reference_images(IMAGES, LABELS, 50, seed=1)
    assert list(sets) == list(REFERENCE_SETS)
    for images in sets.values():
        assert images.shape == (50, 28, 28) and images.dtype == np.float32
        assert images.min() >= 0.0 and images.max() <= 1.0


def test_real_images_are_distinct_training_images_and_ghosts_average_two_classes():
    sets = reference_images(IMAGES, LABELS, 50, seed=1)
    pixels = IMAGES.reshape(300, -1).astype(np.float32) / 255
    found = [np.flatnonzero((pixels == image.ravel()).all(axis=1)) for image in sets["real"]]
    assert all(len(f) == 1 for f in found) and len({int(f[0]) for f in found}) == 50
    pairs = pick_pairs(LABELS, 50, seed=1)
    assert (LABELS[pairs[:, 0]] != LABELS[pairs[:, 1]]).all()
    expected = (pixels[pairs[:, 0]] + pixels[pairs[:, 1]]) / 2
    np.testing.assert_allclose(sets["ghosts"].reshape(50, -1), expected, rtol=1e-6)


def test_blurred_images_keep_the_outline_and_lose_the_detail():
    real = reference_images(IMAGES, LABELS, 50, seed=1)["real"]
    blurred = reference_images(IMAGES, LABELS, 50, seed=1)["blurred"]

    def detail(x: np.ndarray) -> float:  # mean absolute difference of neighbouring pixels
        return float(np.abs(np.diff(x, axis=2)).mean())

    assert detail(blurred) < detail(real) / 4
    # The blur moves the brightness around within an image, it neither adds nor loses any.
    assert blurred.sum(axis=(1, 2)) == pytest.approx(real.sum(axis=(1, 2)), rel=0.01)


def test_the_sets_depend_on_the_seed_and_are_reproducible():
    a, b = reference_images(IMAGES, LABELS, 50, 1), reference_images(IMAGES, LABELS, 50, 1)
    c = reference_images(IMAGES, LABELS, 50, 2)
    for name in REFERENCE_SETS:
        np.testing.assert_array_equal(a[name], b[name])
        assert not np.array_equal(a[name], c[name])


def test_no_more_images_than_there_are():
    sets = reference_images(IMAGES[:20], LABELS[:20], 441, seed=1)
    assert {name: len(images) for name, images in sets.items()} == dict.fromkeys(REFERENCE_SETS, 20)


def test_the_blur_keeps_each_image_apart():
    images = IMAGES.copy()
    images[1::2] = 0  # every other image black: blurring must not bring its neighbours in
    sets = reference_images(images, LABELS, 300, seed=1)
    black = sets["real"].reshape(300, -1).max(axis=1) == 0
    assert black.any() and (sets["blurred"][black] == 0).all()
