"""Test-set measures of a trained model: codes, reconstruction BCE, the VAE's ELBO, likelihood."""

from __future__ import annotations

import math

import torch

from latentlab.losses import bce_per_image, kl_to_standard_normal
from latentlab.models import LatentModel, VariationalAutoEncoder

_LOG_2PI = math.log(2 * math.pi)
IW_SLICE = 10  # images decoded at once by iw_log_likelihood: 100 samples x 10 x 784 is 3 MB


@torch.no_grad()
def encode_means(model: LatentModel, pixels: torch.Tensor, batch_size: int = 2000) -> torch.Tensor:
    """The code of each image: the AE's point code, the VAE's posterior mean."""
    codes = []
    for x in pixels.split(batch_size):
        out = model.encode(x)
        codes.append(out[0] if isinstance(out, tuple) else out)
    return torch.cat(codes)


@torch.no_grad()
def reconstruction_bce(model: LatentModel, pixels: torch.Tensor, batch_size: int = 2000) -> float:
    """Mean per-image BCE of decoding each image's (mean) code: the same measure for AE and VAE."""
    total = 0.0
    for x in pixels.split(batch_size):
        codes = encode_means(model, x, batch_size)
        total += bce_per_image(model.decode_logits(codes), x).sum().item()
    return total / len(pixels)


@torch.no_grad()
def vae_elbo_terms(
    model: VariationalAutoEncoder,
    pixels: torch.Tensor,
    generator: torch.Generator,
    batch_size: int = 2000,
) -> dict[str, float]:
    """Per-image -ELBO on the test set, with its expected-BCE (one sample) and KL terms."""
    bce = kl = 0.0
    for x in pixels.split(batch_size):
        logits, mu, logvar = model(x, generator)
        bce += bce_per_image(logits, x).sum().item()
        kl += kl_to_standard_normal(mu, logvar).item() * len(x)
    n = len(pixels)
    return {"neg_elbo": (bce + kl) / n, "elbo_bce": bce / n, "kl": kl / n}


@torch.no_grad()
def iw_log_likelihood(
    model: VariationalAutoEncoder,
    pixels: torch.Tensor,
    samples: int,
    generator: torch.Generator,
    batch_size: int = 100,
) -> float:
    """Mean importance-weighted estimate of log p(x) with `samples` draws from q(z|x) per image.

    log p(x) ~ logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log k (Burda et al., 2016,
    Importance Weighted Autoencoders, eq. 8); it tightens towards log p(x) as k grows.
    """
    total = 0.0
    for x in pixels.split(batch_size):
        mu, logvar = model.encode(x)
        std = torch.exp(0.5 * logvar)
        eps = torch.randn((samples, *mu.shape), generator=generator, device=mu.device)
        z = mu + std * eps  # k x B x d
        # On a CPU, decoded in slices of a few images: the k x slice x 784 logits then stay in
        # cache through the BCE's passes over them (a quarter faster than k x B x 784 at once).
        # The noise is still drawn per batch, so the estimate does not depend on the slicing.
        step = IW_SLICE if x.device.type == "cpu" else len(x)
        log_px_z = torch.cat(
            [
                -bce_per_image(model.decode_logits(zs), xs)
                for zs, xs in zip(z.split(step, dim=1), x.split(step), strict=True)
            ],
            dim=1,
        )
        log_pz = -0.5 * (z.pow(2) + _LOG_2PI).sum(-1)
        log_qz = -0.5 * (eps.pow(2) + _LOG_2PI + logvar).sum(-1)
        log_w = log_px_z + log_pz - log_qz
        total += (torch.logsumexp(log_w, dim=0) - math.log(samples)).sum().item()
    return total / len(pixels)
