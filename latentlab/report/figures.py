"""The report's pixel-exact figures, drawn only from arrays the report stage read from tracked
artifacts: latent maps in z units, and decoded tiles in rows and grids.

Each function lays its figure out on a `Canvas` (latentlab/report/canvas.py) and returns it;
`Canvas.save(path)` writes the PNG and returns the boxes where it pasted its images, as
`name -> (left, top, width, height)` in PNG pixels from the top-left corner.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import matplotlib
import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.transforms import Bbox, TransformedBbox

from latentlab.core.fashion_mnist import CLASSES, IMAGE_SIDE
from latentlab.report.canvas import (
    LABEL_PAD_PT,
    LABEL_PT,
    SUPTITLE_PT,
    TICK_LEN_PT,
    TICK_PAD_PT,
    TICK_PT,
    TITLE_PAD_PT,
    TITLE_PT,
    Canvas,
    MapGeometry,
    as_uint8,
    checked_map,
    image_table,
    map_axes,
    map_margins,
    tile_grid,
)

TILE = IMAGE_SIDE  # a map's tile is one image, drawn pixel for pixel

# Empty tiles are tinted orange; path colours avoid orange so that paths stay distinct from it.
EMPTY_TINT = (1.0, 0.5, 0.0, 0.25)
PATH_COLOURS = ("#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#a65628", "#f781bf", "#00bcd4")
PATHS_KEY = "straight paths between test codes (numbered; ● start, ■ end)"


# ---------------------------------------------------------------------------------------------
# Maps in z units


def maps(
    panels: dict[str, tuple[np.ndarray, np.ndarray]],
    dpi: int,
    scale: int = 1,
    *,
    columns: int | None = None,
) -> Canvas:
    """Latent maps side by side (wrapped after `columns` panels), each titled with its key.

    `panels[title] = (mosaic, z)`: the uint8 map (rows*28 x cols*28 pixels) and the grid of codes
    (rows x cols x 2) that its tiles decode; tile [i, j] shows z[i, j]. The axes read in z:
    ticks sit at tile centres and name the code there, z1 growing to the right and z2 upwards.
    Pixel-exact: each map is pasted at an integer `scale` and integer offset, so its pixels in
    the PNG are the mosaic's. The saved boxes are each map's, keyed by title.
    """
    cv = Canvas(dpi)
    names = list(panels)
    columns = len(names) if columns is None else max(1, min(columns, len(names)))
    checked = {name: checked_map(name, *panels[name]) for name in names}
    sizes, margins = {}, {}
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
    y = 0
    for r, row in enumerate(grid):
        x = 0
        for c, name in enumerate(row):
            mosaic, geo = checked[name]
            box = cv.image(name, mosaic, x + col_left[c], y + row_top[r], scale)
            map_axes(cv, box, geo, name)
            x += col_w[c]
        y += row_h[r]
    cv.width, cv.height = sum(col_w), y
    return cv


def _path_colour(p: int) -> str:
    return PATH_COLOURS[p % len(PATH_COLOURS)]


def _draw_paths(ax: Axes, lines: np.ndarray, clip: TransformedBbox | None = None) -> None:
    """Each path as a coloured line, a dot at its start, a square at its end, its number."""
    outline = [patheffects.withStroke(linewidth=3.2, foreground="black")]
    for p, (start, end) in enumerate(np.asarray(lines, dtype=float).reshape(-1, 2, 2)):
        colour = _path_colour(p)
        artists = [
            *ax.plot(
                *np.stack([start, end]).T, color=colour, lw=1.8, path_effects=outline, zorder=3
            ),
            *ax.plot(*start, "o", color=colour, ms=6, mec="black", mew=0.8, zorder=4),
            *ax.plot(*end, "s", color=colour, ms=5.5, mec="black", mew=0.8, zorder=4),
            ax.annotate(
                str(p + 1),
                start,
                xytext=(-4, 4),
                textcoords="offset points",
                ha="right",
                va="bottom",
                fontsize=TICK_PT,
                color="white",
                fontweight="bold",
                zorder=5,
                path_effects=[patheffects.withStroke(linewidth=2, foreground="black")],
            ),
        ]
        if clip is not None:
            for artist in artists:
                artist.set_clip_box(clip)
                artist.set_clip_on(True)


def _tint_and_paths(counts: np.ndarray, lines: np.ndarray) -> Callable[[Axes, MapGeometry], None]:
    """What map_with_data draws over its map: the empty tiles tinted, the paths clipped to it."""

    def overlay(ax: Axes, geo: MapGeometry) -> None:
        x0, x1, y0, y1 = geo.edges()
        clip = TransformedBbox(
            Bbox([[min(x0, x1), min(y0, y1)], [max(x0, x1), max(y0, y1)]]), ax.transData
        )
        empty = np.argwhere(counts == 0)
        half1, half2 = abs(geo.step1) / 2, abs(geo.step2) / 2
        quads = [
            [
                (c1 - half1, c2 - half2),
                (c1 + half1, c2 - half2),
                (c1 + half1, c2 + half2),
                (c1 - half1, c2 + half2),
            ]
            for c1, c2 in (geo.z[i, j] for i, j in empty)
        ]
        # Not antialiased: tile edges fall on pixel edges, so neighbouring tints meet without
        # seams and each tint covers its tile's pixels only.
        ax.add_collection(
            PolyCollection(
                quads, facecolors=[EMPTY_TINT], edgecolors="none", antialiaseds=False, zorder=2
            )
        )
        _draw_paths(ax, lines, clip)

    return overlay


def _codes_by_class(
    codes: np.ndarray, labels: np.ndarray, lines: np.ndarray, geo: MapGeometry
) -> Callable[[Axes], None]:
    """The test codes coloured by class, the map's square dashed, the paths: map_with_data's
    right-hand panel."""
    x0, x1, y0, y1 = geo.edges()
    square = (min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0))
    cmap = matplotlib.colormaps["tab10"]

    def scatter(ax: Axes) -> None:
        ax.set_facecolor("white")
        for c, class_name in enumerate(CLASSES):
            pts = codes[labels == c]
            ax.scatter(
                pts[:, 0], pts[:, 1], s=2, color=cmap(c), label=class_name, alpha=0.6, linewidths=0
            )
        ax.add_patch(
            Rectangle(
                square[:2],
                *square[2:],
                fill=False,
                lw=1.2,
                ls="--",
                color="black",
                label="the map's square",
                zorder=2.5,
            )
        )
        _draw_paths(ax, lines)
        ax.set_aspect("equal", adjustable="datalim")
        ax.tick_params(length=TICK_LEN_PT, pad=TICK_PAD_PT, labelsize=TICK_PT)
        ax.set_xlabel("$z_1$", fontsize=LABEL_PT, labelpad=LABEL_PAD_PT)
        ax.set_ylabel("$z_2$", fontsize=LABEL_PT, labelpad=LABEL_PAD_PT)
        ax.set_title("test codes by class", fontsize=TITLE_PT, pad=TITLE_PAD_PT)
        ax.legend(
            loc="upper left",
            bbox_to_anchor=(1.02, 1),
            fontsize=TICK_PT,
            markerscale=4,
            frameon=False,
            borderaxespad=0,
        )

    return scatter


def _map_key(left: int, top: int) -> Callable[[Figure, Canvas], None]:
    """The legend below map_with_data's map, its top-left corner at PNG pixel (left, top)."""

    def key(fig: Figure, cv: Canvas) -> None:
        handles = [
            Patch(facecolor=EMPTY_TINT, edgecolor="none", label="no test code in this tile"),
            Line2D(
                [],
                [],
                color=_path_colour(0),
                lw=1.8,
                marker="o",
                ms=5,
                mec="black",
                label=PATHS_KEY,
            ),
        ]
        fig.legend(
            handles=handles,
            loc="upper left",
            fontsize=LABEL_PT,
            frameon=False,
            bbox_to_anchor=(left / cv.width, 1 - top / cv.height),
            borderaxespad=0,
            borderpad=0,
        )

    return key


