"""A latent map beside the test codes it was drawn over: where the data lies and the paths
between test items, laid out pixel-exact on a `Canvas` (latentlab/report/canvas.py) as the
report's other figures are (latentlab/report/figures.py)."""

from __future__ import annotations

from collections.abc import Callable

import matplotlib
import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.transforms import Bbox, TransformedBbox

from latentlab.core.fashion_mnist import CLASSES
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
    checked_map,
    map_axes,
    map_margins,
)

# Empty tiles get a light orange tint, light enough that their images stay readable, and an
# orange edge inside them where they meet a tile that holds data; path colours avoid orange so
# that paths stay distinct from it.
EMPTY_TINT = (1.0, 0.5, 0.0, 0.12)
EMPTY_EDGE = (1.0, 0.5, 0.0, 1.0)
EDGE_PX = 2  # the edge's width in map pixels
PATH_COLOURS = ("#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#a65628", "#f781bf", "#00bcd4")
PATHS_KEY = "straight paths between test codes (numbered; ● start, ■ end)"
EMPTY_KEY = "no test code in this tile (edged inside where it meets one that has)"


def path_colour(p: int) -> str:
    """The colour of path number `p` (from 0), the same in every figure that draws paths."""
    return PATH_COLOURS[p % len(PATH_COLOURS)]


def _draw_paths(ax: Axes, lines: np.ndarray, clip: TransformedBbox | None = None) -> None:
    """Each path as a coloured line, a dot at its start, a square at its end, its number."""
    outline = [patheffects.withStroke(linewidth=3.2, foreground="black")]
    for p, (start, end) in enumerate(np.asarray(lines, dtype=float).reshape(-1, 2, 2)):
        colour = path_colour(p)
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


def _edges_facing_data(counts: np.ndarray, geo: MapGeometry, tile_px: int) -> list[list]:
    """Quads (in z) along the inside of each empty tile's sides that face a tile holding data,
    EDGE_PX map pixels wide: the border of where the decoder extrapolates, drawn on its side."""
    half1, half2 = abs(geo.step1) / 2, abs(geo.step2) / 2
    w1, w2 = EDGE_PX * 2 * half1 / tile_px, EDGE_PX * 2 * half2 / tile_px
    quads = []
    for i, j in np.argwhere(counts == 0):
        c1, c2 = geo.z[i, j]
        x0, x1, y0, y1 = c1 - half1, c1 + half1, c2 - half2, c2 + half2
        sides = {
            (i - 1, j): (x0, x1, y1 - w2, y1),  # the tile above: z2 grows upwards
            (i + 1, j): (x0, x1, y0, y0 + w2),
            (i, j - 1): (x0, x0 + w1, y0, y1),
            (i, j + 1): (x1 - w1, x1, y0, y1),
        }
        for (a, b), (left, right, bottom, top) in sides.items():
            if 0 <= a < counts.shape[0] and 0 <= b < counts.shape[1] and counts[a, b] > 0:
                quads.append([(left, bottom), (right, bottom), (right, top), (left, top)])
    return quads


def _tint_and_paths(
    counts: np.ndarray, lines: np.ndarray, tile_px: int
) -> Callable[[Axes, MapGeometry], None]:
    """What map_with_data draws over its map: the empty tiles tinted and edged, the paths
    clipped to it."""

    def overlay(ax: Axes, geo: MapGeometry) -> None:
        x0, x1, y0, y1 = geo.edges()
        clip = TransformedBbox(
            Bbox([[min(x0, x1), min(y0, y1)], [max(x0, x1), max(y0, y1)]]), ax.transData
        )
        half1, half2 = abs(geo.step1) / 2, abs(geo.step2) / 2
        quads = [
            [
                (c1 - half1, c2 - half2),
                (c1 + half1, c2 - half2),
                (c1 + half1, c2 + half2),
                (c1 - half1, c2 + half2),
            ]
            for c1, c2 in (geo.z[i, j] for i, j in np.argwhere(counts == 0))
        ]
        # Not antialiased: tile edges fall on pixel edges, so neighbouring tints meet without
        # seams and each tint or edge covers its tile's pixels only.
        for shapes, colour in (
            (quads, EMPTY_TINT),
            (_edges_facing_data(counts, geo, tile_px), EMPTY_EDGE),
        ):
            ax.add_collection(
                PolyCollection(
                    shapes, facecolors=[colour], edgecolors="none", antialiaseds=False, zorder=2
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
            Patch(
                facecolor=EMPTY_TINT,
                edgecolor=EMPTY_EDGE,
                linewidth=EDGE_PX,
                label=EMPTY_KEY,
            ),
            Line2D(
                [],
                [],
                color=path_colour(0),
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
    where `counts` (rows x cols) is 0 lightly tinted orange, and edged in orange inside where
    they meet a tile that holds a code (tiles no test code falls in: there the decoder is
    extrapolating), and the P straight paths `lines` (P x 2 x 2, start and end
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
    frame = map_axes(cv, box, geo, map_title, _tint_and_paths(counts, lines, w // geo.cols))

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
    key_w = cv.widest([PATHS_KEY, EMPTY_KEY], LABEL_PT) + cv.px(LABEL_PT * 3)
    key_h = 2 * cv.line_px(LABEL_PT) + cv.px(LABEL_PT) + 8
    cv.width = max(right_edge, frame[0] + key_w, sup_w + 20)
    cv.height = max(key_top + key_h, scatter_box[1] + scatter_box[3] + bottom)
    cv.text(cv.width / 2, 6, title, ha="center", va="top", fontsize=SUPTITLE_PT, fontweight="bold")
    return cv
