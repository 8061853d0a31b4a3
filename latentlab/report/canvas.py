"""The pixel-exact layout engine of the report's figures: a canvas that pastes images at integer
pixel offsets and lays text and axes around them, the geometry of a latent map in z units, and
images laid out in a labelled table.

Decoded images (maps, tiles) are never resampled: each is scaled by an integer factor (pixel
repetition), pasted with `Figure.figimage` at integer pixel offsets on a figure whose size in
pixels is exact, and the rendered buffer is written to PNG as is. A tile's pixels in the PNG are
then the decoder's pixels, so a reader who zooms in sees what the model produced, not an
interpolation of it. Titles, ticks and overlays live in transparent axes laid exactly over each
image's pixel box (a few pixels larger, so that their frame does not cover the image's edge).

Positions and boxes are `(left, top, width, height)` in PNG pixels from the top-left corner.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np
from matplotlib.axes import Axes
from matplotlib.backends.backend_agg import FigureCanvasAgg, RendererAgg
from matplotlib.figure import Figure
from matplotlib.font_manager import FontProperties
from PIL import Image

from latentlab.analysis.latent_grid import to_uint8
from latentlab.core.artifacts import atomic_path

Box = tuple[int, int, int, int]  # left, top, width, height in PNG pixels, top-left origin

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


# ---------------------------------------------------------------------------------------------
# The canvas


def as_uint8(images: np.ndarray) -> np.ndarray:
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


def tile_grid(tiles: np.ndarray, columns: int, fill: int = 255) -> np.ndarray:
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


class Canvas:
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
        self._extras: list[Callable[[Figure, Canvas], None]] = []

    def px(self, points: float) -> int:
        """Whole pixels that cover a length in points at this canvas's dpi."""
        return math.ceil(points * self.dpi / 72)

    def text_px(self, text: str, size: float, weight: str = "normal") -> tuple[int, int]:
        """Width and height in pixels of `text` drawn at `size` points on this canvas."""
        return _text_px(text, size, self.dpi, weight)

    def widest(self, texts: Sequence[str], size: float) -> int:
        """Width in pixels of the widest of `texts` at `size` points (0 for none)."""
        return max((self.text_px(s, size)[0] for s in texts), default=0)

    def line_px(self, size: float) -> int:
        """Height of a line of text: matplotlib lays text out with the extent of "lp"."""
        return _text_px("lp", size, self.dpi)[1]

    def image(self, name: str, grey: np.ndarray, left: int, top: int, scale: int = 1) -> Box:
        """Paste a uint8 grey image, enlarged by `scale`, with its top-left pixel at (left, top)."""
        block = _upscale(as_uint8(grey), scale)
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

    def extra(self, draw: Callable[[Figure, Canvas], None]) -> None:
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


def tick_indices(n: int, count: int = 5) -> list[int]:
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


def map_ticks(centres: np.ndarray, count: int = 5) -> tuple[list[float], list[str]]:
    """Tick positions (tile-centre z values, in display order) and their labels for one axis."""
    centres = np.asarray(centres, dtype=float)
    step = float(centres[1] - centres[0]) if len(centres) > 1 else 1.0
    picked = [float(centres[i]) for i in tick_indices(len(centres), count)]
    return picked, _format_ticks(picked, step)


class MapGeometry:
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


def frame_margin(cv: Canvas) -> int:
    """Pixels between an image and the frame of its axes, so the frame line misses the image."""
    return cv.px(SPINE_PT / 2) + 1


def map_margins(cv: Canvas, geo: MapGeometry, tile_px: int, title: str) -> tuple[int, ...]:
    """Pixels around a map's image for its frame, ticks, axis labels and title (l, t, r, b)."""
    m = frame_margin(cv)
    _, xlabels = map_ticks(geo.z1)
    _, ylabels = map_ticks(geo.z2)
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


def map_axes(
    cv: Canvas,
    box: Box,
    geo: MapGeometry,
    title: str,
    draw: Callable[[Axes, MapGeometry], None] | None = None,
) -> Box:
    """Transparent axes over a map's image box, in z units, ticks at tile centres."""
    m = frame_margin(cv)
    left, top, w, h = box
    frame = (left - m, top - m, w + 2 * m, h + 2 * m)
    xlim, ylim = geo.limits(box, m)
    xticks, xlabels = map_ticks(geo.z1)
    yticks, ylabels = map_ticks(geo.z2)

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


def checked_map(name: str, mosaic: np.ndarray, z: np.ndarray) -> tuple[np.ndarray, MapGeometry]:
    """A map's uint8 pixels and the geometry of its codes `z`, or a ValueError naming `name`."""
    mosaic = as_uint8(mosaic)
    if mosaic.ndim != 2:
        raise ValueError(f"{name}: a map is a 2-D grey image, not shape {mosaic.shape}")
    return mosaic, MapGeometry(z, mosaic.shape)


# ---------------------------------------------------------------------------------------------
# Images in a table


def image_table(
    cells: dict[str, dict[str, np.ndarray]],
    column_labels: dict[str, str],
    dpi: int,
    scale: int,
    gap: int,
    group_gap: int = 0,
) -> Canvas:
    """Images in a table: `cells[row][column]`, labels at the left and above, pitch per column.

    Columns are as wide as the widest image or label; rows as tall as their tallest image.
    Box names are "row/column". `group_gap` adds space below the first row.
    """
    cv = Canvas(dpi)
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
    left = cv.widest(row_names, LABEL_PT) + 16
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
