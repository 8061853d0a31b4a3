"""The report's figures: decoded images land in the PNG pixel for pixel, axes read in z.

Synthetic data only, so these run in seconds and need neither the data set nor a model.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure
from matplotlib.text import Text
from PIL import Image

from latentlab.core.fashion_mnist import CLASSES
from latentlab.report import canvas, data_map, figures, plots

DPI = 100
MINUS = "\N{MINUS SIGN}"


def lab_grid(n: int, r: float) -> np.ndarray:
    """Codes of an n x n map over [-r, r]^2 as the lab lays it out: z1 rightwards, z2 upwards."""
    v = np.linspace(-r, r, n)
    z1, z2 = np.meshgrid(v, v[::-1])
    return np.stack([z1, z2], axis=-1)


def random_map(rng: np.random.Generator, n: int) -> np.ndarray:
    return rng.integers(0, 256, (n * 28, n * 28), dtype=np.uint8)


def png(path: Path) -> np.ndarray:
    """The saved PNG as height x width x 3 uint8, whatever mode it was written in."""
    with Image.open(path) as image:
        return np.asarray(image.convert("RGB"))


def crop(pixels: np.ndarray, box: tuple[int, int, int, int]) -> np.ndarray:
    left, top, width, height = box
    return pixels[top : top + height, left : left + width]


def assert_exact(
    pixels: np.ndarray, box: tuple[int, int, int, int], grey: np.ndarray, scale: int = 1
) -> None:
    """The PNG's pixels in `box` are `grey` enlarged by `scale`, in all three channels."""
    expected = np.repeat(np.repeat(grey, scale, axis=0), scale, axis=1)
    got = crop(pixels, box)
    assert got.shape[:2] == expected.shape
    for channel in range(3):
        np.testing.assert_array_equal(got[..., channel], expected)


def to_uint8(x: np.ndarray) -> np.ndarray:
    return np.clip(np.rint(x * 255), 0, 255).astype(np.uint8)


def assert_disjoint(boxes: dict[str, tuple[int, int, int, int]]) -> None:
    items = list(boxes.items())
    for k, (a, (al, at, aw, ah)) in enumerate(items):
        for b, (bl, bt, bw, bh) in items[:k]:
            assert not (al < bl + bw and bl < al + aw and at < bt + bh and bt < at + ah), (a, b)


# ---------------------------------------------------------------------------------------------
# Maps


@pytest.mark.parametrize(
    ("n", "scale", "dpi"), [(21, 1, DPI), (5, 2, DPI), (5, 1, 72), (5, 3, 150)]
)
def test_maps_are_pixel_exact(tmp_path: Path, n: int, scale: int, dpi: int) -> None:
    rng = np.random.default_rng(0)
    panels = {
        name: (random_map(rng, n), lab_grid(n, r))
        for name, r in (("AE", 4.0), ("VAE", 4.0), ("AE wide", 3.1416))
    }
    path = tmp_path / "maps.png"
    boxes = figures.maps(panels, dpi, scale).save(path)
    pixels = png(path)
    assert set(boxes) == set(panels)
    assert_disjoint(boxes)
    for name, (mosaic, _) in panels.items():
        assert boxes[name][2:] == (n * 28 * scale, n * 28 * scale)
        assert_exact(pixels, boxes[name], mosaic, scale)
    # Side by side: one row, left to right in the order given.
    assert len({box[1] for box in boxes.values()}) == 1
    lefts = [boxes[name][0] for name in panels]
    assert lefts == sorted(lefts)
    # Only the figure is left behind, no temporary file.
    assert [p.name for p in tmp_path.iterdir()] == ["maps.png"]


