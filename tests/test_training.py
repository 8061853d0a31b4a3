"""The training loop: it learns, it is deterministic, a diverged run is named, and the per-epoch
callback sees every epoch without changing the training; and the torch runtime it uses."""

from __future__ import annotations

import math
import sys

import numpy as np
import pytest
import torch

from latentlab import training
from latentlab.analysis.latent_grid import grid_codes
from latentlab.core.errors import UserError
from latentlab.nn import checkpoints, runtime
from latentlab.nn.models import build_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CPU = torch.device("cpu")


def fresh(kind: str, hidden: list[int], seed: int, **weight: float) -> torch.nn.Module:
    """A new model initialised as the train stage does: the global seed set just before."""
    torch.manual_seed(seed)
    return build_model(kind, 2, hidden, **weight)


def run(model, images, **kwargs):
    settings = {"name": "m", "epochs": 1, "batch_size": 64, "lr": 1e-3, "seed": 1, "device": CPU}
    settings.update(kwargs)
    return training.train(model, images, progress=False, **settings)


@torch.no_grad()
def full_loss(model, images) -> float:
    x = runtime.as_pixels(images, CPU)
    noise = model.draw_noise(len(x), torch.Generator().manual_seed(0))
    return model.loss(model.loss_terms(x, noise)).item()


def test_as_pixels():
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    pixels = runtime.as_pixels(images, CPU)
    assert pixels.shape == (1, 4) and pixels.dtype == torch.float32
    torch.testing.assert_close(pixels, torch.tensor([[0.0, 1.0, 0.2, 0.4]]))


@pytest.mark.parametrize(
    ("kind", "hidden", "weight", "n", "lr", "factor"),
    [
        # the lab's linear 2-D AE learns slowly: a larger lr shows the loop works in 32 steps
        ("ae", [], {}, 512, 3e-2, 0.97),
        ("vae", [512], {}, 128, 1e-3, 0.85),
        ("ae", [512], {}, 128, 1e-3, 0.85),
        ("vae", [512], {"beta": 0.0}, 128, 1e-3, 0.85),
        ("wae", [512], {"mmd_weight": 10.0}, 128, 1e-3, 0.85),
    ],
    ids=["ae", "vae", "ae_wide", "vae_nokl", "wae"],
)
def test_short_training_lowers_the_loss(small_train, kind, hidden, weight, n, lr, factor):
    images = small_train[0][:n]
    model = fresh(kind, hidden, 1, **weight)
    before = full_loss(model, images)
    history = run(model, images, name=kind, epochs=2, batch_size=32, lr=lr)
    after = full_loss(model, images)
    assert after < factor * before, (before, after)
    assert not model.training  # left in eval mode
    assert [h["epoch"] for h in history] == [1, 2]
    terms = {"vae": {"bce", "kl"}, "wae": {"bce", "mmd"}}.get(kind, {"bce"})
    for h in history:
        assert set(h) == {"epoch", "loss", *terms}  # every term logged, even one weighted 0
        assert math.isfinite(h["loss"])
        # the loss is the weighted sum of the terms (a VAE's KL times beta, a WAE's MMD times
        # mmd_weight)
        expected = sum(model.term_weights[t] * h[t] for t in terms)
        assert h["loss"] == pytest.approx(expected, rel=1e-5)
    assert history[1]["loss"] < history[0]["loss"]


def test_epoch_loss_is_the_per_image_mean(small_train):
    """With lr tiny the weights barely move, so the epoch mean is the loss of the whole set."""
    images = small_train[0][:100]  # 100 = 64 + 36: a short last batch weighs 36, not 64
    model = fresh("ae", [], 2)
    before = full_loss(model, images)
    (h,) = run(model, images, batch_size=64, lr=1e-9)
    assert h["loss"] == pytest.approx(before, rel=1e-4)


