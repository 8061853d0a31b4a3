"""The lab's autoencoder and variational autoencoder, and the Wasserstein autoencoder of the
mechanisms' factorial, built from one shared MLP encoder/decoder.

A model's `loss_terms(x, noise)` is a pure function of the batch and of the random numbers its
`draw_noise` drew (none for an AE): the unweighted terms, each a float32 scalar (one per seed for
seeds' batches stacked, latentlab/nn/stacked.py). `loss(terms)` is the one place that weighs them
into the training loss.
"""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn

from latentlab.core.fashion_mnist import IMAGE_SIDE
from latentlab.nn.losses import kl_to_standard_normal, mmd_to_prior, reconstruction_bce

PIXELS = IMAGE_SIDE * IMAGE_SIDE


class Float32(nn.Module):
    """Its input as fp32: under bf16 autocast a linear layer's output is bf16, and the losses
    and every measure are computed in fp32."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x, cast to fp32 (no copy when it is fp32 already)."""
        return x.float()


def mlp(sizes: list[int]) -> nn.Sequential:
    """Linear layers through `sizes` with ReLU between them (none after the last), and an fp32
    output whatever precision the layers ran in."""
    layers: list[nn.Module] = []
    for i, (n_in, n_out) in enumerate(itertools.pairwise(sizes)):
        if i:
            layers.append(nn.ReLU())
        layers.append(nn.Linear(n_in, n_out))
    return nn.Sequential(*layers, Float32())


class LatentModel(nn.Module):
    """Encoder 784 -> hidden -> code head, decoder code -> reversed hidden -> 784 logits."""

    def __init__(
        self, latent_dim: int, hidden: list[int], head_width: int, term_weights: dict[str, float]
    ) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = mlp([PIXELS, *hidden, head_width])
        self.decoder = mlp([latent_dim, *reversed(hidden), PIXELS])
        # What each term of loss_terms counts for in the training loss.
        self.term_weights = dict(term_weights)

    def loss(self, terms: dict[str, torch.Tensor]) -> torch.Tensor:
        """The training loss: the sum of the terms of `loss_terms`, each times its weight in
        `term_weights`. A term weighted 0 is left out, so that it cannot make the loss NaN
        (0 * inf) nor reach the gradient."""
        if set(terms) != set(self.term_weights):
            raise ValueError(f"loss terms {sorted(terms)}, weights for {sorted(self.term_weights)}")
        return sum(self.term_weights[k] * v for k, v in terms.items() if self.term_weights[k])

    def decode_logits(self, z: torch.Tensor) -> torch.Tensor:
        """Pixel logits for codes z (sigmoid of them is the image); logits keep the BCE stable."""
        return self.decoder(z)

    @torch.no_grad()
    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Images in [0, 1], flattened to 784, for codes z."""
        return torch.sigmoid(self.decoder(z))

    def draw_noise(self, n: int, generator: torch.Generator) -> torch.Tensor | None:
        """The random numbers one training step on `n` images uses (None: the model draws none).

        They are drawn outside the loss, from the caller's generator, so that a loss is a pure
        function of its inputs and several seeds' models can be trained as one batched model.
        """
        return None

    @torch.no_grad()
    def decode_grid(self, codes: np.ndarray) -> np.ndarray:
        """Decoded tiles, rows x cols x 28 x 28 in [0, 1], for a rows x cols x 2 grid of codes."""
        rows, cols, dim = codes.shape
        device = next(self.parameters()).device
        images = self.decode(torch.from_numpy(codes.reshape(-1, dim)).to(device)).cpu().numpy()
        return images.reshape(rows, cols, IMAGE_SIDE, IMAGE_SIDE)


class AutoEncoder(LatentModel):
    """The lab's part-1 autoencoder: a point code per image, trained on its reconstruction."""

    def __init__(self, latent_dim: int, hidden: list[int]) -> None:
        super().__init__(latent_dim, hidden, latent_dim, {"bce": 1.0})

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code of each flattened image."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction logits."""
        return self.decode_logits(self.encode(x))

    def loss_terms(
        self, x: torch.Tensor, noise: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """The per-image reconstruction BCE on batch x (an AE draws no noise)."""
        return {"bce": reconstruction_bce(self(x), x)}


class WassersteinAutoEncoder(AutoEncoder):
    """WAE-MMD (Tolstikhin et al., 2018): the autoencoder's point codes, taken together, pulled
    towards the prior N(0, I) by `mmd_weight` times their maximum mean discrepancy from it."""

    def __init__(self, latent_dim: int, hidden: list[int], mmd_weight: float = 1.0) -> None:
        super().__init__(latent_dim, hidden)
        self.term_weights = {"bce": 1.0, "mmd": mmd_weight}

    def draw_noise(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """n samples of the prior N(0, I), against which the batch's n codes are compared."""
        return torch.randn((n, self.latent_dim), generator=generator, device=generator.device)

    def loss_terms(
        self, x: torch.Tensor, noise: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """The per-image reconstruction BCE on batch x, and the MMD of the batch's codes from the
        prior samples `noise` of draw_noise (a statistic of the batch)."""
        if noise is None:
            raise ValueError("a WAE's loss needs the prior samples of draw_noise")
        z = self.encode(x)
        return {"bce": reconstruction_bce(self.decode_logits(z), x), "mmd": mmd_to_prior(z, noise)}


class VariationalAutoEncoder(LatentModel):
    """The lab's part-3 VAE: a diagonal Gaussian q(z|x), one head for mu and log sigma^2, its KL
    term weighted by `beta` (Higgins et al., 2017, beta-VAE; 1 is the ELBO, 0 drops the prior)."""

    def __init__(self, latent_dim: int, hidden: list[int], beta: float = 1.0) -> None:
        super().__init__(latent_dim, hidden, 2 * latent_dim, {"bce": 1.0, "kl": beta})

    def encode(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Mean and log variance of q(z|x)."""
        mu, logvar = self.encoder(x).chunk(2, dim=-1)
        return mu, logvar

    def draw_noise(self, n: int, generator: torch.Generator) -> torch.Tensor:
        """eps ~ N(0, I) of the reparameterisation, one row per image."""
        return torch.randn((n, self.latent_dim), generator=generator, device=generator.device)

    def forward(
        self, x: torch.Tensor, eps: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Reconstruction logits from the reparameterised sample mu + sigma * eps, with mu and
        log sigma^2 (eps from draw_noise)."""
        mu, logvar = self.encode(x)
        z = mu + torch.exp(0.5 * logvar) * eps
        return self.decode_logits(z), mu, logvar

    def loss_terms(
        self, x: torch.Tensor, noise: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """The per-image reconstruction and KL terms of the negative ELBO on batch x (noise: the
        eps of draw_noise); `loss` weighs the KL by beta."""
        if noise is None:
            raise ValueError("a VAE's loss needs the eps of draw_noise")
        logits, mu, logvar = self(x, noise)
        return {"bce": reconstruction_bce(logits, x), "kl": kl_to_standard_normal(mu, logvar)}


# The kinds params.py accepts.
MODEL_KINDS = {"ae": AutoEncoder, "vae": VariationalAutoEncoder, "wae": WassersteinAutoEncoder}


def build_model(kind: str, latent_dim: int, hidden: list[int], **weight: float) -> LatentModel:
    """A fresh model of `kind` ("ae", "vae" or "wae"); `weight` is the weight of its prior term
    by the kind's own name (a VAE's `beta`, a WAE's `mmd_weight`), 1 when not given."""
    return MODEL_KINDS[kind](latent_dim, hidden, **weight)
