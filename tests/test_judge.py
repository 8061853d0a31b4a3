"""The judge classifier: its shapes, its determinism, and that it recognises real images."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from latentlab import fashion_mnist as fm
from latentlab.judge import Judge, accuracy, predict_proba, train_judge
from latentlab.measures import tile_class_summary

SYSTEM_COPY = Path("/usr/share/datasets/fashion-mnist")
BAG = fm.CLASSES.index("Bag")  # its few mistakes scatter over many classes, not pile onto one


@pytest.fixture(scope="module")
def fashion_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A root holding the four verified Fashion-MNIST files, from the Debian package's copy."""
    if not SYSTEM_COPY.is_dir():
        pytest.skip(f"{SYSTEM_COPY} is missing (`apt-get install dataset-fashion-mnist`)")
    root = tmp_path_factory.mktemp("fashion-mnist")
    fm.fetch([str(SYSTEM_COPY)], root)
    return root


@pytest.fixture(scope="module")
def brief_judge(fashion_root: Path) -> Judge:
    """A judge trained for two epochs on the first 20,000 training images (a few seconds)."""
    images, labels = fm.load_split(fashion_root, "train", limit=20000)
    model, _ = train_judge(
        images, labels, epochs=2, batch_size=128, lr=1e-3, seed=0, channels=16, progress=False
    )
    return model


def test_logits_have_one_row_per_image_and_ten_columns() -> None:
    model = Judge(channels=4)
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, 10)
    probs = predict_proba(model, np.random.default_rng(0).random((5, 784)))
    assert probs.shape == (5, 10)
    assert probs.sum(axis=1) == pytest.approx(np.ones(5), abs=1e-5)


def test_uint8_and_float_images_give_the_same_probabilities() -> None:
    torch.manual_seed(0)
    model = Judge(channels=4)
    images = np.random.default_rng(1).integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    from_bytes = predict_proba(model, images)
    from_floats = predict_proba(model, (images / 255.0).astype(np.float32).reshape(6, 784))
    np.testing.assert_allclose(from_bytes, from_floats, atol=1e-6)
    with pytest.raises(ValueError):
        predict_proba(model, images.astype(np.int64))


def test_training_is_deterministic_for_a_seed(fashion_root: Path) -> None:
    images, labels = fm.load_split(fashion_root, "train", limit=2000)
    kwargs = {"epochs": 2, "batch_size": 128, "lr": 1e-3, "channels": 8, "progress": False}
    first, history = train_judge(images, labels, seed=3, **kwargs)
    second, history_again = train_judge(images, labels, seed=3, **kwargs)
    other, _ = train_judge(images, labels, seed=4, **kwargs)
    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, second.state_dict()[name]), name
    assert not torch.equal(first.classifier[-1].weight, other.classifier[-1].weight)
    assert history == history_again
    assert [row["epoch"] for row in history] == [1, 2]
    assert history[1]["loss"] < history[0]["loss"]


def test_brief_judge_beats_chance_by_far(fashion_root: Path, brief_judge: Judge) -> None:
    images, labels = fm.load_split(fashion_root, "test")
    assert accuracy(brief_judge, images, labels) > 0.8


def test_mosaic_of_one_class_yields_that_class_alone(
    fashion_root: Path, brief_judge: Judge
) -> None:
    images, labels = fm.load_split(fashion_root, "test")
    tiles = images[labels == BAG][:441]
    summary = tile_class_summary(predict_proba(brief_judge, tiles), min_tiles=5)
    assert summary["classes_present"] == 1
    assert summary["histogram"][BAG] == max(summary["histogram"])
    assert summary["histogram"][BAG] > 0.9 * 441
