r"""Volumes in zarr: OME-Zarr images (NGFF 0.4 and 0.5) and plain zarr arrays.

``OME-Zarr``
    a zarr group whose attributes hold ``multiscales`` (NGFF 0.4, zarr v2
    or v3) or ``ome.multiscales`` (NGFF 0.5, zarr v3). Its first
    multiscale's level 0 (``datasets[0]``) is the volume; the axes come
    from its ``axes`` (``type`` time, channel or space; space axes named
    z, y, x), the steps from the product of the level's and the
    multiscale's ``coordinateTransformations`` of type ``scale``, the units
    from each axis's ``unit`` (UDUNITS-2 names: "micrometer" is shown and
    converted as OME-TIFF's "µm"). Written back as a group with the same
    attributes (``omero`` and all), the multiscale cut to level 0, and the
    level-0 array with the input's chunks, codecs, attributes and
    dimension names: the pyramid's other levels and any labels are not
    written.
``zarr``
    a plain zarr array (v2 or v3). Axes from its dimension names (zarr
    v3's ``dimension_names``, xarray's ``_ARRAY_DIMENSIONS`` or an ``axes``
    attribute such as ``"ZYX"``) when they map to T, Z, Y, X, C; else a
    3-D array's default (:func:`tvrestore.models.axes.default_axes`),
    and none for more axes (``--axes`` names them). No physical size.
    Written back as a zarr array of the same chunks, codecs and attributes.

Headers are read from the stores' JSON alone, without importing zarr or
reading a chunk, and their budget counts every plane
(:func:`tvrestore.io.volumes.check_volume_size`). Pixels are read and
written with zarr (the ``dask`` extra). A volume is written into a
temporary directory beside its target, then renamed; the input is opened
read-only. No TensorFlow or Dask here.

The ``ome-zarr`` package is not used: for Python 3.11 it resolves to
ome-zarr 0.18 and brings 21 packages this project does not otherwise
install (s3fs, aiobotocore, botocore, aiohttp, pydantic, ...; 21 MB of
wheels), while level 0 of a multiscale is a few lines of JSON read and
copied here (docs/volumes.md).
"""

from __future__ import annotations

import contextlib
import copy
import json
import os
import shutil
from pathlib import Path

import numpy as np

from tvrestore.errors import TVRestoreError
from tvrestore.io.files import reason, temporary_path
from tvrestore.io.volumes import VolumeHeader, check_volume_size, unit_name
from tvrestore.models.axes import default_axes

__all__ = ["ZARR_FORMATS", "check_zarr_output", "create_zarr_volume", "is_zarr_node", "is_zarr_volume",
           "read_zarr_header", "read_zarr_pixels", "write_zarr_volume"]

ZARR_FORMATS = ("OME-Zarr", "zarr")

# Our units back to NGFF's (UDUNITS-2) names, for a unit given on write.
_NGFF_UNITS = {"µm": "micrometer", "nm": "nanometer", "mm": "millimeter", "cm": "centimeter",
               "m": "meter", "pm": "picometer", "Å": "angstrom"}
_NAMED_AXES = {"t": "T", "time": "T", "c": "C", "channel": "C", "channels": "C", "z": "Z",
               "y": "Y", "x": "X"}


