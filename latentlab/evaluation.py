"""The evaluate stage's measures of a trained model on the test set: codes, reconstruction BCE,
the VAE's ELBO and importance-weighted likelihood, the k-NN class accuracy of the codes, and the
diagnostics of what the codes are (their covariance, the VAE's posterior sigma)."""

from __future__ import annotations

import math

import numpy as np
import torch
from scipy.spatial import cKDTree
from tqdm import tqdm

from latentlab.analysis.codes import covariance_eigenvalues
from latentlab.nn.losses import bce_per_image, kl_to_standard_normal
from latentlab.nn.models import LatentModel, VariationalAutoEncoder
from latentlab.nn.runtime import as_pixels

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
def mean_code_bce(model: LatentModel, pixels: torch.Tensor, batch_size: int = 2000) -> float:
    """Mean per-image BCE of decoding each image's (mean) code: the same measure for AE and VAE."""
    total = 0.0
    for x in pixels.split(batch_size):
        codes = encode_means(model, x, batch_size)
        total += bce_per_image(model.decode_logits(codes), x).sum().item()
    return total / len(pixels)


@torch.no_grad()
def mean_posterior_sigma(
    model: VariationalAutoEncoder, pixels: torch.Tensor, batch_size: int = 2000
) -> float:
    """The VAE encoder's sigma, averaged over the images and the code's dimensions."""
    total = 0.0
    for x in pixels.split(batch_size):
        _, logvar = model.encode(x)
        total += torch.exp(0.5 * logvar).double().sum().item()
    return total / (len(pixels) * model.latent_dim)


def code_diagnostics(
    model: LatentModel, pixels: torch.Tensor, codes: np.ndarray
) -> dict[str, float]:
    """Whether a model is what its name claims, from its codes of `pixels` (a VAE's posterior
    means): the largest and smallest eigenvalue of their covariance (both 1 for codes distributed
    as the prior) and, for a VAE, the mean posterior sigma and the codes' standard deviation
    (mean over dimensions) in units of it, which is huge once the distributions are points."""
    largest, smallest = covariance_eigenvalues(codes)
    out = {"code_eigenvalue_largest": largest, "code_eigenvalue_smallest": smallest}
    if isinstance(model, VariationalAutoEncoder):
        sigma = mean_posterior_sigma(model, pixels)
        spread = float(np.asarray(codes, dtype=np.float64).std(axis=0, ddof=1).mean())
        out |= {"posterior_sigma": sigma, "spread_to_sigma": spread / sigma}
    return out


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
        logits, mu, logvar = model(x, model.draw_noise(len(x), generator))
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
    progress: bool = True,
) -> float:
    """Mean importance-weighted estimate of log p(x) with `samples` draws from q(z|x) per image.

    log p(x) ~ logsumexp_k [log p(x|z_k) + log p(z_k) - log q(z_k|x)] - log k (Burda et al., 2016,
    Importance Weighted Autoencoders, eq. 8); it tightens towards log p(x) as k grows.
    """
    total = 0.0
    batches = tqdm(
        pixels.split(batch_size),
        desc=f"log-likelihood, {samples} samples",
        unit="batch",
        disable=None if progress else True,  # None: a bar on a terminal only
        leave=False,
    )
    for x in batches:
        mu, logvar = model.encode(x)
        std = torch.exp(0.5 * logvar)
        eps = torch.randn((samples, *mu.shape), generator=generator, device=mu.device)
        z = mu + std * eps  # k x B x d
        # On a CPU, decoded in slices of a few images: the k x slice x 784 logits then stay in
        # cache through the BCE's passes over them (faster than k x B x 784 at once).
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


@torch.no_grad()
def class_examples(
    model: LatentModel, images: np.ndarray, labels: np.ndarray, device: torch.device
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """The first test image of each class present, its reconstruction from its (mean) code, and
    its index: N x 28 x 28 uint8 originals, N x 28 x 28 float reconstructions in [0, 1], N ints."""
    index = np.array([int(np.argmax(labels == c)) for c in np.unique(labels)], dtype=np.int64)
    pixels = as_pixels(images[index], device)
    recon = model.decode(encode_means(model, pixels)).cpu().numpy()
    return images[index], recon.reshape(images[index].shape), index


def _vote(neighbour_labels: torch.Tensor, n_classes: int) -> torch.Tensor:
    """Majority class of each row of labels, nearest first; a tie goes to the nearest tied class."""
    counts = torch.zeros(neighbour_labels.shape[0], n_classes, dtype=torch.int64)
    counts.scatter_add_(1, neighbour_labels, torch.ones_like(neighbour_labels))
    tied = counts == counts.max(dim=1, keepdim=True).values
    # The first neighbour (in distance order) whose class is among the tied winners decides.
    first = torch.gather(tied, 1, neighbour_labels).to(torch.int8).argmax(dim=1)
    return torch.gather(neighbour_labels, 1, first[:, None])[:, 0]


def knn_predict(
    train_codes: np.ndarray, train_labels: np.ndarray, test_codes: np.ndarray, k: int = 5
) -> np.ndarray:
    """Class of each test code by a majority vote of its k nearest training codes (Euclidean).

    A tie in the vote goes to the tied class whose member is nearest to the test code. The
    neighbours come from a k-d tree (exact distances in float64), far faster on 2-D codes than
    a brute-force search of every training code; neighbours at exactly equal distance are
    ordered as the tree returns them.
    """
    train = np.asarray(train_codes, dtype=np.float64)
    test = np.asarray(test_codes, dtype=np.float64)
    labels = torch.as_tensor(np.asarray(train_labels, dtype=np.int64))
    if k < 1 or k > train.shape[0]:
        raise ValueError(f"k must be between 1 and the number of training codes, got {k}")
    if not len(test):
        return np.zeros(0, dtype=np.int64)
    _, nearest = cKDTree(train).query(test, k=k)
    nearest = torch.as_tensor(np.asarray(nearest, dtype=np.int64).reshape(len(test), k))
    return _vote(labels[nearest], int(labels.max()) + 1).numpy()


def knn_accuracy(
    train_codes: np.ndarray,
    train_labels: np.ndarray,
    test_codes: np.ndarray,
    test_labels: np.ndarray,
    k: int = 5,
) -> float:
    """Fraction of test codes whose k-nearest-neighbour vote (see knn_predict) names their class."""
    predicted = knn_predict(train_codes, train_labels, test_codes, k)
    return float(np.mean(predicted == np.asarray(test_labels)))
