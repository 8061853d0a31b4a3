"""The lab's AE and VAE (shapes, sizes, structure) and the two losses, checked by hand."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from latentlab.core import params
from latentlab.nn import losses, models
from latentlab.nn.models import PIXELS, AutoEncoder, VariationalAutoEncoder, build_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")

# name: (kind, hidden, encoder parameters, decoder parameters), counted by hand (weights + biases)
LAB_MODELS = {
    # 784 -> 2 | 2 -> 784
    "ae": ("ae", [], 784 * 2 + 2, 2 * 784 + 784),
    # 784 -> 512 -> (mu, log sigma^2) of 2 each | 2 -> 512 -> 784
    "vae": ("vae", [512], (784 * 512 + 512) + (512 * 4 + 4), (2 * 512 + 512) + (512 * 784 + 784)),
    # the like-for-like autoencoder: the VAE's hidden layers, one 2-D code head
    "ae_wide": (
        "ae",
        [512],
        (784 * 512 + 512) + (512 * 2 + 2),
        (2 * 512 + 512) + (512 * 784 + 784),
    ),
}


def n_params(module: torch.nn.Module) -> int:
    return sum(p.numel() for p in module.parameters())


@pytest.fixture
def batch() -> torch.Tensor:
    return torch.rand(5, PIXELS, generator=torch.Generator().manual_seed(0))


@pytest.mark.parametrize("name", LAB_MODELS)
def test_parameter_counts_match_the_lab(name):
    kind, hidden, n_encoder, n_decoder = LAB_MODELS[name]
    torch.manual_seed(0)
    model = build_model(kind, 2, hidden)
    assert n_params(model.encoder) == n_encoder
    assert n_params(model.decoder) == n_decoder
    assert n_params(model) == n_encoder + n_decoder


def test_parameter_totals():
    totals = {name: n_params(build_model(k, 2, h)) for name, (k, h, _, _) in LAB_MODELS.items()}
    assert totals == {"ae": 3922, "vae": 807700, "ae_wide": 806674}


def test_build_model_kinds():
    assert type(build_model("ae", 2, [])) is AutoEncoder
    assert type(build_model("vae", 2, [512])) is VariationalAutoEncoder
    # Every kind params accepts builds, but the WAE: params declare it for its model to come.
    assert set(models.MODEL_KINDS) == set(params.MODEL_KINDS)


@pytest.mark.parametrize("hidden", [[], [512]])
def test_ae_shapes(batch, hidden):
    torch.manual_seed(0)
    model = build_model("ae", 2, hidden).eval()
    codes = model.encode(batch)
    assert codes.shape == (5, 2)
    assert model(batch).shape == (5, PIXELS)
    assert model.decode_logits(codes).shape == (5, PIXELS)
    images = model.decode(codes)
    assert images.shape == (5, PIXELS)
    assert torch.all((images >= 0) & (images <= 1))
    torch.testing.assert_close(images, torch.sigmoid(model.decode_logits(codes)))
    assert set(model.loss_terms(batch)) == {"bce"}


def test_vae_shapes_and_loss_terms(batch):
    torch.manual_seed(0)
    model = build_model("vae", 2, [512]).eval()
    mu, logvar = model.encode(batch)
    assert mu.shape == logvar.shape == (5, 2)
    logits, mu2, logvar2 = model(batch, model.draw_noise(5, torch.Generator().manual_seed(1)))
    assert logits.shape == (5, PIXELS)
    torch.testing.assert_close(mu2, mu)
    torch.testing.assert_close(logvar2, logvar)
    images = model.decode(torch.zeros(3, 2))
    assert images.shape == (3, PIXELS) and torch.all((images >= 0) & (images <= 1))
    terms = model.loss_terms(batch, model.draw_noise(5, torch.Generator().manual_seed(1)))
    assert set(terms) == {"bce", "kl"}
    assert all(t.ndim == 0 and torch.isfinite(t) for t in terms.values())
    assert terms["kl"] >= 0


def test_vae_reparameterisation(batch):
    """z = mu + exp(log sigma^2 / 2) * eps, with eps drawn by draw_noise from the generator."""
    torch.manual_seed(0)
    model = build_model("vae", 2, [512]).eval()

    def noise(seed: int) -> torch.Tensor:
        return model.draw_noise(len(batch), torch.Generator().manual_seed(seed))

    with torch.no_grad():
        logits, mu, logvar = model(batch, noise(7))
        eps = torch.randn(mu.shape, generator=torch.Generator().manual_seed(7))
        expected = model.decode_logits(mu + torch.exp(0.5 * logvar) * eps)
        torch.testing.assert_close(logits, expected)
        again, _, _ = model(batch, noise(7))
        other, _, _ = model(batch, noise(8))
    assert torch.equal(logits, again)
    assert not torch.equal(logits, other)


def test_lab_ae_has_no_hidden_nonlinearity():
    """784 -> 2 and 2 -> 784 are single linear layers: encoder and decoder logits are affine."""
    torch.manual_seed(0)
    model = build_model("ae", 2, [])
    g = torch.Generator().manual_seed(0)
    a, b = torch.rand(2, PIXELS, generator=g), torch.rand(2, PIXELS, generator=g)
    zero = torch.zeros(1, PIXELS)
    with torch.no_grad():
        # f(a + b) - f(b) == f(a) - f(0) holds for an affine f, fails once a ReLU bites
        torch.testing.assert_close(
            model.encode(a + b) - model.encode(b), model.encode(a) - model.encode(zero)
        )
        za, zb = torch.randn(2, 2, generator=g), torch.randn(2, 2, generator=g)
        f = model.decode_logits
        torch.testing.assert_close(f(za + zb) - f(zb), f(za) - f(torch.zeros(1, 2)))
        # while the VAE's encoder (hidden ReLU layer) is not affine
        vae = build_model("vae", 2, [512])

        def mu(x: torch.Tensor) -> torch.Tensor:
            return vae.encode(x)[0]

        assert not torch.allclose(mu(a + b) - mu(b), mu(a) - mu(zero), atol=1e-4)


def test_reconstruction_bce_by_hand():
    logits = torch.tensor([[0.0, 2.0, -1.0], [3.0, -2.0, 0.5]])
    x = torch.tensor([[0.0, 1.0, 0.25], [1.0, 0.0, 0.5]])

    def bce(logit: float, target: float) -> float:
        p = 1 / (1 + math.exp(-logit))
        return -(target * math.log(p) + (1 - target) * math.log(1 - p))

    # summed over the pixels of each image, averaged over the 2 images
    pixels = zip(logits.flatten().tolist(), x.flatten().tolist(), strict=True)
    expected = sum(bce(logit, target) for logit, target in pixels) / 2
    got = losses.reconstruction_bce(logits, x)
    assert got.ndim == 0
    assert got.item() == pytest.approx(expected, rel=1e-6)
    # it takes logits: the same as BCE on the sigmoid probabilities
    probs = torch.sigmoid(logits)
    assert got.item() == pytest.approx(
        (F.binary_cross_entropy(probs, x, reduction="sum") / 2).item(), rel=1e-6
    )


def test_reconstruction_bce_is_stable_for_extreme_logits():
    logits = torch.tensor([[100.0, -100.0]])
    x = torch.tensor([[1.0, 0.0]])
    assert losses.reconstruction_bce(logits, x).item() == pytest.approx(0.0, abs=1e-6)
    assert losses.reconstruction_bce(-logits, x).item() == pytest.approx(200.0, rel=1e-6)


def test_bce_matches_torch_in_value_and_gradient():
    """The exp/log BCE and its gradient agree with torch's, for tiny to huge logits."""
    g = torch.Generator().manual_seed(0)
    logits = torch.cat([torch.randn(64, 784, generator=g) * 4, torch.linspace(-90, 90, 784)[None]])
    x = torch.rand(logits.shape, generator=g)
    x[-1] = (torch.arange(784) % 2).float()  # the extremes against 0 and 1 targets
    reference = F.binary_cross_entropy_with_logits(logits.double(), x.double(), reduction="none")
    torch.testing.assert_close(
        losses.bce_per_image(logits, x).double(), reference.sum(-1), rtol=1e-6, atol=1e-4
    )
    ours, theirs = logits.clone().requires_grad_(), logits.clone().requires_grad_()
    losses.reconstruction_bce(ours, x).backward()
    (F.binary_cross_entropy_with_logits(theirs, x, reduction="sum") / len(x)).backward()
    torch.testing.assert_close(ours.grad, theirs.grad, rtol=0, atol=1e-9)


