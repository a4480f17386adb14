r"""Photon counts: the calibration from the image itself, and the Anscombe transform.

Under ``noise="poisson"`` a pixel :math:`p` is :math:`p = g\,y + o (+ n)`
with :math:`y \sim \mathrm{Poisson}(\lambda)` photons, a gain :math:`g`
(pixel units per photon), an offset :math:`o` and, often, Gaussian read
noise :math:`n \sim N(0, \sigma_r^2)`. Its mean and variance are then on a
line (Foi et al., "Practical Poissonian-Gaussian noise modeling and fitting
for single-image raw-data", IEEE TIP 17, 2008):

.. math::

    \operatorname{var} p = a\, \mathbb{E} p + b, \qquad a = g, \quad
    b = \sigma_r^2 - g\, o.

:func:`estimate_gain_offset` fits that line (a robust, single-pass version
of Foi's level-set fit, without its clipping model). With :math:`(a, b)`,
the counts :math:`y' = (p + b / a) / a` have mean and variance
:math:`\lambda + \sigma_r^2 / g^2`: a shifted Poisson variable, so the
read noise is folded into the counts, and :math:`a\,u - b/a` maps a
restored intensity back to :math:`g \lambda + o`, the pixel's own units.
That is why "auto" returns the gain :math:`a` and the *effective* offset
:math:`-b / a`.

:func:`anscombe` and :func:`inverse_anscombe` are the variance-stabilizing
transform of counts, :math:`2\sqrt{y + 3/8}` (noise of about unit
variance), and the closed-form approximation of its exact unbiased inverse
(Mäkitalo and Foi, IEEE TIP 20, 2011). Applied to the counts of any gain
and offset, they are the generalized Anscombe transform of the pixels.
"""

from __future__ import annotations

import numpy as np

from tvrestore.errors import TVRestoreError

__all__ = ["anscombe", "anscombe_variance", "estimate_gain_offset", "inverse_anscombe",
           "stabilized_unit"]

# Side of the blocks whose mean and noise variance are one point of the fit.
_BLOCK = 8
# Level sets (equal-count bins of block means) of the fit.
_LEVELS = 16
# The median of chi-square with 16 degrees of freedom over 16: a block's
# 16 squared Haar diagonal coefficients, whose median over a level set is
# read as the noise variance (texture blocks, fewer than half, lie above it).
_CHI2_16_MEDIAN = 0.9590


