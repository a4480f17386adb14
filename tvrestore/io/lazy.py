"""Images larger than memory: lazy reading of TIFF and zarr, writing chunk by chunk.

:func:`open_lazy` gives a dask array over a TIFF (tiled or in strips,
through tifffile's zarr store) or a zarr array, reading no pixel until a
chunk is computed. :func:`write_lazy` computes a dask array one band of
tiles at a time and writes each band as it comes: a tiled TIFF or a zarr
array, so the whole image is never held. Outputs are atomic as in
:mod:`tvrestore.io`: a TIFF is written to a temporary file and renamed, a
zarr to a temporary directory and renamed.

What tiles need and plain reading does not, without Dask:
:func:`is_zarr` and :func:`stored_shape` (from the header alone) and
:func:`fits_in_memory` (:mod:`tvrestore.io`'s budget), so that the command
line decides on the tiled path before importing anything heavy.
"""

from __future__ import annotations

import contextlib
import os
import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import tifffile

from tvrestore.io import images as io
from tvrestore.errors import TVRestoreError
from tvrestore.runs.plan import check_stored_budget, max_pixels, solve_values

__all__ = ["LazyImage", "check_image", "fits_in_memory", "is_zarr", "open_lazy", "stored_shape",
           "write_lazy"]

# Side of the tiles a TIFF output is stored in, when the input gives none:
# TIFF tiles are a multiple of 16 and a few hundred KiB each.
_TIFF_TILE = 512


@dataclass
class LazyImage:
    """An image on disk as a lazy dask array.

    Attributes
    ----------
    array : dask.array.Array
        ``(H, W)`` or ``(H, W, C)``, chunked as stored.
    format : {"TIFF", "zarr"}
    tile : tuple of int
        The stored chunk's (height, width): a TIFF's tile or strip, a zarr's chunk.
    """

    array: object
    format: str
    tile: tuple[int, int]
    path: Path | None = None


