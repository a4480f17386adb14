"""Images larger than memory: lazy reading of TIFF and zarr, writing band by band.

:func:`open_lazy` gives a zarr array over a TIFF (tiled or in strips,
through tifffile's zarr store) or a zarr array, reading no pixel until a
chunk is indexed. :func:`write_lazy` writes an image that comes as bands
of rows (computed by the caller, one at a time) as they come: a tiled TIFF
or a zarr array, so the whole image is never held. Outputs are atomic as
in :mod:`tvrestore.io.files`: a TIFF is written to a temporary file and
renamed, a zarr to a temporary directory and renamed.

:func:`is_zarr` and :func:`read_stored_header` read what a file declares
from its header alone, so that the command line decides on the tiled path
before importing anything heavy. Budgets are the plan's
(:mod:`tvrestore.runs.plan`), and Dask is the tiles'
(:mod:`tvrestore.runs.tiles`): neither is imported here.
"""

from __future__ import annotations

import contextlib
import math
import os
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Iterator

import numpy as np
import tifffile

from tvrestore.errors import TVRestoreError
from tvrestore.io.files import reason, temporary_path, write_encoded
from tvrestore.io.volumes import VolumeHeader

__all__ = ["LazyImage", "LazyVolume", "StoredHeader", "check_image", "is_image_shape", "is_zarr",
           "open_lazy", "open_lazy_volume", "read_stored_header", "write_lazy"]

# Side of the tiles a TIFF output is stored in, when the bands allow it:
# TIFF tiles are a multiple of 16 and a few hundred KiB each.
_TIFF_TILE = 512


@dataclass
class LazyImage:
    """An image on disk, read chunk by chunk.

    Attributes
    ----------
    array : zarr-like array
        ``(H, W)`` or ``(H, W, C)``: its ``shape``, ``dtype``, ``ndim`` and
        ``chunks`` (as stored), numpy indexing that reads only the chunks
        indexed, and ``source`` (the file or store), which a chunk that
        cannot be read names in its one-line error.
    format : {"TIFF", "zarr"}
    tile : tuple of int
        The stored chunk's (height, width): a TIFF's tile or strip, a zarr's chunk.
    path : pathlib.Path or None
        The file or directory; None for a zarr store given as an object.
    """

    array: object
    format: str
    tile: tuple[int, int]
    path: Path | None = None


