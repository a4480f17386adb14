r"""Volume and time-lapse files: ImageJ hyperstacks, OME-TIFF, multi-page TIFF, OME-Zarr and zarr.

Read with their axes and physical voxel size, written back the same way:

``ImageJ``
    axes from the hyperstack's ``slices``/``frames``/``channels`` (tifffile's
    series), the Z step from the ``spacing`` entry, the pixel's size from
    the X and Y resolution tags (pixels per unit) and the unit from
    ``unit``; written with ``imagej=True``, the same entries and tags.
``OME-TIFF``
    axes from the OME-XML ``DimensionOrder`` (tifffile's series), sizes
    from ``PhysicalSizeZ``, ``PhysicalSizeY``, ``PhysicalSizeX`` and their
    ``...Unit`` attributes (default µm, as the OME schema says); written
    with ``ome=True`` and the same attributes.
``TIFF``
    a plain multi-page file: pages are planes (Z), no physical size (a
    tifffile "shaped" description's axes are used if present).
``OME-Zarr`` and ``zarr``
    :mod:`tvrestore.io.zarr_volumes`: NGFF multiscales (level 0) with its
    axes, scale and units, and plain zarr arrays; the functions here take
    them too.

Spacing used for the solve (:func:`solve_spacing`): the steps of the
spatial axes Z, Y, X converted to one unit; if one is missing, or its unit
is not a length, the steps are all taken as 1 and a note says why, once.
A time axis is never given a step from the file (a frame interval is not a
length). The header is read without decoding a pixel, and its decoded size
is checked against :data:`tvrestore.io.images.MAX_DECODED_BYTES` counting
every plane. No TensorFlow here.
"""

from __future__ import annotations

import contextlib
import math
import os
import re
import xml.etree.ElementTree as ElementTree
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import tifffile

from tvrestore.errors import TVRestoreError
from tvrestore.io.files import commit_temporary, reason, temporary_path, write_atomically
from tvrestore.io.images import MAX_DECODED_BYTES, MAX_PIXELS
from tvrestore.models.axes import Axes

__all__ = [
    "VOLUME_FORMATS", "VolumeHeader", "VolumeWriter", "check_volume_size", "is_volume_file",
    "read_volume", "read_volume_header", "solve_spacing", "unit_name", "write_volume",
]

VOLUME_FORMATS = ("ImageJ", "OME-TIFF", "TIFF", "OME-Zarr", "zarr")

# tifffile's axis codes to ours: S (samples) are channels; I (ImageJ's
# unnamed images) and Q (unknown) are planes of a stack.
_AXIS_CODES = {"T": "T", "Z": "Z", "C": "C", "S": "C", "Y": "Y", "X": "X", "I": "Z", "Q": "Z"}

# Length units in micrometres; ImageJ writes "micron" or "\u00B5m".
_MICRONS = {"m": 1e6, "cm": 1e4, "mm": 1e3, "µm": 1.0, "um": 1.0, "micron": 1.0, "microns": 1.0,
            "nm": 1e-3, "å": 1e-4, "angstrom": 1e-4, "pm": 1e-6, "inch": 25400.0,
            "foot": 304800.0}
# OME-Zarr's units are UDUNITS-2 names ("micrometer"); they are shown as OME-TIFF's.
_UNIT_NAMES = {"um": "µm", "micron": "µm", "microns": "µm", "\\u00b5m": "µm", "μm": "µm",
               "angstrom": "Å", "å": "Å", "meter": "m", "centimeter": "cm", "millimeter": "mm",
               "micrometer": "µm", "nanometer": "nm", "picometer": "pm"}
_TIFF_INCH_MICRONS = 25400.0
_TIFF_CENTIMETRE_MICRONS = 1e4


