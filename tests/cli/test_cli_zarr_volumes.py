"""The command line on OME-Zarr and zarr volumes: restored with the file's scale and written back
as OME-Zarr with it, the input untouched; bad axes, spacing and outputs are usage errors before
TensorFlow."""

import sys

import numpy as np
import pytest
from click.testing import CliRunner

import reference
from cli_helpers import load_report
from hostile_helpers import LimitedRunner, check_run, snapshot
from tvrestore.cli.app import main
from tvrestore.io.volumes import read_volume, read_volume_header

zarr = pytest.importorskip("zarr")


def ome_zarr_stack(path, shape=(8, 32, 32), seed=0):
    """A noisy blob stack as an OME-Zarr (NGFF 0.5): z step 2 µm, pixel 0.357 µm, two levels."""
    clean = reference.smooth_blobs(shape, seed=seed)
    noisy = clean + 0.05 * np.random.default_rng(seed).standard_normal(shape)
    pixels = (np.clip(noisy, 0, 1) * 65535).astype(np.uint16)
    axes = [{"name": name, "type": "space", "unit": "micrometer"} for name in "zyx"]
    datasets = [{"path": str(level), "coordinateTransformations": [
        {"type": "scale", "scale": [2.0, 0.357 * 2 ** level, 0.357 * 2 ** level]}]}
        for level in range(2)]
    group = zarr.open_group(str(path), mode="w-", zarr_format=3, attributes={
        "ome": {"version": "0.5", "multiscales": [{"axes": axes, "datasets": datasets}]}})
    group.create_array("0", shape=shape, dtype=np.uint16, chunks=(4, 16, 16),
                       dimension_names=list("zyx"))[...] = pixels
    group.create_array("1", shape=(shape[0], shape[1] // 2, shape[2] // 2), dtype=np.uint16,
                       dimension_names=list("zyx"))
    return path


def test_an_ome_zarr_is_restored_with_its_scale_and_written_back_as_ome_zarr(tmp_path):
    source = ome_zarr_stack(tmp_path / "stack.ome.zarr")
    before = snapshot(source)
    out, report = tmp_path / "out.zarr", tmp_path / "report.json"
    result = CliRunner().invoke(main, [str(source), "-o", str(out), "--weight", "0.05",
                                       "--solver", "pdhg", "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert "axes ZYX, spacing 2 x 0.357 x 0.357" in result.stdout
    written, given = read_volume_header(out), read_volume_header(source)
    assert (written.format, written.axes, written.shape, written.dtype) == (
        "OME-Zarr", "ZYX", (8, 32, 32), np.uint16)
    assert written.sizes == given.sizes == {"Z": 2.0, "Y": 0.357, "X": 0.357}
    assert written.units == {"Z": "µm", "Y": "µm", "X": "µm"}
    entry = load_report(report)
    assert entry["axes"] == "ZYX" and entry["spacing"] == pytest.approx([2.0, 0.357, 0.357])
    assert entry["certified_gap"] <= 1e-4
    # Restored, not copied: the TV denoising smooths the noise.
    noisy, restored = read_volume(source)[0], read_volume(out)[0]
    assert np.abs(np.diff(restored.astype(float), axis=2)).mean() < \
        0.5 * np.abs(np.diff(noisy.astype(float), axis=2)).mean()
    assert snapshot(source) == before
    assert sorted(path.name for path in tmp_path.iterdir()) == ["out.zarr", "report.json",
                                                                 "stack.ome.zarr"]


@pytest.mark.parametrize("args, words", [
    (["--axes", "ZYXC"], ["stack.ome.zarr", "name 4 axes", "(8, 32, 32)"]),
    (["--spacing", "2,1"], ["stack.ome.zarr", "need 3"]),
    (["-o", "out.tif"], ["out.tif", "written back as zarr"]),
    (["-o", "stack.ome.zarr/inner.zarr"], ["inner.zarr", "inside the input"]),
    (["-o", "stack.ome.zarr"], ["would replace the input"]),
    (["--report", "stack.ome.zarr/run.json"], ["run.json", "inside the input"]),
])
def test_bad_options_for_an_ome_zarr_are_usage_errors_before_tensorflow(tmp_path, args, words):
    ome_zarr_stack(tmp_path / "stack.ome.zarr")
    # A child under an address-space limit that TensorFlow does not fit in.
    check_run(LimitedRunner(), tmp_path, ["stack.ome.zarr", *args], 2, words)


def test_a_4d_zarr_without_axis_names_needs_axes(tmp_path):
    zarr.create_array(str(tmp_path / "plain.zarr"), shape=(2, 3, 16, 16), dtype=np.uint8)
    check_run(LimitedRunner(), tmp_path, ["plain.zarr"], 2, ["plain.zarr", "give --axes"])


def test_without_zarr_installed_the_error_names_the_extra(tmp_path, monkeypatch):
    source = ome_zarr_stack(tmp_path / "stack.ome.zarr")
    monkeypatch.setitem(sys.modules, "zarr", None)
    result = CliRunner().invoke(main, [str(source), "--weight", "0.05"])
    assert result.exit_code == 2
    assert "needs the dask extra (missing: zarr): pip install 'tvrestore[dask]'" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def test_an_ome_zarr_whose_scale_does_not_fit_its_axes_is_a_usage_error(tmp_path):
    group = zarr.open_group(str(ome_zarr_stack(tmp_path / "stack.ome.zarr")), mode="r+")
    attributes = dict(group.attrs)
    attributes["ome"]["multiscales"][0]["datasets"][0]["coordinateTransformations"] = [
        {"type": "scale", "scale": [2.0, 0.357]}]
    group.attrs.put(attributes)
    check_run(LimitedRunner(), tmp_path, ["stack.ome.zarr"], 2,
              ["stack.ome.zarr", "coordinateTransformations", "for 3 axes"])