def test_kl_by_hand():
    # row 1: mu = (1, 0), sigma^2 = (1, 2) -> 1/2 [(1 + 1 - 1 - 0) + (2 + 0 - 1 - ln 2)]
    # row 2: the prior itself -> 0; the mean over the two rows is half of row 1
    mu = torch.tensor([[1.0, 0.0], [0.0, 0.0]])
    logvar = torch.tensor([[0.0, math.log(2.0)], [0.0, 0.0]])
    row1 = 1 - math.log(2.0) / 2
    assert losses.kl_to_standard_normal(mu, logvar).item() == pytest.approx(row1 / 2, rel=1e-6)
    assert losses.kl_to_standard_normal(mu[:1], logvar[:1]).item() == pytest.approx(row1, rel=1e-6)
    assert losses.kl_to_standard_normal(mu[1:], logvar[1:]).item() == pytest.approx(0.0, abs=1e-7)


def test_kl_against_monte_carlo():
    """E_q[log q(z) - log p(z)] estimated with many samples matches the closed form."""
    g = torch.Generator().manual_seed(0)
    mu = torch.tensor([[0.5, -1.5], [2.0, 0.3], [0.0, 0.0]], dtype=torch.float64)
    logvar = torch.tensor([[-1.0, 0.7], [0.2, -2.0], [1.0, 0.0]], dtype=torch.float64)
    std = torch.exp(0.5 * logvar)
    z = mu + std * torch.randn((200_000, *mu.shape), generator=g, dtype=torch.float64)
    q = torch.distributions.Normal(mu, std)
    p = torch.distributions.Normal(torch.zeros_like(mu), torch.ones_like(mu))
    per_image = (q.log_prob(z) - p.log_prob(z)).sum(-1).mean(0)  # sum over dims, mean over draws
    closed = losses.kl_to_standard_normal(mu.float(), logvar.float()).item()
    assert closed == pytest.approx(per_image.mean().item(), rel=0.02)
    # and per image
    for i in range(3):
        one = losses.kl_to_standard_normal(mu[i : i + 1].float(), logvar[i : i + 1].float())
        assert one.item() == pytest.approx(per_image[i].item(), rel=0.02, abs=0.01)


