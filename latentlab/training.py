"""The training loop shared by every model: the whole set in memory, one Adam step per batch.

Speed matters because users rerun the pipeline often (benchmarks/RESULTS.md has the numbers):
- Adam is fused (one kernel over all parameters instead of ~10 passes per tensor), the largest
  cost after the matrix products in a profile of this loop.
- The loss terms of every batch are recorded on the device and read back once per check, not with
  several `.item()` calls per batch, which on a GPU each stall the queue.
- Each batch is gathered into one preallocated buffer instead of a new tensor per batch.
"""

from __future__ import annotations

import logging
import math

import numpy as np
import torch
from tqdm import tqdm

from latentlab.errors import UserError
from latentlab.models import LatentModel

log = logging.getLogger(__name__)

# Batches between reads of the recorded losses: the divergence check and the progress bar. A
# diverged loss is still found and named exactly; training just runs on a few batches past it.
CHECK_EVERY = 50


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


def make_optimizer(model: torch.nn.Module, lr: float, device: torch.device) -> torch.optim.Adam:
    """Adam with the lab's settings; fused into one kernel where torch has one for the device."""
    return torch.optim.Adam(model.parameters(), lr=lr, fused=device.type in ("cpu", "cuda"))


def _check_finite(
    record: torch.Tensor, start: int, stop: int, *, name: str, epoch: int
) -> float:
    """Raise DivergedError at the first non-finite loss of batches [start, stop); else the last."""
    losses = record[start:stop, 0].tolist()
    for b, value in enumerate(losses, start):
        if not math.isfinite(value):
            raise DivergedError(
                f"{name} diverged: the loss is {value} at epoch {epoch}, batch {b + 1}; "
                f"no model was written (try a smaller {name}.lr)"
            )
    return losses[-1]


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
    optimizer = make_optimizer(model, lr, device)
    n = len(data)
    n_batches = math.ceil(n / batch_size)
    buffer = torch.empty((min(batch_size, n), data.shape[1]), device=device)
    # Per-image mean of an epoch weights each batch by its size: the last one may be short.
    sizes = torch.full((n_batches, 1), batch_size, dtype=torch.float64, device=device)
    sizes[-1] = n - (n_batches - 1) * batch_size
    history: list[dict[str, float]] = []
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n, generator=generator, device=device)
        record: torch.Tensor | None = None  # one row per batch: the loss, then each term
        keys: list[str] = []
        checked = 0
        bar = tqdm(
            range(n_batches),
            desc=f"{name} epoch {epoch}/{epochs}",
            unit="batch",
            disable=not progress,
            leave=False,
        )
        for b in bar:
            index = order[b * batch_size : (b + 1) * batch_size]
            x = torch.index_select(data, 0, index, out=buffer[: len(index)])
            terms = model.loss_terms(x, generator)
            loss = sum(terms.values())
            optimizer.zero_grad(set_to_none=True)
            loss.backward()
            optimizer.step()
            if record is None:
                keys = ["loss", *terms]
                record = torch.empty((n_batches, len(keys)), dtype=torch.float64, device=device)
            with torch.no_grad():
                record[b] = torch.stack([loss, *terms.values()])
            if b + 1 - checked == CHECK_EVERY or b + 1 == n_batches:
                last = _check_finite(record, checked, b + 1, name=name, epoch=epoch)
                checked = b + 1
                bar.set_postfix(loss=f"{last:.2f}")
        assert record is not None  # n_batches >= 1
        means = ((record * sizes).sum(0) / n).tolist()
        history.append({"epoch": epoch, **dict(zip(keys, means, strict=True))})
        log.info(
            "%s epoch %d/%d: %s",
            name,
            epoch,
            epochs,
            ", ".join(f"{k} {v:.3f}" for k, v in history[-1].items() if k != "epoch"),
        )
    model.eval()
    return history
