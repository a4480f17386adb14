"""Tiles: agreement with the whole-image minimizer, lazy reading, tiled TIFF and zarr out.

Real dask and zarr (the ``dask`` extra); small images and tiles, so that
the few solve shapes compile once.
"""

from __future__ import annotations

import json

import numpy as np
import pytest

da = pytest.importorskip("dask.array")
zarr = pytest.importorskip("zarr")
tifffile = pytest.importorskip("tifffile")

from tvrestore.errors import TVRestoreError  # noqa: E402
from tvrestore.io.lazy import open_lazy, write_lazy  # noqa: E402
from tvrestore.options import RestoreOptions  # noqa: E402
from tvrestore.runs.plan import FileJob  # noqa: E402
from tvrestore.runs.tiles import (  # noqa: E402
    TILE_GAP, dask_array, default_halo, exact_tile_options, restore_array, restore_tiled_file)

WEIGHT = 0.1
EXACT = {"solver": "pdhg", "gap": 1e-6, "max_iter": 100000}


@pytest.fixture(scope="module")
def noisy() -> np.ndarray:
    """A 64x64 image with edges of several sizes and noise, float32 in [0, 1]."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[:64, :64]
    clean = 0.2 + 0.5 * ((x // 12 + y // 20) % 2) + 0.2 * (np.hypot(x - 40, y - 24) < 10)
    return np.clip(clean + 0.1 * rng.standard_normal(clean.shape), 0, 1).astype(np.float32)


@pytest.fixture(scope="module")
def whole(noisy) -> np.ndarray:
    from tvrestore.api import denoise

    return denoise(noisy, WEIGHT, **EXACT)[0]


def test_tiles_with_the_default_halo_agree_with_the_whole_image_minimizer(noisy, whole):
    halo = default_halo(WEIGHT)
    tiled = restore_array(da.from_array(noisy, chunks=32), WEIGHT, halo=halo, **EXACT)
    error = np.abs(tiled.compute(scheduler="synchronous") - whole)
    # Half an 8-bit step anywhere; about 1e-5 on average (the solves' own float32 rounding).
    assert error.max() <= 1 / 510
    assert error.mean() <= 1e-4


def test_the_default_tile_solve_is_exact_and_agrees_with_the_whole_image_minimizer(noisy, whole):
    # No solver named, no halo: what a user gets. Adam at its default tol is
    # further from the minimizer than half an 8-bit step at the worst pixel
    # (docs/scale.md), so the default solves tiles by pdhg to TILE_GAP.
    assert exact_tile_options({}) == {"solver": "pdhg", "gap": TILE_GAP, "max_iter": 100000}
    assert exact_tile_options({"solver": "adam", "tol": 1e-3}) == {"solver": "adam", "tol": 1e-3}
    tiled = restore_array(da.from_array(noisy, chunks=32), WEIGHT)
    error = np.abs(tiled.compute(scheduler="synchronous") - whole)
    assert error.max() <= 1 / 510
    assert error.mean() <= 1e-4


def test_tiles_without_a_halo_disagree_at_the_seams(noisy, whole):
    tiled = restore_array(da.from_array(noisy, chunks=32), WEIGHT, halo=0, **EXACT)
    error = np.abs(tiled.compute(scheduler="synchronous") - whole)
    assert error.max() > 1e-2  # the halo is what makes the test above pass


def test_restore_array_keeps_shape_dtype_chunks_and_colour(noisy):
    rgb = (np.stack([noisy, noisy[::-1], noisy[:, ::-1]], axis=-1) * 255).astype(np.uint8)
    lazy = restore_array(da.from_array(rgb[:48, :40], chunks=(24, 20, 3)), WEIGHT, halo=8)
    assert lazy.shape == (48, 40, 3) and lazy.dtype == np.uint8
    assert lazy.chunks[:2] == ((24, 24), (20, 20))
    restored = lazy.compute(scheduler="synchronous")
    assert restored.dtype == np.uint8 and restored.std() < rgb[:48, :40].std()


class _CountingStore(zarr.storage.WrapperStore):
    """A zarr store that counts the chunks read (zarr v3 chunk keys, ``c/row/column``)."""

    def __init__(self, store) -> None:
        super().__init__(store)
        self.chunks_read: list[str] = []

    async def get(self, key, prototype, byte_range=None):
        if key.startswith("c/"):
            self.chunks_read.append(key)
        return await super().get(key, prototype, byte_range)


def test_lazy_reading_reads_only_the_chunks_one_tile_needs(noisy, tmp_path):
    stored = zarr.open_array(store=str(tmp_path / "in.zarr"), mode="w", shape=(64, 64),
                             chunks=(16, 16), dtype="float32")
    stored[:] = noisy
    counting = _CountingStore(zarr.storage.LocalStore(str(tmp_path / "in.zarr"), read_only=True))
    lazy = open_lazy(counting)
    assert lazy.format == "zarr" and lazy.tile == (16, 16) and lazy.array.shape == (64, 64)
    assert counting.chunks_read == []  # opening reads metadata only
    restored = restore_array(dask_array(lazy), WEIGHT, halo=8)
    assert counting.chunks_read == []  # so does building the graph
    restored.blocks[1, 2].compute(scheduler="synchronous")
    # The tile and its 8 neighbours, of 16 chunks.
    assert len(set(counting.chunks_read)) == 9


def test_a_tiled_tiff_in_gives_a_tiled_tiff_out(noisy, tmp_path):
    pixels = (noisy * 65535).astype(np.uint16)
    source = tmp_path / "big.tif"
    tifffile.imwrite(source, pixels, tile=(16, 16))
    job = FileJob(input=source, output=tmp_path / "big_tv.tif")
    entry = restore_tiled_file(job, RestoreOptions(weight=WEIGHT), tile=32, halo=16)
    assert entry.status == "restored" and entry.converged
    with tifffile.TiffFile(job.output) as tif:
        page = tif.pages[0]
        assert page.is_tiled and page.dtype == np.uint16 and page.shape == (64, 64)
        written = page.asarray()
    expected = restore_array(da.from_array(pixels, chunks=32), WEIGHT, halo=16, solver="adam")
    np.testing.assert_array_equal(written, expected.compute(scheduler="synchronous"))
    assert sorted(p.name for p in tmp_path.iterdir()) == ["big.tif", "big_tv.tif"]


def test_a_zarr_in_gives_a_zarr_out_and_outputs_are_not_replaced(noisy, tmp_path):
    stored = zarr.open_array(store=str(tmp_path / "in.zarr"), mode="w", shape=(64, 64),
                             chunks=(32, 32), dtype="float32")
    stored[:] = noisy
    job = FileJob(input=tmp_path / "in.zarr", output=tmp_path / "out.zarr")
    restore_tiled_file(job, RestoreOptions(weight=WEIGHT), tile=32, halo=16)
    written = zarr.open_array(store=str(job.output), mode="r")
    assert written.chunks == (32, 32)
    expected = restore_array(da.from_array(noisy, chunks=32), WEIGHT, halo=16, solver="adam")
    np.testing.assert_array_equal(written[:], expected.compute(scheduler="synchronous"))
    with pytest.raises(TVRestoreError, match="output exists"):
        restore_tiled_file(job, RestoreOptions(weight=WEIGHT), tile=32, halo=16)
    with pytest.raises(TVRestoreError, match="zarr"):
        restore_tiled_file(FileJob(input=job.input, output=tmp_path / "out.tif"),
                           RestoreOptions(weight=WEIGHT))


@pytest.mark.parametrize("rows", [16, 24])  # 24: bands cut across the 16-row tiles
def test_write_lazy_holds_one_band_and_writes_every_tiff_tile(tmp_path, rows):
    pixels = np.arange(40 * 56, dtype=np.float32).reshape(40, 56)
    bands = (pixels[top: top + rows] for top in range(0, 40, rows))
    write_lazy(tmp_path / "o.tif", bands, shape=pixels.shape, dtype=pixels.dtype, format="TIFF",
               tile=rows)
    with tifffile.TiffFile(tmp_path / "o.tif") as tif:
        assert tif.pages[0].is_tiled
        np.testing.assert_array_equal(tif.pages[0].asarray(), pixels)


def test_cli_tile_option_and_zarr_inputs_take_the_tiled_path(noisy, tmp_path, runner):
    from tvrestore.cli.app import main

    pixels = (noisy * 255).astype(np.uint8)
    tifffile.imwrite(tmp_path / "a.tif", pixels)  # in strips: read lazily all the same
    result = runner.invoke(main, [str(tmp_path / "a.tif"), "--tile", "32", "--halo", "16",
                                  "--weight", "0.1", "--report", str(tmp_path / "a.json")])
    assert result.exit_code == 0, result.stderr
    assert "objective -" in result.stdout  # not computed for a tiled image
    # No --solver: every tile solved exactly, its gap certified.
    entry = json.loads((tmp_path / "a.json").read_text())["results"][0]
    assert entry["solver"] == "pdhg" and entry["certified_gap"] <= TILE_GAP
    with tifffile.TiffFile(tmp_path / "a_tv.tif") as tif:
        assert tif.pages[0].is_tiled
        written = tif.pages[0].asarray()
    expected = restore_array(da.from_array(pixels, chunks=32), WEIGHT, halo=16)
    np.testing.assert_array_equal(written, expected.compute(scheduler="synchronous"))

    stored = zarr.open_array(store=str(tmp_path / "b.zarr"), mode="w", shape=(64, 64),
                             chunks=(32, 32), dtype="uint8")
    stored[:] = pixels
    result = runner.invoke(main, [str(tmp_path / "b.zarr"), "--weight", "0.1", "-q",
                                  "--solver", "adam", "--report", str(tmp_path / "b.json")])
    assert result.exit_code == 0, result.stderr
    assert json.loads((tmp_path / "b.json").read_text())["results"][0]["solver"] == "adam"
    assert zarr.open_array(store=str(tmp_path / "b_tv.zarr"), mode="r").shape == (64, 64)

    result = runner.invoke(main, [str(tmp_path / "b.zarr"), "--weight", "0.1"])
    assert result.exit_code == 2 and "b_tv.zarr: output exists" in result.stderr
    result = runner.invoke(main, [str(tmp_path), "--tile", "32"])
    assert result.exit_code == 2 and "--tile restores one TIFF or zarr image" in result.stderr


def test_only_images_beyond_the_memory_budget_are_tiled_automatically():
    from tvrestore import io
    from tvrestore.runs import plan
    from tvrestore.runs.plan import fits_in_memory

    assert fits_in_memory((2048, 4096), np.uint16)
    assert not fits_in_memory((4096, 4096), np.uint8)  # 2**24 values > plan.DEFAULT_MAX_PIXELS
    assert plan.DEFAULT_MAX_PIXELS < 2**24
    assert not fits_in_memory((16384, 16384), np.uint8)  # 2**28 pixels > io.MAX_PIXELS
    side = int(np.sqrt(io.MAX_PIXELS))
    assert not fits_in_memory((side, side, 4), np.float64)  # bytes beyond io.MAX_DECODED_BYTES


def test_a_halo_beyond_the_image_sees_the_whole_image(noisy, whole):
    # Each tile then solves the whole image (there is no pixel beyond it), so
    # the tiles agree with the whole-image minimizer up to the solves' rounding.
    tiled = restore_array(da.from_array(noisy, chunks=32), WEIGHT, halo=1000, **EXACT)
    assert np.abs(tiled.compute(scheduler="synchronous") - whole).max() <= 1e-3
