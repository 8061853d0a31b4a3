"""The report's figures, drawn only from arrays the report stage read from tracked artifacts.

Decoded images (maps, tiles) are never resampled: each is scaled by an integer factor (pixel
repetition), pasted with `Figure.figimage` at integer pixel offsets on a figure whose size in
pixels is exact, and the rendered buffer is written to PNG as is. A tile's pixels in the PNG are
then the decoder's pixels, so a reader who zooms in sees what the model produced, not an
interpolation of it. Titles, ticks and overlays live in transparent axes laid exactly over each
image's pixel box (a few pixels larger, so that their frame does not cover the image's edge).

Every pixel-exact figure returns the boxes where it pasted its images, as
`name -> (left, top, width, height)` in PNG pixels from the top-left corner.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # no screen on CI or servers; set before pyplot is imported

import matplotlib.pyplot as plt
import numpy as np
from matplotlib import patheffects
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from matplotlib.lines import Line2D
from matplotlib.patches import Patch, Rectangle
from matplotlib.transforms import Bbox, TransformedBbox
from PIL import Image

from latentlab.analysis.latent_grid import to_uint8
from latentlab.core.artifacts import atomic_path
from latentlab.core.fashion_mnist import CLASSES, IMAGE_SIDE

Box = tuple[int, int, int, int]  # left, top, width, height in PNG pixels, top-left origin

TILE = IMAGE_SIDE  # a map's tile is one image, drawn pixel for pixel

# Font sizes in points; the pixel layout is derived from them and the dpi.
TITLE_PT = 10.0
LABEL_PT = 9.0
TICK_PT = 8.0
SUPTITLE_PT = 11.0
TICK_LEN_PT = 3.0
TICK_PAD_PT = 2.0
LABEL_PAD_PT = 4.0  # matplotlib's default axis labelpad
TITLE_PAD_PT = 6.0  # matplotlib's default title pad
SPINE_PT = 0.8

# Empty tiles are tinted orange; path colours avoid orange so that paths stay distinct from it.
EMPTY_TINT = (1.0, 0.5, 0.0, 0.25)
PATH_COLOURS = ("#e41a1c", "#377eb8", "#4daf4a", "#984ea3", "#a65628", "#f781bf", "#00bcd4")


# ---------------------------------------------------------------------------------------------
# Pixel-exact layout


def _as_uint8(images: np.ndarray) -> np.ndarray:
    """uint8 grey levels: uint8 passes unchanged, floats in [0, 1] are rounded to 0..255."""
    images = np.asarray(images)
    if images.dtype == np.uint8:
        return images
    if not np.issubdtype(images.dtype, np.floating):
        raise TypeError(f"images must be uint8 or floats in [0, 1], not {images.dtype}")
    return to_uint8(images)


def _upscale(grey: np.ndarray, scale: int) -> np.ndarray:
    """Nearest-neighbour enlargement by an integer factor: every pixel becomes a scale^2 block."""
    if not (isinstance(scale, int | np.integer) and scale >= 1):
        raise ValueError(f"scale must be a positive integer, not {scale!r}")
    return np.repeat(np.repeat(grey, scale, axis=0), scale, axis=1)


def _mosaic(tiles: np.ndarray, columns: int, fill: int = 255) -> np.ndarray:
    """Tiles (N x h x w) side by side in rows of `columns`, left to right then top to bottom."""
    n, h, w = tiles.shape
    rows = math.ceil(n / columns)
    out = np.full((rows * h, columns * w), fill, dtype=np.uint8)
    for k in range(n):
        i, j = divmod(k, columns)
        out[i * h : (i + 1) * h, j * w : (j + 1) * w] = tiles[k]
    return out


@functools.cache
def _renderer(dpi: int) -> RendererAgg:
    return RendererAgg(1, 1, dpi)


@functools.cache
def _text_px(text: str, size: float, dpi: int, weight: str = "normal") -> tuple[int, int]:
    """Width and height in pixels that `text` takes when matplotlib draws it at this dpi."""
    ismath = "$" in text
    w, h, _ = _renderer(dpi).get_text_width_height_descent(
        text, FontProperties(size=size, weight=weight), ismath=ismath
    )
    return math.ceil(w), math.ceil(h)


class _Canvas:
    """Collects images at integer pixel positions, then text and axes, and renders them exactly.

    Positions are PNG pixels from the top-left corner. Images are drawn with `figimage`, which
    copies pixels without resampling; axes and text are added after the figure size is known.
    """

    def __init__(self, dpi: int) -> None:
        self.dpi = dpi
        self.width = 0
        self.height = 0
        self.boxes: dict[str, Box] = {}
        self._images: list[tuple[np.ndarray, int, int]] = []
        self._texts: list[tuple[float, float, str, dict]] = []
        self._axes: list[tuple[Box, Callable[[Axes], None]]] = []
        self._extras: list[Callable[[Figure, _Canvas], None]] = []

    def px(self, points: float) -> int:
        """Whole pixels that cover a length in points at this canvas's dpi."""
        return math.ceil(points * self.dpi / 72)

    def text_px(self, text: str, size: float, weight: str = "normal") -> tuple[int, int]:
        return _text_px(text, size, self.dpi, weight)

    def line_px(self, size: float) -> int:
        """Height of a line of text: matplotlib lays text out with the extent of "lp"."""
        return _text_px("lp", size, self.dpi)[1]

    def image(self, name: str, grey: np.ndarray, left: int, top: int, scale: int = 1) -> Box:
        """Paste a uint8 grey image, enlarged by `scale`, with its top-left pixel at (left, top)."""
        block = _upscale(_as_uint8(grey), scale)
        if block.ndim != 2:
            raise ValueError(f"{name}: expected a 2-D grey image, got shape {block.shape}")
        h, w = block.shape
        box = (int(left), int(top), w, h)
        if name in self.boxes:
            raise ValueError(f"two images named {name!r}")
        self.boxes[name] = box
        self._images.append((block, box[0], box[1]))
        return box

    def text(self, x: float, y: float, text: str, **kwargs: object) -> None:
        """Text anchored at PNG pixel (x, y); kwargs go to `Figure.text` (ha, va, size...)."""
        self._texts.append((x, y, text, kwargs))

    def axes(self, box: Box, setup: Callable[[Axes], None]) -> None:
        """Axes whose frame is exactly `box` (PNG pixels); `setup` draws into it at render."""
        self._axes.append((box, setup))

    def extra(self, draw: Callable[[Figure, _Canvas], None]) -> None:
        """Anything else to draw on the figure once its size is known (a figure legend...)."""
        self._extras.append(draw)

    def fraction(self, box: tuple[float, float, float, float]) -> list[float]:
        """A PNG-pixel box as a figure-fraction rectangle [x0, y0, w, h], bottom-left origin."""
        left, top, w, h = box
        return [
            left / self.width,
            (self.height - top - h) / self.height,
            w / self.width,
            h / self.height,
        ]

    def _inches(self, pixels: int) -> float:
        # The smallest size in inches whose product with the dpi is not below `pixels`: Agg
        # truncates the product, so 587.9999 would lose a whole row of pixels.
        inches = pixels / self.dpi
        while inches * self.dpi < pixels:
            inches = float(np.nextafter(inches, np.inf))
        return inches

    def render(self) -> tuple[Figure, np.ndarray]:
        """The figure and its rendered RGBA pixels (height x width x 4)."""
        for block, left, top in self._images:
            h, w = block.shape
            if left < 0 or top < 0 or left + w > self.width or top + h > self.height:
                raise ValueError(
                    f"image at {(left, top, w, h)} leaves the canvas {self.width} x {self.height}"
                )
        fig = Figure(
            figsize=(self._inches(self.width), self._inches(self.height)),
            dpi=self.dpi,
            facecolor="white",
        )
        canvas = FigureCanvasAgg(fig)
        for block, left, top in self._images:
            # RGB uint8 so that no colormap or normalisation touches the grey levels.
            rgb = np.ascontiguousarray(np.dstack([block, block, block]))
            fig.figimage(
                rgb,
                xo=left,
                yo=self.height - top - block.shape[0],
                origin="upper",
                resize=False,
                zorder=0,
            )
        for box, setup in self._axes:
            # Figure draws its images after its axes at equal zorder; axes above images.
            ax = fig.add_axes(self.fraction(box), zorder=1)
            ax.set_facecolor("none")
            setup(ax)
        for x, y, text, kwargs in self._texts:
            fig.text(x / self.width, 1 - y / self.height, text, **kwargs)
        for draw in self._extras:
            draw(fig, self)
        canvas.draw()
        rgba = np.asarray(canvas.buffer_rgba())
        if rgba.shape[:2] != (self.height, self.width):
            raise RuntimeError(
                f"rendered {rgba.shape[1]} x {rgba.shape[0]} pixels, "
                f"laid out {self.width} x {self.height}"
            )
        return fig, rgba

    def save(self, path: Path) -> dict[str, Box]:
        """Render and write the PNG (grey when every pixel is grey); return the image boxes."""
        _, rgba = self.render()
        rgb = rgba[..., :3]
        grey = bool((rgb[..., 0] == rgb[..., 1]).all() and (rgb[..., 1] == rgb[..., 2]).all())
        # Written with PIL rather than savefig: no bbox cropping, no matplotlib version stamped
        # into the file (the same arrays give the same bytes), and 1 channel where 1 suffices.
        image = Image.fromarray(np.ascontiguousarray(rgb[..., 0] if grey else rgb))
        with atomic_path(path) as tmp:
            image.save(tmp, format="PNG", optimize=True, dpi=(self.dpi, self.dpi))
        return dict(self.boxes)


