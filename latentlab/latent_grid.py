"""The latent map: the grid of codes and the mosaic of its decoded tiles.

Numpy only, so that the report draws maps without importing torch; the tiles themselves come
from LatentModel.decode_grid.
"""

from __future__ import annotations

import numpy as np


def grid_codes(grid: int, half_width: float) -> np.ndarray:
    """grid x grid x 2 codes, row-major as drawn: z1 grows left to right, z2 shrinks top to bottom.

    So the top-left code is [-r, r] and the bottom-right one [r, -r], as the lab specifies.
    """
    steps = np.linspace(-half_width, half_width, grid, dtype=np.float64)
    z1, z2 = np.meshgrid(steps, steps[::-1])
    return np.stack([z1, z2], axis=-1).astype(np.float32)


def mosaic(tiles: np.ndarray) -> np.ndarray:
    """One (rows*28) x (cols*28) image with tile [i, j] at row i, column j."""
    rows, cols, h, w = tiles.shape
    return tiles.transpose(0, 2, 1, 3).reshape(rows * h, cols * w)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A [0, 1] float image as 8-bit grey levels."""
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
