"""Volumes in N-D blocks with halos: the geometry, agreement with the whole solve, metadata, budget.

Volumes are 24x48x48 or smaller, so that each test takes seconds.
"""

from __future__ import annotations

import numpy as np
import pytest
import tifffile

from tvrestore.errors import TVRestoreError
from tvrestore.io.volumes import read_volume_header
from tvrestore.options import RestoreOptions
from tvrestore.runs.blocks import axis_kinds, block_count, block_shape, blocks
from tvrestore.runs.plan import FileJob, pixel_limit
from tvrestore.runs.tiles import exact_tile_options
from tvrestore.runs.volumes import default_volume_halo, plan_volume, restore_volume_tiled

WEIGHT = 0.05
EXACT = exact_tile_options({})


@pytest.mark.parametrize("shape, letters, coupled, tile, halo", [
    ((24, 48, 48), "ZYX", False, 16, 16),
    ((7, 33, 20), "ZYX", False, 8, 3),
    ((5, 9, 11, 3), "TYXC", False, 4, 2),
    ((3, 6, 10, 12), "TZYX", True, 5, 0),
    ((3, 6, 10, 12), "TZYX", False, 5, 5),
    ((17, 19), "YX", False, 16, 16),
])
def test_block_cores_cover_every_voxel_once_and_crop_from_what_is_read(
        shape, letters, coupled, tile, halo):
    kinds = axis_kinds(letters, coupled)
    labels = np.arange(np.prod(shape)).reshape(shape)
    covered = np.zeros(shape, int)
    planned = list(blocks(shape, kinds, tile, halo))
    assert len(planned) == block_count(shape, kinds, tile)
    largest = block_shape(shape, kinds, tile, halo)
    for block in planned:
        covered[block.core] += 1
        read = labels[block.read]
        # The core, cut from what the solve read, is the core's voxels.
        np.testing.assert_array_equal(read[block.crop], labels[block.core])
        assert all(side <= most for side, most in zip(read.shape, largest))
        for span, core, kind, side in zip(block.read, block.core, kinds, shape):
            if kind == "tiled":
                # The halo on each side, up to the volume's own border.
                assert span.start == max(0, core.start - halo)
                assert span.stop == min(side, core.stop + halo)
            else:
                assert span == core
            if kind == "frames":
                assert core.stop - core.start == 1
            if kind == "whole":
                assert (core.start, core.stop) == (0, side)
    assert (covered == 1).all()


