"""The judge classifier: its shapes, its features, its determinism, that it recognises real
images, and how the trained judges are loaded and asked (latentlab/judge/)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from latentlab.analysis.measures import REFERENCE_SETS, class_histogram, classes_present
from latentlab.analysis.metrics import HIGHER, written_by
from latentlab.analysis.realism import real_subsets, subset_balls
from latentlab.calibration import calibrate, reference_images
from latentlab.core import fashion_mnist as fm
from latentlab.core import paths
from latentlab.core.artifacts import save_arrays
from latentlab.core.errors import UserError
from latentlab.judge.network import (
    N_CLASSES,
    Judge,
    judge_all,
    judge_images,
    load_panel,
)
from latentlab.judge.training import train_judge
from latentlab.nn.checkpoints import save_weights

pytestmark = pytest.mark.usefixtures("one_torch_thread")

BAG = fm.CLASSES.index("Bag")  # its few mistakes scatter over many classes, not pile onto one


@pytest.fixture(scope="module")
def brief_judge(raw_root: Path) -> Judge:
    """A judge trained for two epochs on the first 12,000 training images (a few seconds)."""
    images, labels = fm.load_split(raw_root, "train", limit=12000)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # a module fixture starts before one_torch_thread does
    try:
        model, _ = train_judge(
            images, labels, epochs=2, batch_size=128, lr=2e-3, seed=0, channels=8, progress=False
        )
    finally:
        torch.set_num_threads(threads)
    return model


def random_judge(channels: int = 4, seed: int = 0) -> Judge:
    torch.manual_seed(seed)
    return Judge(channels=channels).eval()


def test_logits_have_one_row_per_image_and_ten_columns() -> None:
    model = random_judge()
    assert model(torch.rand(3, 1, 28, 28)).shape == (3, N_CLASSES)
    probs = _probs(model, np.random.default_rng(0).random((5, 784)))
    assert probs.shape == (5, 10)
    assert probs.sum(axis=1) == pytest.approx(np.ones(5), abs=1e-5)


@pytest.mark.parametrize("channels", [1, 4, 16])
def test_embed_gives_the_penultimate_features(channels: int) -> None:
    model = random_judge(channels)
    x = torch.rand(6, 1, 28, 28, generator=torch.Generator().manual_seed(1))
    with torch.no_grad():
        features = model.embed(x)
        assert features.shape == (6, 8 * channels)
        assert torch.all(features >= 0)  # after the hidden layer's ReLU
        # the logits are the last layer applied to those features
        torch.testing.assert_close(model(x), model.classifier[-1](features))


def test_judge_images_agrees_with_predict_proba_and_embed() -> None:
    model = random_judge(4, seed=2)
    images = np.random.default_rng(3).integers(0, 256, size=(25, 28, 28), dtype=np.uint8)
    probs, features = judge_images(model, images, batch_size=7)  # four batches, the last short
    assert probs.shape == (25, 10) and features.shape == (25, 32)
    assert probs.dtype == np.float32 and features.dtype == np.float32
    np.testing.assert_allclose(probs, _probs(model, images), rtol=1e-5, atol=1e-6)
    with torch.no_grad():
        expected = model.embed(torch.as_tensor(images, dtype=torch.float32)[:, None] / 255)
    np.testing.assert_allclose(features, expected.numpy(), rtol=1e-5, atol=1e-5)
    one_batch_probs, one_batch_features = judge_images(model, images)
    np.testing.assert_allclose(one_batch_probs, probs, rtol=1e-5, atol=1e-6)
    np.testing.assert_allclose(one_batch_features, features, rtol=1e-5, atol=1e-5)


def test_judge_images_of_no_images() -> None:
    probs, features = judge_images(random_judge(4), np.zeros((0, 28, 28), dtype=np.float32))
    assert probs.shape == (0, 10) and features.shape == (0, 32)
    assert _probs(random_judge(4), np.zeros((0, 784), np.float32)).shape == (0, 10)


def test_judge_images_puts_a_training_judge_in_eval_mode() -> None:
    """Batch norm and dropout in training mode would make the answers depend on the batch."""
    model = random_judge(4)
    model.train()
    images = np.random.default_rng(4).random((10, 784)).astype(np.float32)
    first = judge_images(model, images)
    assert not model.training
    second = judge_images(model, images[:3])
    np.testing.assert_allclose(second[0], first[0][:3], rtol=1e-5, atol=1e-6)


def test_uint8_and_float_images_give_the_same_probabilities() -> None:
    model = random_judge(4)
    images = np.random.default_rng(1).integers(0, 256, size=(6, 28, 28), dtype=np.uint8)
    from_bytes = _probs(model, images)
    from_floats = _probs(model, (images / 255.0).astype(np.float32).reshape(6, 784))
    np.testing.assert_allclose(from_bytes, from_floats, atol=1e-6)
    with pytest.raises(ValueError, match="uint8"):
        _probs(model, images.astype(np.int64))
    with pytest.raises(ValueError, match="uint8"):
        judge_images(model, images.astype(np.int64))


def test_training_is_deterministic_for_a_seed(raw_root: Path) -> None:
    images, labels = fm.load_split(raw_root, "train", limit=1000)
    kwargs = {"epochs": 2, "batch_size": 128, "lr": 1e-3, "channels": 4, "progress": False}
    first, history = train_judge(images, labels, seed=3, **kwargs)
    second, history_again = train_judge(images, labels, seed=3, **kwargs)
    other, _ = train_judge(images, labels, seed=4, **kwargs)
    for name, tensor in first.state_dict().items():
        assert torch.equal(tensor, second.state_dict()[name]), name
    assert not torch.equal(first.classifier[-1].weight, other.classifier[-1].weight)
    assert history == history_again
    assert [row["epoch"] for row in history] == [1, 2]
    assert history[1]["loss"] < history[0]["loss"]
    assert not first.training


def test_brief_judge_beats_chance_by_far(raw_root: Path, brief_judge: Judge) -> None:
    images, labels = fm.load_split(raw_root, "test")
    assert np.mean(_probs(brief_judge, images).argmax(axis=1) == labels) > 0.8


def test_mosaic_of_one_class_yields_that_class_alone(raw_root: Path, brief_judge: Judge) -> None:
    images, labels = fm.load_split(raw_root, "test")
    tiles = images[labels == BAG][:441]
    probs, features = judge_images(brief_judge, tiles)
    realistic = np.ones(len(tiles), dtype=bool)
    assert classes_present(probs, realistic, min_confidence=0.5, min_tiles=5) == 1
    histogram = class_histogram(probs)
    assert histogram[BAG] == max(histogram)
    assert histogram[BAG] > 0.9 * 441
    assert features.shape == (441, 64)


def test_features_of_real_images_group_by_class(raw_root: Path, brief_judge: Judge) -> None:
    """The feature space the realism measures use: an image is nearer its own class's mean."""
    images, labels = fm.load_split(raw_root, "test", limit=2000)
    _, features = judge_images(brief_judge, images)
    means = np.stack([features[labels == c].mean(axis=0) for c in range(10)])
    nearest = np.argmin(((features[:, None, :] - means[None]) ** 2).sum(-1), axis=1)
    assert np.mean(nearest == labels) > 0.7


