"""The latent map: the grid of codes as the lab draws it (and about another centre), the model's
own square, the codes each tile holds, the mosaic, and 8-bit conversion."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from latentlab.analysis.latent_grid import grid_codes, mosaic, own_square, tiles_holding, to_uint8
from latentlab.nn.models import build_model

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


@pytest.mark.parametrize(("grid", "r", "center"), [(21, 4.0, (1.5, -2.0)), (3, 0.5, (-10, 10))])
def test_grid_about_a_centre_is_the_origin_grid_shifted(grid, r, center):
    codes = grid_codes(grid, r, center)
    assert codes.shape == (grid, grid, 2) and codes.dtype == np.float32
    np.testing.assert_allclose(codes, grid_codes(grid, r) + np.float32(center), atol=1e-5)
    np.testing.assert_allclose(codes[0, 0], [center[0] - r, center[1] + r], atol=1e-6)
    np.testing.assert_allclose(codes[-1, -1], [center[0] + r, center[1] - r], atol=1e-6)
    middle = grid // 2
    np.testing.assert_allclose(codes[middle, middle], center, atol=1e-5)


def test_own_square_is_the_percentile_box_made_square():
    steps = np.arange(101, dtype=np.float64)
    codes = np.stack([steps, 10.0 + steps / 10.0], axis=1)  # x over 0..100, y over 10..20
    center, half_width = own_square(codes, 0)
    assert center == (50.0, 15.0) and half_width == 50.0  # the wider side sets the square
    center, half_width = own_square(codes, 1)  # p1 = 1, p99 = 99 in x; 10.1 and 19.9 in y
    assert center == pytest.approx((50.0, 15.0)) and half_width == pytest.approx(49.0)
    assert all(type(v) is float for v in (*center, half_width))
    # y the wider side, and the box no longer about the origin
    center, half_width = own_square(codes[:, ::-1] - [0.0, 200.0], 0)
    assert center == pytest.approx((15.0, -150.0)) and half_width == pytest.approx(50.0)


def test_own_square_ignores_the_outliers_beyond_its_percentiles():
    codes = np.zeros((1000, 2))
    codes[:, 0] = np.linspace(-1, 1, 1000)
    codes[:, 1] = np.linspace(-1, 1, 1000)[::-1]
    codes[0] = [1e6, -1e6]  # a single far code
    center, half_width = own_square(codes, 1)
    assert half_width < 1.0
    assert abs(center[0]) < 0.05 and abs(center[1]) < 0.05


def test_own_square_of_identical_codes_has_a_tiny_positive_width():
    center, half_width = own_square(np.full((10, 2), 3.0), 1)
    assert center == (3.0, 3.0)
    assert half_width == 1e-6  # not 0, so that a grid over it still has distinct steps


def test_tiles_holding_counts_codes_by_the_tile_around_them():
    grid_z = grid_codes(3, 1.0)  # tile centres -1, 0, 1 in both dimensions: a tile is 1 wide
    codes = np.array(
        [
            [0.0, 0.0],  # the centre tile
            [0.2, -0.3],  # the centre tile
            [-1.0, 1.0],  # top left (z1 smallest, z2 largest)
            [1.0, -1.0],  # bottom right
            [-1.2, -0.9],  # bottom left
            [0.9, 1.4],  # top right
            [1.6, 0.0],  # right of every tile: dropped
            [0.0, -1.51],  # below every tile: dropped
        ]
    )
    expected = np.array([[1, 0, 1], [0, 2, 0], [1, 0, 1]])
    counts = tiles_holding(codes, grid_z)
    assert counts.dtype == np.int64
    np.testing.assert_array_equal(counts, expected)


def test_tiles_holding_about_a_centre_and_at_the_edges():
    grid_z = grid_codes(4, 3.0, (10.0, -5.0))  # centres 7, 9, 11, 13 in z1; -2, -4, -6, -8 in z2
    codes = np.array(
        [
            [7.0, -2.0],  # top left
            [13.0, -8.0],  # bottom right
            [6.0, -2.0],  # the left edge of the square: inside
            [14.0, -2.0],  # the right edge: outside (a tile is half-open)
            [10.0, -5.0],  # the centre: on a corner of four tiles
        ]
    )
    counts = tiles_holding(codes, grid_z)
    assert counts.sum() == 4
    assert counts[0, 0] == 2 and counts[3, 3] == 1
    assert counts[1:3, 1:3].sum() == 1


def test_tiles_holding_agrees_with_the_square_on_random_codes():
    rng = np.random.default_rng(0)
    codes = rng.normal(size=(5000, 2)) * 3
    grid, r = 21, 4.0
    counts = tiles_holding(codes, grid_codes(grid, r))
    half = r + r / (grid - 1)  # the tiles reach half a step beyond the outer centres
    inside = np.all(np.abs(codes) < half, axis=1)
    assert counts.sum() == inside.sum()
    # each code's tile is the nearest tile centre
    z = grid_codes(grid, r).reshape(-1, 2).astype(np.float64)
    nearest = np.argmin(((codes[inside, None, :] - z[None]) ** 2).sum(-1), axis=1)
    np.testing.assert_array_equal(counts.ravel(), np.bincount(nearest, minlength=grid * grid))


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
