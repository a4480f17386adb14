"""Pixels as stored and pixels as solved: the unit range and the alpha channel.

Everything above :mod:`tvrestore.io` works on float32 arrays in [0, 1]
without alpha. The pixels a file holds (:func:`tvrestore.io.read_image`)
convert to those once, right after reading (:func:`split_alpha`, then
:func:`to_unit_range`), and back once, right before writing
(:func:`from_unit_range`, then :func:`join_alpha`).

Photon counts (``noise="poisson"``, docs/noise.md) are the one other
unit: :func:`to_counts` takes pixels of any dtype, unscaled, as
``gain * counts + offset``, and :func:`from_counts` writes counts back in
the input's units and dtype.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from tvrestore.errors import TVRestoreError

__all__ = [
    "SUPPORTED_DTYPES",
    "UnitView",
    "check_dtype",
    "from_counts",
    "from_unit_range",
    "join_alpha",
    "split_alpha",
    "to_counts",
    "to_unit_range",
    "unit_view",
]

# The dtypes of pixels as read and written: 1-bit images as bool.
SUPPORTED_DTYPES: frozenset[np.dtype] = frozenset(
    np.dtype(t) for t in (np.bool_, np.uint8, np.uint16, np.float32, np.float64)
)

_INTEGER_MAX = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}


def to_unit_range(pixels: np.ndarray, copy: bool = True) -> np.ndarray:
    """Scale pixels to float32, integers to [0, 1].

    Parameters
    ----------
    pixels : numpy.ndarray
        bool, uint8, uint16, float32 or float64 pixels.
    copy : bool
        If False, float32 pixels come back as a read-only view instead of a
        copy (a large image is not duplicated, and cannot be written to
        through the result).

    Returns
    -------
    numpy.ndarray
        float32, same shape: uint8 divided by 255, uint16 by 65535, bool as
        0 or 1, floats cast as they are (not clipped).

    Raises
    ------
    TVRestoreError
        If the dtype is not supported, or float64 values are too large for
        float32 (beyond about 3.4e38): they would become infinite.
    """
    dtype = pixels.dtype
    check_dtype(dtype)
    if not copy and dtype == np.float32:
        unit = pixels.view()
        unit.flags.writeable = False
        return unit
    with np.errstate(over="ignore"):  # reported below, as one error, not a warning
        unit = pixels.astype(np.float32)
    if dtype == np.float64:
        overflowed = np.isinf(unit) & np.isfinite(pixels)
        if overflowed.any():
            raise TVRestoreError(
                f"image values reach {np.abs(pixels[overflowed]).max():.3g}, beyond float32's "
                f"range ({np.finfo(np.float32).max:.3g})"
            )
    if dtype in _INTEGER_MAX:
        unit /= np.float32(_INTEGER_MAX[dtype])
    return unit


def from_unit_range(unit: np.ndarray, dtype: npt.DTypeLike) -> np.ndarray:
    """Convert unit-range floats back to `dtype`: the inverse of to_unit_range.

    ``from_unit_range(to_unit_range(x), x.dtype)`` equals ``x`` exactly for
    every bool, uint8 and uint16 value.

    Parameters
    ----------
    unit : numpy.ndarray
        Float pixels, nominally in [0, 1].
    dtype : dtype-like
        bool, uint8, uint16, float32 or float64.

    Returns
    -------
    numpy.ndarray
        uint8 and uint16: clipped to [0, 1], scaled to the full range and
        rounded half to even. bool: ``unit >= 0.5``. Floats: cast, not
        clipped, so float TIFFs keep values outside [0, 1].

    Raises
    ------
    TVRestoreError
        If `dtype` is not supported or `unit` holds NaN or infinity (a
        diverged result would otherwise turn silently into black pixels).
    """
    dtype = np.dtype(dtype)
    check_dtype(dtype)
    if not np.isfinite(unit).all():
        raise TVRestoreError("result contains NaN or infinite values")
    if dtype == np.bool_:
        return unit >= 0.5
    if dtype in _INTEGER_MAX:
        return np.rint(np.clip(unit, 0, 1) * _INTEGER_MAX[dtype]).astype(dtype)
    return unit.astype(dtype)


def to_counts(pixels: np.ndarray, gain: float, offset: float) -> np.ndarray:
    """Photon counts :math:`y = (p - \\mathrm{offset}) / \\mathrm{gain}` of pixels :math:`p`, as float32.

    Nothing is scaled to [0, 1]: a uint8 or uint16 value of 37 is 37 counts
    at gain 1 and offset 0, as a float value of 37.0 is. Negative counts
    (pixels below the offset) are returned as they are; the caller decides
    what they mean (:func:`tvrestore.api.restore` takes them as 0 and
    reports the fraction).

    Raises
    ------
    TVRestoreError
        If the dtype is not supported.
    """
    check_dtype(pixels.dtype)
    counts = (np.asarray(pixels, np.float64) - offset) / gain
    return counts.astype(np.float32)


def from_counts(counts: np.ndarray, gain: float, offset: float, dtype: npt.DTypeLike) -> np.ndarray:
    """Counts back to pixels ``gain * counts + offset`` in ``dtype``: the inverse of :func:`to_counts`.

    uint8 and uint16: rounded half to even and clipped to the dtype's
    range; bool: at least half of the range's top (1); floats: cast, not
    rounded or clipped (a float32 TIFF keeps the full precision).

    Raises
    ------
    TVRestoreError
        If `dtype` is not supported or `counts` hold NaN or infinity.
    """
    dtype = np.dtype(dtype)
    check_dtype(dtype)
    if not np.isfinite(counts).all():
        raise TVRestoreError("result contains NaN or infinite values")
    pixels = gain * np.asarray(counts, np.float64) + offset
    if dtype == np.bool_:
        return pixels >= 0.5
    if dtype in _INTEGER_MAX:
        return np.rint(np.clip(pixels, 0, _INTEGER_MAX[dtype])).astype(dtype)
    return pixels.astype(dtype)


def split_alpha(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Separate the alpha channel of grey+alpha and RGBA images.

    Parameters
    ----------
    pixels : numpy.ndarray
        ``(H, W)`` or ``(H, W, C)`` pixels.

    Returns
    -------
    colour : numpy.ndarray
        ``(H, W, 1)`` for ``C == 2``, ``(H, W, 3)`` for ``C == 4``, otherwise
        `pixels` itself.
    alpha : numpy.ndarray or None
        The last channel, ``(H, W)`` in the original dtype, for ``C`` 2 or 4;
        otherwise None.

    Notes
    -----
    Both arrays are views of `pixels`, not copies.
    """
    if pixels.ndim == 3 and pixels.shape[2] in (2, 4):
        return pixels[..., :-1], pixels[..., -1]
    return pixels, None


