"""The torch runtime every training and measuring stage shares: device, pixels, memory, Adam.

Adam is fused into one kernel over all parameters (instead of about ten passes over each tensor)
and called directly, because torch.optim's optimizers import torch._dynamo on first use, about a
second of every process. Freed memory stays with the process so that the next batch does not
page-fault it back in. benchmarks/RESULTS.md records what each of these was measured to save.
"""

from __future__ import annotations

import ctypes
from collections.abc import Iterable

import numpy as np
import torch

from latentlab.core.errors import UserError
from latentlab.core.params import NO_CUDA


def resolve_device(device: str) -> torch.device:
    """`auto` is CUDA when a GPU is visible, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError(NO_CUDA)
    return torch.device(device)


def as_pixels(images: np.ndarray, device: torch.device) -> torch.Tensor:
    """uint8 N x 28 x 28 images as one float N x 784 tensor in [0, 1] on `device`."""
    flat = torch.from_numpy(np.ascontiguousarray(images)).reshape(len(images), -1)
    return flat.to(device).float().div_(255)


def keep_freed_memory() -> None:
    """Have glibc keep freed memory for reuse rather than hand it back to the kernel.

    Every batch frees and reallocates the same few MB of activations and gradients. By default
    glibc returns much of it, and the next batch page-faults it back in, paying kernel time on
    every batch; after this it does not. A no-op where the C library is not glibc.
    """
    try:
        mallopt = ctypes.CDLL("libc.so.6").mallopt
    except (OSError, AttributeError):
        return
    m_trim_threshold, m_mmap_threshold = -1, -3  # from glibc's malloc.h
    mallopt(m_mmap_threshold, 32 << 20)  # glibc's largest: blocks up to 32 MiB come from the heap
    mallopt(m_trim_threshold, 1 << 30)


class FusedAdam:
    """Adam (Kingma & Ba, 2015) computed as torch.optim.Adam(fused=True) does, bit for bit.

    One fused kernel updates every parameter, instead of ~10 passes over each tensor. It is
    called directly because torch.optim's optimizers import torch._dynamo on first use, a cost
    every training process would pay. Only what the loop needs: no weight decay, no amsgrad.
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
