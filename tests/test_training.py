"""The training loop: it learns, it is deterministic, and a diverged run is named and not saved."""

from __future__ import annotations

import json
import math
import sys

import numpy as np
import pytest
import torch

from latentlab import checkpoints, training
from latentlab.errors import UserError
from latentlab.models import build_model
from stages import train as train_stage

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CPU = torch.device("cpu")


def fresh(kind: str, hidden: list[int], seed: int) -> torch.nn.Module:
    """A new model initialised as the train stage does: the global seed set just before."""
    torch.manual_seed(seed)
    return build_model(kind, 2, hidden)


def run(model, images, **kwargs):
    settings = {"name": "m", "epochs": 1, "batch_size": 64, "lr": 1e-3, "seed": 1, "device": CPU}
    settings.update(kwargs)
    return training.train(model, images, progress=False, **settings)


@torch.no_grad()
def full_loss(model, images) -> float:
    x = training.as_pixels(images, CPU)
    return sum(model.loss_terms(x, torch.Generator().manual_seed(0)).values()).item()


def test_as_pixels():
    images = np.array([[[0, 255], [51, 102]]], dtype=np.uint8)
    pixels = training.as_pixels(images, CPU)
    assert pixels.shape == (1, 4) and pixels.dtype == torch.float32
    torch.testing.assert_close(pixels, torch.tensor([[0.0, 1.0, 0.2, 0.4]]))


@pytest.mark.parametrize(
    ("kind", "hidden", "n", "lr", "factor"),
    [
        # the lab's linear 2-D AE learns slowly: a larger lr shows the loop works in 32 steps
        ("ae", [], 512, 3e-2, 0.97),
        ("vae", [512], 128, 1e-3, 0.85),
        ("ae", [512], 128, 1e-3, 0.85),
    ],
    ids=["ae", "vae", "ae_wide"],
)
def test_short_training_lowers_the_loss(small_train, kind, hidden, n, lr, factor):
    images = small_train[0][:n]
    model = fresh(kind, hidden, 1)
    before = full_loss(model, images)
    history = run(model, images, name=kind, epochs=2, batch_size=32, lr=lr)
    after = full_loss(model, images)
    assert after < factor * before, (before, after)
    assert not model.training  # left in eval mode
    assert [h["epoch"] for h in history] == [1, 2]
    terms = {"bce", "kl"} if kind == "vae" else {"bce"}
    for h in history:
        assert set(h) == {"epoch", "loss", *terms}
        assert math.isfinite(h["loss"])
        assert h["loss"] == pytest.approx(sum(h[t] for t in terms), rel=1e-5)
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
    assert message.startswith("vae diverged")
    assert "epoch 1, batch " in message
    assert "vae.lr" in message and "no model was written" in message


def _nan_at(model, call: int) -> list[int]:
    """Make the model's loss NaN from its `call`-th evaluation on; returns the count of calls."""
    real = model.loss_terms
    calls = [0]

    def loss_terms(x, generator=None):
        calls[0] += 1
        terms = real(x, generator)
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
        run(model, small_train[0][:n], name="ae_wide", epochs=3, batch_size=batch_size)
    assert f"ae_wide diverged: the loss is nan at epoch {epoch}, batch {batch};" in str(info.value)
    assert calls[0] == nan_call  # on a CPU it stops at once: not one batch more


def test_resolve_device():
    assert training.resolve_device("cpu") == CPU
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert training.resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="device is 'cuda', but no CUDA GPU is visible"):
            training.resolve_device("cuda")


