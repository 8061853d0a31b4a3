"""The lab's losses: BCE summed over pixels and the VAE's closed-form KL, both per image.

Each takes a batch as its last two dimensions (images x values) and averages over its images;
any leading dimensions are kept, so that several seeds' batches, stacked, give one loss each.
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
    # Summed per image, then over the images, never over both dimensions at once: a reduction
    # over several dimensions adds in an order that depends on the leading ones.
    return per_image.sum(-1) / mu.shape[-2]
