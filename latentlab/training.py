"""The training loop shared by every model: the whole set in memory, one Adam step per batch."""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from tqdm import tqdm

from latentlab.errors import UserError
from latentlab.models import LatentModel

log = logging.getLogger(__name__)


def resolve_device(device: str) -> torch.device:
    """`auto` is CUDA when a GPU is visible, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError(
            "params.yaml: device is 'cuda', but no CUDA GPU is visible; use auto or cpu"
        )
    return torch.device(device)


def as_pixels(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 N x 28 x 28 images as one float N x 784 tensor in [0, 1] on `device`."""
    flat = torch.from_numpy(np.ascontiguousarray(images)).reshape(len(images), -1)
    return flat.to(device).float().div_(255)


class DivergedError(UserError):
    """The loss became NaN or infinite."""


def train(
    model: LatentModel,
    images: np.ndarray,
    *,
    name: str,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    device: torch.device,
    progress: bool = True,
) -> list[dict[str, float]]:
    """Train `model` in place on uint8 images; returns per-epoch means of the loss and its terms."""
    torch.manual_seed(seed)
    generator = torch.Generator(device=device).manual_seed(seed)
    data = as_pixels(images, device)
    model.to(device).train()
    optimizer = torch.optim.Adam(model.parameters(), lr=lr)
    n_batches = math.ceil(len(data) / batch_size)
    history: list[dict[str, float]] = []
    for epoch in range(1, epochs + 1):
        order = torch.randperm(len(data), generator=generator, device=device)
        sums: dict[str, float] = {}
        bar = tqdm(
            range(n_batches),
            desc=f"{name} epoch {epoch}/{epochs}",
            unit="batch",
            disable=not progress,
            leave=False,
        )
        for b in bar:
            x = data[order[b * batch_size : (b + 1) * batch_size]]
            terms = model.loss_terms(x, generator)
            loss = sum(terms.values())
            value = loss.item()
            if not math.isfinite(value):
                raise DivergedError(
                    f"{name} diverged: the loss is {value} at epoch {epoch}, batch {b + 1}; "
                    f"no model was written (try a smaller {name}.lr)"
                )
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            # Weight by batch size so a short last batch counts for what it is.
            for key, term in (("loss", loss), *terms.items()):
                sums[key] = sums.get(key, 0.0) + term.item() * len(x)
            if b % 20 == 0:
                bar.set_postfix(loss=f"{value:.2f}")
        history.append({"epoch": epoch, **{k: v / len(data) for k, v in sums.items()}})
        log.info(
            "%s epoch %d/%d: %s",
            name,
            epoch,
            epochs,
            ", ".join(f"{k} {v:.3f}" for k, v in history[-1].items() if k != "epoch"),
        )
    model.eval()
    return history
