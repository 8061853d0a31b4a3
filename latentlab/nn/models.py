"""The lab's autoencoder and variational autoencoder, built from one shared MLP encoder/decoder."""

from __future__ import annotations

import itertools

import numpy as np
import torch
from torch import nn

from latentlab.core.fashion_mnist import IMAGE_SIDE
from latentlab.nn.losses import kl_to_standard_normal, reconstruction_bce

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

    def __init__(self, latent_dim: int, hidden: list[int], head_width: int) -> None:
        super().__init__()
        self.latent_dim = latent_dim
        self.encoder = mlp([PIXELS, *hidden, head_width])
        self.decoder = mlp([latent_dim, *reversed(hidden), PIXELS])

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
    """The lab's part-1 autoencoder: a point code per image."""

    def __init__(self, latent_dim: int, hidden: list[int]) -> None:
        super().__init__(latent_dim, hidden, latent_dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """The code of each flattened image."""
        return self.encoder(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction logits."""
        return self.decode_logits(self.encode(x))

    def loss_terms(
        self, x: torch.Tensor, noise: torch.Tensor | None = None
    ) -> dict[str, torch.Tensor]:
        """The per-image loss terms on batch x; the training loss is their sum."""
        return {"bce": reconstruction_bce(self(x), x)}


class VariationalAutoEncoder(LatentModel):
    """The lab's part-3 VAE: a diagonal Gaussian q(z|x), one head for mu and log sigma^2."""

    def __init__(self, latent_dim: int, hidden: list[int]) -> None:
        super().__init__(latent_dim, hidden, 2 * latent_dim)

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
        """The per-image negative ELBO on batch x, as its reconstruction and KL terms (noise:
        the eps of draw_noise)."""
        if noise is None:
            raise ValueError("a VAE's loss needs the eps of draw_noise")
        logits, mu, logvar = self(x, noise)
        return {"bce": reconstruction_bce(logits, x), "kl": kl_to_standard_normal(mu, logvar)}


MODEL_KINDS = {"ae": AutoEncoder, "vae": VariationalAutoEncoder}  # the kinds params.py accepts


def build_model(kind: str, latent_dim: int, hidden: list[int]) -> LatentModel:
    """A fresh model of `kind` ("ae" or "vae")."""
    return MODEL_KINDS[kind](latent_dim, hidden)
