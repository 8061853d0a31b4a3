"""The latent map: the grid of codes, decoding it, and drawing the tiles into one mosaic."""

from __future__ import annotations

import numpy as np
import torch

from latentlab.fashion_mnist import IMAGE_SIDE
from latentlab.models import LatentModel


def grid_codes(grid: int, half_width: float) -> np.ndarray:
    """grid x grid x 2 codes, row-major as drawn: z1 grows left to right, z2 shrinks top to bottom.

    So the top-left code is [-r, r] and the bottom-right one [r, -r], as the lab specifies.
    """
    steps = np.linspace(-half_width, half_width, grid, dtype=np.float64)
    z1, z2 = np.meshgrid(steps, steps[::-1])
    return np.stack([z1, z2], axis=-1).astype(np.float32)


@torch.no_grad()
def decode_grid(model: LatentModel, codes: np.ndarray) -> np.ndarray:
    """Decoded tiles, rows x cols x 28 x 28 in [0, 1], for a rows x cols x 2 grid of codes."""
    rows, cols, dim = codes.shape
    device = next(model.parameters()).device
    z = torch.from_numpy(codes.reshape(-1, dim)).to(device)
    images = model.decode(z).cpu().numpy()
    return images.reshape(rows, cols, IMAGE_SIDE, IMAGE_SIDE)


def mosaic(tiles: np.ndarray) -> np.ndarray:
    """One (rows*28) x (cols*28) image with tile [i, j] at row i, column j."""
    rows, cols, h, w = tiles.shape
    return tiles.transpose(0, 2, 1, 3).reshape(rows * h, cols * w)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A [0, 1] float image as 8-bit grey levels."""
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
