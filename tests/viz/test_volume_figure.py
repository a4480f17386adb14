"""Tests for tvrestore.viz.volume_figure: orthogonal slices at the true aspect, and what each row shows.

The volumes are synthetic and small (8 x 24 x 24, z step 4 x the pixel);
the "restored" volume is the clean one, so no solver runs.
"""

import subprocess
import sys

import imageio.v3 as iio
import numpy as np
import pytest

pytest.importorskip("matplotlib")

import reference  # noqa: E402
from tvrestore.errors import TVRestoreError  # noqa: E402
from tvrestore.viz.display import volume_view  # noqa: E402
from tvrestore.viz.volume_figure import VIEWS, volume_figure  # noqa: E402

SHAPE = (8, 24, 24)
HISTORY = [{"iteration": i, "objective": 10.0 + 1.0 / (i + 1), "certified_gap": None}
           for i in range(0, 50, 5)]


def stacks(shape=SHAPE, seed=2):
    clean = reference.smooth_blobs(shape, seed=seed)
    noisy = np.clip(clean + 0.08 * np.random.default_rng(seed).standard_normal(shape), 0, 1)
    return ((clean * 65535).round().astype(np.uint16),
            (noisy * 65535).round().astype(np.uint16))


def test_rows_panels_and_the_true_aspect_of_the_side_views(tmp_path):
    clean, noisy = stacks()
    chambolle = ("skimage chambolle 3-D", 0.06, clean, 30.0, 0.9)
    drawn = volume_figure(tmp_path / "f.png", input=noisy, restored=clean, reference=clean,
                          compare=[chambolle], axes="ZYX", spacing=(4.0, 1.0, 1.0),
                          history=HISTORY, psnr=35.0, weight=0.06)
    # 4 volumes x 4 views, 2 x 2 difference maps, their colour bar, the convergence.
    assert drawn.rows == 4 and len(drawn.figure.axes) == 4 * 4 + 4 + 1 + 1
    assert [axes.get_label() for axes in drawn.view_axes] == list(VIEWS) * 4
    assert drawn.point == (12, 12, 4) and drawn.steps == (4.0, 1.0, 1.0)
    png = iio.imread(drawn.path)
    assert png.shape[:2] == (round(drawn.figure.get_figheight() * drawn.figure.dpi),
                             round(drawn.figure.get_figwidth() * drawn.figure.dpi))
    # Physical extents: 24 columns x 8 planes of 4 = 24 x 32; the drawn boxes keep it.
    expected = {"XY": 24 / 24, "XZ": 32 / 24, "YZ": 32 / 24, "projection": 24 / 24}
    renderer = drawn.figure.canvas.get_renderer()
    for axes in drawn.view_axes[:4]:
        left, right, bottom, top = axes.get_images()[0].get_extent()
        assert (bottom - top) / (right - left) == pytest.approx(expected[axes.get_label()])
        box = axes.get_window_extent(renderer)
        assert box.height / box.width == pytest.approx(expected[axes.get_label()], rel=0.03)
    titles = [row.get_suptitle() for row in drawn.figure.subfigs[:-1]]
    assert titles[1] == "tvrestore · w 0.06 · PSNR 35.00 dB"
    assert titles[3].startswith("skimage chambolle 3-D")


def test_the_zoom_gives_the_point_and_the_cuts_go_through_it(tmp_path):
    clean, noisy = stacks()
    drawn = volume_figure(tmp_path / "f.png", input=noisy, restored=clean, axes="ZYX",
                          spacing=(4.0, 1.0, 1.0), zoom=(4, 6, 8, 8))
    assert drawn.point == (8, 10, 4)
    # Without a reference or history: 2 rows, 2 maps and their colour bar.
    assert len(drawn.figure.axes) == 2 * 4 + 2 + 1
    xy, xz, yz, _ = drawn.view_axes[:4]
    assert [line.get_xdata()[0] for line in xy.lines] == [8.5, 0]
    assert xz.lines[1].get_ydata()[0] == pytest.approx(4.5 * 4)
    assert yz.lines[0].get_xdata()[0] == pytest.approx(10.5)
    # The planes drawn are the volume's, through the point.
    shown = drawn.view_axes[4].get_images()[0].get_array()
    low, high = drawn.shown.low * 65535, drawn.shown.high * 65535
    np.testing.assert_allclose(shown, np.clip((clean[4] - low) / (high - low), 0, 1), atol=1e-6)
    with pytest.raises(TVRestoreError, match="zoom"):
        volume_figure(tmp_path / "g.png", input=noisy, restored=clean, axes="ZYX",
                      zoom=(20, 0, 8, 8))
    with pytest.raises(TVRestoreError, match="shape"):
        volume_figure(tmp_path / "g.png", input=noisy, restored=clean[:4], axes="ZYX")
    assert not (tmp_path / "g.png").exists()


def test_time_lapses_and_channels_are_shown_as_stacks():
    frames = np.arange(5 * 6 * 7, dtype=np.uint16).reshape(5, 6, 7)
    view = volume_view(frames, "TYX")
    assert view.depth == "T" and view.frame is None and view.middle.tolist() == frames[2].tolist()
    movie = np.arange(3 * 4 * 6 * 7, dtype=np.float32).reshape(3, 4, 6, 7)
    view = volume_view(np.moveaxis(movie, 0, -1), "ZYXT")
    assert view.depth == "Z" and view.frame == 1
    np.testing.assert_array_equal(view.pixels, movie[1])
    two = np.stack([frames, frames + 2], axis=1)
    view = volume_view(two, "ZCYX")
    assert view.channels == 2 and view.pixels.dtype == np.uint16
    np.testing.assert_array_equal(view.pixels, frames + 1)
    np.testing.assert_array_equal(volume_view(np.stack([frames] * 3, -1), "ZYXC").projection(),
                                  np.stack([frames.max(axis=0)] * 3, -1))
    with pytest.raises(TVRestoreError, match="volume"):
        volume_view(frames, "CYX")


def test_importing_the_volume_figure_loads_no_matplotlib():
    code = ("import sys, tvrestore.viz.volume_figure; "
            "assert 'matplotlib' not in sys.modules and 'tensorflow' not in sys.modules")
    subprocess.run([sys.executable, "-c", code], check=True)