def join_alpha(colour: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Put an alpha channel back: the inverse of split_alpha.

    Parameters
    ----------
    colour : numpy.ndarray
        ``(H, W, 1)`` or ``(H, W, 3)`` if `alpha` is given, else any layout.
    alpha : numpy.ndarray or None
        ``(H, W)``, same dtype as `colour`, or None.

    Returns
    -------
    numpy.ndarray
        `colour` with `alpha` appended as the last channel, or `colour`
        itself if `alpha` is None.

    Raises
    ------
    TVRestoreError
        If the dtypes differ (numpy would silently promote both).
    """
    if alpha is None:
        return colour
    if alpha.dtype != colour.dtype:
        raise TVRestoreError(
            f"alpha dtype {alpha.dtype} does not match colour dtype {colour.dtype}"
        )
    return np.concatenate([colour, alpha[..., np.newaxis]], axis=-1)


def check_dtype(dtype: np.dtype, prefix: str = "") -> None:
    """Refuse a dtype outside :data:`SUPPORTED_DTYPES`; ``prefix`` starts the message (a path)."""
    if dtype not in SUPPORTED_DTYPES:
        raise TVRestoreError(
            f"{prefix}unsupported pixel type {dtype} "
            "(expected bool, uint8, uint16, float32 or float64)"
        )


@dataclass(frozen=True)
class UnitView:
    """An image's colour pixels as read, in unit range on demand, a slice at a time.

    The one place where pixels to look at are converted: display code
    slices the view (a view of the pixels, never a copy) and asks each
    slice for its unit-range values, so that a 4096x4096 image is never
    converted whole.

    Attributes
    ----------
    raw : numpy.ndarray
        ``(H, W)`` grey or ``(H, W, 3)`` colour pixels in their own dtype
        (bool, uint8, uint16, float32 or float64), alpha dropped.
    """

    raw: np.ndarray

    @property
    def shape(self) -> tuple[int, ...]:
        return self.raw.shape

    @property
    def ndim(self) -> int:
        return self.raw.ndim

    @property
    def dtype(self) -> np.dtype:
        return self.raw.dtype

    @property
    def scale(self) -> float:
        """The value that unit range calls 1: 255, 65535, or 1 (bool, floats)."""
        return float(_INTEGER_MAX.get(self.raw.dtype, 1))

    def __getitem__(self, key) -> "UnitView":
        return UnitView(self.raw[key])

    def unit(self) -> np.ndarray:
        """float32 in unit range (:func:`to_unit_range`), a new array."""
        return to_unit_range(self.raw)


def unit_view(image: "np.ndarray | UnitView") -> UnitView:
    """The pixels to show of ``image`` (``(H, W)`` or ``(H, W, C)``, C in 1..4).

    Alpha is dropped and a single channel becomes grey, through views of
    ``image``; a :class:`UnitView` is returned as it is.
    """
    if isinstance(image, UnitView):
        return image
    pixels = np.asarray(image)
    check_dtype(pixels.dtype)
    colour, _ = split_alpha(pixels)
    return UnitView(colour[..., 0] if colour.ndim == 3 and colour.shape[2] == 1 else colour)
