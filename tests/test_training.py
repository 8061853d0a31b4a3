"""The training loop: it learns, it is deterministic, a diverged run is named, and the per-epoch
callback sees every epoch without changing the training; and the torch runtime it uses."""

from __future__ import annotations

import logging
import math
import subprocess
import sys

import numpy as np
import pytest
import torch

from latentlab import training
from latentlab.analysis.latent_grid import grid_codes
from latentlab.core.errors import UserError
from latentlab.nn import checkpoints, runtime
from latentlab.nn.models import AutoEncoder, build_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

CPU = torch.device("cpu")
FP32 = runtime.resolve_runtime("cpu", "fp32")
BF16 = runtime.resolve_runtime("cpu", "bf16")


def fresh(kind: str, hidden: list[int], seed: int, **weight: float) -> torch.nn.Module:
    """A new model initialised as the train stage does: the global seed set just before."""
    torch.manual_seed(seed)
    return build_model(kind, 2, hidden, **weight)


def run(models, images, **kwargs):
    """train() on seed -> model (a lone model trains as seed 1, or as kwargs' seed)."""
    if not isinstance(models, dict):
        models = {kwargs.pop("seed", 1): models}
    settings = {"name": "m", "epochs": 1, "batch_size": 64, "lr": 1e-3, "runtime": FP32}
    settings.update(kwargs)
    history = training.train(models, images, progress=False, **settings)
    return history if len(history) > 1 else next(iter(history.values()))


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


@pytest.mark.parametrize("precision", [FP32, BF16], ids=["fp32", "bf16"])
@pytest.mark.parametrize(
    ("kind", "hidden", "weight"),
    [
        ("ae", [], {}),
        ("vae", [512], {}),
        ("ae", [512], {}),
        ("vae", [512], {"beta": 0.0}),
        ("wae", [512], {"mmd_weight": 10.0}),
    ],
    ids=["ae", "vae", "ae_wide", "vae_nokl", "wae"],
)
def test_a_seed_trains_alike_alone_and_beside_other_seeds(
    small_train, kind, hidden, weight, precision
):
    """Seed 2 alone, and stacked with seeds 1 and 3: the same weights, byte for byte, and the
    same losses; a short last batch (200 = 3 x 64 + 8) included."""
    images = small_train[0][:200]
    alone = {2: fresh(kind, hidden, 2, **weight)}
    together = {seed: fresh(kind, hidden, seed, **weight) for seed in (1, 2, 3)}
    h_alone = run(alone, images, epochs=2, runtime=precision)
    h_together = run(together, images, epochs=2, runtime=precision)
    assert h_together[2] == h_alone
    w_alone, w_together = weights(alone[2]), weights(together[2])
    for key in w_alone:
        assert w_alone[key].dtype == torch.float32
        assert w_alone[key].numpy().tobytes() == w_together[key].numpy().tobytes(), key
    assert not torch.equal(w_together["decoder.0.weight"], weights(together[1])["decoder.0.weight"])
    assert len({repr(h_together[s]) for s in (1, 2, 3)}) == 3  # three different seeds


def test_bf16_trains_close_to_fp32(small_train):
    """bf16 matmuls change the weights, within what a few epochs' training moves them by."""
    images = small_train[0][:256]
    h32 = run(fresh("vae", [64], 1), images, epochs=3, runtime=FP32)
    h16 = run(fresh("vae", [64], 1), images, epochs=3, runtime=BF16)
    assert h16[-1]["loss"] == pytest.approx(h32[-1]["loss"], rel=0.01)
    assert h16[-1]["loss"] != h32[-1]["loss"]  # the products did run in bf16


def test_huge_learning_rate_diverges_with_a_named_error(small_train):
    model = fresh("vae", [512], 1)
    with pytest.raises(training.DivergedError) as info:
        run(model, small_train[0][:256], name="vae", lr=1e6)
    message = str(info.value)
    assert isinstance(info.value, UserError)
    assert message.startswith("vae seed 1 diverged")
    assert "epoch 1, batch " in message
    assert "vae.lr" in message and "no model was written" in message


