"""The judge stage's work: training one judge CNN with Adam and cross-entropy."""

from __future__ import annotations

import math

import numpy as np
import torch
from torch.nn import functional as F
from tqdm import tqdm

from latentlab.core.errors import UserError
from latentlab.judge.network import Judge, as_image_tensor
from latentlab.nn.runtime import CPU_FP32, Runtime, keep_freed_memory, make_optimizer


def train_judge(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    channels: int = 16,
    runtime: Runtime = CPU_FP32,
    progress: bool = True,
) -> tuple[Judge, list[dict]]:
    """Train a Judge with Adam and cross-entropy, its convolutions and matmuls in the runtime's
    precision (the loss in fp32); the same seed gives the same weights."""
    keep_freed_memory()
    torch.manual_seed(seed)
    device = runtime.device
    model = Judge(channels).to(device)
    optimizer = make_optimizer(model.parameters(), lr, device)
    x = as_image_tensor(images, str(device))
    y = torch.as_tensor(np.asarray(labels, dtype=np.int64), device=device)
    generator = torch.Generator().manual_seed(seed)
    history = []
    for epoch in range(1, epochs + 1):
        model.train()
        order = torch.randperm(x.shape[0], generator=generator).to(device)
        total = torch.zeros((), device=device)
        seen = 0
        starts = range(0, x.shape[0], batch_size)
        bar_off = None if progress else True  # None: a bar on a terminal only
        batches = tqdm(starts, desc=f"judge epoch {epoch}/{epochs}", disable=bar_off)
        for step, start in enumerate(batches):
            index = order[start : start + batch_size]
            with runtime.autocast():
                logits = model(x[index])  # fp32 (Judge.forward casts)
            loss = F.cross_entropy(logits, y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.detach() * index.shape[0]
            seen += index.shape[0]
            # Reading the loss waits for the device, so not every step; the last one shows the mean.
            if progress and (step % 20 == 0 or seen == x.shape[0]):
                batches.set_postfix(loss=f"{total.item() / seen:.4f}")
        mean = total.item() / seen
        if not math.isfinite(mean):
            raise UserError(
                f"the judge of seed {seed} diverged: its loss is {mean} in epoch {epoch}; no "
                f"judge was written (try a smaller judge.lr)"
            )
        history.append({"epoch": epoch, "loss": mean})
    model.eval()
    return model, history
