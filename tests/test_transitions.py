"""Known answers of the path measures (latentlab/analysis/transitions.py): the pairs, the straight
lines between their codes, how evenly the decoded images change along them, and class changes;
then decoded paths end to end (latentlab/interpolation.py) with a real model and a judge."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentlab.analysis import realism, transitions
from latentlab.analysis.metrics import written_by
from latentlab.evaluation import encode_means
from latentlab.interpolation import decode_paths, path_measures
from latentlab.judge.network import Judge, judge_images
from latentlab.nn.models import build_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

LABELS = np.random.default_rng(0).integers(0, 10, size=1000)


# pick_pairs


def test_pairs_are_of_different_classes_and_valid_indices():
    pairs = transitions.pick_pairs(LABELS, 200, seed=1)
    assert pairs.shape == (200, 2) and np.issubdtype(pairs.dtype, np.integer)
    assert pairs.min() >= 0 and pairs.max() < len(LABELS)
    assert np.all(LABELS[pairs[:, 0]] != LABELS[pairs[:, 1]])


def test_pairs_are_reproducible_for_a_seed_and_differ_between_seeds():
    first = transitions.pick_pairs(LABELS, 50, seed=3)
    np.testing.assert_array_equal(first, transitions.pick_pairs(LABELS, 50, seed=3))
    assert not np.array_equal(first, transitions.pick_pairs(LABELS, 50, seed=4))


def test_pairs_depend_on_the_labels_and_the_seed_only():
    """Not on the global RNGs, on earlier calls, or on the labels' container and dtype."""
    first = transitions.pick_pairs(LABELS, 40, seed=5)
    np.random.seed(123)
    torch.manual_seed(123)
    transitions.pick_pairs(LABELS, 7, seed=99)
    np.testing.assert_array_equal(first, transitions.pick_pairs(LABELS.astype(np.int32), 40, 5))
    np.testing.assert_array_equal(first, transitions.pick_pairs(LABELS.tolist(), 40, 5))
    # other labels give other pairs
    assert not np.array_equal(first, transitions.pick_pairs(LABELS[::-1], 40, 5))


def test_pairs_from_two_classes_with_one_rare():
    labels = np.zeros(500, dtype=np.int64)
    labels[17] = 1
    pairs = transitions.pick_pairs(labels, 30, seed=1)
    assert len(pairs) == 30
    assert np.all((pairs[:, 0] == 17) ^ (pairs[:, 1] == 17))


@pytest.mark.parametrize("labels", [np.full(100, 3), np.array([5]), np.zeros(0)])
def test_pairs_from_a_single_class_are_refused(labels):
    with pytest.raises(ValueError, match="single class"):
        transitions.pick_pairs(labels, 10, seed=1)


# line_codes


def test_line_codes_start_and_end_at_the_inputs():
    rng = np.random.default_rng(1)
    start = rng.normal(size=(6, 2)).astype(np.float32) * 3
    end = rng.normal(size=(6, 2)).astype(np.float32) * 3
    z = transitions.line_codes(start, end, 8)
    assert z.shape == (6, 9, 2) and z.dtype == np.float32
    np.testing.assert_array_equal(z[:, 0], start)
    np.testing.assert_array_equal(z[:, -1], end)
    # evenly spaced along the straight line
    np.testing.assert_allclose(
        np.diff(z, axis=1), np.repeat(((end - start) / 8)[:, None], 8, 1), atol=1e-6
    )
    np.testing.assert_allclose(z[:, 4], (start + end) / 2, atol=1e-6)


def test_line_codes_between_equal_codes_stay_there():
    start = np.array([[0.25, -1.5]], dtype=np.float32)
    z = transitions.line_codes(start, start, 5)
    np.testing.assert_array_equal(z, np.repeat(start[:, None], 6, axis=1))


# evenness


@pytest.mark.parametrize("steps", [2, 4, 8, 16])
def test_a_linear_ramp_of_images_is_perfectly_even(steps):
    t = np.arange(steps + 1) / steps  # exact in binary for these steps
    images = t[None, :, None, None] * np.ones((3, steps + 1, 28, 28))
    images[1] *= 0.5
    images[2] = images[2][::-1]
    got = transitions.evenness(images)
    assert got.shape == (3,)
    np.testing.assert_array_equal(got, np.full(3, 1 / steps))