def test_load_panel_reads_each_seed_s_weights_and_features(tmp_path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    saved = {seed: random_judge(4, seed) for seed in (1, 5)}
    for seed, model in saved.items():
        save_weights(model, paths.judge_weights(seed))
    assert (tmp_path / "runs" / "judge" / "models" / "seed5.pt").is_file()
    features = np.arange(2 * 3 * 32, dtype=np.float32).reshape(2, 3, 32)
    save_arrays(paths.JUDGE_FEATURES, seeds=np.array([5, 1]), features=features)
    panel = load_panel([5, 1], 4, torch.device("cpu"))
    judges = panel.judges
    np.testing.assert_array_equal(np.stack(panel.test_features), features)
    assert len(judges) == 2
    for judge, seed in zip(judges, [5, 1], strict=True):
        assert not judge.training
        for key, value in saved[seed].state_dict().items():
            assert torch.equal(judge.state_dict()[key], value), (seed, key)
    images = np.random.default_rng(0).random((3, 784)).astype(np.float32)
    answers = judge_all(judges, images)
    assert len(answers) == 2
    for (probs, features), seed in zip(answers, [5, 1], strict=True):
        expected_probs, expected_features = judge_images(saved[seed], images)
        np.testing.assert_allclose(probs, expected_probs, rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(features, expected_features, rtol=1e-5, atol=1e-6)
    assert not np.allclose(answers[0][1], answers[1][1])  # two judges, two answers
    with pytest.raises(UserError, match=r"seed2\.pt is missing"):
        load_panel([1, 2], 4, torch.device("cpu"))
    with pytest.raises(UserError, match="does not hold weights for this model's params"):
        load_panel([1], 8, torch.device("cpu"))  # judge.channels changed since training
    with pytest.raises(UserError, match=r"features of judges \[5, 1\], not of judge.seeds \[1\]"):
        load_panel([1], 4, torch.device("cpu"))  # judge.seeds changed since the judge stage


def test_a_diverging_judge_is_refused_in_one_sentence(monkeypatch) -> None:
    import latentlab.judge.training as training

    def nan_loss(logits: torch.Tensor, labels: torch.Tensor) -> torch.Tensor:
        return logits.sum() * float("nan")

    monkeypatch.setattr(training.F, "cross_entropy", nan_loss)
    images = np.zeros((8, 28, 28), dtype=np.uint8)
    with pytest.raises(UserError, match=r"judge of seed 3 diverged.*smaller judge\.lr"):
        train_judge(
            images,
            np.arange(8) % 10,
            epochs=1,
            batch_size=4,
            lr=1e-3,
            seed=3,
            channels=2,
            progress=False,
        )


def _probs(model: Judge, images: np.ndarray) -> np.ndarray:
    """The judge's class probabilities of images (judge_images without the features)."""
    return judge_images(model, images)[0]


def test_the_references_of_the_calibrate_stage_rank_real_images_above_noise(
    raw_root: Path, brief_judge: Judge
) -> None:
    """Measured as a map's tiles are, real training images beat uniform noise on every judged
    map measure, and on coverage (which needs the real images themselves to be matched) the
    blurred images and ghosts stay far below real images."""
    train, train_labels = fm.load_split(raw_root, "train", limit=4000)
    test, _ = fm.load_split(raw_root, "test", limit=2000)
    _, real = judge_images(brief_judge, test)
    balls = subset_balls(real, 3, real_subsets(len(real), 441, 2, seed=1))
    references = reference_images(train, train_labels, 441, seed=1)
    got = calibrate(references, [brief_judge], [real], [balls], 0.8, 5)
    assert list(got) == list(REFERENCE_SETS)
    assert set(got["real"]) == {m.name for m in written_by("render") if m.per_judge}
    value = {r: {m: v[0] for m, v in measured.items()} for r, measured in got.items()}
    for name, better in ((m.name, m.better) for m in written_by("render") if m.per_judge):
        real_wins = value["real"][name] - value["noise"][name]
        assert (real_wins if better == HIGHER else -real_wins) > 0, name
    assert value["real"]["coverage"] > 0.5 > max(value[r]["coverage"] for r in REFERENCE_SETS[1:])
    assert value["noise"]["coverage"] < 0.05
