"""The training loop shared by every model: the whole set in memory, one Adam step per batch.

Speed matters because users rerun the pipeline often; benchmarks/bench.py measures it against
the floor of the matrix products alone (about three quarters of an epoch). Measured on 2 cores:
- Adam is fused (one kernel over all parameters instead of ~10 passes per tensor): ~10% of a
  VAE batch, and calling the kernel directly skips torch.optim's ~1 s import of torch._dynamo.
- The BCE is built from vectorised exp and log, with a hand-written gradient (losses.py): ~5%.
- Freed memory stays with the process (keep_freed_memory): ~5%, all of it kernel time.
- The set stays uint8 and each batch is gathered and converted into preallocated buffers.
- The loss terms of every batch are recorded on the device and read back in blocks on a GPU,
  where each `.item()` stalls the queue; on a CPU reading every batch costs nothing.
- Not used: torch.compile (25 s to compile, no faster per batch here); a thread count of our
  own (torch already runs one thread per core, and one thread is ~1.6x slower); a hand-written
  backward pass into preallocated buffers instead of autograd (a VAE epoch only ~7% faster,
  median of 13 paired runs, and every change to a model or loss would need its gradient
  derived by hand).
"""

from __future__ import annotations

import ctypes
import logging
import math
from collections.abc import Iterable

import numpy as np
import torch
from tqdm import tqdm

from latentlab.errors import UserError
from latentlab.models import LatentModel

log = logging.getLogger(__name__)

# Batches between reads of the recorded losses (the divergence check and the progress bar) on a
# GPU. A diverged loss is still named exactly; training just runs on a few batches past it. On a
# CPU every batch is read, so training stops at the batch whose loss diverged.
GPU_CHECK_EVERY = 50


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


def keep_freed_memory() -> None:
    """Have glibc keep freed memory for reuse rather than hand it back to the kernel.

    Every batch frees and reallocates the same few MB of activations and gradients. By default
    glibc returns much of it, and the next batch page-faults it back in: 50,000-100,000 faults
    and 0.1-0.2 s of kernel time per VAE epoch on 2 cores, none after this. A no-op where the C
    library is not glibc.
    """
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    mallopt(m_mmap_threshold, 32 << 20)  # glibc's largest: blocks up to 32 MiB come from the heap
    mallopt(m_trim_threshold, 1 << 30)


class DivergedError(UserError):
    """The loss became NaN or infinite."""


class FusedAdam:
    """Adam (Kingma & Ba, 2015) computed as torch.optim.Adam(fused=True) does, bit for bit.

    One fused kernel updates every parameter, instead of ~10 passes over each tensor. It is
    called directly because torch.optim's optimizers import torch._dynamo on first use, about
    1 s of every training process. Only what the loop needs: no weight decay, no amsgrad.
    """

    def __init__(
        self,
        params: Iterable[torch.Tensor],
        lr: float,
        betas: tuple[float, float] = (0.9, 0.999),
        eps: float = 1e-8,
    ) -> None:
        self.params = list(params)
        self.lr, self.betas, self.eps = lr, betas, eps
        self.exp_avgs = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sqs = [torch.zeros_like(p) for p in self.params]
        self.steps = [torch.zeros((), device=p.device) for p in self.params]

    def zero_grad(self) -> None:
        """Drop the gradients (as set_to_none=True): backward then writes them fresh."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One Adam update of every parameter from its gradient."""
        torch._foreach_add_(self.steps, 1)
        torch._fused_adam_(
            self.params,
            [p.grad for p in self.params],
            self.exp_avgs,
            self.exp_avg_sqs,
            [],
            self.steps,
            lr=self.lr,
            beta1=self.betas[0],
            beta2=self.betas[1],
            weight_decay=0.0,
            eps=self.eps,
            amsgrad=False,
            maximize=False,
        )


def make_optimizer(
    model: torch.nn.Module, lr: float, device: torch.device
) -> FusedAdam | torch.optim.Adam:
    """Adam with the lab's settings, fused into one kernel where torch has one for the device."""
    if device.type in ("cpu", "cuda") and hasattr(torch, "_fused_adam_"):
        return FusedAdam(model.parameters(), lr)
    return torch.optim.Adam(model.parameters(), lr=lr)


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
            desc=f"{name} epoch {epoch}/{epochs}",
            unit="batch",
            # None: a bar on a terminal only, so that logs and CI output stay readable.
            disable=None if progress else True,
            leave=False,
        )
        for b in bar:
            index = order[b * batch_size : (b + 1) * batch_size]
            rows = torch.index_select(data, 0, index, out=raw[: len(index)])
            x = buffer[: len(index)].copy_(rows).div_(255)
            terms = model.loss_terms(x, generator)
            loss = sum(terms.values())
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            if record is None:
                keys = ["loss", *terms]
                record = torch.empty((n_batches, len(keys)), dtype=torch.float64, device=device)
            with torch.no_grad():
                record[b] = torch.stack([loss, *terms.values()])
            if b + 1 - checked == check_every or b + 1 == n_batches:
                last = _check_finite(record, checked, b + 1, name=name, epoch=epoch)
                checked = b + 1
                bar.set_postfix(loss=f"{last:.2f}", refresh=False)
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