@pytest.mark.parametrize("steps", [3, 5, 7])
def test_a_linear_ramp_with_any_number_of_steps(steps):
    t = np.linspace(0, 1, steps + 1)
    images = t[None, :, None] * np.linspace(0, 1, 784)[None, None, :]
    assert transitions.evenness(images) == pytest.approx([1 / steps], rel=1e-12)


def test_a_single_jump_counts_one():
    images = np.zeros((2, 9, 784))
    images[0, 5:] = 1.0  # all the change between the 5th and 6th images
    images[1, 1:] = 0.3  # in the first step
    np.testing.assert_array_equal(transitions.evenness(images), [1.0, 1.0])


def test_a_path_that_never_changes_counts_as_even():
    images = np.full((2, 5, 28, 28), 0.4)
    images[1] = 0.0
    np.testing.assert_array_equal(transitions.evenness(images), [0.25, 0.25])


def test_evenness_of_two_unequal_steps():
    # steps of pixel change 1 and 3 (Euclidean): the largest is 3 of 4
    images = np.array([[[0.0, 0.0], [1.0, 0.0], [1.0, 3.0]]])
    assert transitions.evenness(images) == pytest.approx([0.75])


# class_changes


def test_class_changes_known_answers():
    classes = np.array([[0, 0, 0, 0, 0], [0, 0, 1, 1, 2], [0, 1, 0, 1, 0], [4, 4, 4, 4, 9]])
    np.testing.assert_array_equal(transitions.class_changes(classes), [0, 2, 4, 1])


# end to end: decoded paths, judged


@pytest.fixture(scope="module")
def model_and_judge():
    torch.manual_seed(0)
    model = build_model("vae", 2, [32]).eval()
    torch.manual_seed(1)
    judge = Judge(channels=2).eval()
    return model, judge


def test_decode_paths_shapes_and_endpoints(model_and_judge):
    model, _ = model_and_judge
    codes = np.array([[0.0, 0.0], [2.0, -1.0], [-3.0, 3.0]], dtype=np.float32)
    pairs = np.array([[0, 1], [2, 0]])
    images = decode_paths(model, codes, pairs, 4)
    assert images.shape == (2, 5, 28, 28)
    for p, (i, j) in enumerate(pairs):
        for step, code in [(0, codes[i]), (4, codes[j])]:
            expected = model.decode(torch.from_numpy(code[None])).numpy().reshape(28, 28)
            np.testing.assert_allclose(images[p, step], expected, rtol=1e-6, atol=1e-7)
    assert transitions.evenness(images).min() < 1.0  # a real change along each path


def test_a_path_between_codes_of_the_same_image_has_no_class_change(model_and_judge):
    model, judge = model_and_judge
    image = torch.rand(1, 784, generator=torch.Generator().manual_seed(3))
    twice = encode_means(model, torch.cat([image, image])).numpy()  # the encoder, run twice
    codes = np.concatenate([twice, [[2.0, 2.0]]]).astype(np.float32)
    pairs = np.array([[0, 1], [2, 2]])  # two codes of one image, and one code to itself
    images = decode_paths(model, codes, pairs, 6)
    np.testing.assert_array_equal(images, np.repeat(images[:, :1], 7, axis=1))
    probs, _ = judge_images(judge, images.reshape(-1, 28, 28))
    classes = probs.argmax(axis=1).reshape(2, 7)
    np.testing.assert_array_equal(transitions.class_changes(classes), [0, 0])
    np.testing.assert_array_equal(transitions.evenness(images), [1 / 6, 1 / 6])


def test_path_measures_of_constant_paths(model_and_judge):
    model, judge = model_and_judge
    codes = np.array([[0.5, 0.5], [-1.0, 2.0]], dtype=np.float32)
    images = decode_paths(model, codes, np.array([[0, 0], [1, 1]]), 4)
    judged = [judge_images(judge, images.reshape(-1, 28, 28))]
    real = [judge_images(judge, images[:, 0])[1]]  # the two endpoint images as the real set
    subsets = realism.real_subsets(2, 2, 1, seed=1)
    got, per_path = path_measures(images, judged, [realism.subset_balls(real[0], 1, subsets)])
    assert got["path_evenness"] == pytest.approx(0.25)
    np.testing.assert_allclose(per_path["path_evenness"], [0.25, 0.25])
    assert set(per_path) == {m.name for m in written_by("interpolate") if m.per_item}
    assert got["path_class_changes"] == [0.0]
    assert got["path_middle_precision"] == [1.0]  # each middle image is its endpoint's image