def is_zarr_node(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is a zarr array or group directory (v2 or v3), from its file names."""
    path = Path(path)
    return path.is_dir() and any((path / name).is_file()
                                 for name in ("zarr.json", ".zarray", ".zgroup"))


def is_zarr_volume(path: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is an OME-Zarr image, or a zarr array of a volume's shape or named axes.

    A plain array is a volume when it has 4 or more axes, or 3 that are
    not (Y, X, C) (a colour image, which the tiles read). From the JSON
    only. A group with multiscales is one even if the rest of its metadata
    is wrong (the volume path says what); False for an array that cannot
    be read (the image path reports it).
    """
    path = Path(path)
    try:
        node = _node(path)
    except (OSError, ValueError):
        return False
    if node is None or not isinstance(node.get("attributes"), dict):
        return False
    if node.get("node_type") == "group":
        return _multiscales_holder(node["attributes"]) is not None
    try:
        header = _described(path)
    except TVRestoreError:
        return False
    return header.axes is None or "Z" in header.axes or "T" in header.axes


def read_zarr_header(path: str | os.PathLike[str]) -> VolumeHeader:
    """The header of an OME-Zarr image or a zarr array (module docstring), within the budget.

    Raises
    ------
    TVRestoreError
        One line naming the store: not zarr, a group that is no OME-Zarr
        image, metadata that does not fit the array (axes or scale of
        another count), too large (every plane counted), or a dtype the
        solvers do not take.
    """
    path = Path(path)
    header = _described(path)
    rows, columns = ((header.axes.index("Y"), header.axes.index("X")) if header.axes
                     else (-2, -1))
    plane = (header.shape[rows], header.shape[columns])
    check_volume_size(path, header.shape, header.dtype, plane)
    return header


def _described(path: Path) -> VolumeHeader:
    """The header, from the JSON alone, before any budget."""
    try:
        node = _node(path)
        if node is None:
            raise TVRestoreError(f"{path}: not a zarr array or OME-Zarr image")
        if node["node_type"] == "group":
            return _ome_header(path, node)
        shape, dtype = _layout(node)
        names = node.get("dimension_names") or node["attributes"].get("_ARRAY_DIMENSIONS") \
            or node["attributes"].get("axes")
        axes = _letters(names, len(shape))
        if axes is None and len(shape) <= 3:
            axes = default_axes(shape).letters
        return VolumeHeader(path, "zarr", shape, dtype, axes, attributes=node["attributes"])
    except TVRestoreError:
        raise
    except (OSError, ValueError, KeyError, TypeError, IndexError, AttributeError) as err:
        raise TVRestoreError(f"{path}: not a readable zarr volume ({reason(err)})") from err


def _node(path: Path) -> dict | None:
    """A zarr node's metadata as zarr v3 spells it (node_type, attributes, shape, ...), v2 too."""
    if (path / "zarr.json").is_file():
        node = json.loads((path / "zarr.json").read_text())
        node.setdefault("attributes", {})
        return node
    for name, node_type in ((".zarray", "array"), (".zgroup", "group")):
        if (path / name).is_file():
            node = json.loads((path / name).read_text())
            attributes = path / ".zattrs"
            node["attributes"] = json.loads(attributes.read_text()) if attributes.is_file() else {}
            node["node_type"] = node_type
            return node
    return None


def _layout(node: dict) -> tuple[tuple[int, ...], np.dtype]:
    """An array node's shape and (native-order) dtype."""
    if node.get("node_type") != "array":
        raise TVRestoreError("not a zarr array")
    shape = tuple(int(side) for side in node["shape"])
    if len(shape) < 2:
        raise TVRestoreError(f"shape {shape} is not an image (2 to 5 axes)")
    dtype = np.dtype(node["data_type"] if "data_type" in node else node["dtype"])
    return shape, dtype.newbyteorder("=")


def _letters(names, rank: int) -> str | None:
    """Our letters for a list (or string) of axis names, if each maps to a letter once."""
    if not names or len(names) != rank:
        return None
    letters = "".join(_NAMED_AXES.get(str(name).strip().lower(), "?") for name in names)
    return letters if "?" not in letters and len(set(letters)) == len(letters) else None


def _multiscales_holder(attributes: dict) -> dict | None:
    """The dict that holds ``multiscales``: NGFF 0.5's ``ome`` attribute, or 0.4's top level."""
    nested = attributes.get("ome")
    if isinstance(nested, dict) and nested.get("multiscales"):
        return nested
    return attributes if attributes.get("multiscales") else None


def _axis_letter(axis) -> str | None:
    """An NGFF axis ({"name", "type", "unit"}, or a bare name before NGFF 0.4) as our letter."""
    name, kind = (axis, None) if isinstance(axis, str) else (str(axis.get("name", "")),
                                                             axis.get("type"))
    name = name.strip().lower()
    if kind is None:
        return _NAMED_AXES.get(name)
    if kind == "space":
        return name.upper() if name in ("z", "y", "x") else None
    return {"time": "T", "channel": "C"}.get(kind)


def _scale(transforms, rank: int) -> list[float]:
    """The product of the ``scale`` transforms in a ``coordinateTransformations`` list."""
    factors = [1.0] * rank
    for transform in transforms or []:
        if transform.get("type") != "scale":
            continue
        scale = transform.get("scale")
        if not isinstance(scale, list) or len(scale) != rank:
            raise TVRestoreError(f"a scale of {scale!r} for {rank} axes")
        factors = [factor * float(step) for factor, step in zip(factors, scale)]
    return factors


def _ome_header(path: Path, group: dict) -> VolumeHeader:
    holder = _multiscales_holder(group["attributes"])
    if holder is None:
        raise TVRestoreError(f"{path}: a zarr group with no multiscales, not an OME-Zarr image "
                             "(give its array)")
    multiscale = holder["multiscales"][0]
    dataset = str(multiscale["datasets"][0]["path"])
    array = _node(path / dataset)
    if array is None or array.get("node_type") != "array":
        raise TVRestoreError(f"{path}: its level 0, {dataset!r}, is not a zarr array")
    shape, dtype = _layout(array)
    axes_list = multiscale.get("axes")
    named = [_axis_letter(axis) for axis in axes_list] if axes_list else None
    if named is not None and len(named) != len(shape):
        raise TVRestoreError(f"{path}: multiscales name {len(named)} axes, but level 0 "
                             f"{dataset!r} has shape {shape}")
    try:
        steps = [a * b for a, b in zip(
            _scale(multiscale["datasets"][0].get("coordinateTransformations"), len(shape)),
            _scale(multiscale.get("coordinateTransformations"), len(shape)))]
    except TVRestoreError as err:
        raise TVRestoreError(f"{path}: coordinateTransformations: {err}") from err
    axes = "".join(named) if named and None not in named and len(set(named)) == len(named) \
        else None
    sizes, units = {}, {}
    for index, letter in enumerate(named or []):
        if letter in ("Z", "Y", "X"):
            sizes[letter] = steps[index]
            axis = axes_list[index]
            units[letter] = unit_name(axis.get("unit") if isinstance(axis, dict) else None)
    return VolumeHeader(path, "OME-Zarr", shape, dtype, axes, sizes, units,
                        attributes=group["attributes"], dataset=dataset)


def _array_path(header: VolumeHeader) -> Path:
    return header.path / header.dataset if header.dataset else header.path


def read_zarr_pixels(header: VolumeHeader) -> np.ndarray:
    """The whole level-0 (or plain) array of a zarr volume, read through zarr, read-only."""
    import zarr

    try:
        return np.asarray(zarr.open_array(store=str(_array_path(header)), mode="r")[...])
    except Exception as err:
        raise TVRestoreError(f"{header.path}: corrupt zarr volume ({reason(err)})") from err


def check_zarr_output(path: str | os.PathLike[str], overwrite: bool) -> None:
    """Refuse an output a zarr volume cannot be written to: not ``*.zarr``, no directory,
    existing (without ``overwrite``), or existing and not zarr (replacing it would delete it)."""
    path = Path(path)
    if path.suffix.lower() != ".zarr" and not is_zarr_node(path):
        raise TVRestoreError(f"{path}: a zarr volume is written back as zarr (name the output "
                             "*.zarr)")
    if not path.parent.is_dir():
        raise TVRestoreError(f"{path}: output directory does not exist")
    if os.path.lexists(path):
        if not overwrite:
            raise TVRestoreError(f"{path}: output exists (use --overwrite)")
        if path.is_symlink() or not is_zarr_node(path):
            raise TVRestoreError(f"{path}: exists and is not a zarr store (not replaced)")


def write_zarr_volume(path: str | os.PathLike[str], pixels: np.ndarray, *, like: VolumeHeader,
                      spacing: dict | None = None, units: dict | None = None,
                      overwrite: bool = False) -> None:
    """Write ``pixels`` (``like``'s shape and dtype) as ``like`` was stored, atomically.

    Parameters
    ----------
    path : path-like
        The ``*.zarr`` directory to write; it appears whole or not at all.
    like : VolumeHeader
        The input's header: an OME-Zarr gives a group with its attributes
        (the multiscale cut to level 0) and its level-0 array; a plain
        zarr an array. Chunks, codecs, array attributes and dimension
        names are the input array's, read from it read-only.
    spacing, units : dict, optional
        A new physical step and unit per letter (Z, Y, X) for an OME-Zarr:
        the level's scale and the axis's unit change (NGFF unit names);
        default the input's, as stored.
    """
    import zarr

    path = Path(path)
    check_zarr_output(path, overwrite)
    try:
        source = zarr.open_array(store=str(_array_path(like)), mode="r")
    except Exception as err:
        raise TVRestoreError(f"{like.path}: cannot open zarr volume ({reason(err)})") from err
    if tuple(pixels.shape) != tuple(source.shape) or np.dtype(pixels.dtype) != source.dtype:
        raise TVRestoreError(f"{path}: pixels of {pixels.shape}, {pixels.dtype} cannot be stored "
                             f"as {like.path} ({tuple(source.shape)}, {source.dtype})")
    # Named as io's temporaries, so that remove_temporaries removes it once its writer is dead.
    temp = temporary_path(path)
    try:
        create_zarr_volume(temp, like, spacing, units, source=source)[...] = pixels
        if os.path.lexists(path):
            shutil.rmtree(path)
        os.rename(temp, path)
    except TVRestoreError:
        raise
    except Exception as err:
        raise TVRestoreError(f"{path}: cannot write zarr ({reason(err)})") from err
    finally:
        with contextlib.suppress(OSError):
            shutil.rmtree(temp)


def create_zarr_volume(directory: Path, like: VolumeHeader, spacing: dict | None = None,
                       units: dict | None = None, *, source=None):
    """A new, empty zarr volume at ``directory`` stored as ``like`` (see
    :func:`write_zarr_volume`); its level-0 (or plain) array, to fill.

    ``source``: the input's array, opened (default: opened here, read-only).
    """
    import zarr

    if source is None:
        try:
            source = zarr.open_array(store=str(_array_path(like)), mode="r")
        except Exception as err:
            raise TVRestoreError(f"{like.path}: cannot open zarr volume ({reason(err)})") from err
    store = zarr.storage.LocalStore(str(directory))
    if like.format == "OME-Zarr":
        zarr.open_group(store=store, mode="w-", zarr_format=source.metadata.zarr_format,
                        attributes=_written_attributes(like, spacing, units))
    return zarr.from_array(store, name=like.dataset or None, data=source,
                           write_data=False, attributes=dict(source.attrs))


def _written_attributes(like: VolumeHeader, spacing: dict | None, units: dict | None) -> dict:
    """The OME-Zarr group's attributes as read, its first multiscale only and cut to level 0,
    with ``spacing`` and ``units`` given set on the level's scale and the axes."""
    attributes = copy.deepcopy(like.attributes)
    holder = _multiscales_holder(attributes)
    multiscale = holder["multiscales"][0]
    multiscale["datasets"] = multiscale["datasets"][:1]
    holder["multiscales"] = [multiscale]
    if not spacing and not units:
        return attributes
    axes = multiscale["axes"]
    rank = len(axes)
    outer = _scale(multiscale.get("coordinateTransformations"), rank)
    transforms = multiscale["datasets"][0].setdefault("coordinateTransformations", [])
    level = next((t for t in transforms if t.get("type") == "scale"), None)
    if level is None:
        level = {"type": "scale", "scale": [1.0] * rank}
        transforms.insert(0, level)
    for index, axis in enumerate(axes):
        letter = _axis_letter(axis)
        if spacing and letter in spacing:
            level["scale"][index] = float(spacing[letter]) / outer[index]
        if units and letter in units and isinstance(axis, dict):
            axis["unit"] = _NGFF_UNITS.get(units[letter], units[letter])
    return attributes
