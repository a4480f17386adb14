r"""Seeded degradations of a clean scene, for benchmarks and measurements.

They follow tvrestore's forward model, and the way real cameras see:
the observed image is a window of a larger scene, so its border pixels
saw content outside the frame. For a scene :math:`s` (float, [0, 1]),

.. math::

    f = M \odot \bigl(S_K (k * s)_{\mathrm{valid}} + \sigma n\bigr),
    \qquad n \sim \mathcal N(0, 1),

where :math:`k * s` is the 2-D convolution with the PSF (its 'valid' part:
no boundary is assumed), :math:`S_K` averages K x K blocks (pixel binning)
and :math:`M` zeroes the missing pixels (a dead pixel reads 0; tvrestore
ignores the value). The clean target is the scene's window that the
observed image covers, on the fine grid: ``(K H, K W)``.

numpy and scipy only; no TensorFlow. The convolution is scipy's, not
tvrestore's operator, so a measurement does not trust the code it checks.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Degraded", "IMPULSE_KINDS", "degrade", "impulse_noise", "scene_shape"]

IMPULSE_KINDS = ("salt-and-pepper", "random-valued")


@dataclass(frozen=True)
class Degraded:
    """A degraded observation and what it should be restored to.

    Attributes
    ----------
    observed : np.ndarray, float64, (H, W[, C])
        What the camera recorded, noise included (not clipped).
    clean : np.ndarray, float64, (K H, K W[, C])
        The scene's window that ``observed`` covers, on the fine grid.
    mask : np.ndarray of bool, (H, W), or None
        True where a pixel is missing (its value in ``observed`` is 0).
    """

    observed: np.ndarray
    clean: np.ndarray
    mask: np.ndarray | None


def scene_shape(observed_hw: tuple[int, int], psf: np.ndarray | None = None,
                upscale: int = 1) -> tuple[int, int]:
    """The scene size that gives an observed image of ``observed_hw``.

    The fine grid is ``upscale`` times the observed size, and the 'valid'
    blur needs the PSF's radius more on each side.
    """
    radius_y, radius_x = (0, 0) if psf is None else ((np.shape(psf)[0] - 1) // 2,
                                                     (np.shape(psf)[1] - 1) // 2)
    return (upscale * observed_hw[0] + 2 * radius_y, upscale * observed_hw[1] + 2 * radius_x)


def degrade(scene: np.ndarray, *, psf: np.ndarray | None = None, upscale: int = 1,
            missing_fraction: float = 0.0, noise_sigma: float = 0.0,
            seed: int = 0) -> Degraded:
    """Blur, bin, add noise and drop pixels of ``scene``, reproducibly.

    Parameters
    ----------
    scene : np.ndarray, (Hs, Ws[, C])
        Clean values in [0, 1]; see :func:`scene_shape` for the size that
        gives a wanted observed size.
    psf : np.ndarray, (2 r_y + 1, 2 r_x + 1), optional
        Convolution kernel on the fine grid (odd sides, summing to 1).
    upscale : int
        Binning factor K >= 1; the blurred fine image is cropped to a
        multiple of K first.
    missing_fraction : float
        Fraction of observed pixels, drawn uniformly at random, that are
        missing (in all channels).
    noise_sigma : float
        Standard deviation of the Gaussian noise, in [0, 1] intensity units.
    seed : int
        Seeds the noise and the missing pixels.

    Returns
    -------
    Degraded
    """
    scene = np.asarray(scene, np.float64)
    colour = scene.ndim == 3
    planes = scene if colour else scene[..., None]
    if psf is not None:
        from scipy.signal import fftconvolve

        planes = np.stack([fftconvolve(planes[..., c], psf, mode="valid")
                           for c in range(planes.shape[2])], axis=-1)
        radius_y, radius_x = (psf.shape[0] - 1) // 2, (psf.shape[1] - 1) // 2
        clean = scene[radius_y:scene.shape[0] - radius_y, radius_x:scene.shape[1] - radius_x]
    else:
        clean = scene
    height, width = planes.shape[0] // upscale, planes.shape[1] // upscale
    planes = planes[:height * upscale, :width * upscale]
    clean = clean[:height * upscale, :width * upscale]
    binned = planes.reshape(height, upscale, width, upscale, -1).mean(axis=(1, 3))
    rng = np.random.default_rng(seed)
    observed = binned + noise_sigma * rng.standard_normal(binned.shape)
    mask = None
    if missing_fraction > 0:
        mask = rng.random((height, width)) < missing_fraction
        observed[mask] = 0.0
    if not colour:
        observed = observed[..., 0]
    return Degraded(observed=observed, clean=clean, mask=mask)


def impulse_noise(clean: np.ndarray, kind: str, fraction: float,
                  seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """Replace a seeded ``fraction`` of the values of ``clean`` by impulses.

    Each value (pixel and channel) is hit independently with probability
    ``fraction``. ``"salt-and-pepper"``: a hit value becomes 0 or 1, with
    equal probability. ``"random-valued"``: it becomes a uniform draw
    from [0, 1].

    Parameters
    ----------
    clean : np.ndarray, (H, W[, C])
        Values in [0, 1].
    kind : {"salt-and-pepper", "random-valued"}
    fraction : float
        In [0, 1].
    seed : int

    Returns
    -------
    noisy : np.ndarray, float32, the shape of ``clean``
    hit : np.ndarray of bool, the shape of ``clean``
        True where a value was replaced.
    """
    if kind not in IMPULSE_KINDS:
        raise ValueError(f"unknown impulse kind {kind!r}; expected one of {', '.join(IMPULSE_KINDS)}")
    rng = np.random.default_rng(seed)
    draw = rng.random(np.shape(clean))
    hit = draw < fraction
    if kind == "salt-and-pepper":
        # Below fraction / 2 pepper, above it salt: one draw decides both.
        replacement = (draw >= fraction / 2).astype(np.float64)
    else:
        replacement = rng.random(np.shape(clean))
    noisy = np.where(hit, replacement, clean).astype(np.float32)
    return noisy, hit
