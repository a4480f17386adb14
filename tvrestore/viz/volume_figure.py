r"""One restored volume as a figure: orthogonal slices and a maximum projection, before and after.

:func:`volume_figure` lays out one row per volume (the input, the restored
volume, the reference when given, each compared method's result), each
titled with the method, its weight and its N-D PSNR/SSIM, and in each row
four panels:

1. the XY plane through the point (default: the centre; ``zoom``'s centre
   when given);
2. the XZ plane through it, depth downwards;
3. the YZ plane through it, depth downwards;
4. the maximum intensity projection along Z.

Every panel is drawn on its physical extent (the spacing used for the
solve, ``spacing``), so a z step four times the pixel makes the XZ and YZ
panels four times taller per plane than per row: the true aspect, not
the array's. Thin dashed lines mark where the other planes cut. The bottom
row holds :math:`|u - f|` and, with a reference, :math:`|u - u_\mathrm{ref}|`
on the XY and XZ planes, on one colour scale, and the solver's
convergence, as in the 2-D figure (:mod:`tvrestore.viz.figures`).

A time-lapse of 2-D frames stacks its frames as the depth (labelled T; a
step only when a spacing couples them, else 1 per frame); of a time-lapse
of volumes the middle frame is shown. Every plane is shown on the input
volume's display range (:func:`tvrestore.viz.display.display_range` over
all its planes), grey or RGB, never interpolated; planes larger than their
panel are block means.

matplotlib is imported when a figure is drawn; TensorFlow never is.
"""

from __future__ import annotations

import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from tvrestore.backend.mpl import check_figure_path, default_style, new_figure
from tvrestore.errors import TVRestoreError
from tvrestore.io.pixels import unit_view
from tvrestore.viz.display import (
    DisplayRange, VolumeView, display_range, to_display, volume_view,
)
from tvrestore.viz.figures import (
    DEFAULT_DPI, DIFFERENCE_PERCENTILE, Panel, check_zoom, draw_convergence, save_figure,
)

__all__ = ["VIEWS", "VolumeFigure", "volume_figure"]

# The panels of a row, in order.
VIEWS = ("XY", "XZ", "YZ", "projection")
# The longer side of an XY panel, in pixels at DEFAULT_DPI; other panels
# are drawn at the same pixels per physical unit.
_PANEL_PX = 300
# A side view thinner than this (a few planes) is still given room for its title.
_MIN_PANEL_PX = 60
# A row is at most this tall, however deep the volume: its panels then shrink.
_MAX_ROW_PX = 600
_ROW_TITLES_PX = 64
_BOTTOM_ROW_PX = 300
_CAPTION_PX = 56
_CUT_LINE = {"color": "#ffcc00", "linewidth": 0.8, "linestyle": "--", "alpha": 0.8}


@dataclass(frozen=True)
class VolumeFigure:
    """What :func:`volume_figure` drew and wrote.

    Attributes
    ----------
    path : pathlib.Path
    figure : matplotlib.figure.Figure
        Already saved; kept for inspection.
    point : (x, y, d)
        The column, row and plane (along ``depth``) the slices go through.
    depth : {"Z", "T"}
    steps : (depth, y, x)
        The physical step of each axis the panels are drawn with.
    rows : int
        Volumes shown, one row of :data:`VIEWS` each.
    shown : DisplayRange
    caption : str
    """

    path: Path
    figure: object
    point: tuple[int, int, int]
    depth: str
    steps: tuple[float, float, float]
    rows: int
    shown: DisplayRange
    caption: str

    @property
    def view_axes(self) -> list:
        """The panels' axes, row by row, :data:`VIEWS` order within a row."""
        return [axes for axes in self.figure.axes if axes.get_label() in VIEWS]


