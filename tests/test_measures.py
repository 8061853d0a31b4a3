"""Known answers of the latent-space and mosaic measures on constructed inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest

from latentlab import measures


def test_in_square_fraction_counts_the_boundary_as_inside() -> None:
    codes = np.array([[0.0, 0.0], [1.0, -1.0], [1.5, 0.0], [0.0, -2.0], [-1.0, 1.0]])
    assert measures.in_square_fraction(codes, 1.0) == pytest.approx(0.6)
    assert measures.in_square_fraction(codes, 2.0) == pytest.approx(1.0)
    assert measures.in_square_fraction(codes, 0.5) == pytest.approx(0.2)


def test_code_extent_gives_per_dimension_percentiles() -> None:
    steps = np.arange(101, dtype=np.float64)
    codes = np.stack([steps, -10.0 * steps], axis=1)
    extent = measures.code_extent(codes)
    assert extent["p1"] == pytest.approx([1.0, -990.0])
    assert extent["p99"] == pytest.approx([99.0, -10.0])
    assert all(isinstance(v, float) for v in extent["p1"] + extent["p99"])


def test_knn_majority_vote_and_ties_go_to_the_nearest_tied_class() -> None:
    # Training codes on a line; each test code's neighbours are listed nearest first.
    train = np.array([[0.1, 0.0], [0.2, 0.0], [0.3, 0.0], [0.4, 0.0], [10.0, 0.0], [10.2, 0.0]])
    train_labels = np.array([1, 0, 0, 1, 2, 3])
    test = np.array([
        [0.0, 0.0],    # k=3: 1, 0, 0 -> majority 0 beats the nearest (1)
        [10.05, 0.0],  # k=3: 2, 3, then 1 at 9.65 -> three-way tie, nearest is 2
        [10.16, 0.0],  # k=3: 3, 2, 1 -> tie, nearest is 3
        [0.45, 0.0],   # k=3: 1, 0, 0 -> majority 0
    ])
    predicted = measures.knn_predict(train, train_labels, test, k=3)
    assert predicted.tolist() == [0, 2, 3, 0]
    # k=4 at the origin: 1, 0, 0, 1 is a two-two tie, and class 1 owns the nearest neighbour.
    assert measures.knn_predict(train, train_labels, test[:1], k=4).tolist() == [1]
    test_labels = np.array([0, 2, 2, 0])  # the third is wrong
    assert measures.knn_accuracy(train, train_labels, test, test_labels, k=3) == pytest.approx(0.75)


def test_knn_with_k_one_is_the_nearest_neighbour_and_k_too_large_fails() -> None:
    train = np.array([[0.0, 0.0], [5.0, 5.0]])
    labels = np.array([4, 7])
    test = np.array([[1.0, 1.0], [4.0, 4.0]])
    assert measures.knn_accuracy(train, labels, test, np.array([4, 7]), k=1) == 1.0
    assert measures.knn_accuracy(train, labels, test, np.array([7, 4]), k=1) == 0.0
    with pytest.raises(ValueError):
        measures.knn_predict(train, labels, test, k=3)


def test_knn_chunking_matches_a_brute_force_vote(monkeypatch: pytest.MonkeyPatch) -> None:
    rng = np.random.default_rng(0)
    train = rng.normal(size=(300, 2)) * 3
    train_labels = rng.integers(0, 10, size=300)
    test = rng.normal(size=(37, 2)) * 3
    dist = np.linalg.norm(test[:, None, :] - train[None, :, :], axis=2)
    nearest = np.argsort(dist, axis=1, kind="stable")[:, :5]
    expected = []
    for row in train_labels[nearest]:
        counts = np.bincount(row, minlength=10)
        winners = set(np.flatnonzero(counts == counts.max()))
        expected.append(next(c for c in row if c in winners))
    monkeypatch.setattr(measures, "KNN_CHUNK", 8)  # 37 rows: five chunks, the last one short
    assert measures.knn_predict(train, train_labels, test, k=5).tolist() == expected


def test_tile_class_summary_of_one_hot_probabilities() -> None:
    classes = np.array([0] * 6 + [3] * 6 + [7] * 6 + [9] * 2)
    probs = np.eye(10)[classes]
    summary = measures.tile_class_summary(probs, min_tiles=5)
    assert summary["histogram"] == [6, 0, 0, 6, 0, 0, 0, 6, 0, 2]
    assert summary["classes_present"] == 3
    assert summary["mean_top_prob"] == pytest.approx(1.0)
    # One-hot predictions: the score is exp of the entropy of the class frequencies.
    freq = np.array([6, 6, 6, 2]) / 20
    assert summary["inception_score"] == pytest.approx(math.exp(-np.sum(freq * np.log(freq))))
    assert measures.tile_class_summary(probs, min_tiles=2)["classes_present"] == 4


def test_inception_score_counts_equally_used_classes() -> None:
    probs = np.eye(10)[np.repeat([1, 4, 5, 8], 10)]
    assert measures.tile_class_summary(probs)["inception_score"] == pytest.approx(4.0)


def test_uniform_probabilities_score_one() -> None:
    summary = measures.tile_class_summary(np.full((441, 10), 0.1))
    assert summary["inception_score"] == pytest.approx(1.0)
    assert summary["mean_top_prob"] == pytest.approx(0.1)
    assert sum(summary["histogram"]) == 441
    assert summary["classes_present"] == 1  # argmax of a tie is the first class


def test_blank_fraction_of_constant_and_textured_tiles() -> None:
    constant = np.full((4, 28, 28), 0.7)
    assert measures.blank_fraction(constant, 0.01) == 1.0
    checker = (np.indices((28, 28)).sum(axis=0) % 2).astype(float)  # std 0.5
    tiles = np.stack([checker, checker, np.zeros((28, 28)), np.ones((28, 28))])
    assert measures.blank_fraction(tiles, 0.01) == pytest.approx(0.5)
    assert measures.blank_fraction(tiles.reshape(4, 784), 0.01) == pytest.approx(0.5)
    assert measures.blank_fraction(tiles, 0.6) == 1.0


def test_constant_mosaic_is_perfectly_smooth_and_blank() -> None:
    mosaic = np.full((21, 21, 28, 28), 0.3)
    assert measures.smoothness(mosaic) == {"mean": 0.0, "p95": 0.0}
    assert measures.blank_fraction(mosaic.reshape(-1, 28, 28), 1e-6) == 1.0


def test_checkerboard_of_two_tiles_has_their_rms_difference() -> None:
    a = np.zeros((28, 28))
    b = np.full((28, 28), 0.5)
    b[:14] = 0.0  # half the pixels at 0.5, so the RMS difference from `a` is sqrt(0.125)
    mosaic = np.array([[a, b, a], [b, a, b], [a, b, a]])
    result = measures.smoothness(mosaic)
    assert result["mean"] == pytest.approx(math.sqrt(0.125))
    assert result["p95"] == pytest.approx(math.sqrt(0.125))


def test_smoothness_separates_right_and_lower_neighbours() -> None:
    # Tile (row, col) is the constant 0.1 * col: right pairs differ by 0.1, lower pairs not at all.
    mosaic = np.broadcast_to(0.1 * np.arange(3)[None, :, None, None], (3, 3, 28, 28))
    result = measures.smoothness(mosaic)
    assert result["mean"] == pytest.approx(0.05)  # six pairs at 0.1, six at 0
    assert result["p95"] == pytest.approx(0.1)
    assert measures.smoothness(mosaic.transpose(1, 0, 2, 3)) == pytest.approx(result)
