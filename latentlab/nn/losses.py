"""The models' losses: BCE summed over pixels and the VAE's closed-form KL, both per image, and
the WAE's maximum mean discrepancy between a batch of codes and samples of the prior.

Each takes a batch as its last two dimensions (images x values) and averages over its images;
any leading dimensions are kept, so that several seeds' batches, stacked, give one loss each.
Sums run per image, then over the images, never over both dimensions at once: a reduction over
several dimensions adds in an order that depends on the leading ones, and a seed's loss must not.
"""

from __future__ import annotations

import torch
from torch.nn import functional as F


def bce_per_image(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """BCE(sigmoid(logits), x) summed over the last (pixel) dimension, one value per image, as
    softplus(l) - l * x: stable for any logits (torch's softplus, vectorised, with no overflow)."""
    return F.softplus(logits).sum(-1) - (logits * x).sum(-1)


class _BCESum(torch.autograd.Function):
    """BCE with logits summed over a batch's images and pixels (the last two dimensions), with
    its gradient in one fused expression."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, logits: torch.Tensor, x: torch.Tensor):
        ctx.save_for_backward(logits, x)
        return bce_per_image(logits, x).sum(-1)

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor):
        logits, x = ctx.saved_tensors
        return torch.sigmoid(logits).sub_(x).mul_(grad[..., None, None]), None


def reconstruction_bce(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy summed over the 784 pixels, averaged over the images of the batch.

    Taking logits (not probabilities) is the same quantity as BCE(sigmoid(logits), x), but stable
    and faster; its gradient is sigmoid(logits) - x, computed directly, because that is faster
    than torch's binary_cross_entropy_with_logits forward and backward.
    """
    return _BCESum.apply(logits, x) / x.shape[-2]


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) summed over code dimensions, averaged over the batch.

    Closed form from Kingma & Welling (2014), Auto-Encoding Variational Bayes, appendix B:
    -1/2 * sum(1 + log sigma^2 - mu^2 - sigma^2).
    """
    per_image = -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp(), dim=-1)
    return per_image.sum(-1) / mu.shape[-2]


# The kernel scales s of Tolstikhin et al.'s experiments (their code, wae.py, `mmd_penalty`).
IMQ_SCALES = (0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


def _squared_distances(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """||a_i - b_j||^2 for every pair of rows (the last two dimensions; leading ones kept), from
    the differences themselves: a row's distance to itself is then exactly 0 (the matrix-product
    shortcut leaves rounding there). Summed coordinate by coordinate, so that no pairs x pairs x
    dimensions array is made (a code has two dimensions)."""
    total = None
    for k in range(a.shape[-1]):
        diff = a[..., :, None, k] - b[..., None, :, k]
        total = diff * diff if total is None else total + diff * diff
    assert total is not None
    return total


def _pair_sum(kernel: torch.Tensor) -> torch.Tensor:
    """The sum of a kernel matrix (the last two dimensions), row by row, then over the rows."""
    return kernel.sum(-1).sum(-1)


def _imq(squared: torch.Tensor, dim: int) -> torch.Tensor:
    """The inverse multiquadratic kernel summed over IMQ_SCALES, C / (C + d) with C = 2 dim s."""
    return sum(c / (c + squared) for c in (2.0 * dim * s for s in IMQ_SCALES))


def mmd_to_prior(codes: torch.Tensor, prior: torch.Tensor) -> torch.Tensor:
    """Unbiased estimate of the squared maximum mean discrepancy between a batch of codes (n x d)
    and samples of the prior N(0, I) (m x d), in float32.

    WAE-MMD (Tolstikhin et al., 2018, "Wasserstein Auto-Encoders", algorithm 2): the inverse
    multiquadratic kernel k(x, y) = C / (C + ||x - y||^2) with C = 2 * d * s (2 d times the
    prior's variance, scaled), summed over the scales s of IMQ_SCALES as in the paper's code.
    Within each set the mean runs over pairs of distinct rows (the U-statistic), so the estimate
    of two samples of one distribution is 0 on average and can come out slightly below 0. A
    batch statistic, not a per-image one: it needs two or more codes and two or more samples.
    """
    n, dim = codes.shape[-2:]
    m = prior.shape[-2]
    if n < 2 or m < 2:
        raise ValueError(f"the MMD needs two or more codes and prior samples, got {n} and {m}")
    # float32 whatever the encoder computed in (an autocast's bf16 loses the small distances).
    codes, prior = codes.float(), prior.float()
    # k(x, x) = C / C = 1 exactly on each diagonal, once per scale: removing them leaves the pairs.
    scales = len(IMQ_SCALES)
    same_q = (_pair_sum(_imq(_squared_distances(codes, codes), dim)) - scales * n) / (n * (n - 1))
    same_p = (_pair_sum(_imq(_squared_distances(prior, prior), dim)) - scales * m) / (m * (m - 1))
    between = _pair_sum(_imq(_squared_distances(codes, prior), dim)) / (n * m)
    return same_q + same_p - 2 * between
