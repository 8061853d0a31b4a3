"""Known answers of the latent-space and mosaic measures (latentlab/analysis/measures.py,
codes.py) and of the evaluate stage's k-NN vote, class examples and diagnostics
(latentlab/evaluation.py) on constructed inputs."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from latentlab import evaluation
from latentlab.analysis import codes as code_measures
from latentlab.analysis import measures
from latentlab.nn.models import build_model
from latentlab.nn.runtime import as_pixels


def test_in_square_fraction_counts_the_boundary_as_inside() -> None:
    codes = np.array([[0.0, 0.0], [1.0, -1.0], [1.5, 0.0], [0.0, -2.0], [-1.0, 1.0]])
    assert measures.in_square_fraction(codes, 1.0) == pytest.approx(0.6)
    assert measures.in_square_fraction(codes, 2.0) == pytest.approx(1.0)
    assert measures.in_square_fraction(codes, 0.5) == pytest.approx(0.2)


def test_in_square_fraction_about_a_centre() -> None:
    codes = np.array([[10.0, -5.0], [11.0, -4.0], [12.0, -5.0], [9.5, -6.0]])
    assert measures.in_square_fraction(codes, 1.0, (10.0, -5.0)) == pytest.approx(0.75)
    assert measures.in_square_fraction(codes, 1.0) == 0.0  # the origin's square holds none
    assert measures.in_square_fraction(codes, 2.0, (10.0, -5.0)) == 1.0
    assert measures.in_square_fraction(np.zeros((0, 2)), 1.0) == 0.0


def test_knn_majority_vote_and_ties_go_to_the_nearest_tied_class() -> None:
    # Training codes on a line; each test code's neighbours are listed nearest first.
    train = np.array([[0.1, 0.0], [0.2, 0.0], [0.3, 0.0], [0.4, 0.0], [10.0, 0.0], [10.2, 0.0]])
    train_labels = np.array([1, 0, 0, 1, 2, 3])
    test = np.array(
        [
            [0.0, 0.0],  # k=3: 1, 0, 0 -> majority 0 beats the nearest (1)
            [10.05, 0.0],  # k=3: 2, 3, then 1 at 9.65 -> three-way tie, nearest is 2
            [10.16, 0.0],  # k=3: 3, 2, 1 -> tie, nearest is 3
            [0.45, 0.0],  # k=3: 1, 0, 0 -> majority 0
        ]
    )
    predicted = evaluation.knn_predict(train, train_labels, test, k=3)
    assert predicted.tolist() == [0, 2, 3, 0]
    # k=4 at the origin: 1, 0, 0, 1 is a two-two tie, and class 1 owns the nearest neighbour.
    assert evaluation.knn_predict(train, train_labels, test[:1], k=4).tolist() == [1]
    test_labels = np.array([0, 2, 2, 0])  # the third is wrong
    accuracy = evaluation.knn_accuracy(train, train_labels, test, test_labels, k=3)
    assert accuracy == pytest.approx(0.75)


def test_knn_with_k_one_is_the_nearest_neighbour_and_k_too_large_fails() -> None:
    train = np.array([[0.0, 0.0], [5.0, 5.0]])
    labels = np.array([4, 7])
    test = np.array([[1.0, 1.0], [4.0, 4.0]])
    assert evaluation.knn_accuracy(train, labels, test, np.array([4, 7]), k=1) == 1.0
    assert evaluation.knn_accuracy(train, labels, test, np.array([7, 4]), k=1) == 0.0
    with pytest.raises(ValueError):
        evaluation.knn_predict(train, labels, test, k=3)


def test_knn_matches_a_brute_force_vote() -> None:
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
    assert evaluation.knn_predict(train, train_labels, test, k=5).tolist() == expected


def test_vote_breaks_ties_towards_the_nearest_tied_class() -> None:
    rows = torch.tensor([[1, 0, 0, 1], [2, 3, 1, 4], [5, 5, 6, 6], [7, 7, 7, 2]])
    assert evaluation._vote(rows, 10).tolist() == [1, 2, 5, 7]


def test_knn_of_no_test_codes_is_empty() -> None:
    got = evaluation.knn_predict(np.zeros((3, 2)), np.array([0, 1, 2]), np.zeros((0, 2)), k=1)
    assert got.shape == (0,) and got.dtype == np.int64


def test_class_examples_are_the_first_image_of_each_class_and_its_reconstruction() -> None:
    torch.manual_seed(0)
    model = build_model("vae", 2, [16]).eval()
    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, size=(12, 28, 28), dtype=np.uint8)
    labels = np.array([3, 3, 0, 7, 0, 3, 7, 7, 9, 0, 9, 3])
    originals, recon, index = evaluation.class_examples(model, images, labels, torch.device("cpu"))
    assert index.tolist() == [2, 0, 3, 8]  # classes 0, 3, 7, 9 in order: each one's first
    np.testing.assert_array_equal(originals, images[index])
    assert originals.dtype == np.uint8 and recon.shape == (4, 28, 28)
    assert recon.min() >= 0 and recon.max() <= 1
    with torch.no_grad():
        mu, _ = model.encode(as_pixels(images[index], torch.device("cpu")))
        expected = model.decode(mu).numpy().reshape(4, 28, 28)
    np.testing.assert_allclose(recon, expected, rtol=1e-6, atol=1e-6)


def test_covariance_eigenvalues_are_the_variances_along_the_principal_axes() -> None:
    # variances 2/3 along z1 and 8/3 along z2 (ddof 1, 4 codes), the same after a rotation
    codes = np.array([[1.0, 0.0], [-1.0, 0.0], [0.0, 2.0], [0.0, -2.0]])
    assert code_measures.covariance_eigenvalues(codes) == pytest.approx((8 / 3, 2 / 3))
    turn = np.array([[math.cos(0.7), -math.sin(0.7)], [math.sin(0.7), math.cos(0.7)]])
    assert code_measures.covariance_eigenvalues(codes @ turn.T) == pytest.approx((8 / 3, 2 / 3))
    prior = np.random.default_rng(0).standard_normal((100_000, 2))
    assert code_measures.covariance_eigenvalues(prior) == pytest.approx((1, 1), abs=0.02)
    with pytest.raises(ValueError, match="N >= 2 codes"):
        code_measures.covariance_eigenvalues(codes[:1])


def test_code_diagnostics_of_a_vae_whose_sigma_is_known() -> None:
    """An encoder whose log sigma^2 head outputs log 0.25: every sigma is 0.5."""
    torch.manual_seed(0)
    model = build_model("vae", 2, [16]).eval()
    head = [m for m in model.encoder if isinstance(m, torch.nn.Linear)][-1]
    with torch.no_grad():
        head.weight[2:] = 0.0
        head.bias[2:] = math.log(0.25)
    pixels = torch.rand(50, 784, generator=torch.Generator().manual_seed(0))
    codes = evaluation.encode_means(model, pixels).numpy()
    got = evaluation.code_diagnostics(model, pixels, codes)
    assert got["posterior_sigma"] == pytest.approx(0.5)
    assert got["spread_to_sigma"] == pytest.approx(codes.std(axis=0, ddof=1).mean() / 0.5)
    largest, smallest = code_measures.covariance_eigenvalues(codes)
    assert (got["code_eigenvalue_largest"], got["code_eigenvalue_smallest"]) == (largest, smallest)
    ae = build_model("wae", 2, [16]).eval()  # a point code: no sigma
    ae_got = evaluation.code_diagnostics(ae, pixels, evaluation.encode_means(ae, pixels).numpy())
    assert set(ae_got) == {"code_eigenvalue_largest", "code_eigenvalue_smallest"}


def test_inception_score_known_answers() -> None:
    # One-hot predictions: the score is exp of the entropy of the class frequencies.
    classes = np.array([0] * 6 + [3] * 6 + [7] * 6 + [9] * 2)
    freq = np.array([6, 6, 6, 2]) / 20
    expected = math.exp(-np.sum(freq * np.log(freq)))
    assert measures.inception_score(np.eye(10)[classes]) == pytest.approx(expected)
    assert measures.inception_score(np.eye(10)[np.repeat([1, 4, 5, 8], 10)]) == pytest.approx(4.0)
    assert measures.inception_score(np.eye(10)[[2] * 7]) == pytest.approx(1.0)  # one class only
    assert measures.inception_score(np.full((441, 10), 0.1)) == pytest.approx(1.0)  # no confidence
    assert measures.inception_score(np.eye(10)) == pytest.approx(10.0)  # the largest possible
    assert isinstance(measures.inception_score(np.eye(10)), float)


def test_inception_score_of_two_half_confident_images() -> None:
    # p1 = (0.5, 0.5, 0), p2 = (0, 0.5, 0.5): marginal (0.25, 0.5, 0.25); each KL is ln 2 / 2 * 2
    probs = np.array([[0.5, 0.5, 0.0], [0.0, 0.5, 0.5]])
    kl = 0.5 * math.log(0.5 / 0.25) + 0.5 * math.log(0.5 / 0.5)
    assert measures.inception_score(probs) == pytest.approx(math.exp(kl))


def test_class_histogram_with_and_without_keep() -> None:
    probs = np.eye(10)[[0, 0, 3, 7, 7, 7, 9]]
    assert measures.class_histogram(probs).tolist() == [2, 0, 0, 1, 0, 0, 0, 3, 0, 1]
    keep = np.array([True, False, True, True, False, True, False])
    assert measures.class_histogram(probs, keep).tolist() == [1, 0, 0, 1, 0, 0, 0, 2, 0, 0]
    assert measures.class_histogram(np.full((4, 10), 0.1)).tolist() == [4] + [0] * 9  # first max


def test_classes_present_counts_confident_realistic_tiles_only() -> None:
    probs = np.vstack(
        [
            np.eye(10)[[0] * 6],  # class 0: six sure tiles
            np.eye(10)[[3] * 5],  # class 3: five sure tiles
            np.eye(10)[[7] * 6] * 0.5 + 0.25 / 9,  # class 7: six tiles at p = 0.5 + 0.25 / 9
            np.eye(10)[[9] * 4],  # class 9: four sure tiles
        ]
    )
    realistic = np.ones(len(probs), dtype=bool)
    assert measures.classes_present(probs, realistic, 0.8, 5) == 2  # 0 and 3
    top = 0.5 + 0.25 / 9
    assert measures.classes_present(probs, realistic, top, 5) == 3  # p >= min_confidence counts
    assert measures.classes_present(probs, realistic, np.nextafter(top, 1), 5) == 2
    assert measures.classes_present(probs, realistic, 0.8, 4) == 3  # 9 reaches min_tiles
    assert measures.classes_present(probs, realistic, 0.8, 6) == 1
    unrealistic_three = realistic.copy()
    unrealistic_three[6] = False  # one of class 3's tiles is not realistic: four remain
    assert measures.classes_present(probs, unrealistic_three, 0.8, 5) == 1
    assert measures.classes_present(probs, np.zeros(len(probs)), 0.1, 1) == 0
    assert measures.classes_present(probs, realistic.astype(float), 0.8, 5) == 2


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
