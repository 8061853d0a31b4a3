"""The train stage's loop: every seed of a model trained at once as one stacked model
(latentlab/nn/stacked.py), the whole set in memory, one Adam step per batch, the loss checked for
divergence as it goes, and a callback after every epoch.

Each seed keeps its own generator, which draws its batch order and its model's noise
(draw_noise) exactly as if it trained alone; only the arithmetic is shared, and it is the same
per seed whichever seeds share the stack. The set stays uint8 (a quarter of the memory) and each
batch is gathered and converted into preallocated buffers. On a GPU the loss terms are read back
in blocks, because every `.item()` stalls its queue; on a CPU reading each batch costs nothing,
so training stops at the very batch whose loss diverged.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable, Mapping, Sequence

import numpy as np
import torch
from tqdm import tqdm

from latentlab.core.errors import UserError
from latentlab.nn.models import LatentModel
from latentlab.nn.runtime import Runtime, keep_freed_memory, make_optimizer
from latentlab.nn.stacked import Stack

log = logging.getLogger(__name__)

# Batches between reads of the recorded losses (the divergence check and the progress bar) on a
# GPU. A diverged loss is still named exactly; training just runs on a few batches past it.
GPU_CHECK_EVERY = 50

Means = dict[str, float]  # an epoch's per-image means: "epoch", "loss", then each loss term


class DivergedError(UserError):
    """The loss became NaN or infinite."""


def _check_finite(
    record: torch.Tensor, start: int, stop: int, *, name: str, seeds: Sequence[int], epoch: int
) -> list[float]:
    """Raise DivergedError at the first non-finite loss of batches [start, stop) (the first seed
    of that batch); else each seed's last loss."""
    losses = record[start:stop, :, 0].tolist()
    for b, row in enumerate(losses, start):
        for seed, value in zip(seeds, row, strict=True):
            if not math.isfinite(value):
                raise DivergedError(
                    f"{name} seed {seed} diverged: the loss is {value} at epoch {epoch}, batch "
                    f"{b + 1}; no model was written (try a smaller {name}.lr)"
                )
    return losses[-1]


def _noise(models: Sequence[LatentModel], n: int, generators: Sequence[torch.Generator]):
    """Every seed's draw_noise for n images, stacked (None for a model that draws none)."""
    draws = [m.draw_noise(n, g) for m, g in zip(models, generators, strict=True)]
    return None if draws[0] is None else torch.stack(draws)


class _Batches:
    """Every seed's batches, gathered from the set into reused buffers. The set stays uint8 on
    the device (a quarter of the memory) and each batch is converted as it is drawn: the same
    floats as as_pixels, without writing 188 MB of them before the first step."""

    def __init__(self, images: np.ndarray, seeds: int, size: int, device: torch.device) -> None:
        flat = torch.from_numpy(np.ascontiguousarray(images)).reshape(len(images), -1)
        self.data, self.size = flat.to(device), size
        self.count = math.ceil(len(self.data) / size)
        rows = seeds * min(size, len(self.data))
        self.raw = torch.empty((rows, self.data.shape[1]), dtype=torch.uint8, device=device)
        self.pixels = torch.empty(self.raw.shape, device=device)
        # Each batch's weight in an epoch's per-image mean: the last one may be short.
        self.weights = torch.full((self.count, 1, 1), size / len(self.data), dtype=torch.float64)
        self.weights[-1] = (len(self.data) - (self.count - 1) * size) / len(self.data)

    def get(self, order: torch.Tensor, b: int) -> torch.Tensor:
        """Batch b of each seed's order (seeds x n): seeds x images x 784 floats in [0, 1]."""
        index = order[:, b * self.size : (b + 1) * self.size]
        count = index.numel()
        rows = torch.index_select(self.data, 0, index.reshape(-1), out=self.raw[:count])
        return self.pixels[:count].copy_(rows).div_(255).view(*index.shape, -1)

    def means(self, record: torch.Tensor) -> list[list[float]]:
        """Per seed, the epoch's per-image means of a record (batches x seeds x values)."""
        return (record * self.weights.to(record.device)).sum(0).tolist()


