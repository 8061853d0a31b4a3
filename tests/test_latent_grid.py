"""The latent map: the grid of codes as the lab draws it, the mosaic, and 8-bit conversion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentlab.latent_grid import grid_codes, mosaic, to_uint8
from latentlab.models import build_model

pytestmark = pytest.mark.usefixtures("one_torch_thread")


def test_lab_grid_corners_and_shape():
    codes = grid_codes(21, 4.0)
    assert codes.shape == (21, 21, 2)
    assert codes.dtype == np.float32
    np.testing.assert_array_equal(codes[0, 0], [-4, 4])  # top left
    np.testing.assert_array_equal(codes[-1, -1], [4, -4])  # bottom right
    np.testing.assert_array_equal(codes[0, -1], [4, 4])  # top right
    np.testing.assert_array_equal(codes[-1, 0], [-4, -4])  # bottom left
    np.testing.assert_allclose(codes[10, 10], [0, 0], atol=1e-6)  # centre


@pytest.mark.parametrize(("grid", "r"), [(21, 4.0), (2, 1.0), (5, 2.5), (4, 3.0)])
def test_grid_orientation_and_spacing(grid, r):
    codes = grid_codes(grid, r).astype(np.float64)
    z1, z2 = codes[..., 0], codes[..., 1]
    step = 2 * r / (grid - 1)
    # z1 depends on the column only and grows left to right by 2r/(g-1)
    np.testing.assert_allclose(z1, np.broadcast_to(z1[0], z1.shape))
    np.testing.assert_allclose(np.diff(z1, axis=1), step, rtol=1e-5)
    # z2 depends on the row only and shrinks top to bottom by 2r/(g-1)
    np.testing.assert_allclose(z2, np.broadcast_to(z2[:, :1], z2.shape))
    np.testing.assert_allclose(np.diff(z2, axis=0), -step, rtol=1e-5)
    np.testing.assert_allclose([z1.min(), z1.max(), z2.min(), z2.max()], [-r, r, -r, r])


def test_mosaic_places_tile_i_j_at_rows_28i_and_cols_28j():
    rows, cols = 3, 5  # not square, so a transposition shows
    rng = np.random.default_rng(0)
    tiles = rng.random((rows, cols, 28, 28), dtype=np.float32)
    image = mosaic(tiles)
    assert image.shape == (rows * 28, cols * 28)
    for i in range(rows):
        for j in range(cols):
            np.testing.assert_array_equal(
                image[28 * i : 28 * i + 28, 28 * j : 28 * j + 28], tiles[i, j]
            )


def test_mosaic_keeps_each_tile_upright():
    tiles = np.zeros((2, 2, 28, 28))
    tiles[0, 1, 0, 27] = 1.0  # top-right pixel of the top-right tile
    image = mosaic(tiles)
    assert image[0, 55] == 1.0
    assert image.sum() == 1.0


def test_to_uint8_clips_and_rounds():
    image = np.array([[-1.0, 0.0, 0.25, 0.5, 0.999, 1.0, 2.0, 0.251]])
    # 0.25 * 255 = 63.75 rounds to 64 (truncating would give 63); out-of-range values clip
    expected = np.array([[0, 0, 64, 128, 255, 255, 255, 64]], dtype=np.uint8)
    got = to_uint8(image)
    assert got.dtype == np.uint8
    np.testing.assert_array_equal(got, expected)


def test_decode_grid_puts_each_code_s_image_in_its_cell():
    torch.manual_seed(0)
    model = build_model("vae", 2, [16]).eval()
    codes = grid_codes(3, 4.0)
    tiles = model.decode_grid(codes)
    assert tiles.shape == (3, 3, 28, 28)
    assert tiles.min() >= 0 and tiles.max() <= 1
    for i, j in [(0, 0), (0, 2), (2, 0), (1, 1)]:
        expected = model.decode(torch.from_numpy(codes[i, j][None])).numpy().reshape(28, 28)
        np.testing.assert_allclose(tiles[i, j], expected, rtol=1e-5, atol=1e-6)
    # the top-left tile is the image of z = [-r, r]
    top_left = model.decode(torch.tensor([[-4.0, 4.0]])).numpy().reshape(28, 28)
    np.testing.assert_allclose(tiles[0, 0], top_left, rtol=1e-5, atol=1e-6)
