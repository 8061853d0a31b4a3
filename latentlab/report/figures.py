"""The report's pixel-exact figures, drawn only from arrays the report stage read from tracked
artifacts: latent maps in z units, and decoded tiles in rows and grids.

Each function lays its figure out on a `Canvas` (latentlab/report/canvas.py) and returns it;
`Canvas.save(path)` writes the PNG and returns the boxes where it pasted its images, as
`name -> (left, top, width, height)` in PNG pixels from the top-left corner.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from latentlab.core.fashion_mnist import IMAGE_SIDE
from latentlab.report.canvas import (
    LABEL_PT,
    SUPTITLE_PT,
    TITLE_PT,
    Canvas,
    as_uint8,
    checked_map,
    image_table,
    map_axes,
    map_margins,
    tile_grid,
)
from latentlab.report.data_map import path_colour

TILE = IMAGE_SIDE  # a map's tile is one image, drawn pixel for pixel


# ---------------------------------------------------------------------------------------------
# Maps in z units


def maps(
    panels: dict[str, tuple[np.ndarray, np.ndarray] | None],
    dpi: int,
    scale: int = 1,
    *,
    columns: int | None = None,
    title: str = "",
) -> Canvas:
    """Latent maps side by side (wrapped after `columns` panels), each titled with its key, under
    a bold `title` when one is given.

    `panels[title] = (mosaic, z)`: the uint8 map (rows*28 x cols*28 pixels) and the grid of codes
    (rows x cols x 2) that its tiles decode; tile [i, j] shows z[i, j]. A panel of None leaves
    its place in the grid empty. The axes read in z: ticks sit at tile centres and name the code
    there, z1 growing to the right and z2 upwards. Pixel-exact: each map is pasted at an integer
    `scale` and integer offset, so its pixels in the PNG are the mosaic's. The saved boxes are
    each map's, keyed by title.
    """
    cv = Canvas(dpi)
    names = list(panels)
    columns = len(names) if columns is None else max(1, min(columns, len(names)))
    checked = {n: checked_map(n, *panel) for n, panel in panels.items() if panel is not None}
    sizes = {name: (0, 0) for name in names}
    margins = {name: (0, 0, 0, 0) for name in names}
    for name, (mosaic, geo) in checked.items():
        h, w = mosaic.shape[0] * scale, mosaic.shape[1] * scale
        left, top, right, bottom, title_w = map_margins(cv, geo, w // geo.cols, name)
        overhang = max(0, (title_w - w) // 2 + 4)  # a title wider than its map
        sizes[name] = (w, h)
        margins[name] = (max(left, overhang), top, max(right, overhang), bottom)
    grid = [names[k : k + columns] for k in range(0, len(names), columns)]
    in_column = [[row[c] for row in grid if c < len(row)] for c in range(columns)]
    # Maps of a column share their left edge, maps of a row their top edge.
    col_left = [max(margins[n][0] for n in names_c) for names_c in in_column]
    col_w = [
        col_left[c] + max(sizes[n][0] + margins[n][2] for n in names_c)
        for c, names_c in enumerate(in_column)
    ]
    row_top = [max(margins[n][1] for n in row) for row in grid]
    row_h = [
        row_top[r] + max(sizes[n][1] + margins[n][3] for n in row) for r, row in enumerate(grid)
    ]
    title_w, title_h = cv.text_px(title, SUPTITLE_PT, "bold") if title else (0, 0)
    y = title_h + 10 if title else 0
    for r, row in enumerate(grid):
        x = 0
        for c, name in enumerate(row):
            if name in checked:
                mosaic, geo = checked[name]
                box = cv.image(name, mosaic, x + col_left[c], y + row_top[r], scale)
                map_axes(cv, box, geo, name)
            x += col_w[c]
        y += row_h[r]
    cv.width, cv.height = max(sum(col_w), title_w + 20), y
    if title:
        cv.text(
            cv.width / 2, 6, title, ha="center", va="top", fontsize=SUPTITLE_PT, fontweight="bold"
        )
    return cv


# ---------------------------------------------------------------------------------------------
# Tiles in rows and grids


def _strip_header(cv: Canvas, codes: int, width: int) -> str:
    """The longest header over the decoded strip that fits its width: a path of `codes` codes
    takes codes - 1 steps."""
    return next(
        (
            text
            for text in (
                f"decoded at {codes} evenly spaced codes ({codes - 1} steps) from start to end",
                f"decoded at {codes} codes ({codes - 1} steps)",
                f"{codes - 1} steps",
            )
            if cv.text_px(text, LABEL_PT)[0] <= width - 8
        ),
        "decoded",
    )


def interpolations(
    rows: dict[str, np.ndarray],
    starts: np.ndarray,
    ends: np.ndarray,
    dpi: int,
    scale: int = 2,
) -> Canvas:
    """Decodes along straight paths between two test images' codes, one row per model.

    `rows[model]` holds floats in [0, 1], P x (S+1) x 28 x 28 (endpoints included); `starts`
    and `ends` the real uint8 test images at each path's ends, shown apart from the strip. For
    each path p, one row per model: [start | S+1 decodes | end]. Pixel-exact at integer `scale`.
    The saved boxes are keyed "p/model/start", "p/model/decoded", "p/model/end" (p from 0).
    """
    cv = Canvas(dpi)
    models = list(rows)
    decoded = {name: as_uint8(np.asarray(rows[name])) for name in models}
    starts, ends = as_uint8(starts), as_uint8(ends)
    paths, codes = decoded[models[0]].shape[:2]  # codes: the path's steps + 1
    for name, images in decoded.items():
        if images.shape[:2] != (paths, codes):
            raise ValueError(f"{name}: {images.shape[:2]} paths x codes, expected {(paths, codes)}")
    if starts.shape[0] != paths or ends.shape[0] != paths:
        raise ValueError(f"starts and ends need {paths} images each")
    tile = TILE * scale
    line_h = cv.line_px(LABEL_PT)
    left = cv.widest(models, LABEL_PT) + 16
    real_gap = max(12, tile // 4)  # sets the real test images apart from the decoded strip
    strip_w = codes * tile
    row_gap = 2
    block_gap = line_h + 14
    head = line_h + 10
    strip_x = left + tile + real_gap
    end_x = strip_x + strip_w + real_gap
    header = _strip_header(cv, codes, strip_w)
    for x, width, text in ((left, tile, "start"), (strip_x, strip_w, header), (end_x, tile, "end")):
        cv.text(x + width / 2, head - 4, text, ha="center", va="bottom", fontsize=LABEL_PT)
    y = head + block_gap
    for p in range(paths):
        cv.text(
            4,
            y - 5,
            f"path {p + 1}",
            ha="left",
            va="bottom",
            fontsize=LABEL_PT,
            fontweight="bold",
            color=path_colour(p),
        )
        for name in models:
            cv.image(f"{p}/{name}/start", starts[p], left, y, scale)
            cv.image(f"{p}/{name}/decoded", np.hstack(list(decoded[name][p])), strip_x, y, scale)
            cv.image(f"{p}/{name}/end", ends[p], end_x, y, scale)
            cv.text(left - 8, y + tile / 2, name, ha="right", va="center", fontsize=LABEL_PT)
            y += tile + row_gap
        y += block_gap - row_gap
    cv.width = end_x + tile + 8
    cv.height = y - block_gap + 8
    return cv


def reconstructions(
    originals: np.ndarray,
    recon: dict[str, np.ndarray],
    class_names: Sequence[str],
    dpi: int,
    scale: int = 3,
) -> Canvas:
    """One test image per class (top row) and each model's reconstruction of it (a row each).

    `originals` is uint8 C x 28 x 28, `recon[model]` floats C x 28 x 28 in [0, 1]; class names
    head the columns. Pixel-exact at integer `scale`. The saved boxes are keyed "test image/c"
    and "model/c", c the column index from 0.
    """
    originals = as_uint8(originals)
    columns = {str(c): name for c, name in enumerate(class_names)}
    if len(columns) != originals.shape[0]:
        raise ValueError(f"{len(columns)} class names for {originals.shape[0]} images")
    cells = {"test image": {str(c): originals[c] for c in range(len(columns))}}
    for model, images in recon.items():
        images = as_uint8(np.asarray(images))
        cells[model] = {str(c): images[c] for c in range(len(columns))}
    return image_table(cells, columns, dpi, scale, gap=4, group_gap=8)


def prior_samples(samples: dict[str, np.ndarray], dpi: int, scale: int = 1) -> Canvas:
    """Decodes of codes drawn from N(0, I), one near-square block per model, named above.

    `samples[model]` holds floats in [0, 1], N x 28 x 28, laid out ceil(sqrt(N)) to a row (10 x 10
    for 100), left to right then top to bottom; unused cells of the last row are white.
    Pixel-exact at integer `scale`. The saved boxes are each block's, keyed by model.
    """
    cv = Canvas(dpi)
    line_h = cv.line_px(TITLE_PT)
    head = line_h + 12
    gap = 24
    x = 12
    bottom = 0
    count = 0
    for name, images in samples.items():
        images = as_uint8(np.asarray(images))
        count = images.shape[0]
        block = tile_grid(images, math.ceil(math.sqrt(count)))
        title_w = cv.text_px(name, TITLE_PT)[0]
        width = max(block.shape[1] * scale, title_w)
        left = x + (width - block.shape[1] * scale) // 2
        box = cv.image(name, block, left, head, scale)
        cv.text(left + box[2] / 2, head - 6, name, ha="center", va="bottom", fontsize=TITLE_PT)
        bottom = max(bottom, head + box[3])
        x += width + gap
    caption = f"each block: the decodes of {count} codes drawn from N(0, I)"
    cap_w, cap_h = cv.text_px(caption, LABEL_PT)
    cv.text(12, bottom + 8, caption, ha="left", va="top", fontsize=LABEL_PT)
    cv.width = max(x - gap + 12, cap_w + 24)
    cv.height = bottom + 8 + cap_h + 10
    return cv


def evolution(
    frames: dict[str, list[tuple[int, np.ndarray]]],
    z: np.ndarray,
    seed: int,
    dpi: int,
    scale: int = 1,
) -> Canvas:
    """How each model's small latent map changes over training: a row per model, a column per
    epoch, each map with its axes in z (the maps' codes `z`, as in `maps`), titled with the seed.

    `frames[model] = [(epoch, uint8 map), ...]`, all maps the same size; a model without an
    epoch another has leaves that place empty. Pixel-exact at integer `scale`. The saved boxes
    are keyed "model, epoch e".
    """
    epochs = sorted({int(e) for series in frames.values() for e, _ in series})
    panels: dict[str, tuple[np.ndarray, np.ndarray] | None] = {}
    for name, series in frames.items():
        by_epoch = {int(e): image for e, image in series}
        for e in epochs:
            panels[f"{name}, epoch {e}"] = (by_epoch[e], z) if e in by_epoch else None
    title = f"the map after each epoch of training, seed {seed}"
    return maps(panels, dpi, scale, columns=len(epochs), title=title)


def pick_epochs(epochs: int) -> list[int]:
    """The epochs the evolution figure shows: all when there are at most 6, else 1, 2, 5, 10,
    20, 50, ... below the last, and always the last."""
    if epochs <= 6:
        return list(range(1, epochs + 1))
    picked: list[int] = []
    decade = 1
    while True:
        for k in (1, 2, 5):
            if k * decade >= epochs:
                return [*picked, epochs]
            picked.append(k * decade)
        decade *= 10
