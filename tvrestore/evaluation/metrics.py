r"""Image quality against a clean reference: PSNR and SSIM.

Both images are compared in [0, 1] intensity units with an explicit
``data_range=1``, so a score does not depend on the file's dtype: the
caller converts pixels as read (:func:`tvrestore.io.pixels.to_unit_range`,
alpha split off) once, and this module reads and converts nothing. Values
are scored as float32, the precision pixels are solved in.

.. math::

    \mathrm{PSNR}(x, y) = 10 \log_{10} \frac{1}{\operatorname{mean}(x - y)^2}
"""

from __future__ import annotations

import numpy as np

from tvrestore.errors import TVRestoreError

__all__ = ["psnr", "quality", "volume_quality"]

# skimage's default SSIM window; smaller images get the largest odd window
# that fits.
_SSIM_WINDOW = 7


def quality(reference: np.ndarray, image: np.ndarray) -> tuple[float | None, float | None]:
    """(PSNR in dB, mean SSIM) of ``image`` against ``reference``.

    The PSNR is None for an image identical to its reference (it would be
    infinite, which JSON cannot hold). SSIM uses skimage's 7x7 window
    (smaller for smaller images, None below 3x3) and averages the channels.

    Parameters
    ----------
    reference, image : np.ndarray
        ``(H, W)`` or ``(H, W, C)`` floats in unit range, without alpha
        (``(H, W, 1)`` is scored as ``(H, W)``); the shapes must match.

    Raises
    ------
    TVRestoreError
        If the shapes differ, or an image is not of floats (pixels as
        stored: convert them first).
    """
    clean, restored = _unit_pair(reference, image)
    return _psnr(clean, restored), _ssim(clean, restored)


def psnr(reference: np.ndarray, image: np.ndarray) -> float | None:
    """PSNR in dB of ``image`` against ``reference``, as :func:`quality` gives it.

    For when SSIM is not wanted: on large images it costs far more than
    PSNR (about 5 s at 4096x4096).
    """
    return _psnr(*_unit_pair(reference, image))


def volume_quality(reference: np.ndarray, image: np.ndarray,
                   channel_axis: int | None = None) -> tuple[float | None, float | None]:
    """(PSNR in dB, mean SSIM) of a volume or time-lapse against its reference, in N-D.

    As :func:`quality`, with ``data_range=1`` on unit-range values, but
    SSIM's window spans every axis but the channels (skimage's
    ``structural_similarity`` is N-D): 7 values a side, or the largest odd
    side that the shortest axis holds (None below 3), so a 3-D structure
    is scored in 3-D, not plane by plane.

    Parameters
    ----------
    reference, image : np.ndarray
        Unit-range floats of one shape, e.g. ``(Z, Y, X)`` or ``(Z, Y, X, C)``.
    channel_axis : int, optional
        The channel axis, when there is one; its channels' SSIMs are averaged.

    Raises
    ------
    TVRestoreError
        If the shapes differ or an image is not of floats.
    """
    clean, restored = _unit_pair(reference, image, squeeze=False)
    sides = [side for axis, side in enumerate(clean.shape)
             if channel_axis is None or axis != channel_axis % clean.ndim]
    window = min(_SSIM_WINDOW, *sides)
    window -= 1 - window % 2
    if window < 3:
        return _psnr(clean, restored), None
    from skimage.metrics import structural_similarity

    return _psnr(clean, restored), float(structural_similarity(
        clean, restored, data_range=1.0, channel_axis=channel_axis, win_size=window))


def _unit(image: np.ndarray, squeeze: bool = True) -> np.ndarray:
    image = np.asarray(image)
    if image.dtype.kind != "f":
        # uint8 levels scored as unit floats would give a meaningless PSNR.
        raise TVRestoreError(
            f"scores take unit-range floats, not {image.dtype} pixels "
            "(tvrestore.io.pixels.to_unit_range converts them)")
    unit = image.astype(np.float32).astype(np.float64)
    return unit[..., 0] if squeeze and unit.ndim == 3 and unit.shape[2] == 1 else unit


def _unit_pair(reference: np.ndarray, image: np.ndarray,
               squeeze: bool = True) -> tuple[np.ndarray, np.ndarray]:
    clean, restored = _unit(reference, squeeze), _unit(image, squeeze)
    if clean.shape != restored.shape:
        raise TVRestoreError(
            f"reference has shape {clean.shape} but the image has {restored.shape}"
        )
    return clean, restored


def _psnr(clean: np.ndarray, restored: np.ndarray) -> float | None:
    if np.array_equal(clean, restored):
        return None
    # skimage.metrics pulls in scipy.stats (about 0.4 s): imported only when
    # a reference is scored.
    from skimage.metrics import peak_signal_noise_ratio

    return float(peak_signal_noise_ratio(clean, restored, data_range=1.0))


def _ssim(clean: np.ndarray, restored: np.ndarray) -> float | None:
    window = min(_SSIM_WINDOW, *clean.shape[:2])
    window -= 1 - window % 2  # SSIM windows are odd
    if window < 3:
        return None
    channel_axis = -1 if clean.ndim == 3 else None
    from skimage.metrics import structural_similarity

    return float(
        structural_similarity(
            clean, restored, data_range=1.0, channel_axis=channel_axis, win_size=window
        )
    )