def map_with_data(
    mosaic: np.ndarray,
    z: np.ndarray,
    counts: np.ndarray,
    lines: np.ndarray,
    codes: np.ndarray,
    labels: np.ndarray,
    title: str,
    dpi: int,
) -> Canvas:
    """A map beside the test codes it was drawn over, with the interpolation paths on both.

    Left: the map (`mosaic`, codes `z` as in `maps`), pixel-exact at scale 1, with the tiles
    where `counts` (rows x cols) is 0 tinted orange on top (tiles no test code falls in: there
    the decoder is extrapolating) and the P straight paths `lines` (P x 2 x 2, start and end
    codes) drawn as numbered coloured lines, clipped to the map. Right: the test `codes` (N x 2)
    coloured by class `labels`, the map's square dashed, the same paths. Only the tint and the
    paths change map pixels. The saved boxes are {"map": box}.
    """
    cv = Canvas(dpi)
    mosaic, geo = checked_map("map", mosaic, z)
    counts = np.asarray(counts)
    if counts.shape != (geo.rows, geo.cols):
        raise ValueError(f"counts must be {geo.rows} x {geo.cols}, not {counts.shape}")
    lines = np.asarray(lines, dtype=float).reshape(-1, 2, 2)
    codes = np.asarray(codes, dtype=float)
    labels = np.asarray(labels)
    h, w = mosaic.shape
    map_title = "decoded map"
    left, top, right, bottom, _ = map_margins(cv, geo, w // geo.cols, map_title)
    sup_w, sup_h = cv.text_px(title, SUPTITLE_PT, "bold")
    box = cv.image("map", mosaic, left, sup_h + 10 + top, 1)
    frame = map_axes(cv, box, geo, map_title, _tint_and_paths(counts, lines))

    # Right: the test codes, an ordinary axes of the same height as the map's frame.
    tick_w = cv.text_px("\N{MINUS SIGN}00.0", TICK_PT)[0]
    label_h = cv.text_px("$z_2$", LABEL_PT)[1]
    gap = cv.px(TICK_LEN_PT + TICK_PAD_PT + LABEL_PAD_PT) + tick_w + label_h + 24
    scatter_box = (box[0] + w + right + gap, frame[1], frame[2], frame[3])
    cv.axes(scatter_box, _codes_by_class(codes, labels, lines, geo))
    legend_w = max(cv.text_px(s, TICK_PT)[0] for s in (*CLASSES, "the map's square"))
    right_edge = scatter_box[0] + scatter_box[2] + cv.px(TICK_PT * 4) + legend_w + 8

    # Below the map: what the tint and the paths mean.
    key_top = box[1] + h + bottom
    cv.extra(_map_key(frame[0], key_top))
    key_w = cv.text_px(PATHS_KEY, LABEL_PT)[0] + cv.px(LABEL_PT * 3)
    key_h = 2 * cv.line_px(LABEL_PT) + cv.px(LABEL_PT) + 8
    cv.width = max(right_edge, frame[0] + key_w, sup_w + 20)
    cv.height = max(key_top + key_h, scatter_box[1] + scatter_box[3] + bottom)
    cv.text(cv.width / 2, 6, title, ha="center", va="top", fontsize=SUPTITLE_PT, fontweight="bold")
    return cv


# ---------------------------------------------------------------------------------------------
# Tiles in rows and grids


def _strip_header(cv: Canvas, steps: int, width: int) -> str:
    """The longest header over the decoded strip that fits its width."""
    return next(
        (
            text
            for text in (
                f"decoded at {steps} evenly spaced codes from start to end",
                f"decoded along the path ({steps} codes)",
                "decoded",
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
    paths, steps = decoded[models[0]].shape[:2]
    for name, images in decoded.items():
        if images.shape[:2] != (paths, steps):
            raise ValueError(f"{name}: {images.shape[:2]} paths x steps, expected {(paths, steps)}")
    if starts.shape[0] != paths or ends.shape[0] != paths:
        raise ValueError(f"starts and ends need {paths} images each")
    tile = TILE * scale
    line_h = cv.line_px(LABEL_PT)
    left = cv.widest(models, LABEL_PT) + 16
    real_gap = max(12, tile // 4)  # sets the real test images apart from the decoded strip
    strip_w = steps * tile
    row_gap = 2
    block_gap = line_h + 14
    head = line_h + 10
    strip_x = left + tile + real_gap
    end_x = strip_x + strip_w + real_gap
    header = _strip_header(cv, steps, strip_w)
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
            color=_path_colour(p),
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


def evolution(frames: dict[str, list[tuple[int, np.ndarray]]], dpi: int, scale: int = 1) -> Canvas:
    """How each model's small latent map changes over training: a row per model, a column per
    epoch.

    `frames[model] = [(epoch, uint8 map), ...]`, all maps the same size. Pixel-exact at integer
    `scale`. The saved boxes are keyed "model/epoch".
    """
    epochs: list[int] = []
    for series in frames.values():
        epochs += [int(e) for e, _ in series if int(e) not in epochs]
    columns = {str(e): f"epoch {e}" for e in sorted(epochs)}
    cells = {name: {str(int(e)): img for e, img in series} for name, series in frames.items()}
    return image_table(cells, columns, dpi, scale, gap=8)


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