def _nan_at(monkeypatch, call: int, index: int = 0) -> list[int]:
    """Make the AE's loss NaN for the index-th stacked seed from its `call`-th evaluation on;
    returns the count of calls."""
    real = AutoEncoder.loss_terms
    calls = [0]

    def loss_terms(self, x, noise=None):
        calls[0] += 1
        terms = real(self, x, noise)
        if calls[0] >= call:
            poison = torch.ones(x.shape[0])
            poison[index] = math.nan
            terms = {k: v * poison for k, v in terms.items()}
        return terms

    monkeypatch.setattr(AutoEncoder, "loss_terms", loss_terms)
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
def test_divergence_names_model_seed_epoch_and_batch(
    small_train, monkeypatch, n, batch_size, nan_call, epoch, batch
):
    models = {seed: fresh("ae", [], seed) for seed in (4, 7)}
    calls = _nan_at(monkeypatch, nan_call, index=1)  # seed 7 diverges, seed 4 does not
    with pytest.raises(training.DivergedError) as info:
        run(models, small_train[0][:n], name="ae_wide", epochs=3, batch_size=batch_size)
    expected = f"ae_wide seed 7 diverged: the loss is nan at epoch {epoch}, batch {batch};"
    assert expected in str(info.value)
    assert calls[0] == nan_call  # on a CPU it stops at once: not one batch more


def weights(model: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {k: v.detach().clone() for k, v in model.state_dict().items()}


@pytest.mark.parametrize(("kind", "hidden"), [("ae", []), ("vae", [32])], ids=["ae", "vae"])
def test_on_epoch_is_called_after_every_epoch_with_its_means(
    small_train, monkeypatch, kind, hidden
):
    images = small_train[0][:130]  # 64 + 64 + 2: a short last batch
    models = {seed: fresh(kind, hidden, seed) for seed in (2, 5)}
    calls: list[tuple[int, dict[int, dict[str, float]], list[bool], dict]] = []
    modes_in_training: list[bool] = []
    cls = type(models[2])
    real_loss_terms = cls.loss_terms

    def loss_terms(self, x, noise=None):
        modes_in_training.append(self.training)
        return real_loss_terms(self, x, noise)

    monkeypatch.setattr(cls, "loss_terms", loss_terms)

    def on_epoch(epoch: int, means: dict[int, dict[str, float]]) -> None:
        modes = [m.training for m in models.values()]
        calls.append((epoch, {s: dict(m) for s, m in means.items()}, modes, weights(models[5])))

    history = run(models, images, name=kind, epochs=3, on_epoch=on_epoch)
    assert [c[0] for c in calls] == [1, 2, 3]
    for epoch, means, modes, _ in calls:
        assert means == {s: h[epoch - 1] for s, h in history.items()}  # the epoch's, by seed
        assert modes == [False, False]  # every model in eval mode in the callback
    assert len(modes_in_training) == 9 and all(modes_in_training)  # train mode in every batch
    # Each call saw the weights of that epoch: they changed between the calls.
    assert not torch.equal(calls[0][3]["decoder.0.weight"], calls[1][3]["decoder.0.weight"])
    for key, value in weights(models[5]).items():
        assert torch.equal(calls[2][3][key], value), key


@pytest.mark.parametrize(("kind", "hidden"), [("ae", []), ("vae", [32])], ids=["ae", "vae"])
def test_on_epoch_does_not_change_the_trained_weights(small_train, kind, hidden):
    """The train stage decodes a map in its callback; the weights are the same, bit for bit."""
    images = small_train[0][:256]
    codes = grid_codes(5, 4.0)
    plain = fresh(kind, hidden, 3)
    h_plain = run(plain, images, name=kind, epochs=2, seed=3)
    maps = []

    def on_epoch(epoch: int, means: dict[int, dict[str, float]]) -> None:
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


def test_on_epoch_is_not_called_after_a_divergence(small_train, monkeypatch):
    model = fresh("ae", [], 1)
    _nan_at(monkeypatch, 5)  # in the second epoch (4 batches an epoch)
    epochs: list[int] = []
    with pytest.raises(training.DivergedError):
        run(model, small_train[0][:256], epochs=3, on_epoch=lambda e, m: epochs.append(e))
    assert epochs == [1]


def test_make_optimizer_is_torch_s_fused_adam_bit_for_bit(small_train):
    """Our optimizer is torch.optim.Adam(fused=True), step for step, steps counted alike."""
    x = runtime.as_pixels(small_train[0][:64], CPU)
    models = [fresh("vae", [512], 3), fresh("vae", [512], 3)]
    ours = runtime.make_optimizer(models[0].parameters(), 1e-3, CPU)
    theirs = torch.optim.Adam(models[1].parameters(), lr=1e-3, fused=True)
    assert ours.fused
    for _ in range(20):
        for model, optimizer in zip(models, (ours, theirs), strict=True):
            optimizer.zero_grad()
            noise = model.draw_noise(len(x), torch.Generator().manual_seed(0))
            model.loss(model.loss_terms(x, noise)).backward()
            optimizer.step()
    for a, b in zip(models[0].parameters(), models[1].parameters(), strict=True):
        assert torch.equal(a, b)
    assert [float(s) for s in ours.steps] == [20.0] * len(ours.steps)
    assert not runtime.make_optimizer([], 1e-3, torch.device("meta")).fused  # no fused kernel


def test_training_imports_no_torch_dynamo():
    """Building torch.optim's optimizers imports torch._dynamo, a cost every process would pay."""
    code = (
        "import sys, numpy as np, torch; from latentlab import training; "
        "from latentlab.nn import runtime, models; "
        "training.train({1: models.build_model('vae', 2, [8])}, "
        "np.zeros((8, 28, 28), np.uint8), name='m', epochs=1, batch_size=4, lr=1e-3, "
        "runtime=runtime.CPU_FP32, progress=False); "
        "print('torch._dynamo' in sys.modules)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout.strip() == "False"


def test_resolve_device():
    assert runtime.resolve_device("cpu") == CPU
    expected = "cuda" if torch.cuda.is_available() else "cpu"
    assert runtime.resolve_device("auto").type == expected
    if not torch.cuda.is_available():
        with pytest.raises(UserError, match="device is 'cuda', but no CUDA GPU is visible"):
            runtime.resolve_device("cuda")


@pytest.mark.parametrize(
    ("features", "auto"),
    [({"amx_bf16": True}, "bf16"), ({"avx512_bf16": True}, "bf16"), ({"avx2": True}, "fp32")],
)
def test_precision_auto_is_bf16_where_the_cpu_has_it_natively(monkeypatch, features, auto):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"cpu_name": "Some CPU", **features})
    got = runtime.resolve_runtime("cpu", "auto")
    assert got.precision == auto and got.device == CPU
    assert ("Some CPU has" in got.reason) == (auto == "bf16")
    assert runtime.resolve_runtime("cpu", "fp32").dtype == torch.float32
    assert runtime.resolve_runtime("cpu", "bf16").dtype == torch.bfloat16
    assert ("emulated" in runtime.resolve_runtime("cpu", "bf16").reason) == (auto == "fp32")


