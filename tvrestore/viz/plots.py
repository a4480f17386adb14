"""Plots of what ``tvrestore bench`` measures, as PNG (or PDF, SVG) files.

- :func:`plot_gap_vs_time`: the relative objective gap each method reaches
  against the time it took, on log-log axes, so a reader sees who gets
  where first.
- :func:`plot_resolution_sweep`: iterations and PSNR against image size for
  tvrestore and the plain recipe (Keras Adam on a sum or a naive mean), from
  the rows of :func:`tvrestore.bench.sweep.resolution_sweep`: the picture of why
  the reduction is scaled automatically.

matplotlib is imported when a plot is drawn; TensorFlow never is.
"""

from __future__ import annotations

import os
from typing import Mapping, Sequence

import numpy as np

from tvrestore.backend.mpl import check_figure_path, default_style, new_figure
from tvrestore.errors import TVRestoreError
from tvrestore.viz.figures import save_figure

__all__ = ["plot_gap_vs_time", "plot_resolution_sweep"]

_DPI = 100
_SIZE_PX = {"gap": (720, 480), "sweep": (1080, 420)}
# The plain recipe's two losses, as named in the sweep's rows.
_PLAIN = (("plain_sum", "plain recipe, sum"), ("plain_mean", "plain recipe, naive mean"))

# Each series' line and marker: distinct shapes, the larger drawn below, so
# that series which coincide still show, one marker inside the other.
_STYLES = {
    "exact": {"color": "black", "linestyle": "--", "marker": "D", "markersize": 10,
              "markerfacecolor": "none", "zorder": 2.0},
    "tvrestore": {"linestyle": "-", "marker": "o", "markersize": 7, "zorder": 2.1},
    "plain_sum": {"linestyle": ":", "marker": "s", "markersize": 5, "zorder": 2.2},
    "plain_mean": {"linestyle": ":", "marker": "^", "markersize": 4, "zorder": 2.3},
}
# Series closer than this fraction of their panel's range at every size
# are one curve to the eye: the later one's legend says so.
_SAME_FRACTION = 0.01


def _draw_series(axes, sizes, values, labels, names, colours) -> None:
    """Draw each series of one panel; a series that coincides with an earlier one says "same as"."""
    arrays = {key: np.asarray(series, np.float64) for key, series in values.items()}
    everything = np.concatenate(list(arrays.values()))
    tolerance = _SAME_FRACTION * max(float(np.ptp(everything)), 1e-12)
    drawn: list[str] = []
    for key, series in arrays.items():
        same = [names[other] for other in drawn
                if np.all(np.abs(arrays[other] - series) <= tolerance)]
        label = labels[key] + (f" (same as {', '.join(same)})" if same else "")
        style = dict(_STYLES[key])
        if key in colours:
            style["color"] = colours[key]
        (line,) = axes.plot(sizes, series, label=label, **style)
        colours.setdefault(key, line.get_color())
        drawn.append(key)


def plot_gap_vs_time(
    path: str | os.PathLike[str],
    series: Mapping[str, tuple[Sequence[float], Sequence[float]]],
    *,
    title: str = "relative objective gap against time",
):
    """Draw each method's gap against time on log-log axes and write it.

    Parameters
    ----------
    path : str or path-like
        .png, .pdf or .svg; replaced if it exists.
    series : mapping of str to (seconds, gap)
        Per method, equal-length sequences: the time (s, after compiling)
        at which it reached each relative gap :math:`(E - E^*) / E^*`.
        A point at time 0 (a solver's starting point) has no logarithm: it
        is drawn at the left edge of the axes, with an open marker and its
        own legend entry. Points with a negative time, or a gap of 0 or
        less, are left out.
    title : str

    Returns
    -------
    matplotlib.figure.Figure
        The saved figure, for inspection.

    Raises
    ------
    TVRestoreError
        If the suffix is not a figure format, `series` is empty or a
        method's sequences differ in length.
    """
    path = check_figure_path(path)
    if not series:
        raise TVRestoreError("no series to plot")
    arrays = {}
    for method, (seconds, gap) in series.items():
        seconds, gap = np.asarray(seconds, np.float64), np.asarray(gap, np.float64)
        if seconds.shape != gap.shape:
            raise TVRestoreError(f"{method}: {seconds.size} times but {gap.size} gaps")
        arrays[method] = seconds, gap
    times = np.concatenate([seconds for seconds, _ in arrays.values()])
    positive_times = times[times > 0]
    with default_style():
        figure = new_figure(*_SIZE_PX["gap"], _DPI)
        axes = figure.add_subplot()
        starts = []
        for method, (seconds, gap) in arrays.items():
            drawn = (seconds > 0) & (gap > 0)
            (line,) = axes.loglog(seconds[drawn], gap[drawn], marker="o", markersize=3,
                                  label=method)
            start = (seconds == 0) & (gap > 0)
            if start.any():
                starts.append((method, gap[start], line.get_color()))
        if starts:
            # Half a decade left of the first timed point, where t = 0 is drawn.
            edge = (positive_times.min() if positive_times.size else 1.0) / 10**0.5
            axes.set_xlim(left=edge)
            for method, gaps, colour in starts:
                axes.plot(np.full(gaps.shape, edge), gaps, linestyle="none", marker=">",
                          markersize=6, color=colour, markerfacecolor="white", clip_on=False,
                          label=f"{method}: start, t = 0 (at the left edge)")
        axes.set_xlabel("seconds")
        axes.set_ylabel("relative objective gap (E - E*) / E*")
        axes.set_title(title)
        axes.grid(True, which="both", alpha=0.3)
        axes.legend(fontsize=8)
        save_figure(figure, path)
    return figure