def test_train_stage_writes_nothing_when_training_diverges(
    stage_dir, monkeypatch, capsys, repo_params
):
    """stages.train in process, with every loss NaN: exit 2, one error line, no outputs."""
    from latentlab import models

    monkeypatch.setattr(
        models.AutoEncoder,
        "loss_terms",
        lambda self, x, generator=None: {"bce": self(x).sum() * math.nan},
    )
    monkeypatch.chdir(stage_dir)
    monkeypatch.setattr(sys, "argv", ["train", "ae", "1"])
    with pytest.raises(SystemExit) as info:
        train_stage.main()
    assert info.value.code == 2
    err = capsys.readouterr().err
    error_lines = [line for line in err.splitlines() if line.startswith("error:")]
    assert error_lines == [
        "error: ae diverged: the loss is nan at epoch 1, batch 1; no model was written "
        "(try a smaller ae.lr)"
    ]
    assert not (stage_dir / "runs").exists()


def test_train_and_render_stages_write_their_outputs(stage_dir, monkeypatch):
    """The same stages in process, healthy (the control case): weights, curve, metrics, map."""
    from PIL import Image

    from latentlab.artifacts import load_arrays
    from stages import render as render_stage

    monkeypatch.chdir(stage_dir)
    monkeypatch.setattr(sys, "argv", ["train", "ae", "1"])
    train_stage.main()
    out = stage_dir / "runs" / "ae" / "seed1"
    assert sorted(p.name for p in out.iterdir()) == ["model.pt", "train.json", "train_curve.csv"]
    model = checkpoints.load_weights(build_model("ae", 2, []), out / "model.pt")

    # The render stage also measures the map: it reads the judge and the evaluate stage's codes.
    from latentlab import params
    from latentlab.artifacts import save_arrays
    from latentlab.judge import Judge

    checkpoints.save_weights(Judge(params.load().judge.channels), stage_dir / "runs/judge/model.pt")
    codes = np.array([[0.0, 0.0], [3.9, -3.9], [4.5, 0.0], [0.0, -9.0]], dtype=np.float32)
    save_arrays(out / "codes.npz", codes=codes, labels=np.zeros(4, dtype=np.int64))
    monkeypatch.setattr(sys, "argv", ["render", "ae"])
    render_stage.main()
    maps = stage_dir / "maps"
    assert json.loads((maps / "ae.json").read_text())["seed1"]["codes_in_square"] == 0.5
    z, tiles = load_arrays(maps / "ae" / "seed1.npz", "z", "tiles")
    assert z.shape == (21, 21, 2) and tiles.shape == (21, 21, 28, 28)
    np.testing.assert_array_equal(z[0, 0], [-4, 4])
    expected = model.decode(torch.tensor([[-4.0, 4.0]])).numpy().reshape(28, 28)
    np.testing.assert_allclose(tiles[0, 0], expected, rtol=1e-5, atol=1e-6)
    png = Image.open(maps / "ae" / "seed1.png")
    assert png.size == (588, 588) and png.mode == "L"
    np.testing.assert_array_equal(np.asarray(png)[:28, :28], np.rint(expected * 255))


def test_fused_adam_matches_torch_adam_bit_for_bit(small_train):
    """Our direct call of the fused kernel is torch.optim.Adam(fused=True), step for step."""
    x = training.as_pixels(small_train[0][:64], CPU)
    models = [fresh("vae", [512], 3), fresh("vae", [512], 3)]
    ours = training.FusedAdam(models[0].parameters(), lr=1e-3)
    theirs = torch.optim.Adam(models[1].parameters(), lr=1e-3, fused=True)
    for _ in range(20):
        for model, optimizer in zip(models, (ours, theirs), strict=True):
            optimizer.zero_grad()
            sum(model.loss_terms(x, torch.Generator().manual_seed(0)).values()).backward()
            optimizer.step()
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        assert torch.equal(a, b)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="counts glibc page faults")
def test_freed_memory_is_reused_without_page_faults():
    import resource

    training.keep_freed_memory()
    torch.empty(1 << 20).fill_(1)  # 4 MiB, once, so the heap holds it
    before = resource.getrusage(resource.RUSAGE_SELF).ru_minflt
    for _ in range(50):
        torch.empty(1 << 20).fill_(1)
    # Handed back each time, 50 x 4 MiB would take about 50,000 faults to touch again.
    assert resource.getrusage(resource.RUSAGE_SELF).ru_minflt - before < 500
