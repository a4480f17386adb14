r"""Point spread functions (PSFs) from a short spec or a file, in NumPy only.

This module imports no TensorFlow, so that the command line can check a
``--psf`` value, and that the PSF fits the image, before TensorFlow loads.

A PSF here is a float64 2-D array :math:`k` with odd sides
:math:`(2 r_y + 1, 2 r_x + 1)`, non-negative, summing to 1; its centre pixel
:math:`(r_y, r_x)` is the offset 0. A 3-D PSF, for volumes, has the shape
:math:`(2 r_z + 1, 2 r_y + 1, 2 r_x + 1)` and blurs along the planes too. The blur it defines is the convolution

.. math::

    (k * u)_{i,j} = \sum_{a,b} k_{a,b}\, u_{i - a + r_y,\, j - b + r_x},

see :class:`tvrestore.models.operators.Blur` for how it meets the image borders.

Specs
-----
``gaussian:SIGMA``
    :math:`k_{a,b} \propto \exp(-(a^2 + b^2) / (2\sigma^2))` sampled at the
    pixel centres, truncated at radius :math:`\lceil 3.5\sigma \rceil` (at
    least 1). The truncation drops :math:`4.7 \cdot 10^{-4}` of the mass per
    axis, under a tenth of a grey level of 8 bits at an edge.
``gaussian:SZ,SY,SX``
    A 3-D Gaussian for volumes, one standard deviation per axis (planes,
    rows, columns; in voxels, not in the spacing's units), each axis
    sampled and truncated as above: the outer product of three profiles.
``box:SIZE``
    A square of side SIZE pixels (any real > 0), each pixel weighted by how
    much of it the square covers: ``box:3`` is 3x3 uniform, ``box:2`` is the
    3x3 outer product of (1/2, 1, 1/2) / 2.
``disk:RADIUS``
    A disc of radius RADIUS pixels, each pixel weighted by the fraction of
    it inside the disc (16 x 16 subsamples per pixel): an out-of-focus blur.
``motion:LENGTH,ANGLE``
    A straight segment of LENGTH pixels through the centre, at ANGLE
    degrees counter-clockwise from the x axis (rows grow downwards, so 90
    is vertical), drawn with bilinear weights from 32 samples per pixel of
    length: a linear camera shake.
a file path
    ``.npy`` (``numpy.load`` with ``allow_pickle=False``, 2-D or 3-D), or
    ``.png``, ``.tif``, ``.tiff`` (a grey image, or colour with equal
    channels; a multi-page TIFF is a 3-D PSF, e.g. a measured bead), read
    by :func:`tvrestore.io.psf.load_psf`: this module reads no file. An even side gets a zero row,
    column or plane at its end, so its centre is the pixel at index ``side // 2``.

Every kernel is then normalised to sum 1. A PSF is at most
:data:`MAX_PSF_SIDE` pixels per side, so each spec's parameter is bounded
(the message gives the range), and a file's header is checked before its
values are read.
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np

from tvrestore.errors import TVRestoreError

__all__ = ["MAX_PSF_SIDE", "PSF_FILE_SUFFIXES", "PSF_KINDS", "as_psf", "check_psf_fits",
           "check_psf_sides", "names_a_psf_file", "parse_psf", "psf_radius"]

PSF_KINDS = ("gaussian", "box", "disk", "motion")
# What a PSF file may be (tvrestore.io.psf reads these).
PSF_FILE_SUFFIXES = (".npy", ".png", ".tif", ".tiff")

# Radius of the Gaussian support, in standard deviations (see the module
# docstring for the mass it drops).
_GAUSSIAN_TRUNCATE = 3.5
_DISK_SUBSAMPLES = 16
_MOTION_SAMPLES_PER_PIXEL = 32

# The largest PSF side, in pixels. Real blurs span a few dozen pixels; a
# side of 255 costs a disk's subsampling 255 * 16 squared float64 values
# (0.13 GiB) at most, and keeps a spec such as box:1e9 from allocating
# gigabytes before any check.
MAX_PSF_SIDE = 255

# Below this, a width parameter makes a single-pixel PSF anyway, and sigma**2
# would underflow to 0 (gaussian:1e-320 divided by zero).
_MIN_WIDTH = 0.01


def parse_psf(spec: str) -> np.ndarray:
    """The normalised PSF that ``spec`` describes.

    Parameters
    ----------
    spec : str
        ``gaussian:SIGMA``, ``gaussian:SZ,SY,SX``, ``box:SIZE``,
        ``disk:RADIUS`` or ``motion:LENGTH,ANGLE`` (see the module
        docstring); a file is :func:`tvrestore.io.psf.load_psf`'s to read.

    Returns
    -------
    np.ndarray, float64, shape (2 r_y + 1, 2 r_x + 1), or (2 r_z + 1, 2 r_y + 1, 2 r_x + 1)
        Non-negative, summing to 1.

    Raises
    ------
    TVRestoreError
        One line naming the spec or file: an unknown kind, a parameter that
        is not a finite positive number, a file name, or a kernel that
        holds NaN, infinity or negative values, or
        sums to 0.
    """
    spec = str(spec)
    kind, colon, parameters = spec.partition(":")
    if colon and kind.lower() in PSF_KINDS:
        return _normalised(_PARAMETRIC[kind.lower()](spec, parameters), spec)
    if names_a_psf_file(spec):
        raise TVRestoreError(f"{spec}: a PSF file is read by tvrestore.io.psf.load_psf")
    raise TVRestoreError(
        f"--psf {spec!r}: expected gaussian:SIGMA, gaussian:SZ,SY,SX, box:SIZE, disk:RADIUS, "
        f"motion:LENGTH,ANGLE or a .npy/.png/.tif/.tiff file"
    )



def names_a_psf_file(spec: str) -> bool:
    """Whether a PSF ``spec`` names a file (:data:`PSF_FILE_SUFFIXES`) rather than a parametric kernel."""
    kind, colon, _ = str(spec).partition(":")
    if colon and kind.lower() in PSF_KINDS:
        return False
    return Path(spec).suffix.lower() in PSF_FILE_SUFFIXES


def check_psf_sides(spec: str, shape: tuple[int, ...]) -> None:
    """Refuse a PSF file whose header declares more than MAX_PSF_SIDE pixels per side
    (or as many values as a 2-D PSF of four such channels)."""
    if any(side > MAX_PSF_SIDE for side in shape[:3]) or math.prod(shape) > 4 * MAX_PSF_SIDE**2:
        raise TVRestoreError(
            f"{spec}: the PSF is {'x'.join(str(side) for side in shape)}; a PSF is 2-D or 3-D, "
            f"at most {MAX_PSF_SIDE} pixels per side and {4 * MAX_PSF_SIDE**2} values")


def as_psf(psf, name: str = "psf") -> np.ndarray:
    """A spec (see :func:`parse_psf`) or an array, as a normalised PSF with odd sides.

    An array is checked and normalised as a file's would be: 2-D or 3-D,
    finite, non-negative, summing to more than 0; an even side gets a zero
    row, column or plane at its end.

    Raises
    ------
    TVRestoreError
        Naming ``name`` for an array that is not a PSF.
    """
    if isinstance(psf, (str, Path)):
        return parse_psf(str(psf))
    array = np.asarray(psf, np.float64)
    if array.ndim not in (2, 3):
        raise TVRestoreError(
            f"{name}: the PSF must be a 2-D or 3-D array, not of shape {array.shape}")
    return _normalised(np.pad(array, [(0, 1 - side % 2) for side in array.shape]), name)


def psf_radius(kernel: np.ndarray) -> tuple[int, ...]:
    """``(r_y, r_x)``, or ``(r_z, r_y, r_x)``: what the PSF reaches from its centre along each axis, each way."""
    return tuple((side - 1) // 2 for side in np.shape(kernel))


def check_psf_fits(kernel: np.ndarray, image_shape: tuple[int, ...], name: str,
                   dimensions: int = 2, psf_name: str | None = None) -> None:
    """Raise unless the PSF has the image's dimensions and is at most as large, side by side.

    Parameters
    ----------
    kernel : np.ndarray, shape (kh, kw) or (kz, kh, kw)
    image_shape : tuple of int
        ``(H, W)`` or ``(H, W, C)`` of the observed image, or ``(Z, Y, X)``
        or ``(Z, Y, X, C)`` of a volume.
    name : str
        How to name the image in the message (a path, usually).
    dimensions : int
        The spatial axes at the front of ``image_shape``: 2 for an image,
        3 for a volume.
    psf_name : str, optional
        The PSF's spec or file, to name in the message.

    Raises
    ------
    TVRestoreError
        If the PSF is 3-D for an image or 2-D for a volume, or larger than
        the data along an axis: the observed window would be smaller than
        the blur that made it, and nothing in it would be determined.
    """
    kernel_shape = np.shape(kernel)
    kind = {2: "a 2-D image", 3: "a volume"}.get(dimensions, f"{dimensions}-D data")
    if len(kernel_shape) != dimensions:
        shown = "" if psf_name is None else f" {psf_name}"
        raise TVRestoreError(
            f"{name}: the {len(kernel_shape)}-D PSF{shown} ({'x'.join(map(str, kernel_shape))}) "
            f"does not fit {kind}; give a {dimensions}-D one"
            + (" (e.g. gaussian:SZ,SY,SX)" if dimensions == 3 else ""))
    sides = tuple(image_shape[:dimensions])
    if any(k > n for k, n in zip(kernel_shape, sides)):
        raise TVRestoreError(
            f"{name}: the PSF ({'x'.join(map(str, kernel_shape))}) is larger than "
            f"the {'image' if dimensions == 2 else 'volume'} ({'x'.join(map(str, sides))})"
        )


def _numbers(
    spec: str, parameters: str, names: tuple[str, ...], highest: tuple[float | None, ...]
) -> list[float]:
    """One finite number per name, comma-separated; a bounded one within [_MIN_WIDTH, highest].

    The bounds keep every PSF within :data:`MAX_PSF_SIDE` pixels per side.
    """
    fields = parameters.split(",")
    try:
        values = [float(field) for field in fields]
    except ValueError:
        values = []
    if len(values) != len(names) or not all(math.isfinite(value) for value in values):
        raise TVRestoreError(
            f"--psf {spec!r}: expected {len(names)} finite number(s) after the colon")
    for value, name, high in zip(values, names, highest):
        if high is not None and not _MIN_WIDTH <= value <= high:
            raise TVRestoreError(
                f"--psf {spec!r}: {name} must be > 0 (at least {_MIN_WIDTH:g}) and at most "
                f"{high:.4g} (a PSF is at most {MAX_PSF_SIDE} pixels wide), not {value:g}")
    return values


def _gaussian(spec: str, parameters: str) -> np.ndarray:
    # The radius ceil(3.5 sigma) stays within MAX_PSF_SIDE.
    highest = (MAX_PSF_SIDE // 2) / _GAUSSIAN_TRUNCATE
    if parameters.count(",") not in (0, 2):
        raise TVRestoreError(
            f"--psf {spec!r}: expected one sigma (gaussian:SIGMA) or three (gaussian:SZ,SY,SX)")
    if parameters.count(",") == 2:
        sigmas = _numbers(spec, parameters, ("sigma_z", "sigma_y", "sigma_x"), (highest,) * 3)
        # Three axes of up to 255 voxels would be 16.6 million values.
        if math.prod(2 * _gaussian_radius(sigma) + 1 for sigma in sigmas) > 4 * MAX_PSF_SIDE**2:
            raise TVRestoreError(
                f"--psf {spec!r}: a 3-D PSF is at most {4 * MAX_PSF_SIDE**2} voxels; "
                "smaller sigmas, please")
        z, y, x = (_gaussian_profile(sigma) for sigma in sigmas)
        return z[:, None, None] * y[None, :, None] * x[None, None, :]
    [sigma] = _numbers(spec, parameters, ("sigma",), (highest,))
    profile = _gaussian_profile(sigma)
    return np.outer(profile, profile)


def _gaussian_radius(sigma: float) -> int:
    return max(1, math.ceil(_GAUSSIAN_TRUNCATE * sigma))


def _gaussian_profile(sigma: float) -> np.ndarray:
    """The Gaussian sampled at the pixel centres within :func:`_gaussian_radius`, not normalised."""
    radius = _gaussian_radius(sigma)
    offsets = np.arange(-radius, radius + 1)
    return np.exp(-(offsets**2) / (2.0 * sigma**2))


def _box(spec: str, parameters: str) -> np.ndarray:
    [size] = _numbers(spec, parameters, ("size",), (MAX_PSF_SIDE,))
    # Pixel a covers [a - 1/2, a + 1/2]; the box covers [-size/2, size/2].
    radius = math.ceil(size / 2 - 0.5)
    offsets = np.arange(-radius, radius + 1)
    coverage = np.clip(np.minimum(offsets + 0.5, size / 2) - np.maximum(offsets - 0.5, -size / 2), 0, 1)
    return np.outer(coverage, coverage)


def _disk(spec: str, parameters: str) -> np.ndarray:
    [radius] = _numbers(spec, parameters, ("radius",), (MAX_PSF_SIDE / 2,))
    # Pixel a reaches into the disc when |a| - 1/2 < radius.
    half = math.ceil(radius + 0.5) - 1
    steps = (np.arange(_DISK_SUBSAMPLES) + 0.5) / _DISK_SUBSAMPLES - 0.5
    points = (np.arange(-half, half + 1)[:, None] + steps[None, :]).ravel()
    inside = (points[:, None] ** 2 + points[None, :] ** 2 <= radius**2).astype(np.float64)
    side = 2 * half + 1
    return inside.reshape(side, _DISK_SUBSAMPLES, side, _DISK_SUBSAMPLES).mean(axis=(1, 3))


def _motion(spec: str, parameters: str) -> np.ndarray:
    # A segment of length L reaches floor(L / 2) + 1 pixels from the centre.
    length, angle = _numbers(spec, parameters, ("length", "angle"), (MAX_PSF_SIDE - 3, None))
    samples = max(2, math.ceil(length * _MOTION_SAMPLES_PER_PIXEL))
    along = np.linspace(-length / 2, length / 2, samples)
    # Rounded, so that cos(90 degrees) = 6e-17 puts no weight beside the line.
    x = np.round(along * math.cos(math.radians(angle)), 9)
    y = np.round(-along * math.sin(math.radians(angle)), 9)  # rows grow downwards
    half = math.floor(max(np.abs(x).max(), np.abs(y).max())) + 1
    kernel = np.zeros((2 * half + 1, 2 * half + 1))
    # Bilinear splatting of each sample onto its four nearest pixels.
    top, left = np.floor(y), np.floor(x)
    fy, fx = y - top, x - left
    rows, columns = top.astype(int) + half, left.astype(int) + half
    for dy, wy in ((0, 1 - fy), (1, fy)):
        for dx, wx in ((0, 1 - fx), (1, fx)):
            np.add.at(kernel, (rows + dy, columns + dx), wy * wx)
    return _trimmed(kernel)


_PARAMETRIC = {"gaussian": _gaussian, "box": _box, "disk": _disk, "motion": _motion}


def _trimmed(kernel: np.ndarray) -> np.ndarray:
    """``kernel`` without the all-zero outer rows and columns, kept centred."""
    radius_y, radius_x = psf_radius(kernel)
    rows = np.flatnonzero(kernel.any(axis=1))
    columns = np.flatnonzero(kernel.any(axis=0))
    keep_y = max(abs(rows[0] - radius_y), abs(rows[-1] - radius_y))
    keep_x = max(abs(columns[0] - radius_x), abs(columns[-1] - radius_x))
    return kernel[radius_y - keep_y : radius_y + keep_y + 1, radius_x - keep_x : radius_x + keep_x + 1]


def _normalised(kernel: np.ndarray, spec: str) -> np.ndarray:
    if kernel.size == 0:
        raise TVRestoreError(f"{spec}: the PSF is empty")
    if not np.all(np.isfinite(kernel)):
        raise TVRestoreError(f"{spec}: the PSF holds NaN or infinite values")
    if np.any(kernel < 0):
        raise TVRestoreError(f"{spec}: the PSF holds negative values")
    # Scaled by its largest value first, so that a sum of huge values
    # (1e308) cannot overflow and tiny ones (1e-320) keep their digits.
    largest = kernel.max()
    if not largest > 0:
        raise TVRestoreError(f"{spec}: the PSF sums to 0")
    scaled = kernel / largest
    normalised = scaled / scaled.sum()
    if not (np.all(np.isfinite(normalised)) and normalised.sum() > 0):
        raise TVRestoreError(f"{spec}: the PSF cannot be normalised to sum 1")
    return normalised