def test_maps_wrap_into_columns(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    panels = {
        f"{model} over {square} square": (random_map(rng, 5), lab_grid(5, r))
        for model in ("AE", "VAE", "AE wide")
        for square, r in (("the lab's", 4.0), ("its own", 2.5))
    }
    path = tmp_path / "maps.png"
    boxes = figures.maps(panels, DPI, columns=2).save(path)
    pixels = png(path)
    assert_disjoint(boxes)
    for name, (mosaic, _) in panels.items():
        assert_exact(pixels, boxes[name], mosaic)
    names = list(panels)
    lefts = [boxes[name][0] for name in names]
    tops = [boxes[name][1] for name in names]
    assert lefts[0::2] == [lefts[0]] * 3 and lefts[1::2] == [lefts[1]] * 3
    assert lefts[0] < lefts[1]
    assert tops[0] == tops[1] < tops[2] == tops[3] < tops[4] == tops[5]


def test_map_orientation_and_ticks() -> None:
    """Top-left tile is z = (-r, r): leftmost x tick is the smallest z1, top y tick the largest z2,
    and the axes put every tile's code on that tile's centre pixel."""
    n, r = 21, 4.0
    mosaic = np.zeros((n * 28, n * 28), dtype=np.uint8)
    mosaic[:28, :28] = 255  # the top-left tile
    z = lab_grid(n, r)
    cv = figures.maps({"map": (mosaic, z)}, DPI)
    fig, pixels = cv.render()
    (ax,) = fig.axes
    left, top, _, _ = cv.boxes["map"]
    assert (pixels[top : top + 28, left : left + 28, :3] == 255).all()
    assert (pixels[top + 28 : top + 56, left : left + 28, :3] == 0).all()

    xticks = sorted(zip(ax.get_xticks(), [t.get_text() for t in ax.get_xticklabels()], strict=True))
    yticks = sorted(zip(ax.get_yticks(), [t.get_text() for t in ax.get_yticklabels()], strict=True))
    assert [text for _, text in xticks] == [f"{MINUS}4", f"{MINUS}2", "0", "2", "4"]
    assert [text for _, text in yticks] == [f"{MINUS}4", f"{MINUS}2", "0", "2", "4"]
    # The leftmost x tick names the smallest z1, the topmost y tick the largest z2.
    to_png = ax.transData.transform
    leftmost = min(xticks, key=lambda t: to_png((t[0], 0))[0])
    topmost = max(yticks, key=lambda t: to_png((0, t[0]))[1])
    assert float(leftmost[1].replace(MINUS, "-")) == -r
    assert float(topmost[1].replace(MINUS, "-")) == r

    height = cv.height
    for i, j in ((0, 0), (0, n - 1), (n - 1, 0), (n - 1, n - 1), (7, 13)):
        x, y = to_png(z[i, j])
        centre = (left + 28 * j + 14, top + 28 * i + 14)
        assert abs(x - centre[0]) < 0.5 and abs((height - y) - centre[1]) < 0.5, (i, j)


def test_map_with_data_tints_only_empty_tiles(tmp_path: Path) -> None:
    """Without paths, the only overlay is the tint: tiles holding test codes are the map's own
    pixels, empty tiles are tinted (orange: red above blue)."""
    rng = np.random.default_rng(2)
    n = 7
    mosaic = random_map(rng, n)
    counts = rng.integers(0, 3, (n, n))
    counts[0, 0], counts[-1, -1] = 0, 5
    codes = rng.normal(size=(300, 2))
    labels = rng.integers(0, 10, 300)
    path = tmp_path / "map_with_data.png"
    boxes = data_map.map_with_data(
        mosaic, lab_grid(n, 3.0), counts, np.zeros((0, 2, 2)), codes, labels, "VAE", DPI
    ).save(path)
    pixels = png(path)
    left, top, width, height = boxes["map"]
    assert (width, height) == mosaic.shape[::-1]
    for i in range(n):
        for j in range(n):
            tile = (left + 28 * j, top + 28 * i, 28, 28)
            source = mosaic[28 * i : 28 * i + 28, 28 * j : 28 * j + 28]
            got = crop(pixels, tile).astype(int)
            if counts[i, j]:
                assert_exact(pixels, tile, source)
                continue
            assert (got[..., 0] > got[..., 2]).all(), (i, j)
            # The tint is light: inside the edge, the tile's own pixels show through, each
            # channel the blend of the source with the tint at its alpha.
            edge = data_map.EDGE_PX
            inner = got[edge:-edge, edge:-edge]
            alpha = data_map.EMPTY_TINT[3]
            for c in range(3):
                tinted = (
                    source[edge:-edge, edge:-edge] * (1 - alpha)
                    + 255 * alpha * data_map.EMPTY_TINT[c]
                )
                assert np.abs(inner[..., c] - tinted).max() <= 2, (i, j, c)  # Agg rounds
            # An opaque orange edge inside the sides that meet a tile holding data, none elsewhere.
            left_side = got[edge:-edge, :edge]
            has_data_left = j > 0 and counts[i, j - 1] > 0
            orange = (left_side[..., 0] == 255) & (left_side[..., 2] == 0)
            assert orange.all() if has_data_left else not orange.any(), (i, j)


def test_map_with_data_draws_paths(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    n = 5
    mosaic = np.full((n * 28, n * 28), 128, dtype=np.uint8)
    lines = np.array([[[-1.0, -1.0], [1.0, 1.0]], [[0.0, 0.0], [9.0, 0.5]]])  # 2nd leaves it
    path = tmp_path / "map_with_data.png"
    boxes = data_map.map_with_data(
        mosaic,
        lab_grid(n, 2.0),
        np.ones((n, n), int),
        lines,
        rng.normal(size=(100, 2)),
        rng.integers(0, 10, 100),
        "AE",
        DPI,
    ).save(path)
    map_pixels = crop(png(path), boxes["map"])
    assert (map_pixels != 128).any()  # the paths are drawn over the map
    assert (map_pixels[:20, :20] == 128).all()  # and nowhere near the top-left corner


# ---------------------------------------------------------------------------------------------
# Tiles


def test_interpolations_are_pixel_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(4)
    paths, steps = 3, 6
    rows = {name: rng.random((paths, steps, 28, 28)) for name in ("AE", "VAE")}
    starts = rng.integers(0, 256, (paths, 28, 28), dtype=np.uint8)
    ends = rng.integers(0, 256, (paths, 28, 28), dtype=np.uint8)
    path = tmp_path / "interpolations.png"
    boxes = figures.interpolations(rows, starts, ends, DPI, scale=2).save(path)
    pixels = png(path)
    assert len(boxes) == paths * len(rows) * 3
    assert_disjoint(boxes)
    for p in range(paths):
        for name, decoded in rows.items():
            assert_exact(pixels, boxes[f"{p}/{name}/start"], starts[p], 2)
            assert_exact(pixels, boxes[f"{p}/{name}/decoded"], np.hstack(to_uint8(decoded[p])), 2)
            assert_exact(pixels, boxes[f"{p}/{name}/end"], ends[p], 2)
            start, strip, end = (boxes[f"{p}/{name}/{k}"] for k in ("start", "decoded", "end"))
            # The real images stand apart from the decoded strip.
            assert start[0] + start[2] < strip[0] and strip[0] + strip[2] < end[0]


def test_reconstructions_are_pixel_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    originals = rng.integers(0, 256, (10, 28, 28), dtype=np.uint8)
    recon = {name: rng.random((10, 28, 28)) for name in ("AE", "VAE", "AE wide")}
    path = tmp_path / "reconstructions.png"
    boxes = figures.reconstructions(originals, recon, list(CLASSES), DPI, scale=3).save(path)
    pixels = png(path)
    assert len(boxes) == 10 * 4
    assert_disjoint(boxes)
    for c in range(10):
        assert_exact(pixels, boxes[f"test image/{c}"], originals[c], 3)
        for name, images in recon.items():
            assert_exact(pixels, boxes[f"{name}/{c}"], to_uint8(images[c]), 3)
            assert boxes[f"{name}/{c}"][0] == boxes[f"test image/{c}"][0]  # same column


@pytest.mark.parametrize("count", [100, 7])
def test_prior_samples_are_pixel_exact(tmp_path: Path, count: int) -> None:
    rng = np.random.default_rng(6)
    samples = {name: rng.random((count, 28, 28)) for name in ("AE", "VAE")}
    path = tmp_path / "prior_samples.png"
    boxes = figures.prior_samples(samples, DPI).save(path)
    pixels = png(path)
    side = int(np.ceil(np.sqrt(count)))
    for name, images in samples.items():
        expected = np.full((int(np.ceil(count / side)) * 28, side * 28), 255, dtype=np.uint8)
        for k, image in enumerate(to_uint8(images)):
            i, j = divmod(k, side)
            expected[28 * i : 28 * i + 28, 28 * j : 28 * j + 28] = image
        assert_exact(pixels, boxes[name], expected)
    if count == 100:
        assert boxes["AE"][2:] == (280, 280)


def test_evolution_is_pixel_exact(tmp_path: Path) -> None:
    rng = np.random.default_rng(7)
    epochs = figures.pick_epochs(10)
    frames = {name: [(e, random_map(rng, 11)) for e in epochs] for name in ("AE", "VAE")}
    frames["late"] = [(10, random_map(rng, 11))]  # trained for fewer epochs shown: one panel
    path = tmp_path / "evolution.png"
    cv = figures.evolution(frames, lab_grid(11, 4.0), 3, DPI)
    boxes = cv.save(path)
    pixels = png(path)
    assert_disjoint(boxes)
    for name, series in frames.items():
        for epoch, image in series:
            assert_exact(pixels, boxes[f"{name}, epoch {epoch}"], image)
    assert len(boxes) == 2 * len(epochs) + 1
    # A row per model, a column per epoch: a missing epoch leaves its place empty.
    assert boxes["AE, epoch 1"][1] == boxes["AE, epoch 10"][1] < boxes["VAE, epoch 1"][1]
    assert boxes["AE, epoch 1"][0] == boxes["VAE, epoch 1"][0] < boxes["AE, epoch 2"][0]
    assert boxes["late, epoch 10"][0] == boxes["AE, epoch 10"][0]
    # Each map reads in z, and the figure says which seed it shows.
    fig, _ = cv.render()
    texts = [t for t, _ in visible_text_boxes(fig)]
    assert "the map after each epoch of training, seed 3" in texts
    assert texts.count("$z_1$") == len(boxes) and f"{MINUS}4" in texts


def test_scale_must_be_a_positive_integer(tmp_path: Path) -> None:
    rng = np.random.default_rng(8)
    with pytest.raises(ValueError, match="scale"):
        figures.maps({"AE": (random_map(rng, 3), lab_grid(3, 1.0))}, DPI, 1.5).save(
            tmp_path / "m.png"
        )
    with pytest.raises(ValueError, match="tiles"):
        figures.maps({"AE": (random_map(rng, 3), lab_grid(5, 1.0))}, DPI).save(tmp_path / "m.png")
    assert not list(tmp_path.iterdir())


# ---------------------------------------------------------------------------------------------
# Layout: text inside the figure, off the images, not on other text


def visible_text_boxes(fig: Figure) -> list[tuple[str, tuple[float, float, float, float]]]:
    """(text, (x0, y0, x1, y1)) of every drawn text, in PNG pixels from the top-left."""
    renderer = fig.canvas.get_renderer()
    height = fig.bbox.height
    hidden = set()
    for ax in fig.axes:  # tick labels that matplotlib keeps but does not draw
        for axis, (lo, hi) in ((ax.xaxis, ax.get_xlim()), (ax.yaxis, ax.get_ylim())):
            lo, hi = min(lo, hi), max(lo, hi)
            for tick in axis.get_major_ticks():
                if not lo <= tick.get_loc() <= hi:
                    hidden.update({id(tick.label1), id(tick.label2)})
    boxes = []
    for text in fig.findobj(Text):
        if not text.get_visible() or not text.get_text().strip() or id(text) in hidden:
            continue
        b = text.get_window_extent(renderer)
        boxes.append((text.get_text(), (b.x0, height - b.y1, b.x1, height - b.y0)))
    return boxes


def layout_problems(cv: canvas.Canvas) -> list[tuple]:
    fig, _ = cv.render()
    texts = visible_text_boxes(fig)
    found: list[tuple] = []
    for text, (x0, y0, x1, y1) in texts:
        if x0 < 0 or y0 < 0 or x1 > cv.width or y1 > cv.height:
            found.append(("outside the figure", text))
        for name, (left, top, w, h) in cv.boxes.items():
            if x0 < left + w and x1 > left and y0 < top + h and y1 > top:
                found.append(("on an image", text, name))
    for k, (a, (ax0, ay0, ax1, ay1)) in enumerate(texts):
        for b, (bx0, by0, bx1, by1) in texts[:k]:
            if ax0 < bx1 and bx0 < ax1 and ay0 < by1 and by0 < ay1:
                found.append(("overlapping", a, b))
    return found


@pytest.mark.parametrize("dpi", [72, 100, 150])
def test_text_is_legible(dpi: int) -> None:
    rng = np.random.default_rng(9)
    own = lab_grid(21, 3.1416)
    canvases = {
        "maps": figures.maps(
            {
                "AE over the lab's square": (random_map(rng, 21), lab_grid(21, 4)),
                "AE over its own square": (random_map(rng, 21), own),
                "VAE": (random_map(rng, 21), lab_grid(21, 12.5)),
            },
            dpi,
            columns=2,
        ),
        "map_with_data": data_map.map_with_data(
            random_map(rng, 21),
            lab_grid(21, 4),
            np.ones((21, 21), int),
            np.zeros((0, 2, 2)),
            rng.normal(size=(500, 2)) * 5,
            rng.integers(0, 10, 500),
            "VAE: map and codes",
            dpi,
        ),
        "interpolations": figures.interpolations(
            {"AE": rng.random((3, 11, 28, 28)), "AE wide": rng.random((3, 11, 28, 28))},
            rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
            rng.integers(0, 256, (3, 28, 28), dtype=np.uint8),
            dpi,
        ),
        "reconstructions": figures.reconstructions(
            rng.integers(0, 256, (10, 28, 28), dtype=np.uint8),
            {"AE": rng.random((10, 28, 28))},
            list(CLASSES),
            dpi,
        ),
        "prior_samples": figures.prior_samples(
            {"AE": rng.random((100, 28, 28)), "VAE": rng.random((100, 28, 28))}, dpi
        ),
        "evolution": figures.evolution(
            {"AE": [(1, random_map(rng, 11)), (10, random_map(rng, 11))]}, lab_grid(11, 4), 1, dpi
        ),
    }
    for name, cv in canvases.items():
        assert layout_problems(cv) == [], name


# ---------------------------------------------------------------------------------------------
# The rest


@pytest.mark.parametrize(
    ("epochs", "expected"),
    [
        (0, []),
        (1, [1]),
        (6, [1, 2, 3, 4, 5, 6]),
        (7, [1, 2, 5, 7]),
        (10, [1, 2, 5, 10]),
        (20, [1, 2, 5, 10, 20]),
        (30, [1, 2, 5, 10, 20, 30]),
        (100, [1, 2, 5, 10, 20, 50, 100]),
        (120, [1, 2, 5, 10, 20, 50, 100, 120]),
    ],
)
def test_pick_epochs(epochs: int, expected: list[int]) -> None:
    assert figures.pick_epochs(epochs) == expected


def test_plots_without_maps(tmp_path: Path) -> None:
    curves = {
        "AE": {1: [{"epoch": e, "loss": 30 / e} for e in range(1, 4)]},
        "VAE": {
            s: [{"epoch": e, "loss": 40 / e + s, "kl": 3.0 + e} for e in range(1, 4)]
            for s in (1, 2)
        },
    }
    plots.training_curves(curves, tmp_path / "curves.png", DPI)
    plots.tile_histograms({"AE": [5.0] * 10, "VAE": list(range(10))}, tmp_path / "hist.png", DPI)
    for name in ("curves.png", "hist.png"):
        with Image.open(tmp_path / name) as image:
            assert image.size[0] > 300 and image.size[1] > 200


def test_the_strip_header_counts_codes_and_steps() -> None:
    cv = canvas.Canvas(DPI)
    wide = figures._strip_header(cv, 17, 2000)
    assert wide == "decoded at 17 evenly spaced codes (16 steps) from start to end"
    assert figures._strip_header(cv, 17, 80) == "16 steps"


def test_training_curves_tell_the_seeds_apart_and_give_units(monkeypatch, tmp_path: Path) -> None:
    drawn = []
    monkeypatch.setattr(plots, "_save", lambda fig, path, dpi: drawn.append(fig))
    curves = {
        "VAE": {
            s: [{"epoch": e, "loss": 40 / e + s, "bce": 30 / e, "kl": 3.0} for e in (1, 2)]
            for s in (1, 2)
        }
    }
    plots.training_curves(curves, tmp_path / "curves.png", DPI)
    (fig,) = drawn
    loss = fig.axes[0]
    assert [ax.get_title() for ax in fig.axes] == [
        plots.UNITS["loss"],
        plots.UNITS["bce"],
        plots.UNITS["kl"],
    ]
    assert "(nats)" in plots.UNITS["bce"]
    styles = {(line.get_linestyle(), line.get_marker()) for line in loss.get_lines()}
    assert len(styles) == 2  # one per seed
    assert [t.get_text() for t in fig.legends[0].get_texts()] == ["seed 1", "seed 2"]
    assert list(loss.get_xticks()) == [1, 2]