def is_zarr(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a zarr array directory (v2 or v3), without importing zarr."""
    path = Path(path)
    return path.is_dir() and ((path / "zarr.json").is_file() or (path / ".zarray").is_file())


def stored_shape(path: str | os.PathLike[str]) -> tuple[tuple[int, ...], np.dtype] | None:
    """The (shape, dtype) a TIFF or zarr stores, from its header; None for other formats.

    Unlike :func:`tvrestore.io.read_header` there is no whole-image limit:
    this is how the command line finds the images too large to read whole.
    What tiles cannot read either is refused here, before Dask or
    TensorFlow loads (:func:`tvrestore.runs.plan.check_stored_budget`: a header
    declaring absurd sizes, too many chunks or one chunk past the budget).
    """
    path = Path(path)
    if is_zarr(path):
        import json

        for name in ("zarr.json", ".zarray"):
            if (path / name).is_file():
                try:
                    meta = json.loads((path / name).read_text())
                    shape = tuple(int(side) for side in meta["shape"])
                    grid = meta.get("chunk_grid", {}).get("configuration", {})
                    chunks = tuple(int(side) for side in meta.get("chunks",
                                                                  grid.get("chunk_shape", shape)))
                    dtype = meta.get("data_type", meta.get("dtype"))
                    dtype = np.dtype(dtype if isinstance(dtype, str) else "V")
                except Exception as err:
                    raise TVRestoreError(f"{path}: cannot read zarr header ({err})") from err
                check_stored_budget(path, shape, dtype, chunks)
                return shape, dtype
    if path.suffix.lower() in (".tif", ".tiff") and path.is_file():
        try:
            with tifffile.TiffFile(path) as tif:
                series, page = tif.series[0], tif.pages[0]
                shape, dtype, chunks = tuple(series.shape), np.dtype(series.dtype), page.chunks
        except Exception as err:
            raise TVRestoreError(f"{path}: cannot read TIFF header ({err})") from err
        check_stored_budget(path, shape, dtype, chunks)
        return shape, dtype
    return None


def fits_in_memory(shape: tuple[int, ...], dtype: np.dtype) -> bool:
    """Whether an image can be denoised whole: within :mod:`tvrestore.io`'s decoding
    limits and the solve budget (:func:`tvrestore.runs.plan.check_budget`)."""
    pixels = int(shape[0]) * int(shape[1])
    decodable = pixels <= io.MAX_PIXELS and (
        pixels * int(np.prod(shape[2:])) * np.dtype(dtype).itemsize <= io.MAX_DECODED_BYTES)
    return decodable and solve_values(shape)[1] <= max_pixels()


def open_lazy(source) -> LazyImage:
    """A lazy dask array over a TIFF file, a zarr directory or a zarr store.

    Parameters
    ----------
    source : path or zarr store
        A single-image TIFF (grey or RGB(A), MINISBLACK or RGB, chunky
        samples; tiled or in strips), a zarr array directory, or any zarr
        store holding an array.

    Raises
    ------
    TVRestoreError
        Naming the file, for what cannot be read lazily.
    """
    import zarr

    if not isinstance(source, (str, os.PathLike)):
        array = zarr.open_array(store=source, mode="r")
        return LazyImage(array=_checked(array, source), format="zarr",
                         tile=tuple(array.chunks[:2]))
    path = Path(source)
    if is_zarr(path):
        try:
            array = zarr.open_array(store=str(path), mode="r")
        except Exception as err:
            raise TVRestoreError(f"{path}: cannot open zarr array ({err})") from err
        return LazyImage(array=_checked(array, path), format="zarr",
                         tile=tuple(array.chunks[:2]), path=path)
    if path.suffix.lower() not in (".tif", ".tiff"):
        raise TVRestoreError(f"{path}: only TIFF and zarr are read in tiles")
    try:
        with tifffile.TiffFile(path) as tif:
            page = tif.pages[0]
            if len(tif.pages) > 1:
                raise TVRestoreError(f"{path}: multi-page TIFF cannot be restored in tiles")
            photometric = tifffile.PHOTOMETRIC(page.photometric).name
            planar = page.samplesperpixel > 1 and page.planarconfig == tifffile.PLANARCONFIG.SEPARATE
            if photometric not in ("MINISBLACK", "RGB") or planar:
                raise TVRestoreError(
                    f"{path}: only MINISBLACK or RGB TIFFs with chunky samples are read in tiles "
                    f"(this one is {photometric}{', planar' if planar else ''})")
        store = tifffile.imread(path, aszarr=True)
        array = zarr.open_array(store=store, mode="r")
    except TVRestoreError:
        raise
    except Exception as err:
        raise TVRestoreError(f"{path}: cannot read TIFF in tiles ({err})") from err
    return LazyImage(array=_checked(array, path), format="TIFF",
                     tile=tuple(array.chunks[:2]), path=path)


def is_image_shape(shape: tuple[int, ...]) -> bool:
    """(H, W) or (H, W, C) with 1 to 4 samples: what the tiles (and io) read."""
    return len(shape) == 2 or (len(shape) == 3 and 1 <= shape[2] <= 4)


def check_image(shape: tuple[int, ...], dtype, source) -> None:
    """Refuse, naming ``source``, what the tiles cannot restore: its shape, emptiness or dtype.

    Raises
    ------
    TVRestoreError
        If the shape is not (H, W) or (H, W, C) with 1 to 4 samples, holds
        no pixel, or the dtype is not uint8, uint16, float32 or float64.
    """
    if not is_image_shape(tuple(shape)):
        raise TVRestoreError(f"{source}: shape {tuple(shape)} is not (H, W) or (H, W, C)")
    if 0 in shape:
        raise TVRestoreError(f"{source}: image is empty (shape {tuple(shape)})")
    if np.dtype(dtype) not in (np.dtype(t) for t in (np.uint8, np.uint16, np.float32,
                                                    np.float64)):
        raise TVRestoreError(f"{source}: unsupported dtype {dtype}")


def _checked(array, source):
    """A dask array over the zarr ``array`` (an image within the tiled budget); a chunk that cannot be read is an error naming ``source``."""
    import dask.array as da

    check_image(array.shape, array.dtype, source)
    check_stored_budget(source, array.shape, array.dtype, array.chunks)
    return da.from_array(_NamedReadErrors(array, source), chunks=array.chunks, lock=False,
                         asarray=False, name=False, meta=np.empty((0,) * array.ndim, array.dtype))


class _NamedReadErrors:
    """A zarr array whose reads fail with one line naming the file (a corrupt chunk, a lost disk)."""

    def __init__(self, array, source) -> None:
        self.array = array
        self.source = source
        self.shape = tuple(array.shape)
        self.dtype = np.dtype(array.dtype)
        self.ndim = len(self.shape)

    def __getitem__(self, key):
        try:
            return np.asarray(self.array[key])
        except Exception as err:
            reason = " ".join(str(err).split()) or type(err).__name__
            raise TVRestoreError(f"{self.source}: cannot read a chunk ({reason})") from err


def write_lazy(path: str | os.PathLike[str], array, *, format: str, tile: int,
               overwrite: bool = False, scheduler: str = "synchronous") -> None:
    """Compute ``array`` band by band and write it to ``path`` as it comes.

    Parameters
    ----------
    path : path
        The TIFF file or zarr directory to write; it appears whole or not at
        all (a temporary beside it is renamed at the end).
    array : dask.array.Array
        ``(H, W)`` or ``(H, W, C)``; computed one band of its chunks' rows
        at a time, so at most one band (and the chunks its computation
        reads) is in memory.
    format : {"TIFF", "zarr"}
    tile : int
        Side of the stored tiles (zarr chunks; TIFF tiles are at most 512,
        a multiple of 16).
    overwrite : bool
        Replace an existing output.
    scheduler : str
        The dask scheduler that computes each band ("synchronous": one
        chunk at a time, the least memory; "threads"; or a
        distributed client's).
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise TVRestoreError(f"{path}: output directory does not exist")
    if path.exists() and not overwrite:
        raise TVRestoreError(f"{path}: output exists (use --overwrite)")
    if format == "TIFF":
        _write_tiff(path, array, tile, overwrite, scheduler)
    elif format == "zarr":
        _write_zarr(path, array, tile, overwrite, scheduler)
    else:
        raise TVRestoreError(f"{path}: cannot write format {format!r} in tiles")


def _bands(array, scheduler):
    """(first row, computed band) over the array's rows of chunks, in order."""
    first = 0
    for rows in array.chunks[0]:
        yield first, np.asarray(array[first: first + rows].compute(scheduler=scheduler))
        first += rows


def _write_tiff(path, array, tile, overwrite, scheduler) -> None:
    height = array.chunks[0][0]
    # TIFF tiles must be multiples of 16 and should divide the bands, so
    # that a band gives whole rows of tiles.
    side = next(s for s in (_TIFF_TILE, 256, 128, 64, 32, 16) if height % s == 0 or s == 16)
    if height % side:
        array = array.rechunk({0: -(-height // side) * side})

    def tiles():
        for _, band in _bands(array, scheduler):
            for top in range(0, band.shape[0], side):
                for left in range(0, band.shape[1], side):
                    yield np.ascontiguousarray(band[top: top + side, left: left + side])

    photometric = "rgb" if array.ndim == 3 and array.shape[2] >= 3 else "minisblack"
    extra = ("unassalpha",) if array.ndim == 3 and array.shape[2] in (2, 4) else None
    io.write_encoded(
        path,
        lambda file: tifffile.imwrite(
            file, tiles(), shape=array.shape, dtype=array.dtype, tile=(side, side),
            photometric=photometric, extrasamples=extra, compression="zlib",
            bigtiff=array.nbytes > 2**31),
        overwrite=overwrite, what="tiled TIFF",
    )


def _write_zarr(path, array, tile, overwrite, scheduler) -> None:
    import zarr

    # Named as io's temporaries, so that io.remove_temporaries removes it once its writer is dead.
    temp = io._temporary_path(path)
    try:
        chunks = (tile, tile, *array.shape[2:])
        stored = zarr.open_array(store=str(temp), mode="w-", shape=array.shape,
                                 chunks=chunks, dtype=array.dtype)
        for first, band in _bands(array.rechunk({0: tile}), scheduler):
            stored[first: first + band.shape[0]] = band
        if path.exists() and overwrite:
            shutil.rmtree(path)
        os.rename(temp, path)
    except TVRestoreError:
        raise
    except Exception as err:
        raise TVRestoreError(f"{path}: cannot write zarr ({err})") from err
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(temp)