def _log_epoch(name: str, epoch: int, epochs: int, history: dict[int, list[Means]]) -> None:
    """One log line for the epoch: every seed's loss and terms."""
    seeds = (
        f"seed {s} " + ", ".join(f"{k} {v:.3f}" for k, v in h[-1].items() if k != "epoch")
        for s, h in history.items()
    )
    log.info("%s epoch %d/%d: %s", name, epoch, epochs, "; ".join(seeds))


def train(
    models: Mapping[int, LatentModel],
    images: np.ndarray,
    *,
    name: str,
    epochs: int,
    batch_size: int,
    lr: float,
    runtime: Runtime,
    progress: bool = True,
    on_epoch: Callable[[int, dict[int, Means]], None] | None = None,
) -> dict[int, list[Means]]:
    """Train every seed's model (seed -> model, of one architecture) in place on uint8 images;
    returns per seed the per-epoch means of the loss and its terms.

    `on_epoch(epoch, means by seed)` is called after every epoch with every model holding its
    weights so far, in eval mode (no RNG is drawn there, so it cannot change the training).
    """
    keep_freed_memory()
    device, seeds = runtime.device, list(models)
    for model in models.values():
        model.to(device).eval()
    stack = Stack([models[s] for s in seeds], device)
    twin = stack.twin.train()
    generators = [torch.Generator(device=device).manual_seed(s) for s in seeds]
    batches = _Batches(images, len(seeds), batch_size, device)
    optimizer = make_optimizer(stack.seed_parameters, lr, device)
    history: dict[int, list[Means]] = {s: [] for s in seeds}
    for epoch in range(1, epochs + 1):
        n = len(batches.data)
        order = torch.stack([torch.randperm(n, generator=g, device=device) for g in generators])
        record, keys = _epoch(
            twin,
            stack,
            batches,
            order,
            generators,
            optimizer,
            runtime,
            name=name,
            seeds=seeds,
            epoch=(epoch, epochs),
            progress=progress,
        )
        for seed, row in zip(seeds, batches.means(record), strict=True):
            history[seed].append({"epoch": epoch, **dict(zip(keys, row, strict=True))})
        _log_epoch(name, epoch, epochs, history)
        if on_epoch is not None:
            stack.write_back()
            on_epoch(epoch, {s: h[-1] for s, h in history.items()})
    stack.write_back()
    return history


def _epoch(
    twin: LatentModel,
    stack: Stack,
    batches: _Batches,
    order: torch.Tensor,
    generators: Sequence[torch.Generator],
    optimizer: torch.optim.Optimizer,
    runtime: Runtime,
    *,
    name: str,
    seeds: list[int],
    epoch: tuple[int, int],
    progress: bool,
) -> tuple[torch.Tensor, list[str]]:
    """One epoch of every seed: its record (batches x seeds x [loss, *terms]) and the keys."""
    n_batches = batches.count
    check_every = 1 if runtime.device.type == "cpu" else GPU_CHECK_EVERY
    record: torch.Tensor | None = None
    keys: list[str] = []
    checked = 0
    bar = tqdm(
        range(n_batches),
        desc=f"{name} seeds {', '.join(map(str, seeds))} epoch {epoch[0]}/{epoch[1]}",
        unit="batch",
        disable=None if progress else True,  # None: a bar on a terminal only
        leave=False,
    )
    for b in bar:
        x = batches.get(order, b)
        noise = _noise(stack.models, x.shape[1], generators)
        with runtime.autocast():
            terms = twin.loss_terms(x, noise)
        loss = twin.loss(terms)  # one value per seed
        optimizer.zero_grad()
        loss.sum().backward()  # each seed's weights get the gradient of its own loss alone
        stack.move_grads()
        optimizer.step()
        if record is None:
            keys = ["loss", *terms]
            shape = (n_batches, len(seeds), len(keys))
            record = torch.empty(shape, dtype=torch.float64, device=x.device)
        with torch.no_grad():
            record[b] = torch.stack([loss, *terms.values()], dim=-1)
        if b + 1 - checked == check_every or b + 1 == n_batches:
            last = _check_finite(record, checked, b + 1, name=name, seeds=seeds, epoch=epoch[0])
            checked = b + 1
            bar.set_postfix(loss=" ".join(f"{v:.2f}" for v in last), refresh=False)
    assert record is not None  # n_batches >= 1
    return record, keys