# ---------------------------------------------------------------------------------------------
# Maps in z units


def _format_ticks(values: Sequence[float], step: float) -> list[str]:
    """Compact labels: the fewest decimals (0 to 3) that are exact or off by under 5% of a tile."""
    values = [float(v) for v in values]
    for decimals in range(4):
        errors = [abs(round(v, decimals) - v) for v in values]
        if all(e <= 1e-6 * max(1.0, abs(v)) for e, v in zip(errors, values, strict=True)) or (
            max(errors, default=0.0) <= 0.05 * abs(step)
        ):
            break
    labels = []
    for v in values:
        text = f"{v:.{decimals}f}"
        if "." in text:
            text = text.rstrip("0").rstrip(".")
        if text in ("-0", ""):
            text = "0"
        labels.append(text.replace("-", "\N{MINUS SIGN}"))
    return labels


def _tick_indices(n: int, count: int = 5) -> list[int]:
    """About `count` tile indices from 0 to n - 1, both ends included, placed symmetrically.

    Evenly spaced when a stride divides n - 1 into count - 1 to count + 2 gaps (0, 5, ... 20 for
    21 tiles), else the tiles nearest to even spacing, mirrored about the middle.
    """
    if n <= count:
        return list(range(n))
    last = n - 1
    strides = [
        k for k in range(1, last + 1) if last % k == 0 and count <= last // k + 1 <= count + 2
    ]
    if strides:
        stride = min(strides, key=lambda k: (abs(last // k + 1 - count), k))
        return list(range(0, n, stride))
    chosen = set()
    for t in np.linspace(0, last, count):
        if t < last / 2:
            chosen |= {math.floor(t + 0.5), last - math.floor(t + 0.5)}
        elif t == last / 2 and last % 2 == 0:  # a middle tile only when there is one
            chosen.add(last // 2)
    return sorted(chosen)


def _map_ticks(centres: np.ndarray, count: int = 5) -> tuple[list[float], list[str]]:
    """Tick positions (tile-centre z values, in display order) and their labels for one axis."""
    centres = np.asarray(centres, dtype=float)
    step = float(centres[1] - centres[0]) if len(centres) > 1 else 1.0
    picked = [float(centres[i]) for i in _tick_indices(len(centres), count)]
    return picked, _format_ticks(picked, step)


class _MapGeometry:
    """How a map's tiles relate to z: tile [i, j] is centred on z[i, j], in display order."""

    def __init__(self, z: np.ndarray, mosaic_shape: tuple[int, int]) -> None:
        z = np.asarray(z, dtype=float)
        if z.ndim != 3 or z.shape[2] != 2:
            raise ValueError(f"z must be rows x columns x 2, not {z.shape}")
        self.z = z
        self.rows, self.cols = z.shape[:2]
        h, w = mosaic_shape
        if h % self.rows or w % self.cols:
            raise ValueError(f"a {h} x {w} map does not split into {self.rows} x {self.cols} tiles")
        self.z1 = z[0, :, 0]  # tile centres left to right
        self.z2 = z[:, 0, 1]  # tile centres top to bottom
        self.step1 = (self.z1[-1] - self.z1[0]) / (self.cols - 1) if self.cols > 1 else 1.0
        self.step2 = (self.z2[0] - self.z2[-1]) / (self.rows - 1) if self.rows > 1 else 1.0

    def edges(self) -> tuple[float, float, float, float]:
        """z at the image's left, right, bottom and top edges (tile centres +- half a step)."""
        return (
            self.z1[0] - self.step1 / 2,
            self.z1[-1] + self.step1 / 2,
            self.z2[-1] - self.step2 / 2,
            self.z2[0] + self.step2 / 2,
        )

    def limits(self, box: Box, margin: int) -> tuple[tuple[float, float], tuple[float, float]]:
        """Axes limits for a frame `margin` pixels outside the image box, so z lands on tiles."""
        _, _, w, h = box
        left, right, bottom, top = self.edges()
        per_px1 = (right - left) / w
        per_px2 = (top - bottom) / h
        return (
            (left - margin * per_px1, right + margin * per_px1),
            (bottom - margin * per_px2, top + margin * per_px2),
        )


def _frame_margin(cv: _Canvas) -> int:
    """Pixels between an image and the frame of its axes, so the frame line misses the image."""
    return cv.px(SPINE_PT / 2) + 1


def _map_margins(cv: _Canvas, geo: _MapGeometry, tile_px: int, title: str) -> tuple[int, ...]:
    """Pixels around a map's image for its frame, ticks, axis labels and title (l, t, r, b)."""
    m = _frame_margin(cv)
    _, xlabels = _map_ticks(geo.z1)
    _, ylabels = _map_ticks(geo.z2)
    tick_w = max(cv.text_px(s, TICK_PT)[0] for s in ylabels)
    tick_h = cv.line_px(TICK_PT)
    last_w = cv.text_px(xlabels[-1], TICK_PT)[0]
    label_h = max(cv.text_px("$z_1$", LABEL_PT)[1], cv.line_px(LABEL_PT))
    title_w = cv.text_px(title, TITLE_PT)[0]
    title_h = cv.line_px(TITLE_PT)  # the same for every title, so panels line up
    ticks = cv.px(TICK_LEN_PT + TICK_PAD_PT)
    left = m + ticks + tick_w + cv.px(LABEL_PAD_PT) + label_h + 4
    top = m + cv.px(TITLE_PAD_PT) + title_h + 4
    right = m + max(0, last_w // 2 - tile_px // 2) + 6
    bottom = m + ticks + tick_h + cv.px(LABEL_PAD_PT) + label_h + 8
    return left, top, right, bottom, title_w


def _map_axes(
    cv: _Canvas,
    box: Box,
    geo: _MapGeometry,
    title: str,
    draw: Callable[[Axes, _MapGeometry], None] | None = None,
) -> Box:
    """Transparent axes over a map's image box, in z units, ticks at tile centres."""
    m = _frame_margin(cv)
    left, top, w, h = box
    frame = (left - m, top - m, w + 2 * m, h + 2 * m)
    xlim, ylim = geo.limits(box, m)
    xticks, xlabels = _map_ticks(geo.z1)
    yticks, ylabels = _map_ticks(geo.z2)

    def setup(ax: Axes) -> None:
        ax.set_xlim(*xlim)
        ax.set_ylim(*ylim)
        ax.set_xticks(xticks, xlabels)
        ax.set_yticks(yticks, ylabels)
        ax.tick_params(length=TICK_LEN_PT, pad=TICK_PAD_PT, labelsize=TICK_PT, width=SPINE_PT)
        for spine in ax.spines.values():
            spine.set_linewidth(SPINE_PT)
        ax.set_xlabel("$z_1$", fontsize=LABEL_PT, labelpad=LABEL_PAD_PT)
        ax.set_ylabel("$z_2$", fontsize=LABEL_PT, labelpad=LABEL_PAD_PT)
        ax.set_title(title, fontsize=TITLE_PT, pad=TITLE_PAD_PT)
        if draw is not None:
            draw(ax, geo)

    cv.axes(frame, setup)
    return frame


def _check_map(name: str, mosaic: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, _MapGeometry]:
    mosaic = _as_uint8(mosaic)
    if mosaic.ndim != 2:
        raise ValueError(f"{name}: a map is a 2-D grey image, not shape {mosaic.shape}")
    return mosaic, _MapGeometry(z, mosaic.shape)


def _maps_canvas(
    panels: dict[str, tuple[np.ndarray, np.ndarray]],
    dpi: int,
    scale: int = 1,
    columns: int | None = None,
) -> _Canvas:
    cv = _Canvas(dpi)
    names = list(panels)
    columns = len(names) if columns is None else max(1, min(columns, len(names)))
    checked = {name: _check_map(name, *panels[name]) for name in names}
    sizes, margins = {}, {}
    for name, (mosaic, geo) in checked.items():
        h, w = mosaic.shape[0] * scale, mosaic.shape[1] * scale
        left, top, right, bottom, title_w = _map_margins(cv, geo, w // geo.cols, name)
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
            _map_axes(cv, box, geo, name)
            x += col_w[c]
        y += row_h[r]
    cv.width, cv.height = sum(col_w), y
    return cv


def maps(
    panels: dict[str, tuple[np.ndarray, np.ndarray]],
    path: Path,
    dpi: int,
    scale: int = 1,
    *,
    columns: int | None = None,
) -> dict[str, tuple[int, int, int, int]]:
    """Latent maps side by side (wrapped after `columns` panels), each titled with its key.

    `panels[title] = (mosaic, z)`: the uint8 map (rows*28 x cols*28 pixels) and the grid of codes
    (rows x cols x 2) that its tiles decode; tile [i, j] shows z[i, j]. The axes read in z:
    ticks sit at tile centres and name the code there, z1 growing to the right and z2 upwards.
    Pixel-exact: each map is pasted at an integer `scale` and integer offset, so its pixels in
    the PNG are the mosaic's. Returns each map's pixel box in the PNG, keyed by title.
    """
    return _maps_canvas(panels, dpi, scale, columns).save(path)


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


def _map_with_data_canvas(
    mosaic: np.ndarray,
    z: np.ndarray,
    counts: np.ndarray,
    lines: np.ndarray,
    codes: np.ndarray,
    labels: np.ndarray,
    title: str,
    dpi: int,
) -> _Canvas:
    cv = _Canvas(dpi)
    mosaic, geo = _check_map("map", mosaic, z)
    counts = np.asarray(counts)
    if counts.shape != (geo.rows, geo.cols):
        raise ValueError(f"counts must be {geo.rows} x {geo.cols}, not {counts.shape}")
    lines = np.asarray(lines, dtype=float).reshape(-1, 2, 2)
    codes = np.asarray(codes, dtype=float)
    labels = np.asarray(labels)
    h, w = mosaic.shape
    map_title = "decoded map"
    left, top, right, bottom, _ = _map_margins(cv, geo, w // geo.cols, map_title)
    sup_w, sup_h = cv.text_px(title, SUPTITLE_PT, "bold")
    head = sup_h + 10
    box = cv.image("map", mosaic, left, head + top, 1)

    def overlay(ax: Axes, geo: _MapGeometry) -> None:
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

    frame = _map_axes(cv, box, geo, map_title, overlay)

    # Right: the test codes, an ordinary axes of the same height as the map's frame.
    tick_w = cv.text_px("\N{MINUS SIGN}00.0", TICK_PT)[0]
    label_h = cv.text_px("$z_2$", LABEL_PT)[1]
    gap = cv.px(TICK_LEN_PT + TICK_PAD_PT + LABEL_PAD_PT) + tick_w + label_h + 24
    scatter_box = (box[0] + w + right + gap, frame[1], frame[2], frame[3])
    x0, x1, y0, y1 = geo.edges()
    square = (min(x0, x1), min(y0, y1), abs(x1 - x0), abs(y1 - y0))
    cmap = plt.get_cmap("tab10")

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

    cv.axes(scatter_box, scatter)
    legend_w = max(cv.text_px(s, TICK_PT)[0] for s in (*CLASSES, "the map's square"))
    right_edge = scatter_box[0] + scatter_box[2] + cv.px(TICK_PT * 4) + legend_w + 8

    # Below the map: what the tint and the paths mean.
    key_top = box[1] + h + bottom

    def key(fig: Figure, cv: _Canvas) -> None:
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
                label="straight paths between test codes (numbered; ● start, ■ end)",
            ),
        ]
        fig.legend(
            handles=handles,
            loc="upper left",
            fontsize=LABEL_PT,
            frameon=False,
            bbox_to_anchor=(frame[0] / cv.width, 1 - key_top / cv.height),
            borderaxespad=0,
            borderpad=0,
        )

    cv.extra(key)
    key_w = cv.text_px("straight paths between test codes (numbered; ● start, ■ end)", LABEL_PT)[
        0
    ] + cv.px(LABEL_PT * 3)
    key_h = 2 * cv.line_px(LABEL_PT) + cv.px(LABEL_PT) + 8
    cv.width = max(right_edge, frame[0] + key_w, sup_w + 20)
    cv.height = max(key_top + key_h, scatter_box[1] + scatter_box[3] + bottom)
    cv.text(cv.width / 2, 6, title, ha="center", va="top", fontsize=SUPTITLE_PT, fontweight="bold")
    return cv


def map_with_data(
    mosaic: np.ndarray,
    z: np.ndarray,
    counts: np.ndarray,
    lines: np.ndarray,
    codes: np.ndarray,
    labels: np.ndarray,
    title: str,
    path: Path,
    dpi: int,
) -> dict[str, tuple[int, int, int, int]]:
    """A map beside the test codes it was drawn over, with the interpolation paths on both.

    Left: the map (`mosaic`, codes `z` as in `maps`), pixel-exact at scale 1, with the tiles
    where `counts` (rows x cols) is 0 tinted orange on top (tiles no test code falls in: there
    the decoder is extrapolating) and the P straight paths `lines` (P x 2 x 2, start and end
    codes) drawn as numbered coloured lines, clipped to the map. Right: the test `codes` (N x 2)
    coloured by class `labels`, the map's square dashed, the same paths. Only the tint and the
    paths change map pixels. Returns {"map": box} in PNG pixels.
    """
    return _map_with_data_canvas(mosaic, z, counts, lines, codes, labels, title, dpi).save(path)


# ---------------------------------------------------------------------------------------------
# Tiles in rows and grids


def _label_width(cv: _Canvas, labels: Sequence[str], size: float = LABEL_PT) -> int:
    return max((cv.text_px(s, size)[0] for s in labels), default=0)


def _interpolations_canvas(
    rows: dict[str, np.ndarray],
    starts: np.ndarray,
    ends: np.ndarray,
    dpi: int,
    scale: int = 2,
) -> _Canvas:
    cv = _Canvas(dpi)
    models = list(rows)
    decoded = {name: _as_uint8(np.asarray(rows[name])) for name in models}
    starts, ends = _as_uint8(starts), _as_uint8(ends)
    paths, steps = decoded[models[0]].shape[:2]
    for name, images in decoded.items():
        if images.shape[:2] != (paths, steps):
            raise ValueError(f"{name}: {images.shape[:2]} paths x steps, expected {(paths, steps)}")
    if starts.shape[0] != paths or ends.shape[0] != paths:
        raise ValueError(f"starts and ends need {paths} images each")
    tile = TILE * scale
    line_h = cv.line_px(LABEL_PT)
    name_w = _label_width(cv, models)
    left = name_w + 16
    real_gap = max(12, tile // 4)  # sets the real test images apart from the decoded strip
    strip_w = steps * tile
    row_gap = 2
    block_gap = line_h + 14
    head = line_h + 10
    strip_x = left + tile + real_gap
    end_x = strip_x + strip_w + real_gap
    cv.text(left + tile / 2, head - 4, "start", ha="center", va="bottom", fontsize=LABEL_PT)
    header = next(
        (
            text
            for text in (
                f"decoded at {steps} evenly spaced codes from start to end",
                f"decoded along the path ({steps} codes)",
                "decoded",
            )
            if cv.text_px(text, LABEL_PT)[0] <= strip_w - 8
        ),
        "decoded",
    )
    cv.text(strip_x + strip_w / 2, head - 4, header, ha="center", va="bottom", fontsize=LABEL_PT)
    cv.text(end_x + tile / 2, head - 4, "end", ha="center", va="bottom", fontsize=LABEL_PT)
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


def interpolations(
    rows: dict[str, np.ndarray],
    starts: np.ndarray,
    ends: np.ndarray,
    path: Path,
    dpi: int,
    scale: int = 2,
) -> dict[str, tuple[int, int, int, int]]:
    """Decodes along straight paths between two test images' codes, one row per model.

    `rows[model]` holds floats in [0, 1], P x (S+1) x 28 x 28 (endpoints included); `starts`
    and `ends` the real uint8 test images at each path's ends, shown apart from the strip. For
    each path p, one row per model: [start | S+1 decodes | end]. Pixel-exact at integer `scale`.
    Returns boxes keyed "p/model/start", "p/model/decoded", "p/model/end" (p counted from 0).
    """
    return _interpolations_canvas(rows, starts, ends, dpi, scale).save(path)


def _table_canvas(
    cells: dict[str, dict[str, np.ndarray]],
    column_labels: dict[str, str],
    dpi: int,
    scale: int,
    gap: int,
    group_gap: int = 0,
) -> _Canvas:
    """Images in a table: `cells[row][column]`, labels at the left and above, pitch per column.

    Columns are as wide as the widest image or label; rows as tall as their tallest image.
    Box names are "row/column". `group_gap` adds space below the first row.
    """
    cv = _Canvas(dpi)
    row_names = list(cells)
    col_keys = list(column_labels)
    shapes = {
        (r, c): (img.shape[0] * scale, img.shape[1] * scale)
        for r, row in cells.items()
        for c, img in row.items()
    }
    # One pitch for every column, so that a long label does not break the grid's rhythm.
    pitch = max(
        max(w for _, w in shapes.values()),
        *(cv.text_px(label, LABEL_PT)[0] + 2 for label in column_labels.values()),
    )
    col_w = [pitch] * len(col_keys)
    row_h = [max(shapes[(r, c)][0] for c in cells[r]) for r in row_names]
    head = max(cv.text_px(s, LABEL_PT)[1] for s in column_labels.values()) + 10
    left = _label_width(cv, row_names) + 16
    xs = np.cumsum([left, *[w + gap for w in col_w]]).tolist()
    for c, key in enumerate(col_keys):
        cv.text(
            xs[c] + col_w[c] / 2,
            head - 4,
            column_labels[key],
            ha="center",
            va="bottom",
            fontsize=LABEL_PT,
        )
    y = head
    for r, name in enumerate(row_names):
        for c, key in enumerate(col_keys):
            if key in cells[name]:
                img = cells[name][key]
                dx = (col_w[c] - img.shape[1] * scale) // 2
                cv.image(f"{name}/{key}", img, xs[c] + dx, y, scale)
        cv.text(left - 8, y + row_h[r] / 2, name, ha="right", va="center", fontsize=LABEL_PT)
        y += row_h[r] + gap + (group_gap if r == 0 else 0)
    cv.width = xs[-1] - gap + 8
    cv.height = y - gap + 8
    return cv


def _reconstructions_canvas(
    originals: np.ndarray,
    recon: dict[str, np.ndarray],
    class_names: Sequence[str],
    dpi: int,
    scale: int = 3,
) -> _Canvas:
    originals = _as_uint8(originals)
    columns = {str(c): name for c, name in enumerate(class_names)}
    if len(columns) != originals.shape[0]:
        raise ValueError(f"{len(columns)} class names for {originals.shape[0]} images")
    cells = {"test image": {str(c): originals[c] for c in range(len(columns))}}
    for model, images in recon.items():
        images = _as_uint8(np.asarray(images))
        cells[model] = {str(c): images[c] for c in range(len(columns))}
    return _table_canvas(cells, columns, dpi, scale, gap=4, group_gap=8)


def reconstructions(
    originals: np.ndarray,
    recon: dict[str, np.ndarray],
    class_names: list[str],
    path: Path,
    dpi: int,
    scale: int = 3,
) -> dict[str, tuple[int, int, int, int]]:
    """One test image per class (top row) and each model's reconstruction of it (a row each).

    `originals` is uint8 C x 28 x 28, `recon[model]` floats C x 28 x 28 in [0, 1]; class names
    head the columns. Pixel-exact at integer `scale`. Returns boxes keyed "test image/c" and
    "model/c", c the column index from 0.
    """
    return _reconstructions_canvas(originals, recon, class_names, dpi, scale).save(path)


def _prior_samples_canvas(samples: dict[str, np.ndarray], dpi: int, scale: int = 1) -> _Canvas:
    cv = _Canvas(dpi)
    line_h = cv.line_px(TITLE_PT)
    head = line_h + 12
    gap = 24
    x = 12
    bottom = 0
    count = 0
    for name, images in samples.items():
        images = _as_uint8(np.asarray(images))
        count = images.shape[0]
        block = _mosaic(images, math.ceil(math.sqrt(count)))
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


def prior_samples(
    samples: dict[str, np.ndarray],
    path: Path,
    dpi: int,
    scale: int = 1,
) -> dict[str, tuple[int, int, int, int]]:
    """Decodes of codes drawn from N(0, I), one near-square block per model, named above.

    `samples[model]` holds floats in [0, 1], N x 28 x 28, laid out ceil(sqrt(N)) to a row (10 x 10
    for 100), left to right then top to bottom; unused cells of the last row are white.
    Pixel-exact at integer `scale`. Returns each block's box keyed by model.
    """
    return _prior_samples_canvas(samples, dpi, scale).save(path)


def _evolution_canvas(
    frames: dict[str, list[tuple[int, np.ndarray]]], dpi: int, scale: int = 1
) -> _Canvas:
    epochs: list[int] = []
    for series in frames.values():
        epochs += [int(e) for e, _ in series if int(e) not in epochs]
    columns = {str(e): f"epoch {e}" for e in sorted(epochs)}
    cells = {name: {str(int(e)): img for e, img in series} for name, series in frames.items()}
    return _table_canvas(cells, columns, dpi, scale, gap=8)


def evolution(
    frames: dict[str, list[tuple[int, np.ndarray]]],
    path: Path,
    dpi: int,
    scale: int = 1,
) -> dict[str, tuple[int, int, int, int]]:
    """How each model's small latent map changes over training: a row per model, a column per
    epoch.

    `frames[model] = [(epoch, uint8 map), ...]`, all maps the same size. Pixel-exact at integer
    `scale`. Returns boxes keyed "model/epoch".
    """
    return _evolution_canvas(frames, dpi, scale).save(path)


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


# ---------------------------------------------------------------------------------------------
# Plots without map pixels (matplotlib's own layout is fine here)


def _save(fig: Figure, path: Path, dpi: int) -> None:
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format="png", dpi=dpi, bbox_inches="tight")
    plt.close(fig)


def training_curves(
    curves: dict[str, dict[int, list[dict[str, float]]]], path: Path, dpi: int
) -> None:
    """Per-epoch training loss of every model, one thin line per seed, one panel per loss term."""
    terms = sorted(
        {k for runs in curves.values() for rows in runs.values() for k in rows[0]} - {"epoch"},
        key=lambda k: (k != "loss", k),
    )
    fig, axes = plt.subplots(1, len(terms), figsize=(5 * len(terms), 4), squeeze=False)
    cmap = plt.get_cmap("tab10")
    for ax, term in zip(axes[0], terms, strict=True):
        for i, (name, runs) in enumerate(curves.items()):
            for j, rows in enumerate(runs.values()):
                if term in rows[0]:
                    ax.plot(
                        [r["epoch"] for r in rows],
                        [r[term] for r in rows],
                        color=cmap(i),
                        marker="o",
                        ms=3,
                        lw=1,
                        label=name if j == 0 else None,
                    )
        ax.set_title(f"train {term} per image")
        ax.set_xlabel("epoch")
        ax.legend()
    _save(fig, path, dpi)


def tile_histograms(counts: dict[str, list[float]], path: Path, dpi: int) -> None:
    """Confident, realistic tiles per class in each model's map (mean over seeds and judges),
    bars grouped by class: the tiles that count towards the classes present."""
    fig, ax = plt.subplots(figsize=(11, 4))
    width = 0.8 / len(counts)
    x = np.arange(len(CLASSES))
    for i, (name, values) in enumerate(counts.items()):
        ax.bar(x + (i - (len(counts) - 1) / 2) * width, values, width, label=name)
    ax.set_xticks(x, CLASSES, rotation=30, ha="right")
    ax.set_ylabel("tiles (mean over seeds and judges)")
    ax.set_title("Map tiles per class that the judges classify confidently and find realistic")
    ax.legend()
    _save(fig, path, dpi)
