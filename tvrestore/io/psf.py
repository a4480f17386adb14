"""PSF files: a ``.npy`` array or a grey image, read as a normalised kernel.

The kernels themselves (parametric specs, normalisation, the size limit)
are :mod:`tvrestore.models.psf`'s; this module reads the files, checking a
file's header against :data:`~tvrestore.models.psf.MAX_PSF_SIDE` before
any value is read.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

import numpy as np

from tvrestore.errors import TVRestoreError
from tvrestore.io.images import read_image_and_header
from tvrestore.io.pixels import to_unit_range
from tvrestore.io.volumes import is_volume_file, read_volume
from tvrestore.models.psf import as_psf, check_psf_sides, names_a_psf_file

__all__ = ["load_psf"]


def load_psf(psf, name: str = "psf") -> np.ndarray:
    """A PSF spec, PSF file or array, as a normalised PSF with odd sides.

    Parameters
    ----------
    psf : str, path or array
        A spec of :func:`tvrestore.models.psf.parse_psf`; the path of a
        ``.npy`` file (``numpy.load`` with ``allow_pickle=False``, 2-D or
        3-D) or of a ``.png``, ``.tif`` or ``.tiff`` image (grey, or colour
        with equal channels, in unit range; a TIFF stack of planes, such as
        a measured bead, is a 3-D PSF); or an array
        (:func:`tvrestore.models.psf.as_psf`).
    name : str
        Names an array in an error; a spec or file names itself.

    Returns
    -------
    np.ndarray, float64, shape (2 r_y + 1, 2 r_x + 1) or (2 r_z + 1, 2 r_y + 1, 2 r_x + 1)
        Non-negative, summing to 1; an even side of a file's array gets a
        zero row, column or plane at its end, so its centre is the pixel at
        index ``side // 2``.

    Raises
    ------
    TVRestoreError
        One line naming the spec or file: what
        :func:`~tvrestore.models.psf.parse_psf` refuses, a file that cannot
        be read, declares more than
        :data:`~tvrestore.models.psf.MAX_PSF_SIDE` pixels per side, is
        colour, or whose array is not 2-D or not a PSF.
    """
    if isinstance(psf, (str, os.PathLike)) and names_a_psf_file(str(psf)):
        spec = str(psf)
        return as_psf(_read_file(spec), spec)
    return as_psf(psf, name)


def _read_file(spec: str) -> np.ndarray:
    """A PSF file's values as float64, a single channel squeezed out."""
    if Path(spec).suffix.lower() == ".npy":
        array = _read_npy(spec)
    elif is_volume_file(spec):
        pixels, header = read_volume(spec, check=lambda header: check_psf_sides(spec, header.shape))
        if header.axes is not None and set(header.axes) - set("ZYX"):
            raise TVRestoreError(
                f"{spec}: a 3-D PSF is one grey stack (axes ZYX), not {header.axes}")
        array = np.asarray(to_unit_range(pixels), np.float64)
    else:
        pixels, _ = read_image_and_header(
            spec, check=lambda header: check_psf_sides(spec, header.shape))
        array = np.asarray(to_unit_range(pixels), np.float64)
        if array.ndim == 3:
            if not np.all(array == array[..., :1]):
                raise TVRestoreError(f"{spec}: the PSF must be a grey image, not colour")
            array = array[..., 0]
    if array.ndim == 3 and array.shape[2] == 1:
        array = array[..., 0]
    return array


def _read_npy(spec: str) -> np.ndarray:
    """A ``.npy`` file's array, its header checked before any value is read.

    Opened without blocking and refused unless a regular file, so that a
    FIFO named like a PSF cannot hang the run.
    """
    try:
        descriptor = os.open(spec, os.O_RDONLY | os.O_NONBLOCK)
    except OSError as err:
        raise TVRestoreError(f"{spec}: cannot read the PSF ({err.strerror})") from err
    with os.fdopen(descriptor, "rb") as file:
        if not stat.S_ISREG(os.fstat(descriptor).st_mode):
            raise TVRestoreError(f"{spec}: the PSF is not a regular file")
        try:
            version = np.lib.format.read_magic(file)
            read_header = _NPY_HEADER_READERS.get(version)
            if read_header is None:
                raise ValueError(f"unsupported .npy version {version}")
            shape, _, dtype = read_header(file)
        except Exception as err:
            raise TVRestoreError(f"{spec}: not a .npy array file ({err})") from err
        if not np.issubdtype(dtype, np.number) or np.issubdtype(dtype, np.complexfloating):
            raise TVRestoreError(f"{spec}: the PSF must hold real numbers, not {dtype}")
        check_psf_sides(spec, shape)
        file.seek(0)
        try:
            array = np.lib.format.read_array(file, allow_pickle=False)
        except Exception as err:
            raise TVRestoreError(f"{spec}: cannot read the PSF ({err})") from err
    return np.asarray(array, np.float64)


_NPY_HEADER_READERS = {
    (1, 0): np.lib.format.read_array_header_1_0,
    (2, 0): np.lib.format.read_array_header_2_0,
}
