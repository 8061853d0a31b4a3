"""Known answers of the realism measures (latentlab/analysis/realism.py): precision, density and
coverage in k-NN balls around real rows, their averages over real subsets, and the Frechet
distance between two sets' Gaussians."""

from __future__ import annotations

import numpy as np
import pytest

from latentlab.analysis import realism

LINE = np.array([[0.0, 0.0], [1.0, 0.0], [3.0, 0.0], [6.0, 0.0]])  # distances 1, 2, 3 apart


def cloud(n: int = 60, d: int = 5, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).normal(size=(n, d))


# distances and radii


def test_squared_distances_by_brute_force():
    a, b = cloud(7, 3, 1), cloud(5, 3, 2)
    expected = ((a[:, None, :] - b[None, :, :]) ** 2).sum(-1)
    got = realism.squared_distances(a, b)
    assert got.shape == (7, 5) and got.dtype == np.float32
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert realism.squared_distances(a, a).min() >= 0.0  # never negative from rounding
    np.testing.assert_allclose(np.diag(realism.squared_distances(a, a)), 0.0, atol=1e-5)


def test_knn_radii_squared_on_a_hand_made_line():
    # from 0: others at 1, 3, 6; from 1: at 1, 2, 5; from 3: at 3, 2, 3; from 6: at 6, 5, 3
    np.testing.assert_array_equal(realism.knn_radii_squared(LINE, 1), [1, 1, 4, 9])
    np.testing.assert_array_equal(realism.knn_radii_squared(LINE, 2), [9, 4, 9, 25])
    np.testing.assert_array_equal(realism.knn_radii_squared(LINE, 3), [36, 25, 9, 36])


def test_knn_radii_do_not_count_a_row_as_its_own_neighbour_but_count_duplicates():
    points = np.array([[0.0], [0.0], [2.0]])
    np.testing.assert_array_equal(realism.knn_radii_squared(points, 1), [0, 0, 4])


@pytest.mark.parametrize("k", [0, 4, 10])
def test_knn_radii_refuse_a_k_without_k_other_rows(k):
    with pytest.raises(ValueError, match="between 1 and 3 for 4 real rows"):
        realism.knn_radii_squared(LINE, k)


# precision, density, coverage


@pytest.mark.parametrize("k", [1, 3, 5])
def test_a_set_against_itself(k):
    """Every row is in its own ball; with no ties in distance, each ball holds its centre and
    exactly its k nearest rows, so density is (k + 1) / k."""
    real = cloud(40, 4, k)
    r = realism.realism(real, real, k)
    assert r["precision"] == 1.0 and r["coverage"] == 1.0
    assert r["density"] == (k + 1) / k  # exactly: (k + 1) * n / (k * n), rounded once
    assert r["inside"].dtype == bool and r["inside"].all()


def test_density_counts_rows_tied_with_the_kth_neighbour():
    # k = 2 on the line: 3's two nearest are 1 (at 2) and, tied at 3, both 0 and 6, so its ball
    # holds four rows; the others hold three: (3 + 3 + 4 + 3) / (2 * 4) = 13 / 8
    assert realism.realism(LINE, LINE, 2)["density"] == 13 / 8
    assert realism.realism(LINE, LINE, 1)["density"] == 2.0  # no ties: (1 + 1) / 1


def test_a_far_away_set():
    real = cloud(30, 3)
    fake = cloud(20, 3, 9) + 1000.0
    r = realism.realism(real, fake, 3)
    assert r["precision"] == 0.0 and r["density"] == 0.0 and r["coverage"] == 0.0
    assert not r["inside"].any() and r["inside"].shape == (20,)


def test_realism_on_a_hand_made_line():
    # k = 1: balls of squared radius 1, 1, 4, 9 about 0, 1, 3, 6 (radii 1, 1, 2, 3)
    fake = np.array([[0.5, 0.0], [4.9, 0.0], [10.0, 0.0], [-1.0, 0.0], [2.0, 0.0]])
    r = realism.realism(LINE, fake, 1)
    # 0.5: in the balls of 0 and 1; 4.9: in those of 3 and 6; 10: none; -1: 0's (boundary
    # counts); 2: 1's (at 1) and 3's (at 1)
    np.testing.assert_array_equal(r["inside"], [True, True, False, True, True])
    assert r["precision"] == 4 / 5
    assert r["density"] == (2 + 2 + 0 + 1 + 2) / (1 * 5)
    assert r["coverage"] == 1.0  # every real ball holds some fake row
    assert realism.realism(LINE, fake[2:4], 1)["coverage"] == 1 / 4  # only 0's ball


def test_realism_values_are_plain_floats():
    r = realism.realism(LINE, LINE[:2], 1)
    assert all(type(r[key]) is float for key in ("precision", "density", "coverage"))


# subsets of the real rows


def test_real_subsets_are_reproducible_and_distinct_indices():
    first = realism.real_subsets(100, 30, 5, seed=7)
    again = realism.real_subsets(100, 30, 5, seed=7)
    np.testing.assert_array_equal(first, again)
    assert first.shape == (5, 30)
    for row in first:
        assert len(set(row.tolist())) == 30  # distinct within a subset
        assert row.min() >= 0 and row.max() < 100
        assert np.all(np.diff(row) > 0)  # sorted
    assert len({tuple(row) for row in first.tolist()}) == 5  # the subsets differ
    assert not np.array_equal(first, realism.real_subsets(100, 30, 5, seed=8))