# The weights of the loss terms: beta (a VAE's KL), mmd_weight (a WAE's MMD)


def test_a_vae_with_beta_0_is_trained_on_its_reconstruction_alone(batch):
    torch.manual_seed(0)
    model = build_model("vae", 2, [512], beta=0.0)
    terms = model.loss_terms(batch, model.draw_noise(5, torch.Generator().manual_seed(1)))
    assert set(terms) == {"bce", "kl"} and terms["kl"] > 0  # logged, but not trained on
    assert torch.equal(model.loss(terms), terms["bce"])
    # an infinite KL cannot reach the loss either
    assert torch.equal(model.loss({**terms, "kl": torch.tensor(math.inf)}), terms["bce"])


@pytest.mark.parametrize(("beta", "factor"), [(None, 1.0), (1.0, 1.0), (2.0, 2.0)])
def test_beta_weighs_the_kl_term(batch, beta, factor):
    torch.manual_seed(0)
    model = build_model("vae", 2, [512], **({} if beta is None else {"beta": beta}))
    terms = model.loss_terms(batch, model.draw_noise(5, torch.Generator().manual_seed(1)))
    torch.testing.assert_close(model.loss(terms), terms["bce"] + factor * terms["kl"])


def test_the_loss_refuses_terms_it_has_no_weight_for(batch):
    model = build_model("ae", 2, [])
    with pytest.raises(ValueError, match="weights for"):
        model.loss({"bce": torch.tensor(1.0), "kl": torch.tensor(1.0)})


