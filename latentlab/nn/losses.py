"""The lab's losses: BCE summed over pixels and the VAE's closed-form KL, both per image."""

from __future__ import annotations

import torch


def _softplus(logits: torch.Tensor) -> torch.Tensor:
    """log(1 + e^l) elementwise, as max(l, 0) + log(1 + e^-|l|), which cannot overflow.

    Built from exp and log because torch's CPU softplus, log_sigmoid and log1p are not
    vectorised and these are. Where e^-|l| is below float32's epsilon, log(1 + e^-|l|) rounds
    to 0 instead of e^-|l|: an error under 6e-8 per pixel.
    """
    tail = logits.abs().neg_().exp_().add_(1).log_()
    return tail.add_(logits.clamp_min(0))


def bce_per_image(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """BCE(sigmoid(logits), x) summed over the last (pixel) dimension, one value per image."""
    return _softplus(logits).sum(-1) - (logits * x).sum(-1)


class _BCESum(torch.autograd.Function):
    """BCE with logits summed over every element, with its gradient in one fused expression."""

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, logits: torch.Tensor, x: torch.Tensor):
        ctx.save_for_backward(logits, x)
        return bce_per_image(logits, x).sum()

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor):
        logits, x = ctx.saved_tensors
        return torch.sigmoid(logits).sub_(x).mul_(grad), None


def reconstruction_bce(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy summed over the 784 pixels, averaged over the images of the batch.

    Taking logits (not probabilities) is the same quantity as BCE(sigmoid(logits), x), but stable
    and faster; its gradient is sigmoid(logits) - x, computed directly, because that is faster
    than torch's binary_cross_entropy_with_logits forward and backward.
    """
    return _BCESum.apply(logits, x) / x.shape[0]


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) summed over code dimensions, averaged over the batch.

    Closed form from Kingma & Welling (2014), Auto-Encoding Variational Bayes, appendix B:
    -1/2 * sum(1 + log sigma^2 - mu^2 - sigma^2).
    """
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / mu.shape[0]
