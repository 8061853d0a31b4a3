"""The train stage's loop: every model trained alike, the whole set in memory, one Adam step
per batch, the loss checked for divergence as it goes, and a callback after every epoch.

The set stays uint8 (a quarter of the memory) and each batch is gathered and converted into
preallocated buffers. On a GPU the loss terms are read back in blocks, because every `.item()`
stalls its queue; on a CPU reading each batch costs nothing, so training stops at the very batch
whose loss diverged.
"""

from __future__ import annotations

import functools
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


class _Batches:
    """The set on the device, kept uint8 (a quarter of the memory), each batch gathered and
    converted into preallocated buffers: the same floats as as_pixels, without writing 188 MB of
    them before the first step."""

    def __init__(self, images: np.ndarray, size: int, device: torch.device) -> None:
        flat = torch.from_numpy(np.ascontiguousarray(images)).reshape(len(images), -1)
        self.data = flat.to(device)
        self.size = size
        self.count = math.ceil(len(self.data) / size)
        shape = (min(size, len(self.data)), self.data.shape[1])
        self._raw = torch.empty(shape, dtype=torch.uint8, device=device)
        self._buffer = torch.empty(shape, device=device)

    def get(self, order: torch.Tensor, b: int) -> torch.Tensor:
        """Batch `b` of the images in `order`, as floats in [0, 1]."""
        index = order[b * self.size : (b + 1) * self.size]
        rows = torch.index_select(self.data, 0, index, out=self._raw[: len(index)])
        return self._buffer[: len(index)].copy_(rows).div_(255)


def _epoch(
    model: LatentModel,
    optimizer: torch.optim.Optimizer,
    batches: _Batches,
    order: torch.Tensor,
    generator: torch.Generator,
    bar: tqdm,
    check_every: int,
    check: Callable[[torch.Tensor, int, int], float],
) -> tuple[list[str], torch.Tensor]:
    """One pass over the batches in `order`, one Adam step each. Returns the names of the loss
    and its terms, and one row of them per batch; `check(record, start, stop)` is called on the
    rows of every `check_every` batches and of the last, and returns the last loss."""
    record: torch.Tensor | None = None
    keys: list[str] = []
    checked = 0
    for b in bar:
        x = batches.get(order, b)
        terms = model.loss_terms(x, model.draw_noise(len(x), generator))
        loss = model.loss(terms)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        if record is None:
            keys = ["loss", *terms]
            shape = (batches.count, len(keys))
            record = torch.empty(shape, dtype=torch.float64, device=batches.data.device)
        with torch.no_grad():
            record[b] = torch.stack([loss, *terms.values()])
        if b + 1 - checked == check_every or b + 1 == batches.count:
            last = check(record, checked, b + 1)
            checked = b + 1
            bar.set_postfix(loss=f"{last:.2f}", refresh=False)
    assert record is not None  # batches.count >= 1
    return keys, record


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
    batches = _Batches(images, batch_size, device)
    model.to(device).train()
    optimizer = make_optimizer(model, lr, device)
    n = len(batches.data)
    # Per-image mean of an epoch weights each batch by its size: the last one may be short.
    sizes = torch.full((batches.count, 1), batch_size, dtype=torch.float64, device=device)
    sizes[-1] = n - (batches.count - 1) * batch_size
    check_every = 1 if device.type == "cpu" else GPU_CHECK_EVERY
    history: list[dict[str, float]] = []
    for epoch in range(1, epochs + 1):
        order = torch.randperm(n, generator=generator, device=device)
        bar = tqdm(
            range(batches.count),
            desc=f"{name} seed {seed} epoch {epoch}/{epochs}",
            unit="batch",
            # None: a bar on a terminal only, so that logs and CI output stay readable.
            disable=None if progress else True,
            leave=False,
        )
        check = functools.partial(_check_finite, name=name, seed=seed, epoch=epoch)
        keys, record = _epoch(model, optimizer, batches, order, generator, bar, check_every, check)
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