def test_wae_shapes_noise_and_loss_terms(batch):
    torch.manual_seed(0)
    model = build_model("wae", 2, [512], mmd_weight=10.0)
    assert type(model) is models.WassersteinAutoEncoder and isinstance(model, AutoEncoder)
    assert n_params(model) == LAB_MODELS["ae_wide"][2] + LAB_MODELS["ae_wide"][3]
    noise = model.draw_noise(5, torch.Generator().manual_seed(1))
    torch.testing.assert_close(noise, torch.randn(5, 2, generator=torch.Generator().manual_seed(1)))
    terms = model.loss_terms(batch, noise)
    assert set(terms) == {"bce", "mmd"}
    assert all(t.ndim == 0 and t.dtype == torch.float32 for t in terms.values())
    torch.testing.assert_close(terms["bce"], losses.reconstruction_bce(model(batch), batch))
    torch.testing.assert_close(terms["mmd"], losses.mmd_to_prior(model.encode(batch), noise))
    torch.testing.assert_close(model.loss(terms), terms["bce"] + 10.0 * terms["mmd"])
    with pytest.raises(ValueError, match="prior samples"):
        model.loss_terms(batch)


# The MMD of WAE-MMD


def test_mmd_by_hand():
    """Two codes against two prior samples, the U-statistic worked out kernel by kernel."""
    codes = torch.tensor([[0.0, 0.0], [1.0, 0.0]])
    prior = torch.tensor([[0.0, 1.0], [0.0, -2.0]])

    def k(a, b, c):
        return c / (c + sum((x - y) ** 2 for x, y in zip(a, b, strict=True)))

    q, p = codes.tolist(), prior.tolist()
    expected = 0.0
    for s in (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0):
        c = 2 * 2 * s
        # n = m = 2: the pairs of distinct rows are (0, 1) and (1, 0)
        expected += (2 * k(q[0], q[1], c)) / 2 + (2 * k(p[0], p[1], c)) / 2
        expected -= 2 * sum(k(a, b, c) for a in q for b in p) / 4
    # float32 sums of the seven scales' kernels, less the diagonal's seven ones per row
    assert losses.mmd_to_prior(codes, prior).item() == pytest.approx(expected, rel=1e-5)


def test_mmd_is_near_0_for_prior_samples_and_clearly_larger_for_a_shifted_set():
    g = torch.Generator().manual_seed(0)
    codes, prior = torch.randn(1000, 2, generator=g), torch.randn(1000, 2, generator=g)
    null = losses.mmd_to_prior(codes, prior).item()
    shifted = losses.mmd_to_prior(codes + torch.tensor([1.0, 0.0]), prior).item()
    spread = losses.mmd_to_prior(codes * 3, prior).item()
    assert abs(null) < 0.02
    assert shifted > 0.2 and spread > 0.2
    assert losses.mmd_to_prior(codes + 3, prior).item() > shifted  # further off, larger


def test_mmd_is_computed_in_float32_and_batches_under_vmap():
    g = torch.Generator().manual_seed(0)
    codes, prior = torch.randn(3, 64, 2, generator=g), torch.randn(3, 64, 2, generator=g)
    # several seeds' models at once (torch.func.vmap over a stacked batch), as a loop gives
    batched = torch.func.vmap(losses.mmd_to_prior)(codes, prior)
    looped = torch.stack([losses.mmd_to_prior(c, p) for c, p in zip(codes, prior, strict=True)])
    torch.testing.assert_close(batched, looped)
    half = losses.mmd_to_prior(codes[0].bfloat16(), prior[0])
    assert half.dtype == torch.float32
    with pytest.raises(ValueError, match="two or more codes"):
        losses.mmd_to_prior(codes[0, :1], prior[0])
