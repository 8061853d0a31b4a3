"""The judge: a small CNN classifier of Fashion-MNIST, used only to measure decoded images."""

from __future__ import annotations

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F
from tqdm import tqdm

from latentlab.fashion_mnist import IMAGE_SIDE
from latentlab.training import keep_freed_memory, make_optimizer

N_CLASSES = 10
DROPOUT = 0.3  # steadies the test accuracy from one epoch to the next at a constant lr


class Judge(nn.Module):
    """Two 3x3 conv blocks (channels, 2 * channels), then a hidden layer of 8 * channels units."""

    def __init__(self, channels: int = 16) -> None:
        super().__init__()
        self.channels = channels
        # Pooling before batch norm and ReLU does those on a quarter of the values; with the
        # channels-last layout below it makes a training step about 2.3x faster on a CPU.
        self.features = nn.Sequential(
            nn.Conv2d(1, channels, 3, padding=1),
            nn.MaxPool2d(2),
            nn.BatchNorm2d(channels),
            nn.ReLU(),
            nn.Conv2d(channels, 2 * channels, 3, padding=1),
            nn.MaxPool2d(2),
            nn.BatchNorm2d(2 * channels),
            nn.ReLU(),
        )
        self.classifier = nn.Sequential(
            nn.Linear(2 * channels * (IMAGE_SIDE // 4) ** 2, 8 * channels),
            nn.ReLU(),
            nn.Dropout(DROPOUT),
            nn.Linear(8 * channels, N_CLASSES),
        )
        self.to(memory_format=torch.channels_last)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Logits (N x 10) of images N x 1 x 28 x 28 in [0, 1]."""
        x = x.contiguous(memory_format=torch.channels_last)
        return self.classifier(self.features(x).flatten(1))


def as_image_tensor(images: np.ndarray, device: str = "cpu") -> torch.Tensor:
    """Images as an N x 1 x 28 x 28 float tensor in [0, 1].

    The dtype tells the scale apart: uint8 images are 0..255 and divided by 255, any float images
    are taken to be in [0, 1] already. N x 28 x 28 and N x 784 are both accepted.
    """
    array = np.asarray(images)
    if array.dtype == np.uint8:
        tensor = torch.as_tensor(array).to(device=device, dtype=torch.float32) / 255.0
    elif np.issubdtype(array.dtype, np.floating):
        tensor = torch.as_tensor(array).to(device=device, dtype=torch.float32)
    else:
        raise ValueError(f"images must be uint8 (0..255) or float in [0, 1], got {array.dtype}")
    return tensor.reshape(-1, 1, IMAGE_SIDE, IMAGE_SIDE)


def train_judge(
    images: np.ndarray,
    labels: np.ndarray,
    *,
    epochs: int,
    batch_size: int,
    lr: float,
    seed: int,
    channels: int = 16,
    device: str = "cpu",
    progress: bool = True,
) -> tuple[Judge, list[dict]]:
    """Train a Judge with Adam and cross-entropy; the same seed gives the same weights."""
    keep_freed_memory()
    torch.manual_seed(seed)
    model = Judge(channels).to(device)
    optimizer = make_optimizer(model, lr, torch.device(device))
    x = as_image_tensor(images, device)
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
            loss = F.cross_entropy(model(x[index]), y[index])
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            total += loss.detach() * index.shape[0]
            seen += index.shape[0]
            # Reading the loss waits for the device, so not every step; the last one shows the mean.
            if progress and (step % 20 == 0 or seen == x.shape[0]):
                batches.set_postfix(loss=f"{total.item() / seen:.4f}")
        history.append({"epoch": epoch, "loss": total.item() / seen})
    model.eval()
    return model, history


@torch.no_grad()
def predict_proba(model: Judge, images: np.ndarray, batch_size: int = 1000) -> np.ndarray:
    """Softmax class probabilities (N x 10) of images; see as_image_tensor for accepted inputs."""
    model.eval()
    device = next(model.parameters()).device
    x = as_image_tensor(images, str(device))
    chunks = [
        F.softmax(model(x[i : i + batch_size]), dim=1) for i in range(0, x.shape[0], batch_size)
    ]
    if not chunks:
        return np.zeros((0, N_CLASSES), dtype=np.float32)
    return torch.cat(chunks).cpu().numpy()


def accuracy(model: Judge, images: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of images whose most probable class is their label."""
    predicted = predict_proba(model, images).argmax(axis=1)
    return float(np.mean(predicted == np.asarray(labels)))
