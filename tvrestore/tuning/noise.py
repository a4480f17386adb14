r"""Noise level from the image itself, and the weight it calls for.

The estimate is Donoho's robust one: Gaussian noise of standard deviation
:math:`\sigma` gives the finest diagonal wavelet coefficients a standard
deviation :math:`\sigma`, while a piecewise-smooth image leaves most of them
near 0, so

.. math::

    \hat\sigma = \operatorname{median}(|d|) / 0.6745,

with :math:`d` the orthonormal Haar diagonal detail
:math:`(a - b - c + e)/2` of each 2x2 block :math:`\begin{smallmatrix} a & b
\\ c & e\end{smallmatrix}` (0.6745 is the median of :math:`|N(0, 1)|`).

The weight rule is a power law in the estimated noise level,

.. math::

    w = k \, \hat\sigma \, (\hat\sigma / \sigma_{\mathrm{ref}})^{p - 1},
    \qquad \sigma_{\mathrm{ref}} = 25/255,

with one factor :math:`k` per TV norm (the weight over :math:`\hat\sigma`
at :math:`\sigma_{\mathrm{ref}}`) and one exponent :math:`p` for all. The
PSNR-best weight grows faster than the noise: on photographs it goes from
about :math:`0.6\,\hat\sigma` at :math:`\sigma = 15/255` to
:math:`0.85\,\hat\sigma` at :math:`50/255` (grey, isotropic), as the noise
overtakes more of the image's own contrast. Fitted one norm at a time,
:math:`p` comes out between 1.20 and 1.30 for all six; a linear rule
(:math:`p = 1`) loses up to about 1 dB where this one loses 0.5.
:math:`k` depends on the norm: anisotropic TV is larger than isotropic for
the same image (by up to :math:`\sqrt2`), so it needs a smaller weight; a
vectorial TV, one root over the C channels of a pixel, is smaller than the
channelwise sum of C roots (by up to :math:`\sqrt C`), so it needs a larger
one.

The rule sees the noise level only, and the best weight also depends on the
image: at the same noise level, smooth images (the moon, a cell micrograph,
a retina close-up) want 1.2 to 1.6 times a photograph's weight, fine
texture (grass, gravel) 0.4 to 0.75 times. Calibrated on photographs, the
rule is within about 0.3 dB of the best weight on most of them (0.5 dB on
the busiest) and loses up to 2.5 dB on such images; see
``benchmarks/calibrate_auto_weight.py``.

So ``weight="auto"`` uses the rule only as the centre of a grid of
candidates (``SURE_CANDIDATE_FACTORS``) and keeps the candidate of least
:func:`monte_carlo_sure`, an estimate of the mean squared error against the
unknown clean image; :mod:`tvrestore.api` runs the grid.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "AUTO_WEIGHT_EXPONENT",
    "AUTO_WEIGHT_FACTORS",
    "AUTO_WEIGHT_REFERENCE_SIGMA",
    "Censoring",
    "SURE_CANDIDATE_FACTORS",
    "SURE_PROBE_SCALE",
    "auto_weight",
    "censoring",
    "estimate_noise_sigma",
    "estimate_volume_noise_sigma",
    "monte_carlo_sure",
    "sure_minimizer",
]

# Median of |N(0, 1)|: scales the median absolute coefficient to sigma.
_MAD_TO_SIGMA = 0.6745

# sigma_ref, p and k of the rule w = k sigma (sigma / sigma_ref)^(p - 1),
# keyed by (tv, mode) with mode "grey" for one channel, else the colour mode.
# p (shared) and k (per key) minimize the mean PSNR loss against the best
# weight over photographs from scikit-image (camera, astronaut, rocket,
# immunohistochemistry; 256x256 centre crops, 8-bit noise at sigma 15, 25
# and 50 / 255), as printed by
#     python benchmarks/calibrate_auto_weight.py
# which also checks them on held-out photographs and harder images.
AUTO_WEIGHT_REFERENCE_SIGMA = 25 / 255
AUTO_WEIGHT_EXPONENT = 1.21
AUTO_WEIGHT_FACTORS: dict[tuple[str, str], float] = {
    ("isotropic", "grey"): 0.785,
    ("anisotropic", "grey"): 0.655,
    ("isotropic", "vectorial"): 1.192,
    ("anisotropic", "vectorial"): 0.923,
    ("isotropic", "channelwise"): 0.804,
    ("anisotropic", "channelwise"): 0.672,
}


def estimate_noise_sigma(
    image: np.ndarray, missing: np.ndarray | None = None, weak_texture_tiles: bool = True
) -> float:
    r"""Estimate the standard deviation of additive white Gaussian noise.

    :math:`\hat\sigma = \operatorname{median}(|d|) / 0.6745` over the Haar
    diagonal details :math:`d` (see the module docstring), taken from the
    image's flattest 8x8 tiles only (after Liu, Tanaka & Okutomi, "Single-image
    noise level estimation for blind denoising", IEEE TIP 22, 2013):

    1. :math:`\hat\sigma_0` from all the details.
    2. A tile is *weak texture* when the mean squared forward difference
       over its pixels and channels is at most ``1.4 * 4 sigma^2`` (pure
       noise gives :math:`4\sigma^2`; 1.4 is about three standard
       deviations above it for 8x8 tiles).
    3. :math:`\hat\sigma` from the details in weak-texture tiles; steps 2
       and 3 are repeated three times.

    On data clipped to [0, 1] (an 8-bit file), clipping shrinks the
    details of tiles near a bound: a flat tile at 0 keeps about half of
    them. Leaving such tiles out leaves too few on images mostly at a
    bound (the Shepp-Logan phantom at 50/255 read 43.7, the Hubble deep
    field at 15/255 12.6), so every weak-texture tile counts, each with
    its own scale: step 3 solves

    .. math::

        \#\{i : |d_i| \le \hat\sigma\, q(r_i)\} = N / 2,
        \qquad\text{i.e.}\qquad \hat\sigma = \operatorname{median}_i |d_i| / q(r_i),

    with :math:`q(r)` the median of :math:`|d| / \sigma` for a 2x2 block
    whose clean value lies :math:`r` sigma from the nearer bound
    (:func:`_clipped_haar_median`: 0.359 at the bound, 0.6745 far from
    it), and :math:`r_i` from the clean value under the mean of its
    tile's channel, pooled with its neighbours at the same level
    (:func:`_level_means`, :func:`_clean_under_clipped_mean`; unclamped,
    so that a tile at 0 reads as often below as above it). At the true sigma each term
    of the count is 1 with probability 1/2. The clean values depend on
    :math:`\hat\sigma`, so steps 2 and 3 repeat until it moves by less
    than 0.1 % (at most 30 times; 15 on a binary silhouette, whose first
    estimate is half the noise). A tile's channel holding values at both
    0 and 1 is left out: an edge between them, not flat.

    With fewer than 5 % weak-texture tiles (or an image under 16x16) the
    last estimate stands.

    Parameters
    ----------
    image : np.ndarray, shape (H, W, C)
        In [0, 1] intensity units; C channels share one noise level.
    missing : np.ndarray of bool, shape (H, W), optional
        Pixels whose values are not data (an inpainting mask): only 2x2
        blocks of observed pixels give details, and a tile's texture is
        the mean over differences between observed pixels.
    weak_texture_tiles : bool
        Steps 2 and 3. Without them the estimate is step 1's, over every
        (observed) 2x2 block: right for data whose content has no energy
        at the diagonal Nyquist frequency (a blurred image), where the
        tiles' selection only biases it low (measured on blurred chelsea
        at noise 0.01: 0.0090, and 0.0082 with 30 % of pixels missing,
        against 0.0101 without the tiles).

    Returns
    -------
    float
        :math:`\hat\sigma` in the same units; 0 for images smaller than
        2x2.

    Notes
    -----
    Edges and texture leak into the details and raise an estimate over all
    of them (on grass at 15/255 it reads 19.6), and clipping lowers it (on
    the Shepp-Logan phantom at 25/255 it reads 21.5); the tiles correct
    both (15.6 and 23.7). Measured for 15 images at three noise levels by
    ``benchmarks/calibrate_auto_weight.py``.
    """
    image = np.asarray(image, np.float64)
    if missing is not None:
        return _masked_noise_sigma(image, np.asarray(missing, bool), weak_texture_tiles)
    sigma = _haar_sigma(image)
    if not weak_texture_tiles:
        return sigma
    tiles_down, tiles_across = image.shape[0] // _TILE, image.shape[1] // _TILE
    if tiles_down < 2 or tiles_across < 2 or sigma == 0:
        return sigma
    image = image[: tiles_down * _TILE, : tiles_across * _TILE]

    def per_tile(values: np.ndarray, reduce) -> np.ndarray:
        tiled = values.reshape(tiles_down, _TILE, tiles_across, _TILE, -1)
        return reduce(tiled, axis=(1, 3, 4))

    dy = np.diff(image, axis=0, append=image[-1:])
    dx = np.diff(image, axis=1, append=image[:, -1:])
    texture = per_tile(dy * dy + dx * dx, np.mean)
    tiled = image.reshape(tiles_down, _TILE, tiles_across, _TILE, -1)
    tile_means = tiled.mean(axis=(1, 3))  # (down, across, C)
    magnitudes = np.abs(_haar_diagonal(image))
    half = _TILE // 2  # details per tile side
    # Data clipped to [0, 1] (8-bit files): near a bound clipping shrinks
    # the details, by a factor read from each tile's clean value.
    clipped = image.min() >= 0 and image.max() <= 1 and bool(((image == 0) | (image == 1)).any())
    # A tile's channel with values at both bounds is an edge between them,
    # not flat (line art at 50/255: its clipped noise passes the texture
    # test, and its details read about half the noise).
    at_both = (tiled <= 0).any(axis=(1, 3)) & (tiled >= 1).any(axis=(1, 3)) & clipped
    for _ in range(_CLIPPED_ROUNDS if clipped else _TEXTURE_ROUNDS):
        weak = (texture <= _WEAK_TEXTURE_MARGIN * 4 * sigma**2)[..., None] & ~at_both
        weak = np.broadcast_to(weak, tile_means.shape)
        if weak.mean() < _MIN_WEAK_FRACTION:
            return sigma
        keep = np.repeat(np.repeat(weak, half, axis=0), half, axis=1)
        if clipped:
            clean = _clean_under_clipped_mean(_level_means(tile_means, sigma), sigma)
            medians = _clipped_haar_median(np.minimum(clean, 1 - clean) / sigma)
        else:
            medians = np.full(tile_means.shape, _MAD_TO_SIGMA)
        scale = np.repeat(np.repeat(medians, half, axis=0), half, axis=1)
        # sigma solves #{|d_i| <= sigma q_i} = N / 2 for the kept details,
        # q_i the median of |d| / sigma at the detail's clean value; its
        # expectation is N / 2 at the true sigma.
        previous, sigma = sigma, float(np.median(magnitudes[keep] / scale[keep]))
        if abs(sigma - previous) <= _ROUNDS_TOLERANCE * previous:
            break
    return sigma


def estimate_volume_noise_sigma(volume: np.ndarray, missing: np.ndarray | None = None,
                                weak_texture_tiles: bool = True) -> float:
    """:func:`estimate_noise_sigma` of a volume (Z, Y, X, C): its planes side by side.

    The planes, cut to whole 8x8 tiles, are laid out as one wide image, so
    that no 2x2 block or tile mixes two planes and the flattest tiles of
    every plane count. ``missing`` (Z, Y, X), or (Z, Y, X, C) with any
    channel missing counting, is laid out likewise.
    """
    volume = np.asarray(volume)
    height = volume.shape[1] // _TILE * _TILE or volume.shape[1]
    width = volume.shape[2] // _TILE * _TILE or volume.shape[2]
    planes = volume[:, :height, :width]
    if missing is not None:
        missing = np.asarray(missing, bool)
        if missing.ndim == 4:
            missing = missing.any(axis=-1)
        missing = np.concatenate(list(missing[:, :height, :width]), axis=1)
    return estimate_noise_sigma(np.concatenate(list(planes), axis=1), missing,
                                weak_texture_tiles=weak_texture_tiles)


def _masked_noise_sigma(image: np.ndarray, missing: np.ndarray, weak_texture_tiles: bool) -> float:
    """:func:`estimate_noise_sigma` over the observed pixels only (see its ``missing``)."""
    height, width = (image.shape[0] // 2) * 2, (image.shape[1] // 2) * 2
    observed = ~missing[:height, :width]
    complete = observed[0::2, 0::2] & observed[0::2, 1::2] & observed[1::2, 0::2] & observed[1::2, 1::2]
    magnitudes = np.abs(_haar_diagonal(image))
    if not complete.any():
        return 0.0
    sigma = float(np.median(magnitudes[complete]) / _MAD_TO_SIGMA)
    tiles_down, tiles_across = height // _TILE, width // _TILE
    if not weak_texture_tiles or tiles_down < 2 or tiles_across < 2 or sigma == 0:
        return sigma
    crop = image[: tiles_down * _TILE, : tiles_across * _TILE]
    seen = ~missing[: tiles_down * _TILE, : tiles_across * _TILE]

    def per_tile(values: np.ndarray) -> np.ndarray:
        return values.reshape(tiles_down, _TILE, tiles_across, _TILE, -1).sum(axis=(1, 3, 4))

    pairs_y = (seen[1:] & seen[:-1])[..., None]
    pairs_x = (seen[:, 1:] & seen[:, :-1])[..., None]
    squares_y = np.where(pairs_y, np.diff(crop, axis=0) ** 2, 0.0)
    squares_x = np.where(pairs_x, np.diff(crop, axis=1) ** 2, 0.0)
    pad_y, pad_x = ((0, 1), (0, 0), (0, 0)), ((0, 0), (0, 1), (0, 0))
    sums = per_tile(np.pad(squares_y, pad_y)) + per_tile(np.pad(squares_x, pad_x))
    counts = per_tile(np.pad(pairs_y, pad_y).astype(float)) + per_tile(np.pad(pairs_x, pad_x).astype(float))
    texture = sums / np.maximum(counts, 1) * 2 / crop.shape[2]  # per pixel, as the unmasked one
    clipped = per_tile((((crop == 0) | (crop == 1)) & seen[..., None]).astype(float)) > 0
    usable = complete[: tiles_down * _TILE // 2, : tiles_across * _TILE // 2]
    magnitudes = magnitudes[: tiles_down * _TILE // 2, : tiles_across * _TILE // 2]
    half = _TILE // 2
    for _ in range(_TEXTURE_ROUNDS):
        weak = (texture <= _WEAK_TEXTURE_MARGIN * 4 * sigma**2) & ~clipped & (counts > 0)
        keep = np.repeat(np.repeat(weak, half, axis=0), half, axis=1) & usable
        if weak.mean() < _MIN_WEAK_FRACTION or not keep.any():
            break
        sigma = float(np.median(magnitudes[keep]) / _MAD_TO_SIGMA)
    return sigma


_TILE = 8
_WEAK_TEXTURE_MARGIN = 1.4
_TEXTURE_ROUNDS = 3
# On clipped data the clean values, read from sigma, move sigma in turn:
# rounds until it changes by under _ROUNDS_TOLERANCE (relative).
_CLIPPED_ROUNDS = 30
# Neighbouring tiles whose means differ by at most this many standard
# deviations of a tile's mean count as the same level (_level_means).
_LEVEL_TOLERANCE = 2.0
_ROUNDS_TOLERANCE = 1e-3
_MIN_WEAK_FRACTION = 0.05
# Distances from a bound, in sigma, over which clipping's effect on the Haar
# details is tabled (beyond, it is below 0.1 %).
_CLIPPED_HAAR_RANGE = 4.0
_CLIPPED_HAAR_BELOW = 2.0


def _haar_diagonal(image: np.ndarray) -> np.ndarray:
    """Haar diagonal details (a - b - c + e) / 2 of the 2x2 blocks, (H/2, W/2, C)."""
    height, width = (image.shape[0] // 2) * 2, (image.shape[1] // 2) * 2
    blocks = image[:height, :width]
    return (blocks[0::2, 0::2] - blocks[0::2, 1::2] - blocks[1::2, 0::2] + blocks[1::2, 1::2]) / 2


def _haar_sigma(image: np.ndarray) -> float:
    """The robust noise estimate over all Haar diagonal details; 0 under 2x2."""
    if image.shape[0] < 2 or image.shape[1] < 2:
        return 0.0
    return float(np.median(np.abs(_haar_diagonal(image))) / _MAD_TO_SIGMA)


def auto_weight(
    sigma: float, channels: int, tv: str = "isotropic", color: str = "vectorial"
) -> float:
    r"""The TV weight for noise level ``sigma``.

    .. math::

        w = k \, \sigma \, (\sigma / \sigma_{\mathrm{ref}})^{p - 1}

    with :math:`k` = ``AUTO_WEIGHT_FACTORS[(tv, mode)]``,
    :math:`p` = ``AUTO_WEIGHT_EXPONENT`` and :math:`\sigma_{\mathrm{ref}}` =
    ``AUTO_WEIGHT_REFERENCE_SIGMA``.

    Parameters
    ----------
    sigma : float
        Noise standard deviation in [0, 1] intensity units, >= 0.
    channels : int
        Colour channels C (alpha excluded); mode is "grey" for 1, else
        ``color``.
    tv : {"isotropic", "anisotropic"}
    color : {"vectorial", "channelwise"}
        The TV norm (see :mod:`tvrestore.models.tv`); a vectorial norm over
        several channels needs a larger weight than a grey one.

    Returns
    -------
    float
        :math:`w`, 0 for :math:`\sigma = 0`.

    Raises
    ------
    ValueError
        For a negative or non-finite ``sigma``, fewer than 1 channel, or a
        ``tv`` / ``color`` with no calibrated factor.
    """
    if not (math.isfinite(sigma) and sigma >= 0):
        raise ValueError(f"sigma must be a finite number >= 0, got {sigma!r}")
    if channels < 1:
        raise ValueError(f"channels must be >= 1, got {channels!r}")
    key = (tv, "grey" if channels == 1 else color)
    if key not in AUTO_WEIGHT_FACTORS:
        known = ", ".join(map(str, AUTO_WEIGHT_FACTORS))
        raise ValueError(
            f"no auto weight for tv={tv!r}, color={color!r} ({channels} channels); "
            f"calibrated (tv, mode): {known}"
        )
    ratio = sigma / AUTO_WEIGHT_REFERENCE_SIGMA
    return AUTO_WEIGHT_FACTORS[key] * sigma * ratio ** (AUTO_WEIGHT_EXPONENT - 1)


# Candidate weights for weight="auto" as multiples of the rule's weight: the
# rule can be off by 0.4x (fine texture) to 2.5x (smooth images).
SURE_CANDIDATE_FACTORS = tuple(float(x) for x in np.geomspace(0.4, 2.5, 7))
# Probe step as a fraction of sigma: large against the solver's final step
# (1e-4), small against the image's structure.
SURE_PROBE_SCALE = 0.1
# Gaussian smoothing, in pixels, of the local mean from which censoring()
# reads the clean value under a clipped one.
_CENSORING_SMOOTHING = 2.0


def monte_carlo_sure(
    noisy: np.ndarray,
    restored: np.ndarray,
    restored_probed: np.ndarray,
    probe: np.ndarray,
    step: float,
    sigma: float,
    variance: np.ndarray | None = None,
    censored: Censoring | None = None,
) -> float:
    r"""Stein's unbiased estimate of the mean squared error of a denoiser.

    For :math:`f = x + \sigma n` with white Gaussian :math:`n` and a
    denoiser :math:`u(f)`, Stein's lemma gives

    .. math::

        \mathbb{E}\,\frac{\|u - x\|^2}{N} = \mathbb{E}\Big[\frac{\|u - f\|^2}{N}
        - \sigma^2 + \frac{2\sigma^2}{N} \operatorname{div}_f u\Big],

    and the divergence is estimated from one random probe :math:`b` of zero
    mean and identity covariance (Gaussian or random signs; Ramani, Blu &
    Unser, IEEE TIP 17, 2008):
    :math:`\operatorname{div}_f u \approx b^\top (u(f + \varepsilon b) -
    u(f)) / \varepsilon`. No clean image is needed.

    Parameters
    ----------
    noisy, restored, restored_probed, probe : np.ndarray
        :math:`f`, :math:`u(f)`, :math:`u(f + \varepsilon b)` and :math:`b`,
        all of one shape.
    step : float
        :math:`\varepsilon`.
    sigma : float
        :math:`\sigma`.
    variance : np.ndarray, optional
        The noise variance :math:`v_i` of each value, for noise of unequal
        variance: Stein's lemma value by value gives
        :math:`\frac1N \sum_i [(u_i - f_i)^2 - v_i + 2 v_i \partial u_i /
        \partial f_i]`, with :math:`\sum_i v_i \partial u_i / \partial f_i
        \approx \sum_i v_i b_i (u(f + \varepsilon b) - u(f))_i /
        \varepsilon`. Default :math:`\sigma^2` everywhere.
    censored : Censoring, optional
        For data clipped to [0, 1] (:func:`censoring`): Stein's lemma
        holds for the unclipped :math:`y = x + \sigma n`, of which
        :math:`u(\operatorname{clip}(y))` is a weakly differentiable
        function, so

        .. math::

            \mathbb{E}\|u - x\|^2 = \mathbb{E}\Big[\|u - y\|^2 - N\sigma^2
            + 2\sigma^2 \sum_{i:\, 0 < f_i < 1} \partial u_i / \partial f_i\Big]

        (:math:`u_i` does not move with :math:`y_i` where it is clipped).
        Where :math:`f_i` is at a bound, :math:`(u_i - y_i)^2` is replaced
        by its mean given :math:`f`, :math:`(u_i - \mathbb{E}[y_i \mid
        f])^2 + \operatorname{Var}[y_i \mid f]`: unbiased when the
        clean value under it is right. Reading clipped data as
        :math:`f = x + \sigma n`, SURE takes the clipped half of the noise
        for noise still to remove and over-smooths: on the colour wheel at
        50/255 it chose 2.4x the weight of least true error, and this
        reading 1.0x (``benchmarks/diagnose_auto_weight.py``).
    """
    restored = np.asarray(restored, np.float64)
    variance = np.full(restored.shape, sigma**2) if variance is None else variance
    change = probe * (np.asarray(restored_probed, np.float64) - restored)
    size = noisy.size
    if censored is None:
        fit = np.sum((restored - noisy) ** 2)
    else:
        fit = np.sum((restored - censored.latent_mean) ** 2) + np.sum(censored.latent_variance)
        change = np.where(censored.inside, change, 0.0)
    divergence = np.sum(variance * change) / step
    return float((fit - np.sum(variance) + 2 * divergence) / size)


def sure_minimizer(weights: np.ndarray, risks: np.ndarray) -> float:
    """The weight of least estimated risk, refined between grid points.

    A parabola in :math:`\\log w` through the best grid point and its two
    neighbours gives the minimum between them; at the ends of the grid, or
    where the three points are not convex, the best grid point is kept.
    """
    best = int(np.argmin(risks))
    if not 0 < best < len(weights) - 1:
        return float(weights[best])
    x = np.log(weights[best - 1 : best + 2])
    a, b, _ = np.polyfit(x, risks[best - 1 : best + 2], 2)
    if a <= 0:
        return float(weights[best])
    return float(np.exp(np.clip(-b / (2 * a), x[0], x[2])))



@dataclass(frozen=True)
class Censoring:
    r"""Data clipped to [0, 1] read as censored: what each value says of the unclipped one.

    For :math:`f = \operatorname{clip}(y, 0, 1)`, :math:`y = x + \sigma n`,
    a value strictly inside (0, 1) is :math:`y` itself; a value at 0 says
    only :math:`y \le 0`, and at 1 :math:`y \ge 1`.

    Attributes
    ----------
    inside : np.ndarray of bool
        Values strictly inside (0, 1).
    latent_mean : np.ndarray
        :math:`\mathbb{E}[y \mid f]`: :math:`f` inside, the mean of the
        normal :math:`N(\hat x, \sigma^2)` truncated to :math:`y \le 0`
        (:math:`y \ge 1`) at a value at 0 (1).
    latent_variance : np.ndarray
        :math:`\operatorname{Var}[y \mid f]`: 0 inside, that truncated
        normal's variance at a bound.
    """

    inside: np.ndarray
    latent_mean: np.ndarray
    latent_variance: np.ndarray


def censoring(image: np.ndarray, sigma: float, smoothing: float = _CENSORING_SMOOTHING) -> Censoring | None:
    r"""How SURE reads data clipped to [0, 1] (8-bit files): :class:`Censoring`.

    None when no value is at 0 or 1, or some value lies beyond them (data
    that were not clipped).

    The clean value :math:`\hat x \in [0, 1]` under a value at a bound is
    the one whose clipped mean,

    .. math::

        m(x) = x(\Phi(\beta) - \Phi(\alpha)) + \sigma(\varphi(\alpha) - \varphi(\beta))
        + 1 - \Phi(\beta), \qquad \alpha = -x/\sigma,\ \beta = (1 - x)/\sigma,

    is the data's local mean (a Gaussian of ``smoothing`` pixels, channel
    by channel); :math:`m` increases with :math:`x`, so a table inverts it.
    Given :math:`\hat x`, a value at 0 stands for :math:`y \le 0` of mean
    :math:`\hat x - \sigma\lambda` and variance
    :math:`\sigma^2(1 - \alpha\lambda - \lambda^2)`,
    :math:`\lambda = \varphi(\alpha)/\Phi(\alpha)`; at 1 symmetrically.

    Parameters
    ----------
    image : np.ndarray, shape (H, W, C) or (Z, Y, X, C)
        In [0, 1].
    sigma : float
        The noise level before clipping, > 0.
    smoothing : float
        Pixels.
    """
    from scipy.ndimage import gaussian_filter
    from scipy.special import ndtr

    image = np.asarray(image, np.float64)
    # Values beyond [0, 1] show data that were not clipped (float noise).
    low, high = image == 0, image == 1
    if sigma <= 0 or image.min() < 0 or image.max() > 1 or not (low.any() or high.any()):
        return None
    local = gaussian_filter(image, sigma=(smoothing,) * (image.ndim - 1) + (0,))
    clean = np.clip(_clean_under_clipped_mean(local, sigma), 0.0, 1.0)
    alpha = -clean / sigma
    lam = _density(alpha) / np.maximum(ndtr(alpha), 1e-300)
    low_mean, low_var = clean - sigma * lam, sigma**2 * np.maximum(1 - alpha * lam - lam**2, 0.0)
    beta = (1 - clean) / sigma
    lam = _density(beta) / np.maximum(ndtr(-beta), 1e-300)
    high_mean, high_var = clean + sigma * lam, sigma**2 * np.maximum(1 + beta * lam - lam**2, 0.0)
    return Censoring(
        inside=~(low | high),
        latent_mean=np.where(low, low_mean, np.where(high, high_mean, image)),
        latent_variance=np.where(low, low_var, np.where(high, high_var, 0.0)),
    )


def _level_means(tile_means: np.ndarray, sigma: float) -> np.ndarray:
    r"""Each tile's mean pooled with those of its 8 neighbours at the same level.

    Neighbours whose means differ from the tile's by at most
    :data:`_LEVEL_TOLERANCE` x :math:`\sigma / 8` (the unclipped standard
    deviation of an 8x8 tile's mean) count. The clean value read from one
    tile's 64 values scatters by about 0.15 sigma at a bound, and, as the
    Haar details' median falls faster towards the bound than away from it,
    that scatter biased the estimate up (a flat image at 0: +4 % at 10,
    25 and 50/255); pooled, within 1 %. Only neighbours at the same level,
    so that a dark tile beside a bright one keeps its own level (all 8
    neighbours read camera at 50/255 as 46.4).
    """
    padded = np.pad(tile_means, ((1, 1), (1, 1), (0, 0)), mode="edge")
    down, across = tile_means.shape[:2]
    total = np.zeros_like(tile_means)
    count = np.zeros_like(tile_means)
    limit = _LEVEL_TOLERANCE * sigma / _TILE
    for dy in range(3):
        for dx in range(3):
            other = padded[dy : dy + down, dx : dx + across]
            same = np.abs(other - tile_means) <= limit
            total += np.where(same, other, 0.0)
            count += same
    return total / count


def _clean_under_clipped_mean(mean: np.ndarray, sigma: float) -> np.ndarray:
    r"""The clean value :math:`x` whose clipped mean :math:`m(x)` is ``mean``.

    :math:`m(x) = \mathbb{E}\,\operatorname{clip}(x + \sigma n, 0, 1)` (see
    :func:`censoring`) increases with :math:`x`, so a table inverts it.
    The table reaches :data:`_CLIPPED_HAAR_BELOW` sigma beyond 0 and 1,
    so that a noisy mean at a bound reads as often beyond it as inside;
    :func:`censoring` clips the result to [0, 1].
    """
    from scipy.special import ndtr

    margin = _CLIPPED_HAAR_BELOW * sigma
    table = np.linspace(-margin, 1.0 + margin, 2001)
    alpha, beta = -table / sigma, (1 - table) / sigma
    below, above = ndtr(alpha), ndtr(beta)
    clipped_mean = table * (above - below) + sigma * (_density(alpha) - _density(beta)) + 1 - above
    return np.interp(mean, clipped_mean, table)


# _clipped_haar_median's table: the median of |d| / sigma at 121 distances
# from -_CLIPPED_HAAR_BELOW to _CLIPPED_HAAR_RANGE sigma, by Monte Carlo with
# 200,000 samples per distance (seed 0; a relative error under 0.5 %). A
# constant, so that no process spends 0.5 s computing it;
# tests/tuning/test_noise.py computes it again and compares.
_CLIPPED_HAAR_MEDIANS = np.array([
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    0.0, 0.0, 0.0, 0.0, 0.0,
    4.6787614583210235e-06, 0.020119303964148877, 0.03982464331825433, 0.05959423118474724, 0.07873692122207221,
    0.09805076473094179, 0.11727176099203859, 0.13586280051638316, 0.15417701602716546, 0.17262475128629423,
    0.19072004703710366, 0.20897809607866719, 0.226796561651113, 0.24414228820332048, 0.26113425938622625,
    0.2780556168179232, 0.29488670362484903, 0.3116064965987956, 0.32774276914309425, 0.3437069791002571,
    0.3588503972313083, 0.3736745400299596, 0.38817040939230757, 0.40263512809706375, 0.4169768648476103,
    0.4306023408257981, 0.4438249475438776, 0.4563733659304009, 0.468979783391814, 0.4813233264239768,
    0.49317022983585235, 0.5050736279447718, 0.5160147099795693, 0.526779681916552, 0.5371350006091072,
    0.547142658615487, 0.5567891580502513, 0.5654321449926141, 0.5735755740128665, 0.58149596523665,
    0.5891905372967727, 0.5959890207756524, 0.6031591109567209, 0.6095306981862866, 0.6148317135442001,
    0.6205061739601888, 0.6260050921233027, 0.6307403153208881, 0.6350415693412536, 0.639058271486934,
    0.6430153476152305, 0.6461050958374868, 0.6493996908460492, 0.6520430482387591, 0.6546327584133624,
    0.6568372604767077, 0.6587942376575497, 0.6606311744099913, 0.6623773245793334, 0.6641972551117918,
    0.665774622671768, 0.6670031687284281, 0.6677638929965422, 0.668761127929153, 0.6695835851768508,
    0.6706446647355966, 0.6712049741808809, 0.671884969924816, 0.6722926018802364, 0.6726816111838769,
    0.6731269250657459, 0.673497367296273, 0.6737328428823042, 0.6739714473669225, 0.6741740584761495,
    0.674365350744375, 0.674601970160063, 0.674707625773035, 0.674772765595903, 0.6748732694256325,
    0.6749152464920436, 0.6749452647806522, 0.6750043871169145, 0.6750271316160011, 0.6750576458391389,
    0.6750914057485455, 0.6751121748138526, 0.6751454494575192, 0.6751454494575192, 0.675177124254668,
    0.6751804743214257, 0.6751804743214257, 0.6752007429789476, 0.6752007429789476, 0.6752168518716875,
    0.6752293105489438, 0.6752293105489438, 0.675229310548944, 0.6752325838950046, 0.6752325838950053,
    0.6752325838950046,
])


def _clipped_haar_median(distance: np.ndarray) -> np.ndarray:
    r"""Median of :math:`|d| / \sigma` for a 2x2 block whose clean value lies ``distance`` sigma from a bound.

    The values are :math:`\max(x + \sigma n, 0)` (at 1 the same for
    :math:`1 - y`), and :math:`d` their Haar diagonal detail: 0.359 at the
    bound (clipping halves it: a binary image's details read about half
    the noise), 0.589 at 1 sigma, 0.666 at 2, 0.6745 (the unclipped
    :math:`|N(0, 1)|`) from about 3.5 on (:data:`_CLIPPED_HAAR_MEDIANS`).
    """
    distances = np.linspace(-_CLIPPED_HAAR_BELOW, _CLIPPED_HAAR_RANGE, len(_CLIPPED_HAAR_MEDIANS))
    return np.interp(distance, distances, _CLIPPED_HAAR_MEDIANS)


def _density(z: np.ndarray) -> np.ndarray:
    """The standard normal density."""
    return np.exp(-z**2 / 2) / math.sqrt(2 * math.pi)