def _block_statistics(channel: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per 8x8 block of one (H, W) float64 channel: its mean and its Haar-diagonal noise variance."""
    height, width = (side - side % _BLOCK for side in channel.shape)
    if height == 0 or width == 0:
        return np.empty(0), np.empty(0)
    blocks = channel[:height, :width]
    diagonal = (blocks[0::2, 0::2] - blocks[0::2, 1::2] - blocks[1::2, 0::2]
                + blocks[1::2, 1::2]) / 2
    half = _BLOCK // 2
    means = blocks.reshape(height // _BLOCK, _BLOCK, width // _BLOCK, _BLOCK).mean(axis=(1, 3))
    variances = (diagonal**2).reshape(height // _BLOCK, half, width // _BLOCK, half).mean(axis=(1, 3))
    return means.ravel(), variances.ravel()


def estimate_gain_offset(
    pixels: np.ndarray, gain: float | str = "auto", offset: float | str = "auto"
) -> tuple[float, float]:
    r"""The gain and (effective) offset of Poisson(-Gaussian) pixels, from their mean-variance line.

    Parameters
    ----------
    pixels : np.ndarray, shape (H, W), (H, W, C) or (Z, H, W, C)
        In their own units (not scaled), any real dtype. A volume's planes
        (Z, H, W, C: a volume in canonical order, with its channel axis)
        pool their blocks into one fit.
    gain, offset : float or "auto"
        What to estimate; a number is kept as given. With both "auto", the
        line :math:`\operatorname{var} p = a\,\mathbb{E} p + b` is fitted
        and :math:`(a, -b/a)` returned (read noise folded into the counts,
        see the module docstring). With a given offset :math:`o`, only
        :math:`a` is fitted, on :math:`\operatorname{var} p = a (\mathbb{E} p - o)`;
        with a given gain :math:`g`, :math:`b` is fitted and
        :math:`-b/g` returned.

    Returns
    -------
    gain, offset : float
        Pixel units per count, and the pixel value of zero counts.

    Raises
    ------
    TVRestoreError
        If the image has fewer than two level sets of 8x8 blocks, or its
        variance does not grow with its mean (no photon noise to measure).
    """
    values = np.asarray(pixels, np.float64)
    planes = values if values.ndim == 4 else values.reshape(1, values.shape[0], values.shape[1], -1)
    statistics = [_block_statistics(plane[..., c]) for plane in planes
                  for c in range(planes.shape[3])]
    means = np.concatenate([m for m, _ in statistics])
    variances = np.concatenate([v for _, v in statistics])
    if means.size < 2 * _LEVELS:
        raise TVRestoreError(
            f"cannot estimate the gain from {means.size} blocks of 8x8 pixels "
            "(the image is too small); give the gain and offset")
    order = np.argsort(means)
    level_means, level_variances, counts = [], [], []
    for level in np.array_split(order, _LEVELS):
        level_means.append(means[level].mean())
        level_variances.append(np.median(variances[level]) / _CHI2_16_MEDIAN)
        counts.append(level.size)
    x, v, n = np.array(level_means), np.array(level_variances), np.array(counts, np.float64)
    # Weighted least squares: a variance estimated from n blocks has a
    # standard deviation proportional to itself / sqrt(n).
    if not np.max(v) > 0:
        raise _no_photon_noise()
    weights = n / np.maximum(v, 1e-6 * np.max(v)) ** 2
    if gain != "auto" and offset == "auto":
        a = float(gain)
        b = float(np.sum(weights * (v - a * x)) / np.sum(weights))
        return a, -b / a
    if gain == "auto" and offset != "auto":
        centred = x - float(offset)
        a = float(np.sum(weights * centred * v) / np.sum(weights * centred**2))
        if not a > 0:
            raise _no_photon_noise()
        return a, float(offset)
    if gain != "auto":
        return float(gain), float(offset)
    design = np.stack([x, np.ones_like(x)], axis=1) * np.sqrt(weights)[:, None]
    (a, b), *_ = np.linalg.lstsq(design, v * np.sqrt(weights), rcond=None)
    if not a > 0:
        raise _no_photon_noise()
    return float(a), float(-b / a)


def _no_photon_noise() -> TVRestoreError:
    return TVRestoreError(
        "cannot estimate the gain: the image's noise variance does not grow with its "
        "brightness (is it photon-limited?); give the gain and offset")


def anscombe(counts: np.ndarray) -> np.ndarray:
    r""":math:`2\sqrt{y + 3/8}`: counts to values of about unit noise variance (float64)."""
    return 2.0 * np.sqrt(np.maximum(np.asarray(counts, np.float64) + 0.375, 0.0))


def inverse_anscombe(stabilized: np.ndarray) -> np.ndarray:
    r"""Counts from a denoised Anscombe image: the exact unbiased inverse, in closed form.

    .. math::

        \mathcal{I}(D) = \tfrac14 D^2 + \tfrac14\sqrt{3/2}\,D^{-1}
            - \tfrac{11}{8} D^{-2} + \tfrac58\sqrt{3/2}\,D^{-3} - \tfrac18,

    Mäkitalo and Foi's approximation of :math:`\mathbb{E}[2\sqrt{y + 3/8}]
    \mapsto \lambda`; accurate to about 1e-3 of the exact inverse for
    :math:`D \ge 1.5`. Below, where the exact inverse is near 0, it is
    taken as 0 (the exact one is 0 at :math:`D = 2\sqrt{3/8} \approx 1.22`).
    """
    d = np.maximum(np.asarray(stabilized, np.float64), 1.0)
    root = np.sqrt(1.5)
    value = 0.25 * d**2 + 0.25 * root / d - 1.375 / d**2 + 0.625 * root / d**3 - 0.125
    return np.where(np.asarray(stabilized) > 2 * np.sqrt(0.375), np.maximum(value, 0.0), 0.0)


def stabilized_unit(counts: np.ndarray) -> tuple[np.ndarray, float]:
    r"""The Anscombe image of ``counts`` divided by its maximum ``top`` (float32), and ``top``.

    :math:`z / t` with :math:`z = 2\sqrt{y + 3/8}` and :math:`t = \max(\max z, 1)`:
    data near [0, 1], as the Gaussian solvers and weight search expect,
    whose noise has the known standard deviation :math:`1 / t`. TV with
    L2 is homogeneous, so weight :math:`W` on :math:`z` is weight
    :math:`W / t` on :math:`z / t`, with the same minimizer times :math:`t`.
    """
    stabilized = anscombe(counts)
    top = max(float(stabilized.max()), 1.0)
    return (stabilized / top).astype(np.float32), top


# The counts at which anscombe_variance is tabulated, and its table (filled on first use).
_VARIANCE_COUNTS = np.geomspace(1e-3, 1e3, 241)
_variance_table: list[np.ndarray] = []


def anscombe_variance(counts: np.ndarray) -> np.ndarray:
    r"""The variance of :math:`2\sqrt{y + 3/8}` for :math:`y \sim \mathrm{Poisson}(\lambda)`, per :math:`\lambda`.

    About 1 from :math:`\lambda \approx 4` up (1.0009 at 10, 0.9987 at 4),
    below it under (0.92 at 2, 0.72 at 1, 0.47 at 0.5, 0 at 0): the
    transform stabilizes the variance of all but the darkest counts.
    Summed exactly over the Poisson law on a grid of :math:`\lambda`
    (1e-3 to 1e3, log-spaced) and interpolated; 1 above the grid.
    """
    if not _variance_table:
        from scipy.stats import poisson

        k = np.arange(0, 1400)[:, None]
        pmf = poisson.pmf(k, _VARIANCE_COUNTS[None, :])
        values = anscombe(k)
        mean = np.sum(pmf * values, axis=0)
        _variance_table.append(np.sum(pmf * values**2, axis=0) - mean**2)
    lam = np.asarray(counts, np.float64)
    return np.interp(lam, _VARIANCE_COUNTS, _variance_table[0], left=0.0, right=1.0)
