"""The train stage's loop: every model trained alike, the whole set in memory, one Adam step
per batch, the loss checked for divergence as it goes, and a callback after every epoch.

The set stays uint8 (a quarter of the memory) and each batch is gathered and converted into
preallocated buffers. On a GPU the loss terms are read back in blocks, because every `.item()`
stalls its queue; on a CPU reading each batch costs nothing, so training stops at the very batch
whose loss diverged.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable

import numpy as np
import torch
from tqdm import tqdm

from latentlab.core.errors import UserError
from latentlab.nn.models import LatentModel
from latentlab.nn.runtime import keep_freed_memory, make_optimizer

log = logging.getLogger(__name__)

# Batches between reads of the recorded losses (the divergence check and the progress bar) on a
# GPU. A diverged loss is still named exactly; training just runs on a few batches past it.
GPU_CHECK_EVERY = 50


class DivergedError(UserError):
    """The loss became NaN or infinite."""


def _check_finite(
    record: torch.Tensor, start: int, stop: int, *, name: str, seed: int, epoch: int
) -> float:
    """Raise DivergedError at the first non-finite loss of batches [start, stop); else the last."""
    losses = record[start:stop, 0].tolist()
    for b, value in enumerate(losses, start):
        if not math.isfinite(value):
            raise DivergedError(
                f"{name} seed {seed} diverged: the loss is {value} at epoch {epoch}, batch "
                f"{b + 1}; no model was written (try a smaller {name}.lr)"
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
    on_epoch: Callable[[int, dict[str, float]], None] | None = None,
) -> list[dict[str, float]]:
    """Train `model` in place on uint8 images; returns per-epoch means of the loss and its terms.

    `on_epoch(epoch, means)` is called after every epoch with the model in eval mode (no RNG is
    drawn there, so it cannot change the training).
    """
    keep_freed_memory()
    torch.manual_seed(seed)
    generator = torch.Generator(device=device).manual_seed(seed)
    # The set stays uint8 (a quarter of the memory) and each batch is converted as it is drawn:
    # the same floats as as_pixels, without writing 188 MB of them before the first step.
    data = torch.from_numpy(np.ascontiguousarray(images)).reshape(len(images), -1).to(device)
    model.to(device).train()
    optimizer = make_optimizer(model, lr, device)
    n = len(data)
    n_batches = math.ceil(n / batch_size)
    raw = torch.empty((min(batch_size, n), data.shape[1]), dtype=torch.uint8, device=device)
    buffer = torch.empty(raw.shape, device=device)
    # Per-image mean of an epoch weights each batch by its size: the last one may be short.
    sizes = torch.full((n_batches, 1), batch_size, dtype=torch.float64, device=device)
    sizes[-1] = n - (n_batches - 1) * batch_size
    check_every = 1 if device.type == "cpu" else GPU_CHECK_EVERY
    history: list[dict[str, float]] = []
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n, generator=generator, device=device)
        record: torch.Tensor | None = None  # one row per batch: the loss, then each term
        keys: list[str] = []
        checked = 0
        bar = tqdm(
            range(n_batches),
            desc=f"{name} seed {seed} epoch {epoch}/{epochs}",
            unit="batch",
            # None: a bar on a terminal only, so that logs and CI output stay readable.
            disable=None if progress else True,
            leave=False,
        )
        for b in bar:
            index = order[b * batch_size : (b + 1) * batch_size]
            rows = torch.index_select(data, 0, index, out=raw[: len(index)])
            x = buffer[: len(index)].copy_(rows).div_(255)
            terms = model.loss_terms(x, model.draw_noise(len(x), generator))
            loss = model.loss(terms)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if record is None:
                keys = ["loss", *terms]
                record = torch.empty((n_batches, len(keys)), dtype=torch.float64, device=device)
            with torch.no_grad():
                record[b] = torch.stack([loss, *terms.values()])
            if b + 1 - checked == check_every or b + 1 == n_batches:
                last = _check_finite(record, checked, b + 1, name=name, seed=seed, epoch=epoch)
                checked = b + 1
                bar.set_postfix(loss=f"{last:.2f}", refresh=False)
        assert record is not None  # n_batches >= 1
        means = ((record * sizes).sum(0) / n).tolist()
        history.append({"epoch": epoch, **dict(zip(keys, means, strict=True))})
        log.info(
            "%s seed %d epoch %d/%d: %s",
            name,
            seed,
            epoch,
            epochs,
            ", ".join(f"{k} {v:.3f}" for k, v in history[-1].items() if k != "epoch"),
        )
        if on_epoch is not None:
            model.eval()
            on_epoch(epoch, history[-1])
            model.train()
    model.eval()
    return history