def _noisy(shape=(24, 48, 48), seed=0) -> np.ndarray:
    """Slabs and an ellipsoid with noise of sigma 0.1, float32 in [0, 1]."""
    z, y, x = np.mgrid[: shape[0], : shape[1], : shape[2]]
    clean = (0.2 + 0.5 * ((x // 12 + y // 20 + z // 8) % 2)
             + 0.2 * ((((z - 12) / 8) ** 2 + ((y - 24) / 14) ** 2 + ((x - 20) / 12) ** 2) < 1))
    noise = 0.1 * np.random.default_rng(seed).standard_normal(shape)
    return np.clip(clean + noise, 0, 1).astype(np.float32)


def _imagej(path, pixels, spacing=2.0, pixel=0.5):
    tifffile.imwrite(path, pixels, imagej=True, resolution=(1 / pixel, 1 / pixel),
                     metadata={"axes": "ZYX", "spacing": spacing, "unit": "micron"})
    return path


def test_blocks_with_the_default_halo_agree_with_the_whole_volume_minimizer(tmp_path):
    from tvrestore.api import denoise

    noisy = _noisy()
    source = _imagej(tmp_path / "stack.tif", noisy, spacing=1.0, pixel=1.0)
    whole = denoise(noisy, WEIGHT, axes="ZYX", **EXACT)[0]
    job = FileJob(input=source, output=tmp_path / "blocks.tif")
    options = RestoreOptions(weight=WEIGHT, **EXACT)
    entry = restore_volume_tiled(job, options, plan_volume(job, tile=24, weight=WEIGHT), tile=24)
    assert entry.halo == default_volume_halo(WEIGHT) == 24 and entry.tile == (24, 24, 24)
    assert entry.converged and entry.certified_gap <= 1e-6
    error = np.abs(tifffile.imread(job.output) - whole)
    # Half an 8-bit step anywhere; the 2-D tiles' bound on the mean.
    assert error.max() <= 1 / 510
    assert error.mean() <= 1e-4
    # No halo: the blocks' seams are visible (the agreement is the halo's doing).
    bare = FileJob(input=source, output=tmp_path / "bare.tif")
    restore_volume_tiled(bare, options, plan_volume(bare, tile=24, halo=0), tile=24, halo=0)
    assert np.abs(tifffile.imread(bare.output) - whole).max() > 1 / 510


def test_blocks_keep_the_files_axes_spacing_and_units_and_choose_auto_once(tmp_path):
    source = _imagej(tmp_path / "stack.tif",
                     (np.clip(_noisy((12, 40, 36)), 0, 1) * 65535).astype(np.uint16))
    job = FileJob(input=source, output=tmp_path / "out.tif")
    plan = plan_volume(job, tile=16)
    entry = restore_volume_tiled(job, RestoreOptions(max_iter=20), plan, tile=16)
    written, read = read_volume_header(job.output), read_volume_header(source)
    assert (written.format, written.axes, written.shape, written.dtype) == (
        "ImageJ", "ZYX", (12, 40, 36), np.uint16)
    assert written.sizes == pytest.approx(read.sizes) and written.units == read.units
    assert written.sizes == pytest.approx({"Z": 2.0, "Y": 0.5, "X": 0.5})
    assert entry.weight_auto and entry.noise_sigma is not None and 0 < entry.weight < 1
    assert entry.axes == "ZYX" and entry.spacing == pytest.approx((2.0, 0.5, 0.5))
    assert not list(tmp_path.glob(".*"))  # no temporary left


def test_a_zarr_volume_in_blocks_is_written_as_zarr_with_its_attributes(tmp_path):
    zarr = pytest.importorskip("zarr")
    noisy = _noisy((8, 20, 24))
    stored = zarr.open_array(str(tmp_path / "in.zarr"), mode="w", shape=noisy.shape,
                             chunks=(4, 10, 12), dtype=noisy.dtype,
                             attributes={"axes": "ZYX", "note": "kept"})
    stored[...] = noisy
    job = FileJob(input=tmp_path / "in.zarr", output=tmp_path / "out.zarr")
    restore_volume_tiled(job, RestoreOptions(weight=WEIGHT, max_iter=20),
                         plan_volume(job, tile=8, halo=4), tile=8, halo=4)
    written = zarr.open_array(str(job.output), mode="r")
    assert written.shape == noisy.shape and written.chunks == (4, 10, 12)
    assert dict(written.attrs) == {"axes": "ZYX", "note": "kept"}
    assert np.std(written[...]) < np.std(noisy)


def test_a_volume_beyond_the_whole_budget_is_planned_in_blocks_and_refused_whole(tmp_path):
    source = _imagej(tmp_path / "stack.tif", _noisy())
    job = FileJob(input=source, output=tmp_path / "out.tif")
    with pixel_limit(20_000):
        with pytest.raises(TVRestoreError, match="beyond --max-pixels 20000.*--tile"):
            plan_volume(job)
        plan_volume(job, tile=16, halo=4)  # 24x24x24 = 13824 values a block
        with pytest.raises(TVRestoreError, match="a block of 24x48x48.*--tile 16 with a halo of 16"):
            plan_volume(job, tile=16, halo=16)


@pytest.mark.parametrize("kwargs, words", [
    ({"tile": 16, "halo": 32}, "--halo 32: at most the tile side, 16"),
    ({"tile": 16, "halo": -1}, "--halo -1"),
])
def test_a_tile_or_halo_the_blocks_cannot_take_is_refused_by_the_plan(tmp_path, kwargs, words):
    job = FileJob(input=_imagej(tmp_path / "stack.tif", _noisy((6, 20, 22))),
                  output=tmp_path / "out.tif")
    with pytest.raises(TVRestoreError, match=words):
        plan_volume(job, **kwargs)


def test_blocks_refuse_what_needs_the_whole_volume(tmp_path):
    source = _imagej(tmp_path / "stack.tif", _noisy((6, 20, 22)))
    for job in (FileJob(input=source, output=tmp_path / "o.tif", psf="gaussian:1,1,1"),
                FileJob(input=source, output=tmp_path / "o.tif", compare=True)):
        with pytest.raises(TVRestoreError, match="need the whole volume"):
            plan_volume(job, tile=16)
    with pytest.raises(TVRestoreError, match="--noise poisson need the whole volume"):
        plan_volume(FileJob(input=source, output=tmp_path / "o.tif"), noise="poisson", tile=16)


@pytest.mark.cluster
def test_blocks_on_two_local_workers_are_the_in_process_blocks_byte_for_byte(tmp_path):
    pytest.importorskip("distributed")
    from tvrestore.runs.cluster import connect

    source = _imagej(tmp_path / "stack.tif",
                     (np.clip(_noisy((12, 40, 36)), 0, 1) * 65535).astype(np.uint16))
    options = RestoreOptions(weight=WEIGHT, **EXACT)
    here = FileJob(input=source, output=tmp_path / "here.tif")
    there = FileJob(input=source, output=tmp_path / "there.tif")
    local = restore_volume_tiled(here, options, plan_volume(here, tile=16), tile=16)
    with connect(workers=2) as client:
        remote = restore_volume_tiled(there, options, plan_volume(there, tile=16), tile=16,
                                      client=client)
    assert here.output.read_bytes() == there.output.read_bytes()
    assert (remote.iterations, remote.converged, remote.halo) == (
        local.iterations, local.converged, local.halo)


@pytest.mark.cluster
def test_cli_tiles_of_an_image_on_two_workers_are_the_in_process_tiles_byte_for_byte(tmp_path):
    pytest.importorskip("distributed")
    import json

    from click.testing import CliRunner

    from tvrestore.cli.app import main

    rng = np.random.default_rng(5)
    y, x = np.mgrid[:80, :72]
    clean = 0.2 + 0.5 * ((x // 12 + y // 20) % 2)
    tifffile.imwrite(tmp_path / "image.tif",
                     (np.clip(clean + 0.1 * rng.standard_normal(clean.shape), 0, 1) * 255)
                     .astype(np.uint8))
    entries = {}
    for name, extra in (("here", []), ("there", ["--workers", "2"])):
        report = tmp_path / f"{name}.json"
        result = CliRunner().invoke(main, [str(tmp_path / "image.tif"), "-o",
                                           str(tmp_path / f"{name}.tif"), "--tile", "32",
                                           "--weight", "0.1", "--report", str(report), *extra])
        assert result.exit_code == 0, result.output
        entries[name] = json.loads(report.read_text())["results"][0]
    assert (tmp_path / "here.tif").read_bytes() == (tmp_path / "there.tif").read_bytes()
    # Every tile's result came back from the workers: the same report but for times.
    for key in ("iterations", "converged", "certified_gap", "tile", "halo", "weight"):
        assert entries["here"][key] == entries["there"][key], key


def test_a_compressed_stack_in_blocks_without_zarr_names_the_extra_before_any_work(tmp_path):
    import os
    import subprocess
    import sys
    from pathlib import Path

    volume = np.random.default_rng(0).integers(0, 256, (6, 24, 24), dtype=np.uint8)
    tifffile.imwrite(tmp_path / "c.tif", volume, imagej=True, compression="zlib",
                     metadata={"axes": "ZYX"})
    before = sorted(os.listdir(tmp_path))
    # None in sys.modules: "zarr" cannot be imported, as when the dask extra is not installed.
    program = ("import sys; sys.modules['zarr'] = None; from tvrestore.cli.app import main; "
               "main(sys.argv[1:], prog_name='tvrestore')")
    root = Path(__file__).resolve().parents[2]
    done = subprocess.run(
        [sys.executable, "-c", program, "c.tif", "--tile", "16", "--weight", "0.05"],
        cwd=tmp_path, capture_output=True, text=True,
        env={**os.environ, "PYTHONPATH": str(root)}, timeout=60)
    assert done.returncode == 2, done.stderr
    (line,) = [text for text in done.stderr.splitlines() if not text.startswith("Note:")]
    assert line.startswith("Error: c.tif: a compressed TIFF in blocks")
    assert "pip install 'tvrestore[dask]'" in line
    assert sorted(os.listdir(tmp_path)) == before
