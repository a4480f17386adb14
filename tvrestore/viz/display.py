"""Pixels made ready to look at: colour view, display range, block-mean downsampling.

Shared by :mod:`tvrestore.viz.figures` and :mod:`tvrestore.viz.gallery`; numpy only
(no matplotlib, no TensorFlow, no io: pixels come as
:class:`tvrestore.io.pixels.UnitView`). Nothing here copies a full image: alpha is
dropped through a view, the range is a min/max reduction, and downsampling
converts one band of rows at a time, so a 4096x4096 image costs a few
megabytes beyond its own pixels.

Display values are float32 in [0, 1]: 0 is black and 1 white (or full
colour) on the chosen :class:`DisplayRange`.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import TYPE_CHECKING, Callable, Sequence

import numpy as np

from tvrestore.errors import TVRestoreError

if TYPE_CHECKING:
    from tvrestore.io.pixels import UnitView

__all__ = [
    "MAX_DISPLAY_SIDE",
    "DisplayRange",
    "VolumeView",
    "block_mean",
    "display_range",
    "downsampling_factor",
    "to_display",
    "to_uint8",
    "volume_view",
]

# The largest side of a downsampled view. Beyond it, a figure panel or a
# screen shows no more detail, and memory per panel stays at 4 MiB (float32).
MAX_DISPLAY_SIDE = 1024

# Values converted to float32 per band in block_mean: 1 Mi values, 4 MiB.
# Smaller bands cost more Python overhead and save no time.
_BAND_VALUES = 2**20

@dataclass(frozen=True)
class DisplayRange:
    """The intensities shown from black to white.

    Attributes
    ----------
    low, high : float
        In unit range (:func:`tvrestore.io.to_unit_range`: uint8 / 255,
        uint16 / 65535, floats as they are), ``low < high``.
    description : str
        The range in the image's own values, for a caption, e.g.
        ``"uint16 812..3905 (data min..max)"``.
    """

    low: float
    high: float
    description: str


def display_range(
    image: "UnitView", value_range: tuple[float, float] | None = None
) -> DisplayRange:
    """The range an image is shown on.

    bool and uint8 images are shown on their dtype's full range; uint16 and
    float images on their own min..max, since a 12-bit scan in a 16-bit file
    or a float image outside [0, 1] would otherwise look black or clipped.

    Parameters
    ----------
    image : UnitView
        Pixels as :func:`tvrestore.io.pixels.unit_view` returns them.
    value_range : (float, float), optional
        ``(low, high)`` in the image's own values (uint16 counts, uint8
        levels, float intensities), overriding the automatic choice.

    Returns
    -------
    DisplayRange

    Raises
    ------
    TVRestoreError
        If `value_range` is not two finite numbers with ``low < high``.
    """
    scale = image.scale
    if value_range is not None:
        low, high = (float(value) for value in value_range)
        if not (math.isfinite(low) and math.isfinite(high) and low < high):
            raise TVRestoreError(
                f"display range must be two finite numbers low < high, got {value_range!r}"
            )
        source = "given"
    elif image.dtype in (np.dtype(np.bool_), np.dtype(np.uint8)):
        low, high, source = 0.0, float(scale), "full range"
    else:
        low, high = float(image.raw.min()), float(image.raw.max())
        source = "data min..max"
        if low == high:
            # A constant image: mid-grey on a range one value wide.
            low, high = low - 0.5, high + 0.5
    description = f"{image.dtype} {_value(low)}..{_value(high)} ({source})"
    return DisplayRange(low=low / scale, high=high / scale, description=description)


def _value(value: float) -> str:
    return f"{value:.0f}" if float(value).is_integer() else f"{value:.4g}"


def downsampling_factor(shape: Sequence[int], max_side: int = MAX_DISPLAY_SIDE) -> int:
    """The smallest integer factor that brings both sides to at most `max_side`."""
    if max_side < 1:
        raise TVRestoreError(f"max_side must be at least 1, got {max_side!r}")
    return max(1, math.ceil(max(shape[0], shape[1]) / max_side))


def block_mean(
    images: "Sequence[UnitView]",
    factor: int,
    combine: Callable[..., np.ndarray] | None = None,
) -> np.ndarray:
    """Downsample by the mean of ``factor x factor`` blocks, in unit range.

    Parameters
    ----------
    images : sequence of UnitView
        Same-shape pixels (:func:`tvrestore.io.pixels.unit_view`), any
        supported dtype each; converted to unit range a band at a time.
    factor : int
        Block side; the last ``H % factor`` rows and ``W % factor`` columns
        are left out (at most ``factor - 1`` pixels at the bottom and right).
    combine : callable, optional
        ``combine(*bands) -> band``, applied to the images' float32 unit-range
        bands before averaging, e.g. an absolute difference. It must keep the
        band's rows and columns. Default: the first image as it is.

    Returns
    -------
    numpy.ndarray
        float32, ``(H // factor, W // factor[, C])``.

    Notes
    -----
    The images are converted a band of rows at a time, so the extra memory
    is a few bands (about 4 MiB each) plus the result, whatever their size:
    averaging blocks, rather than taking every `factor`-th pixel, keeps noise
    and fine texture at their true mean brightness instead of aliasing them.
    """
    if combine is None:
        combine = _first
    height, width = images[0].shape[0] // factor, images[0].shape[1] // factor
    band_rows = max(1, _BAND_VALUES // (math.prod(images[0].shape[1:]) * factor))
    bands = []
    for top in range(0, height, band_rows):
        rows = slice(top * factor, min(top + band_rows, height) * factor)
        band = combine(*(image[rows, : width * factor].unit() for image in images))
        blocks = band.reshape(band.shape[0] // factor, factor, width, factor, *band.shape[2:])
        bands.append(blocks.mean(axis=(1, 3), dtype=np.float32))
    return np.concatenate(bands, axis=0)


def _first(band: np.ndarray, *_: np.ndarray) -> np.ndarray:
    return band


def to_display(unit: np.ndarray, shown: DisplayRange) -> np.ndarray:
    """Map unit-range pixels onto [0, 1] for display: `shown` low -> 0, high -> 1, clipped."""
    return np.clip((unit - shown.low) / (shown.high - shown.low), 0, 1).astype(np.float32)


def to_uint8(display: np.ndarray) -> np.ndarray:
    """[0, 1] display values as 8-bit pixels, rounded."""
    return np.rint(display * 255).astype(np.uint8)


@dataclass(frozen=True)
class VolumeView:
    """A volume or time-lapse made ready to cut: ``(D, Y, X)`` or ``(D, Y, X, 3)`` pixels as stored.

    Attributes
    ----------
    pixels : numpy.ndarray
        The stack in depth, row, column order (a transposed view where
        possible), grey or RGB, in the file's dtype.
    depth : {"Z", "T"}
        The axis stacked: Z, or T for a time-lapse of 2-D frames.
    frame : int or None
        The time frame shown of a time-lapse of volumes (the middle one).
    channels : int
        The channels of the file: 3 are shown as RGB, any other count
        above 1 as their mean.
    """

    pixels: np.ndarray
    depth: str
    frame: int | None
    channels: int

    @property
    def middle(self) -> np.ndarray:
        """The middle plane along the depth axis, ``(Y, X[, 3])``."""
        return self.pixels[self.pixels.shape[0] // 2]

    def projection(self) -> np.ndarray:
        """The maximum along the depth axis, ``(Y, X[, 3])`` (channel by channel)."""
        return self.pixels.max(axis=0)

    def as_image(self) -> np.ndarray:
        """Every plane one above the other, ``(D * Y, X[, 3])``: for a display range over the stack."""
        return self.pixels.reshape(-1, *self.pixels.shape[2:])


def volume_view(pixels: np.ndarray, axes: str) -> VolumeView:
    """``pixels`` with named ``axes`` (letters of ``TZYXC``, in the array's order) as a :class:`VolumeView`.

    The axes go to the order T Z Y X C; of a time-lapse of volumes the
    middle frame is kept; a time-lapse of 2-D frames stacks its frames.
    One channel is grey, three are RGB, and other counts (2, 4: a
    volume's channels are data, not alpha) are shown as their mean,
    rounded back to the dtype.

    Raises
    ------
    TVRestoreError
        If ``axes`` do not name one Z or T axis, Y and X, one letter per
        axis of ``pixels``.
    """
    letters = str(axes).upper()
    if (len(letters) != np.ndim(pixels) or sorted(letters) != sorted(set(letters))
            or not set(letters) <= set("TZYXC") or "Y" not in letters or "X" not in letters
            or not set(letters) & set("TZ")):
        raise TVRestoreError(
            f"axes {axes!r} do not name a volume or time-lapse of shape {np.shape(pixels)}")
    canonical = "".join(letter for letter in "TZYXC" if letter in letters)
    stack = np.transpose(pixels, [letters.index(letter) for letter in canonical])
    frame = None
    if canonical.startswith("TZ"):
        frame = stack.shape[0] // 2
        stack, canonical = stack[frame], canonical[1:]
    channels = stack.shape[-1] if canonical.endswith("C") else 1
    if canonical.endswith("C") and channels != 3:
        mean = stack.mean(axis=-1)
        stack = (mean if stack.dtype.kind == "f" else np.rint(mean)).astype(stack.dtype)
    return VolumeView(stack, canonical[0], frame, channels)