def plot_resolution_sweep(
    path: str | os.PathLike[str],
    rows: Sequence[dict],
    *,
    plain_gap_target: float | None = None,
):
    """Draw iterations and PSNR against size for tvrestore and the plain recipe.

    Parameters
    ----------
    path : str or path-like
        .png, .pdf or .svg; replaced if it exists.
    rows : sequence of dict
        :func:`tvrestore.bench.sweep.resolution_sweep`'s rows: ``size``,
        ``exact["psnr"]``, ``tvrestore["iterations"]`` and ``["psnr"]``, and
        ``plain_sum`` / ``plain_mean`` with ``iterations`` (their budget),
        ``iterations_to_target`` (None if never reached) and ``psnr``.
    plain_gap_target : float, optional
        The gap the plain recipe's ``iterations_to_target`` counts to (the
        report's ``sweep["plain_gap_target"]``), for the legend.

    Returns
    -------
    matplotlib.figure.Figure
        The saved figure, for inspection.

    Notes
    -----
    tvrestore's iterations are those its own stopping rule took. A plain
    run that never reached the target is drawn at its budget with an open
    marker (white inside): it needs more, how many is unknown.

    Each series has its own marker shape and size, the larger drawn
    below, so series that coincide (the plain recipe's sum often lands on
    the exact minimizer's PSNR) remain visible one inside the other; a
    series within 1 % of its panel's range of an earlier one at every size
    says "same as" it in the legend.

    Raises
    ------
    TVRestoreError
        If the suffix is not a figure format or `rows` is empty.
    """
    path = check_figure_path(path)
    if not rows:
        raise TVRestoreError("no sweep rows to plot")
    sizes = np.array([row["size"] for row in rows], np.float64)
    target = "the target gap" if plain_gap_target is None else f"gap {plain_gap_target:g}"
    # Per panel, each series' values by key of _STYLES.
    iterations = {"tvrestore": [row["tvrestore"]["iterations"] for row in rows]}
    psnrs = {"exact": [row["exact"]["psnr"] for row in rows],
             "tvrestore": [row["tvrestore"]["psnr"] for row in rows]}
    reached = {}
    for key, _ in _PLAIN:
        reached[key] = np.array([row[key]["iterations_to_target"] is not None for row in rows])
        iterations[key] = [row[key]["iterations_to_target"] or row[key]["iterations"]
                           for row in rows]
        psnrs[key] = [row[key]["psnr"] for row in rows]
    names = {"exact": "exact minimizer", "tvrestore": "tvrestore", **dict(_PLAIN)}
    with default_style():
        figure = new_figure(*_SIZE_PX["sweep"], _DPI)
        iterations_axes, psnr_axes = figure.subplots(1, 2)
        colours = {}
        for axes, values, labels in (
            (iterations_axes, iterations,
             {"tvrestore": "tvrestore (to its stop)",
              **{key: f"{label} (to {target})" for key, label in _PLAIN}}),
            (psnr_axes, psnrs, names),
        ):
            _draw_series(axes, sizes, values, labels, names, colours)
        for key, label in _PLAIN:
            unreached = ~reached[key]
            if unreached.any():
                counts = np.asarray(iterations[key], np.float64)
                budget = int(counts[unreached].max())
                iterations_axes.plot(sizes[unreached], counts[unreached], linestyle="none",
                                     marker=_STYLES[key]["marker"], color=colours[key],
                                     markersize=_STYLES[key]["markersize"],
                                     markerfacecolor="white", zorder=_STYLES[key]["zorder"] + 0.5,
                                     label=f"{label}: not reached in {budget}")
        for axes in (iterations_axes, psnr_axes):
            axes.set_xscale("log", base=2)
            axes.set_xticks(sizes, [f"{size:.0f}" for size in sizes])
            axes.minorticks_off()
            axes.set_xlabel("image side (pixels)")
            axes.grid(True, alpha=0.3)
            axes.legend(fontsize=8)
        iterations_axes.set_ylim(bottom=0)
        iterations_axes.set_ylabel("iterations")
        iterations_axes.set_title("iterations against size")
        psnr_axes.set_ylabel("PSNR (dB)")
        psnr_axes.set_title("PSNR against size")
        save_figure(figure, path)
    return figure
