"""Volume TIFFs: ImageJ hyperstacks, OME-TIFF and multi-page files, their axes, spacing and units."""

import numpy as np
import pytest
import tifffile

from tvrestore import TVRestoreError
from tvrestore.io import volumes
from tvrestore.io.volumes import (
    is_volume_file, read_volume, read_volume_header, solve_spacing, write_volume,
)
from tvrestore.models.axes import Axes


def stack(shape=(5, 12, 14), dtype=np.uint16, seed=0):
    values = np.random.default_rng(seed).random(shape)
    return (values * 60000).astype(dtype) if dtype == np.uint16 else values.astype(dtype)


def round_trip(tmp_path, source):
    pixels, header = read_volume(source)
    out = tmp_path / f"out_{source.name}"
    write_volume(out, pixels, like=header, axes=header.axes)
    back, back_header = read_volume(out)
    return header, back_header, pixels, back


@pytest.mark.parametrize("axes, shape", [("ZYX", (5, 12, 14)), ("TZYX", (3, 4, 10, 12)),
                                         ("ZCYX", (4, 2, 10, 12))])
def test_imagej_spacing_axes_and_units_are_written_back_equal(tmp_path, axes, shape):
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, stack(shape), imagej=True, resolution=(1 / 0.357, 1 / 0.357),
                     metadata={"spacing": 2.0, "unit": "micron", "axes": axes, "finterval": 1.5})
    header, back_header, pixels, back = round_trip(tmp_path, source)
    assert header.format == back_header.format == "ImageJ"
    assert header.axes == back_header.axes == axes
    assert header.sizes == pytest.approx({"Z": 2.0, "Y": 0.357, "X": 0.357})
    assert back_header.sizes == pytest.approx(header.sizes, rel=1e-6)
    assert header.units == back_header.units == {"Z": "µm", "Y": "µm", "X": "µm"}
    assert back_header.imagej["finterval"] == 1.5
    np.testing.assert_array_equal(back, pixels)


@pytest.mark.parametrize("axes, shape", [("ZYX", (5, 12, 14)), ("TCZYX", (2, 2, 3, 10, 12))])
def test_ome_physical_sizes_axes_and_units_are_written_back_equal(tmp_path, axes, shape):
    source = tmp_path / "stack.ome.tif"
    tifffile.imwrite(source, stack(shape, np.float32), ome=True, metadata={
        "axes": axes, "PhysicalSizeX": 0.2, "PhysicalSizeY": 0.25, "PhysicalSizeZ": 1.12,
        "PhysicalSizeZUnit": "nm", "PhysicalSizeXUnit": "nm", "PhysicalSizeYUnit": "nm"})
    header, back_header, pixels, back = round_trip(tmp_path, source)
    assert header.format == back_header.format == "OME-TIFF"
    assert header.axes == back_header.axes == axes
    assert header.sizes == back_header.sizes == {"Z": 1.12, "Y": 0.25, "X": 0.2}
    assert header.units == back_header.units == {"Z": "nm", "Y": "nm", "X": "nm"}
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, pixels)
    steps, note = solve_spacing(header, Axes(axes))
    assert note is None and steps == pytest.approx((1.12e-3, 0.25e-3, 0.2e-3))


def test_a_plain_multipage_tiff_is_a_z_stack_with_no_spacing(tmp_path):
    source = tmp_path / "pages.tif"
    with tifffile.TiffWriter(source) as tif:
        for plane in stack():
            tif.write(plane, contiguous=False)
    assert is_volume_file(source)
    header = read_volume_header(source)
    assert header.format == "TIFF" and header.axes == "ZYX" and header.shape == (5, 12, 14)
    steps, note = solve_spacing(header, Axes("ZYX"))
    assert steps is None and "spacing 1 assumed" in note


def test_units_that_are_not_lengths_are_said_and_spacing_1_assumed(tmp_path):
    source = tmp_path / "pixels.tif"
    tifffile.imwrite(source, stack(), imagej=True, resolution=(2.0, 2.0),
                     metadata={"spacing": 3.0, "unit": "pixel", "axes": "ZYX"})
    steps, note = solve_spacing(read_volume_header(source), Axes("ZYX"))
    assert steps is None and "not lengths" in note


def test_a_2d_tiff_is_not_a_volume(tmp_path):
    source = tmp_path / "flat.tif"
    tifffile.imwrite(source, stack((12, 14)))
    assert not is_volume_file(source)


def test_the_header_budget_counts_every_plane(tmp_path, monkeypatch):
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, stack((6, 12, 14)), imagej=True, metadata={"axes": "ZYX"})
    # One plane fits, six do not.
    monkeypatch.setattr(volumes, "MAX_DECODED_BYTES", 12 * 14 * 2 * 5)
    with pytest.raises(TVRestoreError, match="every plane counted"):
        read_volume_header(source)


def test_writing_is_atomic_and_refuses_to_replace(tmp_path):
    source = tmp_path / "stack.tif"
    tifffile.imwrite(source, stack(), imagej=True, metadata={"axes": "ZYX"})
    pixels, header = read_volume(source)
    with pytest.raises(TVRestoreError):
        write_volume(source, pixels, like=header, axes="ZYX")
    assert list(tmp_path.iterdir()) == [source]
    np.testing.assert_array_equal(tifffile.imread(source), pixels)