def test_real_subsets_no_larger_than_the_real_set():
    subsets = realism.real_subsets(10, 441, 3, seed=1)
    assert subsets.shape == (3, 10)
    for row in subsets:
        np.testing.assert_array_equal(row, np.arange(10))


def test_real_subsets_do_not_depend_on_the_global_rng():
    np.random.seed(1)
    first = realism.real_subsets(50, 10, 2, seed=3)
    np.random.seed(2)
    np.testing.assert_array_equal(first, realism.real_subsets(50, 10, 2, seed=3))


def test_subset_realism_with_one_full_subset_is_realism():
    real, fake = cloud(50, 4, 1), cloud(30, 4, 2) * 1.3
    whole = realism.realism(real, fake, 3)
    one = realism.subset_realism(realism.subset_balls(real, 3, np.arange(50)[None, :]), fake)
    for key in ("precision", "density", "coverage"):
        assert one[key] == whole[key]
    np.testing.assert_array_equal(one["inside"], whole["inside"].astype(float))


def test_subset_realism_averages_over_the_subsets():
    real, fake = cloud(50, 4, 3), cloud(30, 4, 4) * 1.3
    subsets = realism.real_subsets(50, 20, 4, seed=5)
    averaged = realism.subset_realism(realism.subset_balls(real, 3, subsets), fake)
    each = [realism.realism(real[index], fake, 3) for index in subsets]
    for key in ("precision", "density", "coverage"):
        assert averaged[key] == pytest.approx(np.mean([r[key] for r in each]), rel=1e-12)
    share = np.mean([r["inside"] for r in each], axis=0)
    np.testing.assert_allclose(averaged["inside"], share)
    assert set(np.unique(averaged["inside"] * 4)) <= {0.0, 1.0, 2.0, 3.0, 4.0}


# Frechet distance


def test_frechet_distance_of_a_set_to_itself_is_zero():
    a = cloud(200, 8)
    assert realism.frechet_distance(a, a) == pytest.approx(0.0, abs=1e-8)
    assert realism.frechet_distance(a, a[::-1]) == pytest.approx(0.0, abs=1e-8)  # order-free


def test_frechet_distance_is_symmetric():
    a, b = cloud(200, 6, 1), cloud(150, 6, 2) * np.linspace(0.5, 2, 6) + 0.3
    ab, ba = realism.frechet_distance(a, b), realism.frechet_distance(b, a)
    assert ab > 0.1
    assert ab == pytest.approx(ba, rel=1e-8)


@pytest.mark.parametrize("shift", [[3.0, 0, 0, 0], [1.0, -2.0, 0.5, 4.0], [1e-3] * 4])
def test_frechet_distance_of_a_shifted_set_is_the_squared_shift(shift):
    a = cloud(300, 4, 5) @ np.array([[1, 0.5, 0, 0], [0, 1, 0, 0], [0, 0, 2, 0], [0, 0, 0, 0.3]])
    b = a + np.array(shift)
    expected = float(np.sum(np.square(shift)))
    assert realism.frechet_distance(a, b) == pytest.approx(expected, rel=1e-6, abs=1e-8)


def test_frechet_distance_of_a_scaled_set():
    """b = 2a about a's mean: C_b = 4 C_a, (C_a^1/2 C_b C_a^1/2)^1/2 = 2 C_a, so the distance
    is tr(C_a + 4 C_a - 4 C_a) = tr(C_a), plus the squared shift of the means."""
    a = cloud(300, 5, 6)
    a = a - a.mean(axis=0)
    b = 2 * a + 1.5
    expected = np.trace(np.cov(a, rowvar=False)) + 5 * 1.5**2
    assert realism.frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)


def test_frechet_distance_of_two_diagonal_gaussians():
    """For diagonal covariances it is |mu_a - mu_b|^2 + sum (sigma_a - sigma_b)^2."""
    # Rows +-1 on each axis in turn: mean 0 and a diagonal covariance, exactly.
    unit = np.vstack([np.eye(3), -np.eye(3)])
    a = unit * [1.0, 2.0, 3.0]
    b = unit * [2.0, 2.0, 0.5] + [1.0, 0.0, -1.0]
    var = 2 / (len(unit) - 1)  # each axis: two rows at +-s, four at 0, ddof 1
    sigma_a, sigma_b = np.sqrt(var) * np.array([1, 2, 3]), np.sqrt(var) * np.array([2, 2, 0.5])
    expected = 2.0 + np.sum((sigma_a - sigma_b) ** 2)
    assert realism.frechet_distance(a, b) == pytest.approx(expected, rel=1e-9)
    assert isinstance(realism.frechet_distance(a, b), float)


def test_subset_radii_are_each_subset_s_own_k_nn_radii_and_must_fit_the_subsets() -> None:
    """The balls stage stores subset_radii; the stages that load them rebuild the same balls."""
    real = np.random.default_rng(0).normal(size=(60, 4)).astype(np.float32)
    subsets = realism.real_subsets(60, 25, 3, seed=2)
    radii = realism.subset_radii(real, 3, subsets)
    assert radii.shape == (3, 25)
    balls = realism.subset_balls(real, 3, subsets, radii)
    for index, row, b in zip(subsets, radii, balls, strict=True):
        np.testing.assert_array_equal(row, realism.knn_radii_squared(real[index], 3))
        np.testing.assert_array_equal(b.centres, real[index])
    with pytest.raises(ValueError, match="radii of shape"):
        realism.subset_balls(real, 3, subsets, radii[:2])