def volume_figure(
    path: str | os.PathLike[str],
    *,
    input: np.ndarray,
    restored: np.ndarray,
    axes: str,
    spacing: Sequence[float] | None = None,
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
) -> VolumeFigure:
    """Draw one restored volume (see the module docstring) and write it as PNG, PDF or SVG.

    Parameters
    ----------
    path : str or path-like
        Ends in .png, .pdf or .svg; replaced if it exists, written atomically.
    input, restored : numpy.ndarray
        The noisy and restored volumes as read and written, one shape.
    axes : str
        Their axis letters in the array's order (``"ZYX"``, ``"TYX"``,
        ``"ZYXC"``, ...; :mod:`tvrestore.models.axes`).
    spacing : sequence of float, optional
        The steps of the spatial axes in the order T, Z, Y, X (those
        present; T only when it has one), as reported; default 1 each.
    reference, compare, restored_label, weight, psnr, ssim, input_psnr, input_ssim, history, minimum
        As for :func:`tvrestore.viz.figures.restoration_figure`.
    zoom : (x, y, w, h), optional
        A region of the XY plane; the slices go through its centre
        (``x + w // 2``, ``y + h // 2``) and the middle plane.
    value_range : (low, high), optional
        The display range in the input's own values.
    dpi : int

    Returns
    -------
    VolumeFigure

    Raises
    ------
    TVRestoreError
        Before any drawing: a bad suffix or directory, axes that do not
        name a volume, volumes of different shapes, a zoom outside the XY
        plane, a spacing of the wrong count.
    """
    path = check_figure_path(path)
    panels = [
        Panel("input", input, None, input_psnr, input_ssim),
        Panel(restored_label, restored, weight, psnr, ssim),
        *([Panel("reference", reference)] if reference is not None else []),
        *(Panel(method, image, method_weight, method_psnr, method_ssim)
          for method, method_weight, image, method_psnr, method_ssim in compare),
    ]
    views = [volume_view(panel.image, axes) for panel in panels]
    for panel, view in zip(panels, views):
        if view.pixels.shape != views[0].pixels.shape:
            raise TVRestoreError(f"the {panel.title} volume has shape {np.shape(panel.image)}, "
                                 f"but the input has {np.shape(input)}")
    first = views[0]
    depth_size, height, width = first.pixels.shape[:3]
    steps = _steps(axes, spacing, first.depth)
    if zoom is None:
        x, y = width // 2, height // 2
    else:
        zx, zy, zw, zh = check_zoom(zoom, (height, width))
        x, y = zx + zw // 2, zy + zh // 2
    point = (x, y, depth_size // 2)
    shown = display_range(unit_view(first.as_image()), value_range)

    scale = dpi / DEFAULT_DPI
    extents = _extents(first.pixels.shape, steps)
    per_unit = _PANEL_PX * scale / max(extents["XY"])
    widths = [max(_MIN_PANEL_PX * scale, extents[view][0] * per_unit) for view in VIEWS]
    tallest = max(extents[view][1] for view in VIEWS)
    row_px = min(_MAX_ROW_PX * scale, max(_MIN_PANEL_PX * scale, tallest * per_unit))
    row_heights = [row_px + _ROW_TITLES_PX * scale] * len(panels)
    heights = [*row_heights, _BOTTOM_ROW_PX * scale]
    width_px = round(sum(widths) + 40 * scale)
    height_px = round(sum(heights) + _CAPTION_PX * scale)

    with default_style():
        figure = new_figure(width_px, height_px, dpi)
        rows = figure.subfigures(len(heights), 1, height_ratios=heights)
        for row, panel, view in zip(rows, panels, views):
            _draw_row(row, panel, view, point, steps, extents, widths, shown)
        _draw_bottom(rows[-1], views, reference is not None, point, steps, extents, history,
                     minimum)
        caption = _caption(first, steps, point, shown)
        figure.suptitle(caption, fontsize=10)
        save_figure(figure, path)
    return VolumeFigure(path=path, figure=figure, point=point, depth=first.depth, steps=steps,
                        rows=len(panels), shown=shown, caption=caption)


def _steps(axes: str, spacing, depth: str) -> tuple[float, float, float]:
    """(depth, y, x) steps from the reported spacing (T, Z, Y, X present, T only if stepped)."""
    letters = [letter for letter in "TZYX" if letter in str(axes).upper()]
    if spacing is None:
        return 1.0, 1.0, 1.0
    spacing = tuple(float(step) for step in spacing)
    if len(spacing) == len(letters) - 1 and letters[0] == "T":
        letters = letters[1:]
    if len(spacing) != len(letters):
        raise TVRestoreError(f"spacing {spacing} does not fit axes {axes} (one step each for "
                             f"{''.join(letters)})")
    step = dict(zip(letters, spacing))
    return step.get(depth, 1.0), step["Y"], step["X"]


def _extents(shape: Sequence[int], steps: tuple[float, float, float]) -> dict:
    """Each view's (width, height) in physical units."""
    depth, height, width = shape[0] * steps[0], shape[1] * steps[1], shape[2] * steps[2]
    return {"XY": (width, height), "XZ": (width, depth), "YZ": (height, depth),
            "projection": (width, height)}


def _planes(view: VolumeView, point: tuple[int, int, int]) -> dict:
    """Each view's pixels as stored: (rows, columns[, 3])."""
    x, y, d = point
    return {"XY": view.pixels[d], "XZ": view.pixels[:, y], "YZ": view.pixels[:, :, x],
            "projection": view.projection()}


def _unit(plane: np.ndarray) -> np.ndarray:
    """A plane as float32 unit-range values (a copy: a plane is small next to its volume)."""
    return unit_view(plane).unit()


def _shrunk(unit: np.ndarray, size_px: tuple[float, float]) -> np.ndarray:
    """Block means down to about the panel's pixels, rows and columns each by their own factor."""
    rows = max(1, math.ceil(unit.shape[0] / max(1.0, size_px[1])))
    columns = max(1, math.ceil(unit.shape[1] / max(1.0, size_px[0])))
    if rows == columns == 1:
        return unit
    height, width = unit.shape[0] // rows, unit.shape[1] // columns
    blocks = unit[: height * rows, : width * columns].reshape(
        height, rows, width, columns, *unit.shape[2:])
    return blocks.mean(axis=(1, 3), dtype=np.float32)


def _label(view: str, depth: str, point: tuple[int, int, int]) -> str:
    x, y, d = point
    return {"XY": f"XY at {depth.lower()} = {d}", "XZ": f"X{depth} at y = {y}",
            "YZ": f"Y{depth} at x = {x}", "projection": f"maximum along {depth}"}[view]


def _draw_row(row, panel: Panel, view: VolumeView, point, steps, extents, widths, shown) -> None:
    """One volume: its four panels on their physical extents, titled, the cuts marked."""
    row.suptitle(panel.caption().replace("\n", " · "), fontsize=10)
    cells = row.subplots(1, len(VIEWS), gridspec_kw={"width_ratios": widths})
    planes = _planes(view, point)
    per_unit = widths[0] / max(extents["XY"][0], 1e-12)
    for axes, name in zip(cells, VIEWS):
        axes.set_label(name)
        width, height = extents[name]
        display = to_display(_shrunk(_unit(planes[name]), (width * per_unit, height * per_unit)),
                             shown)
        axes.imshow(display, cmap="gray", vmin=0, vmax=1, interpolation="none",
                    extent=(0, width, height, 0))
        axes.set_aspect("equal")
        axes.set_xticks([])
        axes.set_yticks([])
        axes.set_title(_label(name, view.depth, point), fontsize=9)
        _mark_cuts(axes, name, point, steps)


def _mark_cuts(axes, name: str, point, steps) -> None:
    """Dashed lines where the other two planes cut this one (none on the projection)."""
    x, y, d = point
    centre = {"x": (x + 0.5) * steps[2], "y": (y + 0.5) * steps[1], "d": (d + 0.5) * steps[0]}
    lines = {"XY": ("x", "y"), "XZ": ("x", "d"), "YZ": ("y", "d")}.get(name)
    if lines is None:
        return
    axes.axvline(centre[lines[0]], **_CUT_LINE)
    axes.axhline(centre[lines[1]], **_CUT_LINE)


def _draw_bottom(row, views, has_reference: bool, point, steps, extents, history, minimum) -> None:
    """|restored - input| (and - reference) on XY and XZ, one scale and colour bar; convergence."""
    pairs = [("input", views[0])] + ([("reference", views[2])] if has_reference else [])
    planes = {name: _planes(view, point) for name, view in [("restored", views[1]), *pairs]}
    scale = unit_view(views[0].middle).scale
    maps = []
    for name, _ in pairs:
        for plane in ("XY", "XZ"):
            difference = np.abs(_unit(planes["restored"][plane]) - _unit(planes[name][plane]))
            difference = difference.mean(axis=2) if difference.ndim == 3 else difference
            shown_plane = "XY" if plane == "XY" else f"X{views[0].depth}"
            maps.append((f"|restored - {name}|\n{shown_plane}",
                         plane, difference * np.float32(scale)))
    top = float(np.percentile(np.concatenate([m.ravel() for *_, m in maps]), DIFFERENCE_PERCENTILE))
    top = top if top > 0 else 1.0
    widths = [extents[plane][0] for _, plane, _ in maps]
    cells = row.subplots(1, len(maps) + int(bool(history)),
                         gridspec_kw={"width_ratios": [*widths, *([sum(widths)] if history else [])]})
    cells = np.atleast_1d(cells)
    drawn = []
    for axes, (title, plane, difference) in zip(cells, maps):
        width, height = extents[plane]
        image = axes.imshow(difference, cmap="magma", vmin=0, vmax=top, interpolation="none",
                            extent=(0, width, height, 0))
        axes.set_aspect("equal")
        axes.set_xticks([])
        axes.set_yticks([])
        axes.set_title(title, fontsize=8)
        drawn.append(axes)
    units = f"{views[0].pixels.dtype} levels" if scale > 1 else "intensity"
    row.colorbar(image, ax=drawn, extend="max", shrink=0.9, label=f"absolute difference ({units})")
    if history:
        draw_convergence(cells[-1], history, minimum)


def _caption(view: VolumeView, steps, point, shown: DisplayRange) -> str:
    depth_size, height, width = view.pixels.shape[:3]
    kind = {1: "grey", 3: "colour"}.get(view.channels, f"mean of {view.channels} channels")
    frame = "" if view.frame is None else f", time frame {view.frame}"
    step_text = " x ".join(f"{step:g}" for step in steps)
    stack = "time-lapse" if view.depth == "T" else "volume"
    return (f"{width}x{height}x{depth_size} (X x Y x {view.depth}) {kind} {stack}{frame}, shown on "
            f"{shown.description}\nslices through x = {point[0]}, y = {point[1]}, "
            f"{view.depth.lower()} = {point[2]}; drawn at spacing {view.depth}, Y, X = {step_text}")