def test_setup_says_the_precision_in_one_log_line(caplog):
    log = logging.getLogger("some stage")
    with caplog.at_level(logging.INFO, logger="some stage"):
        got = runtime.setup("cpu", "bf16", log)
    assert got.dtype == torch.bfloat16
    assert [r.getMessage() for r in caplog.records] == [
        "torch on cpu, matmuls and convolutions in bf16 (precision bf16"
        + ("" if runtime.native_bf16(CPU) else ", emulated")
        + "); losses, weights and measures in fp32"
    ]


def test_under_bf16_the_matmuls_run_in_bf16_and_the_outputs_are_fp32():
    model = fresh("vae", [64], 0).eval()
    x = torch.rand(4, 784, generator=torch.Generator().manual_seed(0))
    with torch.no_grad():
        exact = model.decode(model.encode(x)[0])
        with BF16.autocast():
            hidden = model.encoder[0](x)
            mu, logvar = model.encode(x)
            images = model.decode(mu)
        with FP32.autocast():
            assert model.encoder[0](x).dtype == torch.float32
    assert hidden.dtype == torch.bfloat16
    assert mu.dtype == logvar.dtype == images.dtype == torch.float32
    torch.testing.assert_close(images, exact, atol=0.02, rtol=0)
    assert not torch.equal(images, exact)


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
