r"""One restoration as a figure a person can read: before, after, zoom, difference, convergence.

:func:`restoration_figure` lays out, from top to bottom:

1. the full views: the input, the restored image, the reference (when
   given) and each compared method's result, titled with the method, its
   weight and its PSNR/SSIM when known, the zoomed region outlined;
2. the same region of every view at full resolution (:func:`choose_zoom`
   picks the region with the most edges unless one is given);
3. :math:`|u - f|` (restored minus input) and, with a reference,
   :math:`|u - u_\mathrm{ref}|`, on one shared colour scale with a colour
   bar; and, given the solver's history, the convergence curve
   :math:`(E - E_\mathrm{best}) / E_\mathrm{best}` on a log axis, with the
   certified gap of the "pdhg" solver.

Every image is shown on one :class:`~tvrestore.viz.display.DisplayRange`, the
input's (uint8 and bool: the dtype's range; uint16 and float: the data's
min..max), stated in the figure's caption. Grey images use a grey colour
map, colour images are shown in colour, and no image is interpolated
(each display pixel is one block mean). Full views are block means of the
image (:func:`tvrestore.viz.display.block_mean`), computed a band at a time, so
a 4096x4096 image is drawn in seconds without a full-size copy per panel.

matplotlib is imported when a figure is drawn; TensorFlow never is.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from tvrestore import io
from tvrestore.backend.mpl import (
    FIGURE_FORMATS, check_figure_path, default_style, figure_bytes, new_figure,
)
from tvrestore.io.pixels import unit_view
from tvrestore.viz.display import (
    MAX_DISPLAY_SIDE, DisplayRange, block_mean, display_range,
    downsampling_factor, to_display,
)
from tvrestore.errors import TVRestoreError

__all__ = [
    "DEFAULT_DPI",
    "DIFFERENCE_PERCENTILE",
    "FIGURE_FORMATS",
    "FigureLayout",
    "Panel",
    "RestorationFigure",
    "certified_lower_bound",
    "check_figure_path",
    "check_zoom",
    "choose_zoom",
    "default_zoom_side",
    "draw_convergence",
    "figure_layout",
    "restoration_figure",
    "save_figure",
]

DEFAULT_DPI = 100

# Width of one column of panels, in pixels. Five columns (input, restored,
# reference, two skimage methods) make an 1800-pixel-wide figure.
_COLUMN_PX = 360
# Room above a full view for a two-line title, below a zoom for its label,
# and in the bottom row for titles, tick labels and axis labels.
_TITLE_PX = 44
_ZOOM_LABEL_PX = 24
_BOTTOM_ROW_PX = 320
_CAPTION_PX = 48
# Rows of wildly shaped images (panoramas, strips) are kept readable; the
# image is then letterboxed in its panel.
_ASPECT_LIMITS = (0.25, 2.0)

# The automatic zoom: at most this many image pixels a side, at most a
# quarter of the image's shorter side, at least 8.
_ZOOM_SIDE = 128
_MIN_ZOOM_SIDE = 8
# choose_zoom searches a view of at most this side.
_ZOOM_SEARCH_SIDE = 512
# The shared difference scale ends at this percentile, so that a handful of
# outliers do not turn the rest of the map black.
DIFFERENCE_PERCENTILE = 99.5


@dataclass(frozen=True)
class Panel:
    """One image of the top row and its caption.

    Attributes
    ----------
    title : str
        What the image is: "input", "reference" or a method's name.
    image : numpy.ndarray
        Pixels as :func:`tvrestore.io.read_image` returns them, same
        colour shape as the input (alpha is not shown).
    weight : float or None
        The method's own weight parameter.
    psnr, ssim : float or None
        Against the reference, when known.
    """

    title: str
    image: np.ndarray
    weight: float | None = None
    psnr: float | None = None
    ssim: float | None = None

    def caption(self) -> str:
        """The title, then what is known of weight, PSNR and SSIM on a second line."""
        facts = []
        if self.weight is not None:
            facts.append(f"w {self.weight:.4g}")
        if self.psnr is not None:
            facts.append(f"PSNR {self.psnr:.2f} dB")
        if self.ssim is not None:
            facts.append(f"SSIM {self.ssim:.4f}")
        return "\n".join([self.title, " · ".join(facts)]) if facts else self.title


@dataclass(frozen=True)
class FigureLayout:
    """The shape of a restoration figure, computed before anything is drawn.

    Attributes
    ----------
    image_panels : int
        Full views in the top row, each with its zoom below it.
    difference_panels : int
        1 (restored - input) or 2 (also restored - reference).
    convergence : bool
        Whether the bottom row has the convergence panel.
    width_px, height_px : int
        The figure's size in pixels at `dpi` (what a PNG has).
    dpi : int
    row_heights_px : tuple of int
        Full views, zooms, bottom row (the caption is the rest).
    bottom_widths_px : tuple of int
        The bottom row's cells: each difference map (as wide as the row
        lets it be tall, so the maps fill their cells) and the convergence
        panel, which takes the rest; without it the maps share the row.
    """

    image_panels: int
    difference_panels: int
    convergence: bool
    width_px: int
    height_px: int
    dpi: int
    row_heights_px: tuple[int, int, int]
    bottom_widths_px: tuple[int, ...] = ()

    @property
    def axes_count(self) -> int:
        """Every matplotlib Axes: views, zooms, differences, their colour bar, convergence."""
        return 2 * self.image_panels + self.difference_panels + 1 + int(self.convergence)

    @property
    def figsize(self) -> tuple[float, float]:
        """(width, height) in inches."""
        return self.width_px / self.dpi, self.height_px / self.dpi

    @property
    def panel_side_px(self) -> int:
        """The longest side of a full view's panel, in pixels."""
        return max(self.width_px // self.image_panels, self.row_heights_px[0] - _TITLE_PX)


def figure_layout(
    image_shape: Sequence[int],
    zoom_shape: Sequence[int],
    *,
    image_panels: int,
    difference_panels: int,
    convergence: bool,
    dpi: int = DEFAULT_DPI,
) -> FigureLayout:
    """The figure's rows, panels and pixel size; pure, for tests and callers.

    Parameters
    ----------
    image_shape : sequence of int
        ``(H, W, ...)`` of the image.
    zoom_shape : sequence of int
        ``(h, w)`` of the zoomed region.
    image_panels : int
        At least 2 (input and restored).
    difference_panels : int
        1 or 2.
    convergence : bool
    dpi : int
        Dots per inch; the pixel size grows with it so that text keeps its
        size relative to the panels.

    Returns
    -------
    FigureLayout
    """
    if image_panels < 2 or difference_panels not in (1, 2) or dpi < 1:
        raise TVRestoreError(
            f"a figure needs 2 or more image panels, 1 or 2 difference panels and dpi >= 1, "
            f"got {image_panels}, {difference_panels} and {dpi}"
        )
    scale = dpi / DEFAULT_DPI
    column_px = round(_COLUMN_PX * scale)
    image_row = round(column_px * _clamped_aspect(image_shape) + _TITLE_PX * scale)
    zoom_row = round(column_px * _clamped_aspect(zoom_shape) + _ZOOM_LABEL_PX * scale)
    bottom_row = round(_BOTTOM_ROW_PX * scale)
    width = column_px * image_panels
    if convergence:
        # A map's height is the row's less its title; its width follows the
        # image's aspect. The colour bar and the curve share what is left.
        map_width = round((bottom_row - _TITLE_PX * scale) / _clamped_aspect(image_shape))
        map_width = min(map_width, width // (difference_panels + 2))
        bottom_widths = (*[map_width] * difference_panels, width - difference_panels * map_width)
    else:
        bottom_widths = (width // difference_panels,) * difference_panels
    return FigureLayout(
        image_panels=image_panels,
        difference_panels=difference_panels,
        convergence=convergence,
        width_px=width,
        height_px=image_row + zoom_row + bottom_row + round(_CAPTION_PX * scale),
        dpi=dpi,
        row_heights_px=(image_row, zoom_row, bottom_row),
        bottom_widths_px=bottom_widths,
    )


def _clamped_aspect(shape: Sequence[int]) -> float:
    return min(max(shape[0] / shape[1], _ASPECT_LIMITS[0]), _ASPECT_LIMITS[1])


def default_zoom_side(shape: Sequence[int]) -> int:
    """Side of the automatic zoom: 128 pixels, or a quarter of a smaller image's shorter side."""
    shorter = min(shape[0], shape[1])
    return min(shorter, max(_MIN_ZOOM_SIDE, min(_ZOOM_SIDE, shorter // 4)))


def choose_zoom(image: np.ndarray, size: int) -> tuple[int, int, int, int]:
    r"""The square region with the most edges: the window of largest summed gradient.

    Parameters
    ----------
    image : numpy.ndarray
        ``(H, W)`` or ``(H, W, C)`` pixels; colour is averaged to grey and
        alpha ignored. Pass the restored (or clean) image: in a noisy one
        noise outweighs edges everywhere.
    size : int
        Side of the region in image pixels (at least 1; cut to the shorter
        side of the image).

    Returns
    -------
    (x, y, w, h) : tuple of int
        Left column, top row, width and height, inside the image.

    Notes
    -----
    The search runs on a block-mean view of at most 512 pixels a side. The
    gradient magnitude there is :math:`|\partial_x g| + |\partial_y g|`
    (each forward difference split between its two pixels); an integral image gives every window's sum in
    one pass, and the first maximum in row-major order wins, so the answer
    is deterministic. A flat image gives its centre.
    """
    grey = unit_view(image)
    side = min(int(size), grey.shape[0], grey.shape[1])
    if side < 1:
        raise TVRestoreError(f"zoom size must be at least 1, got {size!r}")
    factor = downsampling_factor(grey.shape, _ZOOM_SEARCH_SIDE)
    small = block_mean([grey], factor)
    if small.ndim == 3:
        small = small.mean(axis=2)
    # Each difference is shared by the two pixels it separates, so that a
    # window must hold both sides of an edge to get all of it.
    gradient = np.zeros(small.shape, np.float64)
    for axis in (0, 1):
        half_step = np.abs(np.diff(small, axis=axis)) / 2
        gradient[(slice(None),) * axis + (slice(None, -1),)] += half_step
        gradient[(slice(None),) * axis + (slice(1, None),)] += half_step
    window = min(max(1, round(side / factor)), *small.shape)
    integral = np.pad(gradient.cumsum(axis=0).cumsum(axis=1), ((1, 0), (1, 0)))
    sums = (integral[window:, window:] - integral[:-window, window:]
            - integral[window:, :-window] + integral[:-window, :-window])
    if sums.max() - sums.min() <= 1e-12 * max(1.0, abs(sums.max())):
        row, column = (grey.shape[0] - side) // 2, (grey.shape[1] - side) // 2
    else:
        best_row, best_column = np.unravel_index(np.argmax(sums), sums.shape)
        row, column = int(best_row) * factor, int(best_column) * factor
    row = min(row, grey.shape[0] - side)
    column = min(column, grey.shape[1] - side)
    return column, row, side, side


def check_zoom(zoom: Sequence[int], shape: Sequence[int]) -> tuple[int, int, int, int]:
    """``(x, y, w, h)`` as ints if the region lies inside an image of `shape`.

    Raises
    ------
    TVRestoreError
        If `zoom` is not four integers with ``w, h >= 1`` inside the image.
    """
    try:
        x, y, w, h = (int(value) for value in zoom)
        exact = all(float(value) == int(value) for value in zoom)
    except (TypeError, ValueError):
        exact = False
    if not exact or x < 0 or y < 0 or w < 1 or h < 1 or x + w > shape[1] or y + h > shape[0]:
        raise TVRestoreError(
            f"zoom {tuple(zoom)!r} must be X,Y,W,H integers with W, H >= 1 inside the "
            f"{shape[1]}x{shape[0]} image (X + W <= {shape[1]}, Y + H <= {shape[0]})"
        )
    return x, y, w, h


@dataclass(frozen=True)
class RestorationFigure:
    """What :func:`restoration_figure` drew and wrote.

    Attributes
    ----------
    path : pathlib.Path
    figure : matplotlib.figure.Figure
        The drawn figure, already saved; kept for inspection (it holds only
        the small display arrays).
    layout : FigureLayout
    zoom : (x, y, w, h)
        The zoomed region, in image pixels.
    shown : DisplayRange
        The range every image is shown on.
    downsampling : int
        Side of the blocks averaged into one pixel of a full view.
    caption : str
        The line above the panels: size, kind, display range, resolution.
    """

    path: Path
    figure: object
    layout: FigureLayout
    zoom: tuple[int, int, int, int]
    shown: DisplayRange
    downsampling: int
    caption: str

    @property
    def axes_count(self) -> int:
        """Axes counted on the drawn figure (``layout.axes_count`` predicts it)."""
        return len(self.figure.axes)

    @property
    def titles(self) -> tuple[str, ...]:
        """Every axes' title in drawing order ("" for zooms and the colour bar)."""
        return tuple(axes.get_title() for axes in self.figure.axes)

    @property
    def display_shapes(self) -> tuple[tuple[int, ...], ...]:
        """Shapes of the arrays drawn: each full view and its zoom, then the differences."""
        return tuple(image.get_array().shape for axes in self.figure.axes for image in axes.images)


def save_figure(figure, path: str | os.PathLike[str]) -> None:
    """Render `figure` in its path's format and write it atomically.

    Figures are regenerated on every run, so an existing file is replaced.

    Raises
    ------
    TVRestoreError
        If the suffix is not a figure format or writing fails.
    """
    io.write_bytes(path, figure_bytes(figure, path), what="figure")


def restoration_figure(
    path: str | os.PathLike[str],
    *,
    input: np.ndarray,
    restored: np.ndarray,
    reference: np.ndarray | None = None,
    compare: Sequence[tuple[str, float | None, np.ndarray, float | None, float | None]] = (),
    restored_label: str = "tvrestore",
    weight: float | None = None,
    psnr: float | None = None,
    ssim: float | None = None,
    input_psnr: float | None = None,
    input_ssim: float | None = None,
    history: Sequence[dict] | None = None,
    minimum: float | None = None,
    zoom: Sequence[int] | None = None,
    value_range: tuple[float, float] | None = None,
    dpi: int = DEFAULT_DPI,
) -> RestorationFigure:
    r"""Draw one restoration and write it as PNG, PDF or SVG (by `path`'s suffix).

    Parameters
    ----------
    path : str or path-like
        Ends in .png, .pdf or .svg; replaced if it exists, written atomically.
    input : numpy.ndarray
        The noisy image :math:`f` as read (any dtype of
        :func:`tvrestore.io.read_image`; alpha is not shown).
    restored : numpy.ndarray
        The result :math:`u`, same colour shape.
    reference : numpy.ndarray, optional
        The clean image: adds a panel and the :math:`|u - u_\mathrm{ref}|` map.
    compare : sequence of (method, weight, image, psnr, ssim)
        Other methods' results at the same problem, one panel each (e.g.
        scikit-image's chambolle); weight, psnr and ssim may be None.
    restored_label : str
        The restored panel's title, e.g. "tvrestore (adam)".
    weight, psnr, ssim : float, optional
        The restored image's :math:`w` and scores.
    input_psnr, input_ssim : float, optional
        The input's scores against the reference.
    history : sequence of dict, optional
        The solver's record, ``{"iteration": int, "objective": float (E in
        sum units), "certified_gap": float or None}`` per entry; adds the
        convergence panel.
    minimum : float, optional
        :math:`E^*` (sum units), or a lower bound on it, when known from
        elsewhere (an exact solve): the convergence panel measures against
        it. Default: the history's own certificates (pdhg), else the last
        iterate, said so on the panel.
    zoom : (x, y, w, h), optional
        The zoomed region in image pixels (:func:`check_zoom`); default
        :func:`choose_zoom` on the reference if given, else the restored
        image, with :func:`default_zoom_side`.
    value_range : (low, high), optional
        The display range in the input's own values (uint16 counts, ...);
        default :func:`tvrestore.viz.display.display_range`.
    dpi : int
        Pixels per inch of the PNG (the layout scales with it).

    Returns
    -------
    RestorationFigure

    Raises
    ------
    TVRestoreError
        Before any drawing, if the suffix is not a figure format, the
        directory does not exist, an image's colour shape differs from the
        input's, `zoom` lies outside the image or `value_range` is not
        ``low < high``; after it, if writing fails.
    """
    path = check_figure_path(path)
    panels = [
        Panel("input", input, None, input_psnr, input_ssim),
        Panel(restored_label, restored, weight, psnr, ssim),
        *([Panel("reference", reference)] if reference is not None else []),
        *(Panel(method, image, method_weight, method_psnr, method_ssim)
          for method, method_weight, image, method_psnr, method_ssim in compare),
    ]
    views = [unit_view(panel.image) for panel in panels]
    for panel, view in zip(panels, views):
        if view.shape != views[0].shape:
            raise TVRestoreError(
                f"the {panel.title} image has colour shape {view.shape}, "
                f"but the input has {views[0].shape}"
            )
    if zoom is None:
        edges = views[2] if reference is not None else views[1]
        zoom = choose_zoom(edges, default_zoom_side(edges.shape))
    zoom = check_zoom(zoom, views[0].shape)
    shown = display_range(views[0], value_range)
    has_history = bool(history)
    layout = figure_layout(
        views[0].shape, (zoom[3], zoom[2]), image_panels=len(panels),
        difference_panels=2 if reference is not None else 1, convergence=has_history, dpi=dpi,
    )
    # A raster figure cannot show more than its panel's pixels; a vector one
    # may be zoomed into, so it keeps up to MAX_DISPLAY_SIDE.
    raster = path.suffix.lower() == ".png"
    max_side = min(layout.panel_side_px, MAX_DISPLAY_SIDE) if raster else MAX_DISPLAY_SIDE
    factor = downsampling_factor(views[0].shape, max_side)

    with default_style():
        figure = new_figure(layout.width_px, layout.height_px, layout.dpi)
        grid = figure.add_gridspec(3, len(panels), height_ratios=layout.row_heights_px)
        bottom = grid[2, :].subgridspec(1, len(layout.bottom_widths_px),
                                        width_ratios=layout.bottom_widths_px)
        _draw_views(figure, grid, panels, views, zoom, shown, factor)
        _draw_differences(
            figure, [bottom[0, index] for index in range(layout.difference_panels)],
            views[0], views[1], views[2] if reference is not None else None, factor,
        )
        if has_history:
            draw_convergence(figure.add_subplot(bottom[0, -1]), history, minimum)
        caption = _caption(views[0], shown, factor)
        figure.suptitle(caption, fontsize=10)
        save_figure(figure, path)
    return RestorationFigure(path=path, figure=figure, layout=layout, zoom=zoom, shown=shown,
                             downsampling=factor, caption=caption)


def _draw_views(figure, grid, panels, views, zoom, shown, factor) -> None:
    """The top two rows: each full view with the zoom outlined, and the zoom below it."""
    from matplotlib.patches import Rectangle

    x, y, w, h = zoom
    # The zoom is small, so taken at full resolution unless a huge one was asked for.
    zoom_factor = downsampling_factor((h, w), MAX_DISPLAY_SIDE)
    for column, (panel, view) in enumerate(zip(panels, views)):
        full = to_display(block_mean([view], factor), shown)
        crop = to_display(block_mean([view[y : y + h, x : x + w]], zoom_factor), shown)
        top = figure.add_subplot(grid[0, column])
        # Extents in image pixels, so that the rectangle needs no rescaling.
        _show(top, full, (full.shape[1] * factor, full.shape[0] * factor), (0, 0))
        top.add_patch(Rectangle((x - 0.5, y - 0.5), w, h, fill=False, edgecolor="#ffcc00",
                                linewidth=1.5))
        top.set_title(panel.caption(), fontsize=9)
        below = figure.add_subplot(grid[1, column])
        _show(below, crop, (crop.shape[1] * zoom_factor, crop.shape[0] * zoom_factor), (x, y))
        for spine in below.spines.values():
            spine.set_edgecolor("#ffcc00")
        if column == 0:
            below.set_ylabel(f"zoom {w}x{h} at ({x}, {y})", fontsize=8)


def _show(axes, display: np.ndarray, size: tuple[int, int], origin: tuple[int, int]) -> None:
    """Show [0, 1] display pixels covering `size` image pixels from `origin`, uninterpolated."""
    (width, height), (left, top) = size, origin
    axes.imshow(
        display, cmap="gray", vmin=0, vmax=1, interpolation="none",
        extent=(left - 0.5, left + width - 0.5, top + height - 0.5, top - 0.5),
    )
    axes.set_xticks([])
    axes.set_yticks([])


def _draw_differences(figure, cells, input_view, restored_view, reference_view, factor) -> None:
    """|restored - input| and |restored - reference| on one scale, with one colour bar."""
    scale = input_view.scale
    units = f"{input_view.dtype} levels" if scale > 1 else "intensity"

    def absolute_difference(first: np.ndarray, second: np.ndarray) -> np.ndarray:
        difference = np.abs(first - second) * np.float32(scale)
        return difference.mean(axis=2) if difference.ndim == 3 else difference

    pairs = [("input", input_view)]
    if reference_view is not None:
        pairs.append(("reference", reference_view))
    maps = [(name, block_mean([restored_view, other], factor, absolute_difference))
            for name, other in pairs]
    top = float(np.percentile(np.concatenate([m.ravel() for _, m in maps]), DIFFERENCE_PERCENTILE))
    top = top if top > 0 else 1.0
    axes_list = []
    for cell, (name, difference) in zip(cells, maps):
        axes = figure.add_subplot(cell)
        image = axes.imshow(
            difference, cmap="magma", vmin=0, vmax=top, interpolation="none",
            extent=(-0.5, difference.shape[1] * factor - 0.5, difference.shape[0] * factor - 0.5, -0.5),
        )
        axes.set_xticks([])
        axes.set_yticks([])
        colour = "\n(mean over channels)" if input_view.ndim == 3 else ""
        axes.set_title(f"|restored - {name}|{colour}", fontsize=9)
        axes_list.append(axes)
    figure.colorbar(image, ax=axes_list, extend="max", shrink=0.9,
                    label=f"absolute difference ({units})")


def certified_lower_bound(history: Sequence[dict]) -> float | None:
    r"""The largest lower bound on :math:`E^*` that a history's certificates give.

    A check's certificate :math:`g = (E - D) / D` (pdhg) holds the dual
    value :math:`D = E / (1 + g) \le E^*`; the best of them is returned.

    Parameters
    ----------
    history : sequence of dict
        ``{"iteration", "objective", "certified_gap"}`` per check.

    Returns
    -------
    float or None
        :math:`\max_k D_k` (sum units), None when no check holds a finite,
        non-negative certificate.
    """
    bounds = [record["objective"] / (1 + record["certified_gap"]) for record in history
              if record.get("certified_gap") is not None
              and math.isfinite(record["certified_gap"]) and record["certified_gap"] >= 0]
    return max(bounds) if bounds else None


def draw_convergence(axes, history: Sequence[dict], minimum: float | None = None) -> None:
    r"""The relative gap of each check against iteration, on a log axis.

    Measured against the best value known to be at most :math:`E^*`:
    `minimum` if given, else the history's certified lower bound
    (:func:`certified_lower_bound`), so the curve bounds the true gap
    :math:`(E - E^*) / E^*` from above. Without either (Adam), :math:`E^*`
    is unknown and the curve is :math:`(E - E_\mathrm{last}) / E_\mathrm{last}`,
    labelled as relative to the last iterate: it reaches 0 at the end by
    construction and says how the run settled, not how far it is from
    :math:`E^*`. pdhg's certified gaps are drawn beside it.
    """
    iterations = np.array([record["iteration"] for record in history], dtype=np.float64)
    objective = np.array([record["objective"] for record in history], dtype=np.float64)
    if minimum is None:
        minimum = certified_lower_bound(history)
    if minimum is not None:
        reference = minimum
        label = "(E - E_low) / E_low >= (E - E*) / E*"
        title = f"convergence (E* >= E_low = {reference:.6g}, sum units)"
    else:
        reference = objective[-1]
        label = "(E - E_last) / E_last, relative to the last iterate"
        title = f"convergence (E* unknown; E_last = {reference:.6g}, sum units)"
    relative = (objective - reference) / (abs(reference) or 1.0)
    above = relative > 0  # the reference itself has no logarithm
    if above.any():
        axes.semilogy(iterations[above], relative[above], marker=".", markersize=3, label=label)
    certified = [(record["iteration"], record["certified_gap"]) for record in history
                 if record.get("certified_gap") is not None and record["certified_gap"] > 0]
    if certified:
        axes.semilogy(*zip(*certified), marker=".", markersize=3,
                      label="certified gap >= (E - E*) / E*")
    if above.any() or certified:
        axes.legend(fontsize=8)
    else:
        axes.text(0.5, 0.5, "no decrease recorded", ha="center", va="center",
                  transform=axes.transAxes)
    axes.set_xlabel("iteration")
    axes.set_ylabel("relative objective gap")
    axes.set_title(title, fontsize=9)
    axes.grid(True, which="both", alpha=0.3)


def _caption(view: np.ndarray, shown: DisplayRange, factor: int) -> str:
    """Two lines, so that they fit above two columns: what is shown, and at what resolution."""
    kind = "colour" if view.ndim == 3 else "grey"
    resolution = ("every view at full resolution" if factor == 1
                  else f"full views: means of {factor}x{factor} blocks; zooms at full resolution")
    return f"{view.shape[1]}x{view.shape[0]} {kind} image, shown on {shown.description}\n{resolution}"
