"""The lab's losses: BCE summed over pixels and the VAE's closed-form KL, both per image."""

from __future__ import annotations

import torch
import torch.nn.functional as F


def reconstruction_bce(logits: torch.Tensor, x: torch.Tensor) -> torch.Tensor:
    """Binary cross-entropy summed over the 784 pixels, averaged over the images of the batch.

    Taking logits (not probabilities) is the same quantity as BCE(sigmoid(logits), x), but stable
    and faster: it fuses the sigmoid and the log.
    """
    return F.binary_cross_entropy_with_logits(logits, x, reduction="sum") / x.shape[0]


def kl_to_standard_normal(mu: torch.Tensor, logvar: torch.Tensor) -> torch.Tensor:
    """KL(N(mu, sigma^2) || N(0, I)) summed over code dimensions, averaged over the batch.

    Closed form from Kingma & Welling (2014), Auto-Encoding Variational Bayes, appendix B:
    -1/2 * sum(1 + log sigma^2 - mu^2 - sigma^2).
    """
    return -0.5 * torch.sum(1 + logvar - mu.pow(2) - logvar.exp()) / mu.shape[0]
