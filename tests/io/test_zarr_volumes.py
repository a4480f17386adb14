"""Volumes in OME-Zarr (NGFF 0.4 on zarr v2, 0.5 on zarr v3) and plain zarr: axes, scale and units
read from the JSON headers and written back equal, the input untouched."""

import sys

import numpy as np
import pytest

from hostile_helpers import snapshot
from tvrestore import TVRestoreError
from tvrestore.io import volumes
from tvrestore.io.volumes import is_volume_file, read_volume, read_volume_header, solve_spacing, write_volume
from tvrestore.models.axes import Axes

zarr = pytest.importorskip("zarr")

NAMES = {"T": ("t", "time"), "C": ("c", "channel"), "Z": ("z", "space"), "Y": ("y", "space"),
         "X": ("x", "space")}


def ome_zarr(path, pixels, axes, scale, *, version="0.5", unit="micrometer", outer=None,
             levels=2):
    """An OME-Zarr image written with zarr alone: ``levels`` levels (only level 0 holds data)."""
    ngff_axes = [{"name": NAMES[letter][0], "type": NAMES[letter][1]} for letter in axes]
    for axis in ngff_axes:
        if axis["type"] == "space" and unit is not None:
            axis["unit"] = unit
    multiscale = {"axes": ngff_axes, "name": "blobs", "datasets": [
        {"path": str(level), "coordinateTransformations": [
            {"type": "scale", "scale": [step * (2 ** level if letter in "YX" else 1)
                                        for step, letter in zip(scale, axes)]}]}
        for level in range(levels)]}
    if outer is not None:
        multiscale["coordinateTransformations"] = [{"type": "scale", "scale": outer}]
    if version == "0.4":
        attributes = {"multiscales": [{"version": "0.4", **multiscale}]}
    else:
        attributes = {"ome": {"version": "0.5", "multiscales": [multiscale]}}
    attributes["omero"] = {"channels": [{"label": "blobs", "window": {"start": 0, "end": 1}}]}
    group = zarr.open_group(str(path), mode="w-", zarr_format=2 if version == "0.4" else 3,
                            attributes=attributes)
    names = {} if version == "0.4" else {"dimension_names": [NAMES[a][0] for a in axes]}
    level0 = group.create_array("0", shape=pixels.shape, dtype=pixels.dtype,
                                chunks=tuple(max(1, side // 2) for side in pixels.shape), **names)
    level0[...] = pixels
    level0.attrs["kept"] = "level 0's own attribute"
    for level in range(1, levels):
        group.create_array(str(level), shape=pixels.shape, dtype=pixels.dtype, **names)
    return path


def volume(shape, dtype=np.uint16, seed=0):
    values = np.random.default_rng(seed).random(shape)
    return (values * 60000).astype(dtype) if dtype == np.uint16 else values.astype(dtype)


@pytest.mark.parametrize("version, axes, shape, outer", [
    ("0.4", "ZYX", (5, 12, 14), None),
    ("0.5", "ZYX", (5, 12, 14), [1.0, 2.0, 2.0]),
    ("0.5", "TCZYX", (2, 2, 3, 10, 12), None),
])
def test_ome_zarr_axes_scale_and_units_are_written_back_equal(tmp_path, version, axes, shape, outer):
    scale = [{"T": 1.5, "C": 1.0, "Z": 2.0, "Y": 0.357, "X": 0.357}[letter] for letter in axes]
    source = ome_zarr(tmp_path / "in.ome.zarr", volume(shape), axes, scale, version=version,
                      outer=outer)
    before = snapshot(source)
    assert is_volume_file(source)
    pixels, header = read_volume(source)
    factor = dict(zip(axes, outer or [1.0] * len(axes)))
    assert (header.format, header.axes, header.shape, header.dataset) == ("OME-Zarr", axes, shape, "0")
    assert header.sizes == pytest.approx({"Z": 2.0 * factor["Z"], "Y": 0.357 * factor["Y"],
                                          "X": 0.357 * factor["X"]})
    assert header.units == {"Z": "µm", "Y": "µm", "X": "µm"}
    assert solve_spacing(header, Axes(axes)) == (tuple(header.sizes[a] for a in "ZYX"), None)

    out = tmp_path / "out.zarr"
    write_volume(out, pixels, like=header, axes=axes)
    back, back_header = read_volume(out)
    np.testing.assert_array_equal(back, pixels)
    assert (back_header.format, back_header.axes, back_header.dtype) == ("OME-Zarr", axes, np.uint16)
    assert back_header.sizes == header.sizes and back_header.units == header.units
    # The same attributes, the multiscale cut to level 0 (the only level written).
    expected = dict(header.attributes)
    holder = expected["ome"] if version == "0.5" else expected
    multiscale = dict(holder["multiscales"][0])
    multiscale["datasets"] = multiscale["datasets"][:1]
    holder["multiscales"] = [multiscale]
    assert back_header.attributes == expected
    written, read = zarr.open_array(str(out / "0"), mode="r"), zarr.open_array(str(source / "0"), mode="r")
    assert written.metadata.zarr_format == read.metadata.zarr_format
    assert (written.chunks, written.compressors) == (read.chunks, read.compressors)
    assert dict(written.attrs) == {"kept": "level 0's own attribute"}
    if version == "0.5":
        assert written.metadata.dimension_names == read.metadata.dimension_names
    assert not (out / "1").exists()
    assert snapshot(source) == before
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")] == []


@pytest.mark.parametrize("zarr_format, names, axes", [
    (2, {"_ARRAY_DIMENSIONS": ["z", "y", "x"]}, "ZYX"),
    (3, {"dimension_names": ["t", "z", "y", "x"]}, "TZYX"),
    (2, {}, "ZYX"),   # a plain 3-D array of more than 4 columns: a Z stack
    (3, {}, None),    # 4-D without names: --axes must name them
])
def test_plain_zarr_axes_and_attributes_are_written_back_equal(tmp_path, zarr_format, names, axes):
    shape = (5, 12, 14) if len(axes or "....") == 3 else (2, 3, 12, 14)
    pixels = volume(shape, np.float32)
    attributes = {"instrument": "spinning disk", **{k: v for k, v in names.items()
                                                    if k == "_ARRAY_DIMENSIONS"}}
    array = zarr.create_array(str(tmp_path / "in.zarr"), shape=shape, dtype=np.float32,
                              chunks=(1, *shape[1:]), zarr_format=zarr_format,
                              attributes=attributes, dimension_names=names.get("dimension_names"))
    array[...] = pixels
    source = tmp_path / "in.zarr"
    before = snapshot(source)
    assert is_volume_file(source)
    read_pixels, header = read_volume(source)
    assert (header.format, header.axes, header.sizes) == ("zarr", axes, {})
    out = tmp_path / "out.zarr"
    write_volume(out, read_pixels, like=header, axes=axes or "TZYX")
    back, back_header = read_volume(out)
    np.testing.assert_array_equal(back, pixels)
    assert (back_header.axes, back_header.attributes) == (axes, attributes)
    written = zarr.open_array(str(out), mode="r")
    assert (written.metadata.zarr_format, written.chunks) == (zarr_format, (1, *shape[1:]))
    assert snapshot(source) == before


def test_2d_and_colour_zarr_arrays_are_images_not_volumes(tmp_path):
    for name, shape in (("grey.zarr", (12, 14)), ("rgb.zarr", (12, 14, 3))):
        zarr.create_array(str(tmp_path / name), shape=shape, dtype=np.uint8)
        assert not is_volume_file(tmp_path / name)


def test_the_header_is_read_without_zarr_and_its_budget_counts_every_plane(tmp_path, monkeypatch):
    source = ome_zarr(tmp_path / "in.ome.zarr", volume((6, 12, 14)), "ZYX", [2.0, 1.0, 1.0])
    monkeypatch.setitem(sys.modules, "zarr", None)  # importing zarr now fails
    assert read_volume_header(source).shape == (6, 12, 14)
    # One plane fits, six do not.
    monkeypatch.setattr(volumes, "MAX_DECODED_BYTES", 12 * 14 * 2 * 5)
    with pytest.raises(TVRestoreError, match="every plane counted"):
        read_volume_header(source)


def test_a_scale_without_units_is_used_and_a_new_spacing_is_written_as_the_level_scale(tmp_path):
    source = ome_zarr(tmp_path / "in.ome.zarr", volume((4, 10, 12)), "ZYX", [3.0, 1.0, 1.0],
                      unit=None, outer=[2.0, 1.0, 1.0], levels=1)
    pixels, header = read_volume(source)
    assert header.units == {"Z": "", "Y": "", "X": ""}
    assert solve_spacing(header, Axes("ZYX")) == ((6.0, 1.0, 1.0), None)
    write_volume(tmp_path / "out.zarr", pixels, like=header, axes="ZYX",
                 spacing={"Z": 5.0, "Y": 0.5, "X": 0.5}, units={"Z": "nm", "Y": "nm", "X": "nm"})
    back = read_volume_header(tmp_path / "out.zarr")
    assert back.sizes == {"Z": 5.0, "Y": 0.5, "X": 0.5}
    assert back.units == {"Z": "nm", "Y": "nm", "X": "nm"}
    assert back.attributes["ome"]["multiscales"][0]["axes"][0]["unit"] == "nanometer"


@pytest.mark.parametrize("damage, words", [
    (lambda m: m["datasets"][0]["coordinateTransformations"][0].update(scale=[1.0, 1.0]),
     "coordinateTransformations"),
    (lambda m: m["axes"].pop(0), "name 2 axes"),
    (lambda m: m["datasets"][0].update(path="missing"), "'missing', is not a zarr array"),
])
def test_metadata_that_does_not_fit_the_array_is_one_error_naming_the_store(tmp_path, damage, words):
    source = ome_zarr(tmp_path / "in.ome.zarr", volume((4, 10, 12)), "ZYX", [2.0, 1.0, 1.0],
                      levels=1)
    group = zarr.open_group(str(source), mode="r+")
    attributes = dict(group.attrs)
    damage(attributes["ome"]["multiscales"][0])
    group.attrs.put(attributes)
    with pytest.raises(TVRestoreError, match=r"in\.ome\.zarr") as caught:
        read_volume_header(source)
    assert words in str(caught.value) and "\n" not in str(caught.value)


def test_writing_refuses_a_directory_that_is_not_zarr_and_an_existing_output(tmp_path):
    source = ome_zarr(tmp_path / "in.ome.zarr", volume((4, 10, 12)), "ZYX", [2.0, 1.0, 1.0])
    pixels, header = read_volume(source)
    (tmp_path / "notes.zarr").mkdir()
    (tmp_path / "notes.zarr" / "keep.txt").write_text("mine")
    with pytest.raises(TVRestoreError, match="not a zarr store"):
        write_volume(tmp_path / "notes.zarr", pixels, like=header, axes="ZYX", overwrite=True)
    assert (tmp_path / "notes.zarr" / "keep.txt").read_text() == "mine"
    with pytest.raises(TVRestoreError, match="output exists"):
        write_volume(source, pixels, like=header, axes="ZYX")
    with pytest.raises(TVRestoreError, match=r"name the output \*\.zarr"):
        write_volume(tmp_path / "out.tif", pixels, like=header, axes="ZYX")
    write_volume(tmp_path / "out.zarr", pixels, like=header, axes="ZYX")
    write_volume(tmp_path / "out.zarr", pixels[::-1].copy(), like=header, axes="ZYX", overwrite=True)
    np.testing.assert_array_equal(read_volume(tmp_path / "out.zarr")[0], pixels[::-1])
    assert sorted(path.name for path in tmp_path.iterdir()) == ["in.ome.zarr", "notes.zarr",
                                                                 "out.zarr"]