@pytest.mark.parametrize(("kind", "hidden"), [("ae", []), ("vae", [512])], ids=["ae", "vae"])
def test_same_seed_gives_identical_weights_and_bytes(small_train, tmp_path, kind, hidden):
    images = small_train[0][:256]
    first = fresh(kind, hidden, 3)
    h1 = run(first, images, seed=3)
    torch.rand(10)  # disturb the global RNG between the runs
    second = fresh(kind, hidden, 3)
    h2 = run(second, images, seed=3)
    s1, s2 = first.state_dict(), second.state_dict()
    assert list(s1) == list(s2)
    for key in s1:
        assert torch.equal(s1[key], s2[key]), key
    assert h1 == h2
    checkpoints.save_weights(first, tmp_path / "a.pt")
    checkpoints.save_weights(second, tmp_path / "b.pt")
    assert (tmp_path / "a.pt").read_bytes() == (tmp_path / "b.pt").read_bytes()
    # and the seed matters
    other = fresh(kind, hidden, 4)
    run(other, images, seed=4)
    assert not all(torch.equal(s1[k], other.state_dict()[k]) for k in s1)


def test_training_seed_alone_changes_the_result(small_train):
    """Same initial weights, different training seed: a different batch order."""
    images = small_train[0][:256]
    a, b = fresh("ae", [], 5), fresh("ae", [], 5)
    run(a, images, seed=1)
    run(b, images, seed=2)
    assert not torch.equal(a.encoder[0].weight, b.encoder[0].weight)


def test_huge_learning_rate_diverges_with_a_named_error(small_train):
    model = fresh("vae", [512], 1)
    with pytest.raises(training.DivergedError) as info:
        run(model, small_train[0][:256], name="vae", lr=1e6)
    message = str(info.value)
    assert isinstance(info.value, UserError)
    assert message.startswith("vae seed 1 diverged")
    assert "epoch 1, batch " in message
    assert "vae.lr" in message and "no model was written" in message


def _nan_at(model, call: int) -> list[int]:
    """Make the model's loss NaN from its `call`-th evaluation on; returns the count of calls."""
    real = model.loss_terms
    calls = [0]

    def loss_terms(x, noise=None):
        calls[0] += 1
        terms = real(x, noise)
        return {k: v * math.nan for k, v in terms.items()} if calls[0] >= call else terms

    model.loss_terms = loss_terms
    return calls


@pytest.mark.parametrize(
    ("n", "batch_size", "nan_call", "epoch", "batch"),
    [
        (256, 64, 1, 1, 1),
        (256, 64, 7, 2, 3),  # 4 batches an epoch
        (10, 4, 3, 1, 3),  # the short last batch
        (200, 2, 153, 2, 53),  # 100 batches an epoch: past a first block of 50 batches
    ],
)
def test_divergence_names_model_epoch_and_batch(small_train, n, batch_size, nan_call, epoch, batch):
    model = fresh("ae", [], 1)
    calls = _nan_at(model, nan_call)
    with pytest.raises(training.DivergedError) as info:
        run(model, small_train[0][:n], name="ae_wide", seed=4, epochs=3, batch_size=batch_size)
    expected = f"ae_wide seed 4 diverged: the loss is nan at epoch {epoch}, batch {batch};"
    assert expected in str(info.value)
    assert calls[0] == nan_call  # on a CPU it stops at once: not one batch more


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize(("kind", "hidden"), [("ae", []), ("vae", [32])], ids=["ae", "vae"])
def test_on_epoch_is_called_after_every_epoch_with_its_means(small_train, kind, hidden):
    images = small_train[0][:130]  # 64 + 64 + 2: a short last batch
    model = fresh(kind, hidden, 2)
    calls: list[tuple[int, dict[str, float], bool]] = []
    modes_in_training: list[bool] = []
    real_loss_terms = model.loss_terms

    def loss_terms(x, noise=None):
        modes_in_training.append(model.training)
        return real_loss_terms(x, noise)

    model.loss_terms = loss_terms

    def on_epoch(epoch: int, means: dict[str, float]) -> None:
        calls.append((epoch, dict(means), model.training))

    history = run(model, images, name=kind, epochs=3, seed=2, on_epoch=on_epoch)
    assert [c[0] for c in calls] == [1, 2, 3]
    assert [c[1] for c in calls] == history  # the epoch's means, as returned
    assert all(not training_mode for _, _, training_mode in calls)  # eval mode in the callback
    assert len(modes_in_training) == 9 and all(modes_in_training)  # train mode in every batch
    assert not model.training


