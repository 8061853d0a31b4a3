"""The torch runtime every training and measuring stage shares: device, precision, pixels,
memory, Adam.

Precision: where a device multiplies bf16 matrices natively (a CPU with AMX-BF16 or AVX512-BF16,
a CUDA device with bf16), the matmuls and convolutions of every torch stage (training, the
judges, the evaluation, and the decoders and judges of render, calibrate and interpolate) run in
bf16 under autocast; everything else stays fp32: the losses, the optimizer's
state, the weights as saved, and every measure (a model's and a judge's outputs are cast back to
fp32). Freed memory stays with the process so that the next batch does not page-fault it back
in. benchmarks/RESULTS.md records what each of these was measured to save.
"""

from __future__ import annotations

import contextlib
import ctypes
import logging
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
import torch
from torch.optim.adam import adam  # the functional form, in torch.optim.adam.__all__

from latentlab.core.errors import UserError
from latentlab.core.params import NO_CUDA

# The CPU features (as torch.cpu.get_capabilities names them) that make bf16 matmuls native:
# oneDNN then runs them faster than fp32 ones; elsewhere it emulates them, slower than fp32.
NATIVE_BF16_CPU = {"amx_bf16": "AMX-BF16", "avx512_bf16": "AVX512-BF16"}


def resolve_device(device: str) -> torch.device:
    """`auto` is CUDA when a GPU is visible, else the CPU."""
    if device == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if device == "cuda" and not torch.cuda.is_available():
        raise UserError(NO_CUDA)
    return torch.device(device)


def native_bf16(device: torch.device) -> str | None:
    """What makes bf16 matmuls native on `device`, as torch reports it, or None where they are
    not (then bf16 would be emulated, slower than fp32)."""
    if device.type == "cuda":
        native = torch.cuda.is_bf16_supported(including_emulation=False)
        return f"{torch.cuda.get_device_name(device)} has bf16" if native else None
    if device.type == "cpu":
        capabilities = torch.cpu.get_capabilities()  # from the cpuid instruction, via cpuinfo
        for feature, name in NATIVE_BF16_CPU.items():
            if capabilities.get(feature):
                return f"{capabilities.get('cpu_name') or 'the CPU'} has {name}"
    return None


@dataclass(frozen=True)
class Runtime:
    """Where a stage's torch work runs, and in which precision its matmuls and convolutions do."""

    device: torch.device
    dtype: torch.dtype  # torch.float32 or torch.bfloat16
    reason: str  # why this precision, for the log

    def autocast(self) -> contextlib.AbstractContextManager:
        """The context the matmuls and convolutions run in: bf16 autocast, or nothing for fp32."""
        if self.dtype == torch.float32:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.dtype)

    @property
    def precision(self) -> str:
        """fp32 or bf16."""
        return "bf16" if self.dtype == torch.bfloat16 else "fp32"


CPU_FP32 = Runtime(torch.device("cpu"), torch.float32, "precision fp32")


def resolve_runtime(device: str, precision: str) -> Runtime:
    """The device and precision params made concrete: `auto` precision is bf16 where the device
    has it natively, fp32 elsewhere; fp32 and bf16 are taken as asked."""
    where = resolve_device(device)
    native = native_bf16(where)
    if precision == "auto":
        if native:
            return Runtime(where, torch.bfloat16, f"precision auto: {native}")
        return Runtime(where, torch.float32, f"precision auto: no native bf16 on {where.type}")
    if precision == "bf16":
        return Runtime(where, torch.bfloat16, "precision bf16" + ("" if native else ", emulated"))
    return Runtime(where, torch.float32, "precision fp32")


def setup(device: str, precision: str, log: logging.Logger) -> Runtime:
    """The stage's runtime (resolve_runtime), said in one log line; glibc keeps freed memory."""
    runtime = resolve_runtime(device, precision)
    keep_freed_memory()
    log.info(
        "torch on %s, matmuls and convolutions in %s (%s); losses, weights and measures in fp32",
        runtime.device,
        runtime.precision,
        runtime.reason,
    )
    return runtime


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


class Adam:
    """Adam (Kingma & Ba, 2015) as torch.optim.Adam(fused=True) computes it, bit for bit: one
    fused kernel over every parameter (instead of about ten passes over each tensor) where torch
    has one for the device, through torch's functional adam (torch.optim.adam.adam, public).

    Not torch.optim.Adam itself, because building a torch.optim optimizer imports torch._dynamo,
    a cost every training process would pay; the functional form does not. Only what the
    training needs: no weight decay, no amsgrad.
    """

    def __init__(self, params: Iterable[torch.Tensor], lr: float, device: torch.device) -> None:
        self.params = list(params)
        self.lr = lr
        self.fused = device.type in ("cpu", "cuda")
        self.exp_avgs = [torch.zeros_like(p) for p in self.params]
        self.exp_avg_sqs = [torch.zeros_like(p) for p in self.params]
        self.steps = [torch.zeros((), device=p.device) for p in self.params]

    def zero_grad(self) -> None:
        """Drop the gradients (as set_to_none=True): backward then writes them fresh."""
        for p in self.params:
            p.grad = None

    @torch.no_grad()
    def step(self) -> None:
        """One Adam update of every parameter from its gradient (the step counts included)."""
        adam(
            self.params,
            [p.grad for p in self.params],
            self.exp_avgs,
            self.exp_avg_sqs,
            [],
            self.steps,
            foreach=False,
            fused=self.fused,
            amsgrad=False,
            beta1=0.9,
            beta2=0.999,
            lr=self.lr,
            weight_decay=0.0,
            eps=1e-8,
            maximize=False,
        )


def make_optimizer(params: Iterable[torch.Tensor], lr: float, device: torch.device) -> Adam:
    """Adam with the lab's settings (lr, betas 0.9 and 0.999, eps 1e-8)."""
    return Adam(params, lr, device)
