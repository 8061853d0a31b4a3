"""The judge: a small CNN classifier of Fashion-MNIST, used only to measure decoded images.

Its class probabilities say which item a decoded image shows; its penultimate layer is the
feature space in which decoded images are compared with real ones (realism and coverage).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch
from torch import nn
from torch.nn import functional as F

from latentlab.core import paths
from latentlab.core.artifacts import load_arrays
from latentlab.core.errors import UserError
from latentlab.core.fashion_mnist import IMAGE_SIDE
from latentlab.nn.checkpoints import load_weights

N_CLASSES = 10
DROPOUT = 0.3  # steadies the test accuracy from one epoch to the next at a constant lr


class Judge(nn.Module):
    """Two 3x3 conv blocks (channels, 2 * channels), then a hidden layer of 8 * channels units."""

    def __init__(self, channels: int = 16) -> None:
        super().__init__()
        self.channels = channels
        # Pooling before batch norm and ReLU does those on a quarter of the values; with the
        # channels-last layout below it makes a training step faster on a CPU.
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
        """Logits (N x 10) of images N x 1 x 28 x 28 in [0, 1], in fp32."""
        return self.classify(self.embed(x))

    def classify(self, features: torch.Tensor) -> torch.Tensor:
        """Logits (N x 10), in fp32, of the features that embed gives."""
        return self.classifier[-1](features).float()

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """Penultimate-layer features (N x 8 * channels) of images N x 1 x 28 x 28 in [0, 1], in
        fp32 whatever precision the convolutions and matmuls ran in (bf16 under autocast)."""
        x = x.contiguous(memory_format=torch.channels_last)
        return self.classifier[:-1](self.features(x).flatten(1)).float()


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


@torch.no_grad()
def judge_images(
    model: Judge, images: np.ndarray, batch_size: int = 1000
) -> tuple[np.ndarray, np.ndarray]:
    """Class probabilities (N x 10) and penultimate features (N x 8 * channels) of images, in
    one pass; see as_image_tensor for the accepted inputs."""
    model.eval()
    device = next(model.parameters()).device
    x = as_image_tensor(images, str(device))
    probs, feats = [], []
    for i in range(0, x.shape[0], batch_size):
        features = model.embed(x[i : i + batch_size])
        feats.append(features)
        probs.append(F.softmax(model.classify(features), dim=1))
    if not probs:
        width = model.classifier[-1].in_features
        return np.zeros((0, N_CLASSES), np.float32), np.zeros((0, width), np.float32)
    return torch.cat(probs).cpu().numpy(), torch.cat(feats).cpu().numpy()


@dataclass(frozen=True)
class Panel:
    """The judges, each with its features of the test images (the judge stage computes them
    once, so that the stages that measure decoded images need not run the test set again)."""

    judges: list[Judge]
    test_features: list[np.ndarray]


def load_panel(seeds: list[int], channels: int, device: torch.device) -> Panel:
    """The trained judges of `seeds`, on `device` in eval mode, and their test-image features."""
    judges = [load_weights(Judge(channels), paths.judge_weights(s)).to(device) for s in seeds]
    saved, features = load_arrays(paths.JUDGE_FEATURES, "seeds", "features")
    if [int(s) for s in saved] != list(seeds):
        raise UserError(
            f"{paths.JUDGE_FEATURES} holds the features of judges {saved.tolist()}, not of "
            f"judge.seeds {seeds}; rerun `dvc repro judge`"
        )
    return Panel(judges, list(features))


def judge_all(judges: list[Judge], images: np.ndarray) -> list[tuple[np.ndarray, np.ndarray]]:
    """(probabilities, features) of the images by every judge, in the judges' order."""
    return [judge_images(j, images) for j in judges]