@dataclass(frozen=True)
class VolumeHeader:
    """What a volume file's header says, read without decoding a pixel.

    Attributes
    ----------
    path : pathlib.Path
    format : {"ImageJ", "OME-TIFF", "TIFF", "OME-Zarr", "zarr"}
    shape : tuple of int
        The pixels' shape as :func:`read_volume` returns it.
    dtype : numpy.dtype
    axes : str or None
        Our axis letters (:mod:`tvrestore.models.axes`) in the array's
        order, or None when the file's axes cannot be named (then
        ``--axes`` must).
    sizes : dict
        Physical step per axis letter that the file gives (Z, Y, X), in
        ``units``' unit.
    units : dict
        The unit of each step, normalised ("µm", "nm", ...); "" when the
        file gives a step with no unit.
    compression : str
        tifffile's name of the first page's compression.
    imagej : dict
        ImageJ entries kept on write (``finterval``, ``Info``, ...).
    pages_are_planes : bool
        A plain file of one-page series, read as a stack of its pages.
    attributes : dict
        A zarr's metadata kept on write: an OME-Zarr group's attributes
        (its ``multiscales``, ``omero``, ...) or a plain array's.
    dataset : str
        An OME-Zarr's level-0 array, a path in its group ("" for a plain
        zarr array).
    """

    path: Path
    format: str
    shape: tuple[int, ...]
    dtype: np.dtype
    axes: str | None
    sizes: dict = field(default_factory=dict)
    units: dict = field(default_factory=dict)
    compression: str = "NONE"
    imagej: dict = field(default_factory=dict)
    pages_are_planes: bool = False
    attributes: dict = field(default_factory=dict)
    dataset: str = ""


