"""The latent map: the grid of codes, the square it covers, and the mosaic of its tiles.

Numpy only, so that the report draws maps without importing torch; the tiles themselves come
from LatentModel.decode_grid.
"""

from __future__ import annotations

import numpy as np


def grid_codes(
    grid: int, half_width: float, center: tuple[float, float] = (0.0, 0.0)
) -> np.ndarray:
    """grid x grid x 2 codes, row-major as drawn: z1 grows left to right, z2 shrinks top to bottom.

    So the top-left code is c + [-r, r] and the bottom-right one c + [r, -r], as the lab specifies
    (with the centre c at the origin).
    """
    steps = np.linspace(-half_width, half_width, grid, dtype=np.float64)
    z1, z2 = np.meshgrid(steps + center[0], steps[::-1] + center[1])
    return np.stack([z1, z2], axis=-1).astype(np.float32)


def own_square(codes: np.ndarray, percentile: float) -> tuple[tuple[float, float], float]:
    """Centre and half-width of the square that holds a model's codes: the box from the
    `percentile`-th to the (100 - percentile)-th percentile per dimension, widened to a square."""
    low, high = np.percentile(
        np.asarray(codes, dtype=np.float64), [percentile, 100 - percentile], axis=0
    )
    center = (low + high) / 2
    half_width = float(np.max(high - low) / 2)
    return (float(center[0]), float(center[1])), max(half_width, 1e-6)


def tiles_holding(codes: np.ndarray, grid_z: np.ndarray) -> np.ndarray:
    """How many of the N x 2 codes fall in each tile of a grid x grid x 2 grid of tile centres
    (a tile spans half a step either side of its centre; codes outside every tile are dropped)."""
    z1, z2 = grid_z[0, :, 0].astype(np.float64), grid_z[:, 0, 1].astype(np.float64)
    step = z1[1] - z1[0]
    col = np.floor((codes[:, 0] - (z1[0] - step / 2)) / step).astype(np.int64)
    row = np.floor(((z2[0] + step / 2) - codes[:, 1]) / step).astype(np.int64)
    grid = len(z1)
    inside = (col >= 0) & (col < grid) & (row >= 0) & (row < grid)
    counts = np.zeros((grid, grid), dtype=np.int64)
    np.add.at(counts, (row[inside], col[inside]), 1)
    return counts


def mosaic(tiles: np.ndarray) -> np.ndarray:
    """One (rows*28) x (cols*28) image with tile [i, j] at row i, column j."""
    rows, cols, h, w = tiles.shape
    return tiles.transpose(0, 2, 1, 3).reshape(rows * h, cols * w)


def to_uint8(image: np.ndarray) -> np.ndarray:
    """A [0, 1] float image as 8-bit grey levels."""
    return np.clip(np.rint(image * 255), 0, 255).astype(np.uint8)
