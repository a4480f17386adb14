"""Tests for tvrestore.viz.figures and tvrestore.viz.display: what the figure shows, and its files.

The images are synthetic (a square and a disc on a flat background, with
noise) and the "restored" image is the clean one, so no solver runs.
"""

import subprocess
import sys
import tracemalloc
import xml.etree.ElementTree as ElementTree

import imageio.v3 as iio
import numpy as np

from tvrestore.io.pixels import unit_view
import pytest

pytest.importorskip("matplotlib")

from tvrestore.viz import display
from tvrestore.errors import TVRestoreError  # noqa: E402
from tvrestore.viz.figures import (  # noqa: E402
    certified_lower_bound, check_zoom, choose_zoom, figure_layout, restoration_figure,
)

H, W = 96, 128


def scene(height=H, width=W, channels=None, seed=0, sigma=0.1):
    """(clean, noisy) float64 in about [0, 1]: a bright square and a disc on grey."""
    yy, xx = np.mgrid[:height, :width]
    clean = np.full((height, width), 0.3)
    clean[height // 4 : height // 2, width // 8 : width // 3] = 0.9
    clean[(yy - 0.6 * height) ** 2 + (xx - 0.7 * width) ** 2 < (0.15 * height) ** 2] = 0.1
    if channels is not None:
        clean = np.stack([clean, 1 - clean, np.roll(clean, 7, axis=1)][:channels], axis=-1)
    noisy = clean + sigma * np.random.default_rng(seed).standard_normal(clean.shape)
    return clean, noisy


def as_dtype(unit, dtype, low=0.0, high=1.0):
    """Unit-range pixels in `dtype`, mapped onto [low, high] of its values."""
    values = low + np.clip(unit, 0, 1) * (high - low)
    if np.dtype(dtype).kind == "f":
        return values.astype(dtype)
    return np.rint(values).astype(dtype)


ADAM_HISTORY = [{"iteration": k, "objective": 100 + 50 * 0.97**k, "certified_gap": None}
                for k in range(0, 300, 5)]
PDHG_HISTORY = [{"iteration": k, "objective": 100 + 50 * 0.95**k,
                 "certified_gap": 2 * 50 * 0.95**k / 100} for k in range(0, 300, 10)]


def draw(tmp_path, name="figure.png", dtype="uint8", channels=None, reference=False,
         compare=0, history=None, **options):
    clean, noisy = scene(channels=channels)
    top = {"uint8": 255, "uint16": 4000, "float32": 1.0}[dtype]
    low = {"uint8": 0, "uint16": 1000, "float32": -0.25}[dtype]
    images = {name: as_dtype(unit, dtype, low, top) for name, unit in
              (("input", noisy), ("restored", clean), ("reference", clean))}
    return restoration_figure(
        tmp_path / name,
        input=images["input"],
        restored=images["restored"],
        reference=images["reference"] if reference else None,
        compare=[(f"method {k}", 0.1 * k, images["restored"], 30.0 + k, 0.9) for k in range(compare)],
        restored_label="tvrestore (adam)", weight=0.07, psnr=31.5 if reference else None,
        ssim=0.93 if reference else None, history=history, **options,
    )


# expected Axes: views + zooms, difference maps, their one colour bar, convergence
CASES = {
    "grey, no reference": ({}, 2 + 2 + 1 + 1),
    "grey, reference": ({"reference": True}, 3 + 3 + 2 + 1),
    "grey, reference, compare": ({"reference": True, "compare": 2}, 5 + 5 + 2 + 1),
    "grey, history": ({"history": ADAM_HISTORY}, 2 + 2 + 1 + 1 + 1),
    "colour": ({"channels": 3, "reference": True}, 3 + 3 + 2 + 1),
    "uint16": ({"dtype": "uint16"}, 2 + 2 + 1 + 1),
    "float": ({"dtype": "float32", "history": PDHG_HISTORY}, 2 + 2 + 1 + 1 + 1),
}


@pytest.mark.parametrize("case", CASES)
def test_png_has_the_layouts_pixel_size_and_panels(tmp_path, case):
    options, expected_axes = CASES[case]
    drawn = draw(tmp_path, **options)
    pixels = iio.imread(drawn.path)
    width, height = drawn.layout.figsize
    assert pixels.shape[:2] == (round(height * drawn.layout.dpi), round(width * drawn.layout.dpi))
    assert pixels.shape[:2] == (drawn.layout.height_px, drawn.layout.width_px)
    assert drawn.axes_count == drawn.layout.axes_count == expected_axes
    # Not blank: the panels put many grey levels on the white page.
    assert len(np.unique(pixels[..., :3].reshape(-1, 3), axis=0)) > 100


def test_panel_titles_carry_method_weight_and_scores(tmp_path):
    drawn = draw(tmp_path, reference=True, compare=1)
    titles = [title for title in drawn.titles if title]
    assert titles[0] == "input"
    assert titles[1] == "tvrestore (adam)\nw 0.07 · PSNR 31.50 dB · SSIM 0.9300"
    assert titles[2] == "reference"
    assert titles[3] == "method 0\nw 0 · PSNR 30.00 dB · SSIM 0.9000"
    assert titles[4:] == ["|restored - input|", "|restored - reference|"]


def test_zoom_is_outlined_on_every_view_and_drawn_from_full_resolution(tmp_path):
    drawn = draw(tmp_path, reference=True, zoom=(10, 20, 30, 16))
    x, y, w, h = drawn.zoom
    assert drawn.zoom == (10, 20, 30, 16)
    views, zooms = drawn.figure.axes[0:6:2], drawn.figure.axes[1:6:2]
    for view in views:
        (rectangle,) = view.patches
        assert rectangle.get_xy() == (x - 0.5, y - 0.5)
        assert (rectangle.get_width(), rectangle.get_height()) == (w, h)
    for zoom in zooms:
        (image,) = zoom.images
        assert image.get_array().shape == (h, w)
        assert image.get_extent() == [x - 0.5, x + w - 0.5, y + h - 0.5, y - 0.5]


def test_grey_is_grey_uninterpolated_and_colour_is_colour(tmp_path):
    grey = draw(tmp_path, "grey.png")
    colour = draw(tmp_path, "colour.png", channels=3)
    for axes in grey.figure.axes[:4]:
        (image,) = axes.images
        assert image.get_cmap().name == "gray"
        assert image.get_interpolation() == "none"
        assert image.get_array().ndim == 2
    for axes in colour.figure.axes[:4]:
        (image,) = axes.images
        assert image.get_array().shape[2] == 3
        assert image.get_interpolation() == "none"


@pytest.mark.parametrize(
    "dtype, expected",
    [("uint8", "uint8 0..255 (full range)"),
     ("uint16", "uint16 {low}..{high} (data min..max)"),
     ("float32", "float32 {low}..{high} (data min..max)")],
)
def test_images_are_shown_on_their_own_range_and_it_is_stated(tmp_path, dtype, expected):
    drawn = draw(tmp_path, dtype=dtype)
    _, noisy = scene()
    top = {"uint8": 255, "uint16": 4000, "float32": 1.0}[dtype]
    low = {"uint8": 0, "uint16": 1000, "float32": -0.25}[dtype]
    pixels = as_dtype(noisy, dtype, low, top)
    data_low, data_high = pixels.min(), pixels.max()
    expected = expected.format(low=f"{data_low:.4g}", high=f"{data_high:.4g}")
    assert drawn.shown.description == expected
    assert expected in drawn.caption
    # The darkest input pixel is black and the brightest white on screen.
    if dtype != "uint8":
        full = drawn.figure.axes[0].images[0].get_array()
        assert full.min() == pytest.approx(0, abs=0.05) and full.max() == pytest.approx(1, abs=0.05)


def test_a_given_value_range_is_used(tmp_path):
    drawn = draw(tmp_path, dtype="uint16", value_range=(0, 65535))
    assert drawn.shown.low == 0 and drawn.shown.high == 1
    assert drawn.shown.description == "uint16 0..65535 (given)"
    with pytest.raises(TVRestoreError, match="low < high"):
        draw(tmp_path, value_range=(5, 5))


def test_difference_maps_share_one_scale_with_a_colour_bar(tmp_path):
    drawn = draw(tmp_path, reference=True)
    differences = [axes for axes in drawn.figure.axes if axes.get_title().startswith("|restored")]
    assert len(differences) == 2
    limits = {axes.images[0].get_clim() for axes in differences}
    assert len(limits) == 1
    # restored == reference here: that map is 0, the other is the noise.
    against_input, against_reference = (axes.images[0].get_array() for axes in differences)
    assert against_reference.max() == 0
    assert against_input.mean() > 0.05 * 255
    colour_bars = [axes for axes in drawn.figure.axes if axes.get_label() == "<colorbar>"]
    assert len(colour_bars) == 1
    assert "uint8 levels" in colour_bars[0].get_ylabel()


@pytest.mark.parametrize("history, curves", [(ADAM_HISTORY, 1), (PDHG_HISTORY, 2)])
def test_convergence_panel_plots_the_gap_on_a_log_axis(tmp_path, history, curves):
    drawn = draw(tmp_path, history=history)
    axes = drawn.figure.axes[-1]
    assert axes.get_title().startswith("convergence")
    assert axes.get_yscale() == "log"
    assert len(axes.lines) == curves
    iterations, _ = axes.lines[0].get_data()
    assert list(iterations) == [record["iteration"] for record in history][: len(iterations)]


def test_without_a_known_minimum_the_curve_is_relative_to_the_last_iterate(tmp_path):
    # Adam has no certificate: E* is unknown, and the panel must say so
    # rather than pass off the distance to its own end as a gap.
    history = [*ADAM_HISTORY, {"iteration": 300, "objective": 100.4, "certified_gap": None}]
    axes = draw(tmp_path, history=history).figure.axes[-1]
    (line,) = axes.lines
    objective = np.array([record["objective"] for record in history])
    expected = (objective - objective[-1]) / objective[-1]
    np.testing.assert_allclose(line.get_ydata(), expected[expected > 0])
    assert "relative to the last iterate" in line.get_label()
    assert "E* unknown" in axes.get_title()


def test_a_certified_history_is_measured_against_its_lower_bound(tmp_path):
    # pdhg: each check's D = E / (1 + gap) <= E* = 100 here; the curve is
    # measured against the best D, so it never understates the true gap.
    axes = draw(tmp_path, history=PDHG_HISTORY).figure.axes[-1]
    curve = axes.lines[0]
    objective = np.array([record["objective"] for record in PDHG_HISTORY])
    lower = max(r["objective"] / (1 + r["certified_gap"]) for r in PDHG_HISTORY)
    assert lower <= 100
    np.testing.assert_allclose(curve.get_ydata(), (objective - lower) / lower)
    assert np.all(curve.get_ydata() >= (objective - 100) / 100)
    assert "last iterate" not in curve.get_label()
    assert certified_lower_bound(PDHG_HISTORY) == pytest.approx(lower)


def test_a_known_minimum_is_plotted_against(tmp_path):
    axes = draw(tmp_path, history=ADAM_HISTORY, minimum=100.0).figure.axes[-1]
    objective = np.array([record["objective"] for record in ADAM_HISTORY])
    np.testing.assert_allclose(axes.lines[0].get_ydata(), (objective - 100) / 100)
    assert "E*" in axes.lines[0].get_label() and "last" not in axes.get_title()


@pytest.mark.parametrize("suffix", [".pdf", ".svg", ".PNG"])
def test_pdf_and_svg_are_written(tmp_path, suffix):
    drawn = draw(tmp_path, name=f"figure{suffix}", reference=True, history=PDHG_HISTORY)
    data = drawn.path.read_bytes()
    if suffix == ".pdf":
        assert data.startswith(b"%PDF-")
    elif suffix == ".svg":
        assert ElementTree.fromstring(data).tag == "{http://www.w3.org/2000/svg}svg"
    else:
        assert data.startswith(b"\x89PNG\r\n\x1a\n")
    assert list(tmp_path.iterdir()) == [drawn.path]  # no temporary left behind


@pytest.mark.parametrize("name", ["figure.jpg", "figure", "figure.png.txt"])
def test_unsupported_suffix_is_refused_before_drawing(tmp_path, name):
    with pytest.raises(TVRestoreError, match="unsupported figure type") as raised:
        draw(tmp_path, name=name)
    assert "\n" not in str(raised.value)
    assert list(tmp_path.iterdir()) == []


def test_missing_directory_and_mismatched_shapes_are_errors(tmp_path):
    with pytest.raises(TVRestoreError, match="directory does not exist"):
        draw(tmp_path, name="missing/figure.png")
    clean, noisy = scene()
    with pytest.raises(TVRestoreError, match="restored image has colour shape"):
        restoration_figure(tmp_path / "f.png", input=noisy, restored=clean[:-1],
                           restored_label="restored")


@pytest.mark.parametrize("zoom", [(0, 0, 0, 5), (-1, 0, 5, 5), (W - 4, 0, 5, 5),
                                  (0, H - 4, 5, 5), (0.5, 0, 5, 5), (1, 2, 3)])
def test_a_zoom_outside_the_image_is_refused(zoom):
    with pytest.raises(TVRestoreError, match="zoom"):
        check_zoom(zoom, (H, W))


def test_choose_zoom_finds_the_corner_of_a_square():
    image = np.zeros((256, 256), np.uint8)
    image[150:190, 40:80] = 200
    x, y, w, h = choose_zoom(image, 32)
    assert (w, h) == (32, 32)
    corners = [(150, 40), (150, 79), (189, 40), (189, 79)]
    assert any(y <= row < y + h and x <= column < x + w for row, column in corners)
    assert choose_zoom(image, 32) == (x, y, w, h)


def test_choose_zoom_on_a_large_colour_image_and_a_flat_one():
    image = np.zeros((2000, 1500, 3), np.float32)
    image[1200:1500, 300:700, 1] = 1.0  # edges in one channel only
    x, y, w, h = choose_zoom(image, 100)
    assert (w, h) == (100, 100)
    assert 1200 - w < y < 1500 and 300 - w < x < 700
    assert not (1200 + 4 < y and y + h < 1500 - 4 and 300 + 4 < x and x + w < 700 - 4)
    assert choose_zoom(np.ones((50, 80)), 20) == (30, 15, 20, 20)
    assert choose_zoom(np.ones((50, 80)), 500) == (15, 0, 50, 50)


def test_automatic_zoom_is_on_the_edges_of_the_restored_image(tmp_path):
    drawn = draw(tmp_path)
    clean, _ = scene()
    x, y, w, h = drawn.zoom
    region = clean[y : y + h, x : x + w]
    assert region.max() - region.min() > 0.5


def test_figure_layout_is_pure_and_scales_with_dpi():
    small = figure_layout((512, 512), (128, 128), image_panels=3, difference_panels=2,
                          convergence=True, dpi=100)
    large = figure_layout((512, 512), (128, 128), image_panels=3, difference_panels=2,
                          convergence=True, dpi=200)
    assert small.axes_count == 3 + 3 + 2 + 1 + 1
    assert large.width_px == 2 * small.width_px
    assert large.height_px == pytest.approx(2 * small.height_px, abs=2)
    wide = figure_layout((100, 400), (32, 32), image_panels=2, difference_panels=1,
                         convergence=False)
    assert wide.row_heights_px[0] < small.row_heights_px[0]
    with pytest.raises(TVRestoreError):
        figure_layout((8, 8), (8, 8), image_panels=1, difference_panels=1, convergence=False)


def test_block_mean_matches_a_direct_mean_and_works_in_bands(monkeypatch):
    rng = np.random.default_rng(1)
    image = rng.integers(0, 65536, (103, 70, 3)).astype(np.uint16)
    monkeypatch.setattr(display, "_BAND_VALUES", 500)  # many bands of a few rows
    means = display.block_mean([unit_view(image)], 4)
    expected = (image[:100, :68].astype(np.float64) / 65535).reshape(25, 4, 17, 4, 3).mean(axis=(1, 3))
    assert means.shape == (25, 17, 3) and means.dtype == np.float32
    np.testing.assert_allclose(means, expected, rtol=1e-5)


def test_a_4096_figure_is_drawn_from_small_arrays(tmp_path):
    side = 4096
    yy, xx = np.ogrid[:side, :side]
    restored = ((xx // 256 + yy // 256) % 2 * 160 + 40).astype(np.uint8)
    noisy = (restored + (xx * 7 + yy * 13) % 31).astype(np.uint8)
    tracemalloc.start()
    try:
        drawn = restoration_figure(tmp_path / "big.png", input=noisy, restored=restored,
                                   restored_label="restored", history=ADAM_HISTORY)
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert max(max(shape[:2]) for shape in drawn.display_shapes) <= display.MAX_DISPLAY_SIDE
    assert drawn.downsampling > 1
    # One float32 copy of the image would be 64 MiB; the inputs are 16 MiB each.
    assert peak < 40 * 2**20
    assert iio.imread(drawn.path).shape[:2] == (drawn.layout.height_px, drawn.layout.width_px)


def test_vector_figures_keep_more_detail_than_png(tmp_path):
    clean, noisy = scene(height=1200, width=1200, sigma=0.05)
    shapes = {}
    for suffix in (".png", ".svg"):
        drawn = restoration_figure(tmp_path / f"f{suffix}", input=noisy, restored=clean,
                                   restored_label="restored")
        shapes[suffix] = drawn.display_shapes[0]
    assert max(shapes[".png"]) <= drawn.layout.panel_side_px
    assert max(shapes[".png"]) < max(shapes[".svg"]) <= display.MAX_DISPLAY_SIDE


def test_drawing_does_not_import_tensorflow(tmp_path):
    script = (
        "import sys, numpy as np\n"
        "from tvrestore.viz.figures import restoration_figure\n"
        "from tvrestore.viz.gallery import write_gallery\n"
        "from tvrestore.viz.plots import plot_gap_vs_time\n"
        f"restoration_figure({str(tmp_path / 'f.png')!r}, input=np.eye(16), restored=np.eye(16),"
        " restored_label='r')\n"
        "assert 'tensorflow' not in sys.modules, 'tensorflow was imported'\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True)


# The README's resolution sweep (camera, sigma 25, weight 0.07), as bench rows.
SWEEP_ROWS = [
    {"size": size, "exact": {"psnr": exact},
     "tvrestore": {"psnr": ours, "iterations": iterations, "gap": 2.5e-4},
     "plain_sum": {"psnr": plain_sum, "iterations": 500, "iterations_to_target": sum_to},
     "plain_mean": {"psnr": plain_mean, "iterations": 500, "iterations_to_target": mean_to}}
    for size, exact, ours, iterations, plain_sum, sum_to, plain_mean, mean_to in [
        (128, 28.49, 28.50, 125, 28.49, 332, 28.49, 344),
        (512, 28.72, 28.72, 135, 28.72, 344, 28.67, 498),
        (1024, 31.91, 31.92, 140, 31.92, 353, 29.95, None),
        (4096, 34.73, 34.76, 140, 34.75, 347, 21.96, None),
    ]
]


def test_gap_against_time_is_log_log_without_unloggable_points(tmp_path):
    from tvrestore.viz.plots import plot_gap_vs_time

    series = {"tvrestore (adam)": ([0.0, 0.1, 0.2, 0.4], [1.0, 1e-2, 1e-3, 2e-4]),
              "tvrestore exact (pdhg)": ([0.1, 0.3, 0.9], [1e-1, 1e-3, 0.0]),
              "skimage chambolle": ([0.5], [3e-3])}
    figure = plot_gap_vs_time(tmp_path / "gap.png", series)
    (axes,) = figure.axes
    assert axes.get_xscale() == axes.get_yscale() == "log"
    assert [line.get_label() for line in axes.lines][:3] == list(series)
    assert [len(line.get_xdata()) for line in axes.lines][:3] == [3, 2, 1]
    assert iio.imread(tmp_path / "gap.png").shape[:2] == (480, 720)
    with pytest.raises(TVRestoreError, match="2 times but 1 gaps"):
        plot_gap_vs_time(tmp_path / "gap.png", {"x": ([1, 2], [1])})
    with pytest.raises(TVRestoreError, match="unsupported figure type"):
        plot_gap_vs_time(tmp_path / "gap.gif", series)


def test_coinciding_sweep_series_stay_visible_and_say_so(tmp_path):
    # The plain recipe's sum lands on the exact minimizer's PSNR, and both
    # of its iteration counts on the naive mean's: no series may vanish
    # behind another unannounced.
    from tvrestore.viz.plots import plot_resolution_sweep

    rows = [{"size": size, "exact": {"psnr": psnr},
             "tvrestore": {"psnr": psnr + 0.3, "iterations": 120},
             "plain_sum": {"psnr": psnr, "iterations": 500, "iterations_to_target": 340},
             "plain_mean": {"psnr": psnr - 2, "iterations": 500, "iterations_to_target": 340}}
            for size, psnr in ((128, 28.0), (256, 29.0), (512, 30.0))]
    iterations, psnr = plot_resolution_sweep(tmp_path / "sweep.png", rows).axes
    for axes in (iterations, psnr):
        lines = axes.get_lines()
        markers = [line.get_marker() for line in lines]
        assert len(set(markers)) == len(markers), markers  # distinct shapes
        # Where two lines share points, the one drawn later is smaller and on top.
        for first in lines:
            for later in lines:
                if later.get_zorder() > first.get_zorder() and np.array_equal(
                        first.get_ydata(), later.get_ydata()):
                    assert later.get_markersize() < first.get_markersize()
    labels = {line.get_label() for line in psnr.get_lines()}
    assert "plain recipe, sum (same as exact minimizer)" in labels
    assert "tvrestore" in labels and "plain recipe, naive mean" in labels  # 0.3 dB apart: distinct
    legend = [text.get_text() for text in psnr.get_legend().get_texts()]
    assert "plain recipe, sum (same as exact minimizer)" in legend
    iteration_labels = [line.get_label() for line in iterations.get_lines()]
    assert ("plain recipe, naive mean (to the target gap) (same as plain recipe, sum)"
            in iteration_labels)


def test_a_start_at_time_zero_is_drawn_at_the_left_edge(tmp_path):
    # pdhg's history starts at iteration 0, time 0: no logarithm, but the
    # reader must still see where it started.
    from tvrestore.viz.plots import plot_gap_vs_time

    series = {"tvrestore exact (pdhg)": ([0.0, 0.1, 0.3], [0.5, 1e-2, 1e-4]),
              "skimage chambolle": ([0.02, 0.2], [3e-2, 3e-3])}
    (axes,) = plot_gap_vs_time(tmp_path / "gap.png", series).figure.axes
    starts = [line for line in axes.lines if "t = 0" in line.get_label()]
    assert [line.get_label() for line in starts] == [
        "tvrestore exact (pdhg): start, t = 0 (at the left edge)"]
    left, right = axes.get_xlim()
    assert list(starts[0].get_ydata()) == [0.5]
    assert list(starts[0].get_xdata()) == [left] and 0 < left < 0.02 < 0.3 <= right
    assert starts[0].get_color() == axes.lines[0].get_color()
    legend = [text.get_text() for text in axes.get_legend().get_texts()]
    assert starts[0].get_label() in legend


def test_resolution_sweep_plots_iterations_and_psnr_against_size(tmp_path):
    from tvrestore.viz.plots import plot_resolution_sweep

    figure = plot_resolution_sweep(tmp_path / "sweep.png", SWEEP_ROWS, plain_gap_target=1e-3)
    iterations, psnr = figure.axes
    assert iterations.get_xscale() == psnr.get_xscale() == "log"
    lines = {line.get_label(): line for line in iterations.lines}
    assert list(lines["tvrestore (to its stop)"].get_ydata()) == [125, 135, 140, 140]
    assert list(lines["plain recipe, sum (to gap 0.001)"].get_ydata()) == [332, 344, 353, 347]
    # The naive mean never reached the gap at 1024 and 4096: open markers at its budget.
    unreached = lines["plain recipe, naive mean: not reached in 500"]
    assert list(unreached.get_xdata()) == [1024, 4096]
    assert list(unreached.get_ydata()) == [500, 500]
    assert unreached.get_markerfacecolor() == "white"
    psnr_lines = {line.get_label(): list(line.get_ydata()) for line in psnr.lines}
    assert psnr_lines["plain recipe, naive mean"] == [28.49, 28.67, 29.95, 21.96]
    assert psnr_lines["exact minimizer"] == [28.49, 28.72, 31.91, 34.73]
    assert iio.imread(tmp_path / "sweep.png").shape[:2] == (420, 1080)