@pytest.mark.parametrize(("kind", "hidden"), [("ae", []), ("vae", [32])], ids=["ae", "vae"])
def test_on_epoch_does_not_change_the_trained_weights(small_train, kind, hidden):
    """The train stage decodes a map in its callback; the weights are the same, bit for bit."""
    images = small_train[0][:256]
    codes = grid_codes(5, 4.0)
    plain = fresh(kind, hidden, 3)
    h_plain = run(plain, images, name=kind, epochs=2, seed=3)
    maps = []

    def on_epoch(epoch: int, means: dict[str, float]) -> None:
        maps.append(watched.decode_grid(codes))  # as stages/train.py's progress map
        x = runtime.as_pixels(images[:8], CPU)
        watched.loss_terms(x, watched.draw_noise(8, torch.Generator()))
        torch.randn(8, 2)  # the global RNG
        torch.rand(3)

    watched = fresh(kind, hidden, 3)
    h_watched = run(watched, images, name=kind, epochs=2, seed=3, on_epoch=on_epoch)
    assert h_watched == h_plain
    w_plain, w_watched = weights(plain), weights(watched)
    assert list(w_plain) == list(w_watched)
    for key in w_plain:
        assert torch.equal(w_plain[key], w_watched[key]), key
    assert len(maps) == 2 and maps[0].shape == (5, 5, 28, 28)
    assert not np.array_equal(maps[0], maps[1])  # the map did change between the epochs
    np.testing.assert_allclose(maps[1], watched.decode_grid(codes), rtol=0, atol=0)


def test_on_epoch_is_not_called_after_a_divergence(small_train):
    model = fresh("ae", [], 1)
    _nan_at(model, 5)  # in the second epoch (4 batches an epoch)
    epochs: list[int] = []
    with pytest.raises(training.DivergedError):
        run(model, small_train[0][:256], epochs=3, on_epoch=lambda e, m: epochs.append(e))
    assert epochs == [1]


def test_make_optimizer_is_the_fused_adam_on_a_cpu():
    model = fresh("ae", [], 0)
    optimizer = runtime.make_optimizer(model, 1e-3, CPU)
    assert isinstance(optimizer, runtime.FusedAdam)
    assert optimizer.lr == 1e-3 and optimizer.params == list(model.parameters())
    other = runtime.make_optimizer(model, 1e-3, torch.device("meta"))  # no fused kernel
    assert isinstance(other, torch.optim.Adam)


def test_resolve_device():
    assert runtime.resolve_device("cpu") == CPU
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert runtime.resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="device is 'cuda', but no CUDA GPU is visible"):
            runtime.resolve_device("cuda")


def test_fused_adam_matches_torch_adam_bit_for_bit(small_train):
    """Our direct call of the fused kernel is torch.optim.Adam(fused=True), step for step."""
    x = runtime.as_pixels(small_train[0][:64], CPU)
    models = [fresh("vae", [512], 3), fresh("vae", [512], 3)]
    ours = runtime.FusedAdam(models[0].parameters(), lr=1e-3)
    theirs = torch.optim.Adam(models[1].parameters(), lr=1e-3, fused=True)
    for _ in range(20):
        for model, optimizer in zip(models, (ours, theirs), strict=True):
            optimizer.zero_grad()
            noise = model.draw_noise(len(x), torch.Generator().manual_seed(0))
            model.loss(model.loss_terms(x, noise)).backward()
            optimizer.step()
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts glibc page faults")
def test_freed_memory_is_reused_without_page_faults():
    import resource

    runtime.keep_freed_memory()
    torch.empty(1 << 20).fill_(1)  # 4 MiB, once, so the heap holds it
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        torch.empty(1 << 20).fill_(1)
    # Handed back each time, 50 x 4 MiB would take about 50,000 faults to touch again.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 500