def is_volume_file(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a TIFF with more than one plane, an ImageJ or OME stack, or a zarr volume.

    From the header only; False for anything that is not a readable TIFF
    or zarr volume (:func:`tvrestore.io.zarr_volumes.is_zarr_volume`; the
    image path then reports what is wrong with it).
    """
    path = Path(path)
    if path.is_dir():
        from tvrestore.io.zarr_volumes import is_zarr_volume

        return is_zarr_volume(path)
    if path.suffix.lower() not in (".tif", ".tiff") or not path.is_file():
        return False
    try:
        with tifffile.TiffFile(path) as tif:
            series = tif.series[0]
            planes = math.prod(n for n, code in zip(series.shape, series.axes) if code not in "YXS")
            return planes > 1 or _pages_are_planes(tif) or ((tif.is_imagej or tif.is_ome) and
                                                          any(code in "ZT" for code in series.axes))
    except Exception:
        return False


def read_volume_header(path: str | os.PathLike[str]) -> VolumeHeader:
    """The header of a volume TIFF or zarr directory (module docstring), within the budget.

    Raises
    ------
    TVRestoreError
        One line naming the file: unreadable, not a TIFF, too large (every
        plane counts), or of a dtype the solvers do not take.
    """
    path = Path(path)
    if path.is_dir():
        from tvrestore.io.zarr_volumes import read_zarr_header

        return read_zarr_header(path)
    try:
        with tifffile.TiffFile(path) as tif:
            return _header(path, tif)
    except TVRestoreError:
        raise
    except Exception as err:
        raise TVRestoreError(f"{path}: not a readable volume TIFF ({reason(err)})") from err


def _pages_are_planes(tif: tifffile.TiffFile) -> bool:
    """A plain file whose pages are series of their own, all of one shape and dtype: a Z stack."""
    series = tif.series
    return (not (tif.is_imagej or tif.is_ome) and len(series) > 1
            and all(s.shape == series[0].shape and s.dtype == series[0].dtype for s in series))


def _header(path: Path, tif: tifffile.TiffFile) -> VolumeHeader:
    series = tif.series[0]
    shape, dtype = tuple(int(n) for n in series.shape), np.dtype(series.dtype)
    series_axes = series.axes
    pages_are_planes = _pages_are_planes(tif)
    if pages_are_planes:
        shape, series_axes = (len(tif.series), *shape), "Z" + series_axes
    page = tif.pages[0]
    check_volume_size(path, shape, dtype, (int(page.imagelength), int(page.imagewidth)))
    letters = "".join(_AXIS_CODES.get(code, "?") for code in series_axes)
    axes = letters if "?" not in letters and len(set(letters)) == len(letters) else None
    compression = page.compression.name if hasattr(page.compression, "name") else str(page.compression)
    if tif.is_ome:
        sizes, units = _ome_sizes(tif.ome_metadata)
        return VolumeHeader(path, "OME-TIFF", shape, dtype, axes, sizes, units, compression)
    if tif.is_imagej:
        metadata = tif.imagej_metadata or {}
        unit = unit_name(metadata.get("unit"))
        sizes, units = _resolution_sizes(page, unit)
        if "spacing" in metadata:
            sizes["Z"], units["Z"] = float(metadata["spacing"]), unit
        kept = {key: metadata[key] for key in ("finterval", "Info", "Labels", "loop", "fps")
                if key in metadata}
        return VolumeHeader(path, "ImageJ", shape, dtype, axes, sizes, units, compression, kept)
    description = _shaped_axes(page)
    if description is not None and len(description) == len(shape):
        axes = description
    sizes, units = _resolution_sizes(page, None)
    return VolumeHeader(path, "TIFF", shape, dtype, axes, sizes, units, compression,
                        pages_are_planes=pages_are_planes)


def check_volume_size(path: Path, shape: tuple[int, ...], dtype: np.dtype,
                      plane: tuple[int, int]) -> None:
    """Refuse, from a header, a plane of ``plane`` (rows, columns) beyond MAX_PIXELS, a volume
    beyond MAX_DECODED_BYTES counting every plane, or a dtype the solvers do not take."""
    if plane[0] * plane[1] > MAX_PIXELS:
        raise TVRestoreError(f"{path}: absurd image size {plane[1]}x{plane[0]} "
                             f"(more than {MAX_PIXELS} pixels)")
    decoded = math.prod(shape) * dtype.itemsize
    if decoded > MAX_DECODED_BYTES:
        raise TVRestoreError(f"{path}: absurd volume size {shape}, {dtype}: {decoded} bytes to "
                             f"decode, every plane counted (more than {MAX_DECODED_BYTES})")
    if dtype not in (np.uint8, np.uint16, np.float32, np.float64):
        raise TVRestoreError(f"{path}: unsupported pixel type {dtype} (uint8, uint16, float32 "
                             "or float64)")


def unit_name(unit) -> str:
    """A unit as we write it ("µm", "nm", ...); "" for none or "pixel"."""
    if unit is None:
        return ""
    text = str(unit).strip()
    lowered = text.lower()
    if lowered in ("", "pixel", "pixels", "none"):
        return ""
    return _UNIT_NAMES.get(lowered, text)


def _resolution_sizes(page: tifffile.TiffPage, unit: str | None) -> tuple[dict, dict]:
    """Y and X steps from the resolution tags (pixels per unit): ImageJ's ``unit``, else the tag's."""
    sizes, units = {}, {}
    tag_unit = page.tags.get("ResolutionUnit")
    tag_unit = int(tag_unit.value) if tag_unit is not None else 2  # TIFF's default: inch
    for letter, name in (("Y", "YResolution"), ("X", "XResolution")):
        tag = page.tags.get(name)
        if tag is None:
            continue
        numerator, denominator = tag.value
        if not numerator or not denominator:
            continue
        size = denominator / numerator
        if unit is not None:
            sizes[letter], units[letter] = size, unit
        elif tag_unit == 3:
            sizes[letter], units[letter] = size * _TIFF_CENTIMETRE_MICRONS, "µm"
        elif tag_unit == 2 and (numerator, denominator) != (1, 1) and size != 1 / 72:
            # A plain TIFF's resolution is usually a print size in dpi, kept
            # only when it is not the writers' defaults (1 or 72 dpi).
            sizes[letter], units[letter] = size * _TIFF_INCH_MICRONS, "µm"
    return sizes, units


def _ome_sizes(xml: str | None) -> tuple[dict, dict]:
    """PhysicalSizeZ/Y/X and their units from the first OME Pixels element."""
    sizes, units = {}, {}
    if not xml:
        return sizes, units
    try:
        root = ElementTree.fromstring(xml)
    except ElementTree.ParseError:
        return sizes, units
    pixels = next((element for element in root.iter() if element.tag.endswith("}Pixels")
                   or element.tag == "Pixels"), None)
    if pixels is None:
        return sizes, units
    for letter in "ZYX":
        value = pixels.get(f"PhysicalSize{letter}")
        if value is None:
            continue
        try:
            sizes[letter] = float(value)
        except ValueError:
            continue
        units[letter] = unit_name(pixels.get(f"PhysicalSize{letter}Unit", "µm"))
    return sizes, units


def _shaped_axes(page: tifffile.TiffPage) -> str | None:
    """The axes of a tifffile "shaped" description ({"shape": ..., "axes": "ZYX"}), if any."""
    description = page.description or ""
    match = re.search(r'"axes"\s*:\s*"([A-Za-z]+)"', description)
    if match is None:
        return None
    letters = "".join(_AXIS_CODES.get(code, "?") for code in match.group(1).upper())
    return letters if "?" not in letters and len(set(letters)) == len(letters) else None


def solve_spacing(header: VolumeHeader, axes: Axes) -> tuple[tuple[float, ...] | None, str | None]:
    """The file's steps of the spatial axes Z, Y, X present in ``axes``, in one unit, and a note.

    Returns
    -------
    spacing : tuple of float or None
        The steps in micrometres (any common unit would do: the solve uses
        them relative to the smallest); None when they cannot be used.
    note : str or None
        Why not (missing steps, a unit that is not a length, units that
        disagree), to be said once, or None.
    """
    letters = [letter for letter in "ZYX" if letter in axes.letters]
    if (header.format == "OME-Zarr" and all(letter in header.sizes for letter in letters)
            and not any(header.units.get(letter) for letter in letters)):
        # An NGFF scale maps to one coordinate system: with no unit named,
        # the steps are still in one (unknown) unit.
        return tuple(header.sizes[letter] for letter in letters), None
    if not header.sizes:
        return None, None if "Z" not in letters else (
            f"{header.path}: the file gives no voxel size; spacing 1 assumed")
    missing = [letter for letter in letters if letter not in header.sizes]
    if missing:
        return None, (f"{header.path}: the file gives no {'/'.join(missing)} step; "
                      "spacing 1 assumed")
    steps = []
    for letter in letters:
        unit = header.units.get(letter, "")
        factor = _MICRONS.get(unit.lower() if unit != "Å" else "å")
        size = header.sizes[letter]
        if factor is None or not (math.isfinite(size) and size > 0):
            found = ", ".join(f"{key} {header.sizes[key]:g} {header.units.get(key, '') or '(no unit)'}"
                              for key in letters)
            return None, (f"{header.path}: voxel size {found}: units missing or not lengths; "
                          "spacing 1 assumed")
        steps.append(size * factor)
    return tuple(steps), None


def read_volume(path: str | os.PathLike[str], check=None) -> tuple[np.ndarray, VolumeHeader]:
    """The pixels of a volume TIFF or zarr (whole), in the header's shape, and the header.

    ``check(header)``, given, runs before any pixel is decoded (a caller's
    budget). NaN or infinity is refused.
    """
    path = Path(path)
    header = read_volume_header(path)
    if check is not None:
        check(header)
    if path.is_dir():
        from tvrestore.io.zarr_volumes import read_zarr_pixels

        pixels = read_zarr_pixels(header)
    else:
        pixels = _read_tiff_pixels(path, header)
    if pixels.shape != header.shape:
        raise TVRestoreError(f"{path}: corrupt volume (header says {header.shape}, data decodes "
                             f"to {pixels.shape})")
    pixels = pixels.astype(pixels.dtype.newbyteorder("="), copy=False)
    if pixels.dtype.kind == "f" and not np.isfinite(pixels).all():
        raise TVRestoreError(f"{path}: volume contains NaN or infinite values")
    return pixels, header


def _read_tiff_pixels(path: Path, header: VolumeHeader) -> np.ndarray:
    try:
        with tifffile.TiffFile(path) as tif:
            pixels = (np.stack([series.asarray() for series in tif.series])
                      if header.pages_are_planes else tif.series[0].asarray())
    except Exception as err:
        raise TVRestoreError(f"{path}: corrupt volume ({reason(err)})") from err
    return pixels


def write_volume(
    path: str | os.PathLike[str], pixels: np.ndarray, *, like: VolumeHeader, axes: str,
    spacing: dict | None = None, units: dict | None = None, overwrite: bool = False,
) -> None:
    """Write ``pixels`` atomically in ``like``'s format with ``axes``, physical steps and units.

    Parameters
    ----------
    path : path-like
        A .tif or .tiff file; a .zarr directory for a zarr input
        (:func:`tvrestore.io.zarr_volumes.write_zarr_volume`).
    pixels : np.ndarray
        In the order ``axes`` names.
    like : VolumeHeader
        The input's header: its format, compression and kept ImageJ entries.
    axes : str
        Our letters, one per axis of ``pixels``.
    spacing, units : dict, optional
        Step and unit per letter (Z, Y, X); default the input's.
    """
    path = Path(path)
    if like.format in ("OME-Zarr", "zarr"):
        from tvrestore.io.zarr_volumes import write_zarr_volume

        write_zarr_volume(path, pixels, like=like, spacing=spacing, units=units,
                          overwrite=overwrite)
        return
    options = _tiff_options(path, like, axes, pixels.shape, pixels.dtype, spacing, units)
    if like.compression not in ("NONE", "1"):
        options["compression"] = "zlib"
    write_atomically(path, lambda file: tifffile.imwrite(file, pixels, **options),
                     overwrite=overwrite, what="volume")


def _tiff_options(path: Path, like: VolumeHeader, axes: str, shape: tuple[int, ...], dtype,
                  spacing: dict | None, units: dict | None) -> dict:
    """imwrite's options for a volume TIFF in ``like``'s flavour (ImageJ, OME or plain), no compression."""
    if path.suffix.lower() not in (".tif", ".tiff"):
        raise TVRestoreError(f"{path}: a volume is written as TIFF (.tif or .tiff)")
    sizes = dict(like.sizes if spacing is None else spacing)
    units = dict(like.units if units is None else units)
    if like.format == "ImageJ" and np.dtype(dtype) in (np.uint8, np.uint16, np.float32):
        return _imagej_options(like, axes, sizes, units)
    if like.format in ("OME-TIFF", "ImageJ"):
        return _ome_options(axes, sizes, units)
    options: dict = {"metadata": {"axes": axes}, "photometric": "minisblack"}
    if "C" in axes:
        options["photometric"] = "rgb" if shape[axes.index("C")] in (3, 4) and \
            axes.endswith("C") else "minisblack"
    return options


class VolumeWriter:
    """A volume written block by block into a temporary beside its target, then renamed.

    For a volume restored in blocks (:mod:`tvrestore.runs.blocks`): no
    more than one block is held. A TIFF is written uncompressed (each
    block goes into the file through a memory map opened for that block
    only, so the pages written leave this process's memory), in
    ``like``'s flavour with ``axes``, physical sizes and units as
    :func:`write_volume` writes them; a zarr as
    :func:`tvrestore.io.zarr_volumes.write_zarr_volume` writes it, block by
    block into its chunks. Use as a context manager: the output appears
    whole on a clean exit (:meth:`commit`), and the temporary is removed
    on any error.

    Parameters
    ----------
    path : path-like
        The output: a .tif/.tiff file, or a .zarr directory for a zarr input.
    like : VolumeHeader
        The input's header (format, shape, dtype, metadata).
    axes : str
        Our letters, one per axis.
    overwrite : bool
        Replace an existing output.
    """

    def __init__(self, path: str | os.PathLike[str], *, like: VolumeHeader, axes: str,
                 overwrite: bool = False) -> None:
        self.path, self.like, self.overwrite = Path(path), like, overwrite
        self.shape, self.dtype = tuple(like.shape), np.dtype(like.dtype).newbyteorder("=")
        self._zarr = like.format in ("OME-Zarr", "zarr")
        if not self.path.parent.is_dir():
            raise TVRestoreError(f"{self.path}: output directory does not exist")
        if os.path.lexists(self.path) and not overwrite:
            raise TVRestoreError(f"{self.path}: output exists (use --overwrite)")
        self._temp = temporary_path(self.path)
        try:
            if self._zarr:
                from tvrestore.io.zarr_volumes import create_zarr_volume

                self._array = create_zarr_volume(self._temp, like)
            else:
                options = _tiff_options(self.path, like, axes, self.shape, self.dtype, None, None)
                if "imagej" not in options and math.prod(self.shape) * self.dtype.itemsize > 2**31:
                    options["bigtiff"] = True
                mapped = tifffile.memmap(self._temp, shape=self.shape, dtype=self.dtype, **options)
                self._offset = int(mapped.offset)
                del mapped
        except TVRestoreError:
            self.discard()
            raise
        except Exception as err:
            self.discard()
            raise TVRestoreError(f"{self.path}: cannot write volume ({reason(err)})") from err

    def write(self, index: tuple[slice, ...], block: np.ndarray) -> None:
        """Store ``block`` at ``index`` (one slice per axis)."""
        try:
            if self._zarr:
                self._array[index] = block
                return
            mapped = np.memmap(self._temp, dtype=self.dtype, mode="r+", offset=self._offset,
                               shape=self.shape)
            try:
                mapped[index] = block
                mapped.flush()
            finally:
                del mapped
        except Exception as err:
            raise TVRestoreError(f"{self.path}: cannot write volume ({reason(err)})") from err

    def commit(self) -> None:
        """Put the written volume at its path (atomically; a zarr replaces a zarr)."""
        try:
            if self._zarr:
                import shutil

                if os.path.lexists(self.path):
                    shutil.rmtree(self.path)
                os.rename(self._temp, self.path)
            else:
                with open(self._temp, "rb+") as file:
                    os.fsync(file.fileno())
                commit_temporary(self._temp, self.path, overwrite=self.overwrite)
        except TVRestoreError:
            raise
        except Exception as err:
            raise TVRestoreError(f"{self.path}: cannot write volume ({reason(err)})") from err
        finally:
            self.discard()

    def discard(self) -> None:
        """Remove the temporary, if it is still there."""
        import shutil

        with contextlib.suppress(OSError):
            if self._temp.is_dir():
                shutil.rmtree(self._temp)
            else:
                self._temp.unlink(missing_ok=True)

    def __enter__(self) -> "VolumeWriter":
        return self

    def __exit__(self, kind, value, traceback) -> None:
        if kind is None:
            self.commit()
        else:
            self.discard()


def _imagej_options(like: VolumeHeader, axes: str, sizes: dict, units: dict) -> dict:
    """imwrite's options for an ImageJ hyperstack: axes, Z spacing, resolution and unit."""
    unit = next((units[letter] for letter in "XYZ" if units.get(letter)), "")
    metadata = dict(like.imagej)
    # ImageJ's order is TZCYXS: a channel axis after X holds samples (RGB).
    metadata["axes"] = axes[:-1] + "S" if axes.endswith("C") else axes
    if "Z" in sizes:
        metadata["spacing"] = sizes["Z"]
    if unit:
        metadata["unit"] = "micron" if unit == "µm" else unit
    options: dict = {"imagej": True, "metadata": metadata}
    if "X" in sizes and "Y" in sizes:
        options["resolution"] = (1.0 / sizes["X"], 1.0 / sizes["Y"])
    return options


def _ome_options(axes: str, sizes: dict, units: dict) -> dict:
    """imwrite's options for an OME-TIFF: axes and PhysicalSize{Z,Y,X} with their units."""
    metadata: dict = {"axes": axes}
    for letter in "ZYX":
        if letter in sizes:
            metadata[f"PhysicalSize{letter}"] = sizes[letter]
            if units.get(letter):
                metadata[f"PhysicalSize{letter}Unit"] = units[letter]
    return {"ome": True, "metadata": metadata, "photometric": "minisblack"}