def is_zarr(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a zarr array directory (v2 or v3), without importing zarr."""
    path = Path(path)
    return path.is_dir() and ((path / "zarr.json").is_file() or (path / ".zarray").is_file())


@dataclass(frozen=True)
class StoredHeader:
    """What a TIFF or zarr header declares, read without decoding a pixel.

    Attributes
    ----------
    shape : tuple of int
        The stored array's shape.
    dtype : numpy.dtype
    chunks : tuple of int
        The stored chunk's shape: a TIFF's tile or strip, a zarr's chunk.
    """

    shape: tuple[int, ...]
    dtype: np.dtype
    chunks: tuple[int, ...]


def read_stored_header(path: str | os.PathLike[str]) -> StoredHeader | None:
    """The shape, dtype and chunks a TIFF or zarr stores, from its header; None for other formats.

    Unlike :func:`tvrestore.io.images.read_header` there is no whole-image
    limit: this is how the command line finds the images too large to read
    whole. What the tiles can afford is the plan's to check
    (:func:`tvrestore.runs.plan.stored_header`).

    Raises
    ------
    TVRestoreError
        Naming the file, if its header cannot be read.
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
                return StoredHeader(shape, dtype, chunks)
    if path.suffix.lower() in (".tif", ".tiff") and path.is_file():
        try:
            with tifffile.TiffFile(path) as tif:
                series, page = tif.series[0], tif.pages[0]
                shape, dtype, chunks = tuple(series.shape), np.dtype(series.dtype), page.chunks
        except Exception as err:
            raise TVRestoreError(f"{path}: cannot read TIFF header ({err})") from err
        return StoredHeader(shape, dtype, tuple(chunks))
    return None


def open_lazy(source) -> LazyImage:
    """A zarr array over a TIFF file, a zarr directory or a zarr store, reading no pixel yet.

    Parameters
    ----------
    source : path or zarr store
        A single-image TIFF (grey or RGB(A), MINISBLACK or RGB, chunky
        samples; tiled or in strips), a zarr array directory, or any zarr
        store holding an array.

    Raises
    ------
    TVRestoreError
        Naming the file, for what cannot be read lazily (:func:`check_image`).
        The tiled budget is the caller's to check
        (:func:`tvrestore.runs.plan.check_stored_budget`).
    """
    import zarr

    if not isinstance(source, (str, os.PathLike)):
        array = zarr.open_array(store=source, mode="r")
        return LazyImage(array=_opened(array, source), format="zarr",
                         tile=tuple(array.chunks[:2]))
    path = Path(source)
    if is_zarr(path):
        try:
            array = zarr.open_array(store=str(path), mode="r")
        except Exception as err:
            raise TVRestoreError(f"{path}: cannot open zarr array ({err})") from err
        return LazyImage(array=_opened(array, path), format="zarr",
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
    return LazyImage(array=_opened(array, path), format="TIFF",
                     tile=tuple(array.chunks[:2]), path=path)


@dataclass(frozen=True)
class LazyVolume:
    """A volume file (:mod:`tvrestore.io.volumes`) read block by block, never whole.

    Holds no open file: each :meth:`read` opens the file, reads the
    block's voxels and closes it, so that it can be sent to another
    process (a Dask worker) and what a read maps is released after it.

    Attributes
    ----------
    header : VolumeHeader
        Its header (shape and dtype as :func:`tvrestore.io.volumes.read_volume` returns them).
    offset : int or None
        For a TIFF whose pixels are stored contiguous and uncompressed
        (tifffile's series ``dataoffset``): where they start, read through
        a memory map of the block's pages only. None: a compressed TIFF is
        read through tifffile's zarr store (only the strips or tiles the
        block touches are decoded), a stack of one-page series page by page,
        a zarr through zarr.
    """

    header: VolumeHeader
    offset: int | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return tuple(self.header.shape)

    @property
    def dtype(self) -> np.dtype:
        return np.dtype(self.header.dtype)

    def read(self, index: tuple[slice, ...]) -> np.ndarray:
        """The voxels at ``index`` (one slice per axis), in native byte order.

        Raises
        ------
        TVRestoreError
            Naming the file: a block that cannot be read, or NaN or infinity in it.
        """
        path = self.header.path
        try:
            block = self._read(index)
        except TVRestoreError:
            raise
        except Exception as err:
            raise TVRestoreError(f"{path}: cannot read a block of the volume ({reason(err)})") from err
        block = np.ascontiguousarray(block, dtype=block.dtype.newbyteorder("="))
        if block.dtype.kind == "f" and not np.isfinite(block).all():
            raise TVRestoreError(f"{path}: volume contains NaN or infinite values")
        return block

    def _read(self, index: tuple[slice, ...]) -> np.ndarray:
        header = self.header
        if header.format in ("OME-Zarr", "zarr"):
            import zarr

            array_path = header.path / header.dataset if header.dataset else header.path
            return np.asarray(zarr.open_array(store=str(array_path), mode="r")[index])
        if self.offset is not None:
            mapped = np.memmap(header.path, dtype=self._stored_dtype(), mode="r",
                               offset=self.offset, shape=self.shape)
            try:
                return np.array(mapped[index])
            finally:
                del mapped  # unmapped: the pages read leave this process's memory
        with tifffile.TiffFile(header.path) as tif:
            if header.pages_are_planes:
                planes = [tif.series[z].asarray()[index[1:]]
                          for z in range(*index[0].indices(len(tif.series)))]
                return np.stack(planes)
            import zarr

            with tif.series[0].aszarr() as store:
                return np.asarray(zarr.open_array(store=store, mode="r")[index])

    def _stored_dtype(self) -> np.dtype:
        with tifffile.TiffFile(self.header.path) as tif:
            return np.dtype(tif.series[0].dtype)


def open_lazy_volume(header: VolumeHeader) -> LazyVolume:
    """A :class:`LazyVolume` over the volume ``header`` describes, reading no voxel yet.

    Raises
    ------
    TVRestoreError
        Naming the file, if it cannot be opened.
    """
    if header.format in ("OME-Zarr", "zarr") or header.pages_are_planes:
        return LazyVolume(header)
    try:
        with tifffile.TiffFile(header.path) as tif:
            offset = tif.series[0].dataoffset
    except Exception as err:
        raise TVRestoreError(f"{header.path}: not a readable volume TIFF ({reason(err)})") from err
    return LazyVolume(header, None if offset is None else int(offset))


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


def _opened(array, source) -> _NamedReadErrors:
    """The zarr ``array``, checked to be an image; a chunk that cannot be read is an error naming ``source``."""
    check_image(array.shape, array.dtype, source)
    return _NamedReadErrors(array, source)


class _NamedReadErrors:
    """A zarr array whose reads fail with one line naming the file (a corrupt chunk, a lost disk)."""

    def __init__(self, array, source) -> None:
        self.array = array
        self.source = source
        self.shape = tuple(array.shape)
        self.dtype = np.dtype(array.dtype)
        self.ndim = len(self.shape)
        self.chunks = tuple(array.chunks)

    def __reduce__(self):
        # Sent to a Dask worker by its path, and opened there: an open
        # TIFF's store holds a file handle, which does not pickle.
        if not isinstance(self.source, Path):
            raise TypeError(f"{self.source!r}: a zarr store given as an object is read here only")
        return _reopened, (self.source,)

    def __getitem__(self, key):
        try:
            return np.asarray(self.array[key])
        except Exception as err:
            reason = " ".join(str(err).split()) or type(err).__name__
            raise TVRestoreError(f"{self.source}: cannot read a chunk ({reason})") from err


def _reopened(path: Path) -> _NamedReadErrors:
    """The array of :func:`open_lazy` over ``path``, opened again (in another process)."""
    return open_lazy(path).array


def write_lazy(path: str | os.PathLike[str], bands: Iterable[np.ndarray], *,
               shape: tuple[int, ...], dtype, format: str, tile: int,
               overwrite: bool = False) -> None:
    """Write an image that comes band by band to ``path``, each band as it comes.

    Parameters
    ----------
    path : path
        The TIFF file or zarr directory to write; it appears whole or not at
        all (a temporary beside it is renamed at the end).
    bands : iterable of numpy.ndarray
        The image's rows, in order, in bands of whole rows (any height;
        the full width and channels). Taken one at a time, so that at most
        one band (and, for a TIFF, one strip of tiles) is held; none is
        taken before the output is known to be writable.
    shape : tuple of int
        The whole image's ``(H, W)`` or ``(H, W, C)``.
    dtype : numpy dtype-like
    format : {"TIFF", "zarr"}
    tile : int
        Side of the stored tiles: a zarr's chunks; a TIFF's tiles are the
        largest of 512, 256, ..., 16 that divides ``min(tile, H)``, else 16.
    overwrite : bool
        Replace an existing output.
    """
    path = Path(path)
    shape, dtype = tuple(int(side) for side in shape), np.dtype(dtype)
    if not path.parent.is_dir():
        raise TVRestoreError(f"{path}: output directory does not exist")
    if path.exists() and not overwrite:
        raise TVRestoreError(f"{path}: output exists (use --overwrite)")
    if format == "TIFF":
        _write_tiff(path, bands, shape, dtype, tile, overwrite)
    elif format == "zarr":
        _write_zarr(path, bands, shape, dtype, tile, overwrite)
    else:
        raise TVRestoreError(f"{path}: cannot write format {format!r} in tiles")


def _strips(bands: Iterable[np.ndarray], rows: int) -> Iterator[np.ndarray]:
    """The bands' rows regrouped in strips of ``rows`` rows (the last may be shorter).

    A band whose height is a multiple of ``rows`` is cut, not copied.
    """
    held = None
    for band in bands:
        band = np.asarray(band)
        held = band if held is None or not len(held) else np.concatenate([held, band])
        whole = len(held) - len(held) % rows
        for top in range(0, whole, rows):
            yield held[top: top + rows]
        held = held[whole:]
    if held is not None and len(held):
        yield held


def _write_tiff(path, bands, shape, dtype, tile, overwrite) -> None:
    rows = min(tile, shape[0])
    # TIFF tiles must be multiples of 16; one that divides the bands cuts
    # each band into whole rows of tiles.
    side = next(s for s in (_TIFF_TILE, 256, 128, 64, 32, 16) if rows % s == 0 or s == 16)

    def tiles():
        for strip in _strips(bands, side):
            for left in range(0, strip.shape[1], side):
                yield np.ascontiguousarray(strip[:, left: left + side])

    photometric = "rgb" if len(shape) == 3 and shape[2] >= 3 else "minisblack"
    extra = ("unassalpha",) if len(shape) == 3 and shape[2] in (2, 4) else None
    write_encoded(
        path,
        lambda file: tifffile.imwrite(
            file, tiles(), shape=shape, dtype=dtype, tile=(side, side),
            photometric=photometric, extrasamples=extra, compression="zlib",
            bigtiff=math.prod(shape) * dtype.itemsize > 2**31),
        overwrite=overwrite, what="tiled TIFF",
    )


def _write_zarr(path, bands, shape, dtype, tile, overwrite) -> None:
    import zarr

    # Named as io's temporaries, so that remove_temporaries removes it once its writer is dead.
    temp = temporary_path(path)
    try:
        stored = zarr.open_array(store=str(temp), mode="w-", shape=shape,
                                 chunks=(tile, tile, *shape[2:]), dtype=dtype)
        first = 0
        for band in bands:
            stored[first: first + band.shape[0]] = band
            first += band.shape[0]
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
