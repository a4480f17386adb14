r"""Impulse noise: which pixels are corrupted, which route restores them, and the weight.

Impulse noise replaces a fraction of the pixels by values that carry no
information about the scene. Two kinds are told apart:

**Salt and pepper**: the replaced pixels hold the range's extremes,
:math:`\mathrm{lo}` or :math:`\mathrm{hi}` (the dtype's 0 and maximum for
integer images, the data's minimum and maximum for floats). Every such
pixel is flagged (:func:`extreme_pixels`) and treated as missing, so the
restoration is masked TV through the L1 fidelity on the pixels left, which
are clean. A pixel at an extreme whose 5x5 window holds the same extreme
throughout is kept: it lies in a saturated area (a salt pixel there holds
the right value anyway, and the area keeps its own pixels).

**Random-valued**: the replaced pixels hold arbitrary values, which no
range test finds. Chen and Wu's adaptive centre-weighted median detector
(:func:`centre_weighted_median_outliers`; "Space variant median filters
for the restoration of impulse noise corrupted images", IEEE TCAS-II 48,
2001) flags a pixel that its own 3x3 centre-weighted medians move by more
than an adaptive threshold; the flagged pixels are treated as missing and
the rest fitted by L1, which absorbs the impulses the detector misses.
Measured against plain TV-L1 on camera (256x256, seeded), at each one's
best weight: 30.9 / 26.9 dB against 29.5 / 25.5 dB at 20 / 40 %
(``benchmarks/measure_impulse.py`` prints both).

:func:`smooth_fill` then moves the salt-and-pepper route's fill (the
values TV chose for the missing ones) halfway toward a smooth interpolant.

:func:`detect_impulses` takes the salt-and-pepper route when the extremes
hold at least as many pixels as the detector flags among the others, and
the random-valued route otherwise; :func:`impulse_weight` gives the weight
of each route (on the random-valued one from a pilot solve's
:func:`pilot_misfit`).

Everything here is numpy and scipy: no TensorFlow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

__all__ = [
    "ImpulseDetection",
    "RANDOM_VALUED",
    "SALT_AND_PEPPER",
    "centre_weighted_median_outliers",
    "detect_impulses",
    "extreme_pixels",
    "impulse_weight",
    "pilot_misfit",
    "range_extremes",
    "smooth_fill",
]

SALT_AND_PEPPER = "salt-and-pepper"
RANDOM_VALUED = "random-valued"

# Chen & Wu's thresholds delta_k for the centre weights 1, 3, 5, 7 (8-bit
# grey levels, here in [0, 1] units) and the factor s of the local median
# absolute deviation they add (their range is 0 to 0.6).
_CWM_DELTAS = np.array([40.0, 25.0, 10.0, 5.0]) / 255.0
_CWM_MAD_FACTOR = 0.6
# impulse_weight's constants (see there).
_SALT_AND_PEPPER_WEIGHT = 0.03
_RANDOM_VALUED_WEIGHT = 0.267
_RANDOM_VALUED_GROWTH = 3.3
# Vectorial colour: w0's factor (fitted on astronaut), then w's (refitted
# on colour calibration crops with the vectorial pilot; also 1.6).
_VECTORIAL_COLOUR_FACTOR = 1.6
_VECTORIAL_PILOT_RULE_FACTOR = 1.6
# The random-valued rule with a pilot solve's misfit q (impulse_weight):
# w = 0.129 exp(5.2 rho) q^-0.15, q the fraction of kept values the pilot
# moves by more than 0.01 (floored at 1e-3: below every calibration case).
_PILOT_WEIGHT = 0.129
_PILOT_GROWTH = 5.2
_PILOT_POWER = -0.15
_PILOT_THRESHOLD = 0.01
_PILOT_FLOOR = 1e-3
# smooth_fill's Jacobi sweeps and how far toward them the fill moves (see there).
_FILL_SWEEPS = 2
_FILL_SHARE = 0.5
# Side of the window a saturated area must fill (extreme_pixels).
_SATURATED_WINDOW = 5
# Values per band of the detector's window statistics (9 float32 copies
# of a band: about 36 MB whatever the image's size).
_BAND_VALUES = 2**20


@dataclass(frozen=True)
class ImpulseDetection:
    """What :func:`detect_impulses` found in one image.

    Attributes
    ----------
    missing : np.ndarray of bool, shape (H, W, C)
        True where a value is treated as missing: the detected impulses,
        channel by channel (impulse noise hits channels one by one), and
        the user's own missing pixels if any were given.
    route : {"salt-and-pepper", "random-valued"}
    fraction : float
        The fraction of the image's values detected as impulses (the
        user's missing pixels not counted).
    extremes : (float, float)
        :math:`(\\mathrm{lo}, \\mathrm{hi})`, in the image's units.
    """

    missing: np.ndarray
    route: str
    fraction: float
    extremes: tuple[float, float]


def range_extremes(unit: np.ndarray, dtype: np.dtype | str | None = None) -> tuple[float, float]:
    r""":math:`(\mathrm{lo}, \mathrm{hi})`: where salt and pepper sit, in [0, 1] units.

    For an integer or bool input ``dtype`` the dtype's extremes, 0 and 1
    once scaled; otherwise (floats, or no dtype) the data's minimum and
    maximum. A tiled or chunked image must pass the extremes of the whole
    image to each part, so that all parts flag the same values.

    Parameters
    ----------
    unit : np.ndarray
        The image in [0, 1] intensity units (any shape).
    dtype : np.dtype, optional
        The dtype the image was read in.
    """
    if dtype is not None and (np.issubdtype(np.dtype(dtype), np.integer) or np.dtype(dtype) == bool):
        return 0.0, 1.0
    return float(np.min(unit)), float(np.max(unit))


def extreme_pixels(unit: np.ndarray, extremes: tuple[float, float]) -> np.ndarray:
    """Values at a range extreme, saturated areas apart.

    A value at an extreme is kept when every value of its 5x5 window holds
    the same extreme: it lies in a saturated area. A 3x3 window let
    clusters of impulses through (at 70 % salt and pepper, each value's 8
    neighbours all hold its extreme with probability :math:`0.35^8`, about
    15 values of a 256x256 image; kept as data, one such value cost the
    smooth held-out cell 2.8 dB at 50 %); with 24 neighbours the chance is
    :math:`0.35^{24} \approx 10^{-11}`.

    Parameters
    ----------
    unit : np.ndarray, shape (H, W, C)
    extremes : (float, float)
        :func:`range_extremes`.

    Returns
    -------
    np.ndarray of bool, shape (H, W, C)
        True at a value at ``lo`` or ``hi``, unless its 5x5 window (borders
        repeated) holds the same value throughout in that channel.
    """
    from scipy import ndimage

    flagged = np.zeros(unit.shape, bool)
    for value in extremes:
        at = unit == value  # (H, W, C)
        surrounded = ndimage.minimum_filter(at.view(np.uint8), size=(_SATURATED_WINDOW, _SATURATED_WINDOW, 1),
                                            mode="nearest").astype(bool)
        flagged |= at & ~surrounded
    return flagged


def centre_weighted_median_outliers(unit: np.ndarray) -> np.ndarray:
    r"""Chen and Wu's adaptive centre-weighted median detector, per channel.

    For each pixel :math:`x` and its 3x3 window, with :math:`y_k` the
    median of the window with the centre repeated :math:`2k + 1` times
    (:math:`k = 0..3`) and :math:`d_k = |y_k - x|`, the pixel is an impulse
    when, for some :math:`k`,

    .. math::

        d_k > s\,\mathrm{MAD} + \delta_k,
        \qquad \delta = (40, 25, 10, 5) / 255, \quad s = 0.6,

    with MAD the window's median absolute deviation from its median. The
    borders are mirrored.

    Parameters
    ----------
    unit : np.ndarray, shape (H, W, C)
        In [0, 1] intensity units.

    Returns
    -------
    np.ndarray of bool, shape (H, W, C)
        True at each flagged value.
    """
    from scipy import ndimage

    # With the centre weighted 2k + 1 in a window of 9, the weighted median
    # is the median of the centre and the order statistics 4 - k and 4 + k
    # (Ko and Lee, IEEE TCAS 38, 1991): rank filters give all four.
    unit = np.asarray(unit, np.float32)
    mode = "mirror" if min(unit.shape[:2]) > 1 else "nearest"
    flagged = np.zeros(unit.shape, bool)
    for index, channel in enumerate(np.moveaxis(unit, 2, 0)):
        ranks = {r: ndimage.rank_filter(channel, r, size=3, mode=mode) for r in range(1, 8)}
        mad = _window_mad(channel, ranks[4])
        for k, delta in enumerate(_CWM_DELTAS):
            low, high = ranks[4 - k], ranks[4 + k]
            weighted = np.minimum(np.maximum(channel, low), high)  # median of (low, x, high)
            flagged[..., index] |= np.abs(weighted - channel) > _CWM_MAD_FACTOR * mad + delta
    return flagged


def _window_mad(channel: np.ndarray, median: np.ndarray) -> np.ndarray:
    """Each 3x3 window's median absolute deviation from its own median (mirrored borders)."""
    height, width = channel.shape
    padded = np.pad(channel, 1, mode="reflect" if min(height, width) > 1 else "edge")
    mad = np.empty_like(channel)
    rows = max(1, _BAND_VALUES // (9 * width))
    for top in range(0, height, rows):
        bottom = min(height, top + rows)
        deviations = np.stack([
            np.abs(padded[top + dy : bottom + dy, dx : dx + width] - median[top:bottom])
            for dy in range(3) for dx in range(3)
        ])
        mad[top:bottom] = np.partition(deviations, 4, axis=0)[4]
    return mad


def detect_impulses(
    unit: np.ndarray,
    *,
    extremes: tuple[float, float] | None = None,
    missing: np.ndarray | None = None,
) -> ImpulseDetection:
    """Find the impulses of one image and choose the route (see the module docstring).

    Parameters
    ----------
    unit : np.ndarray, shape (H, W, C) or (Z, H, W, C)
        The image in [0, 1] intensity units; a volume's planes are tested
        one by one (the tests are 3x3 in a plane), its route chosen once.
    extremes : (float, float), optional
        :func:`range_extremes`; default: the data's own minimum and maximum.
    missing : np.ndarray of bool, shape (H, W) or (Z, H, W), optional
        The user's missing pixels: not data, so not detected, and kept
        missing in the result.

    Returns
    -------
    ImpulseDetection
    """
    unit = np.asarray(unit)
    if extremes is None:
        extremes = range_extremes(unit)
    user = np.zeros(unit.shape[:-1], bool) if missing is None else np.asarray(missing, bool)
    observed = ~user[..., None]
    planes = unit.reshape(-1, *unit.shape[-3:])
    at_extremes = np.stack([extreme_pixels(plane, extremes) for plane in planes]).reshape(
        unit.shape) & observed
    outliers = np.stack([centre_weighted_median_outliers(plane) for plane in planes]).reshape(
        unit.shape) & observed
    others = outliers & ~at_extremes
    if at_extremes.sum() >= others.sum():
        route, detected = SALT_AND_PEPPER, at_extremes
    else:
        route, detected = RANDOM_VALUED, outliers
    return ImpulseDetection(
        missing=detected | user[..., None], route=route, fraction=float(detected.mean()),
        extremes=(float(extremes[0]), float(extremes[1])),
    )


def impulse_weight(detection: ImpulseDetection, tv: str = "isotropic",
                   color: str = "vectorial", misfit: float | None = None) -> float:
    r"""The TV weight :math:`w` for the L1 fidelity after ``detection`` (sum or mean units alike).

    With the impulses missing, :math:`E(u) = \sum m |u - f| + w\,\mathrm{TV}(u)`.
    One pixel of height :math:`h` above a flat neighbourhood costs
    :math:`w h (2 + \sqrt2)` of isotropic TV (:math:`4 w h` anisotropic)
    against :math:`h` of L1, so TV-L1 keeps it whole below
    :math:`w_1 = 1 / (2 + \sqrt2) \approx 0.29` and removes it above
    (clusters of impulses need more). The weight is therefore a length in
    pixels, not a noise level, and the same at every resolution.

    ``"salt-and-pepper"``
        :math:`w = 0.03`: the pixels left are clean, so any weight below
        :math:`w_1` fits them exactly and fills the missing ones with
        least TV. Measured flat to 0.03 dB from 0.003 to 0.12 on the 21
        held-out cases of docs/noise.md (seven images at 30, 50 and 70 %),
        where it is within 0.02 dB of the grid's best.
    ``"random-valued"``, without ``misfit`` (the pilot's weight)
        :math:`w_0 = 0.267\,e^{3.3 \rho}` with :math:`\rho` the detected
        fraction: the undetected impulses grow with the noise, and so do
        their clusters. Fitted on camera, astronaut and coins at 10 to 50 %
        (256x256, seeded), within 0.10 dB of the best of 16 weights from
        0.2 to 1.6 there, but not on textured or smooth images.
    ``"random-valued"``, with ``misfit``
        :math:`w = 0.129\,e^{5.2 \rho}\,q^{-0.15}`, :math:`q` = ``misfit``
        (:func:`pilot_misfit`: the fraction of kept values that a pilot
        solve at :math:`w_0` moves by more than 0.01, floored at 0.001).
        A textured scene leaves many kept values off the pilot and wants a
        smaller weight; a smooth one leaves few and wants a larger one.
        Fitted (least worst loss) on 80 cases: camera, astronaut and coins
        at zooms 1, 1/2 and 1/4, and grass, gravel, text, clock,
        hubble_deep_field, immunohistochemistry and retina, each at 10 to
        50 %; there within 0.65 dB of the grid's best, within 0.3 dB on 68
        (:math:`w_0`: 2.12 dB, 52). On the 14 held-out cases of
        docs/noise.md within 0.3 dB on 10 (docs/noise.md gives the table).

    For the random-valued route, anisotropic TV weighs the same pixel :math:`4 / (2 + \sqrt2)` times
    more, so its weight is that much smaller (derived, not calibrated).
    Vectorial colour TV charges an impulse in one channel less where the
    other channels vary (:math:`\sqrt{h^2 + g^2} - g < h`): its weight is
    larger than the grey one. For :math:`w_0` (the pilot's weight, and the
    weight with ``--psf`` or ``--upscale``) 1.6 times, fitted on colour
    astronaut at 10 to 50 % (within 0.07 dB of the best of 12 weights).
    For :math:`w` also 1.6 times, :math:`q` coming from the vectorial
    pilot at :math:`1.6\,w_0`: refitted (least worst loss) on 47
    calibration colour cases (astronaut at zooms 1, 1/2, 1/4;
    immunohistochemistry, hubble_deep_field and retina at zooms 1, 1/2;
    colorwheel; 10 to 50 %, those on the random-valued route; 256x256,
    seed 0; ``benchmarks/fit_impulse_colour_factor.py --fit``) it came out
    1.60, within 1.24 dB of the best of 16 weights there and 0.3 dB on 30
    of 47. The best factor varies with the scene (1.1 to 2.1 times the
    grey rule there), and held-out colour crops want less: at 1.6, 3 of 6
    within 0.3 dB, the weight 1.1 to 1.6 times the grid's best
    (docs/noise.md). Channelwise colour is grey channel by channel.
    """
    if detection.route == SALT_AND_PEPPER:
        return _SALT_AND_PEPPER_WEIGHT
    if misfit is None:
        weight = _RANDOM_VALUED_WEIGHT * math.exp(_RANDOM_VALUED_GROWTH * detection.fraction)
        colour_factor = _VECTORIAL_COLOUR_FACTOR
    else:
        weight = (_PILOT_WEIGHT * math.exp(_PILOT_GROWTH * detection.fraction)
                  * max(float(misfit), _PILOT_FLOOR) ** _PILOT_POWER)
        colour_factor = _VECTORIAL_PILOT_RULE_FACTOR
    if tv == "anisotropic":
        weight *= (2 + math.sqrt(2)) / 4
    if color == "vectorial" and detection.missing.shape[-1] > 1:
        weight *= colour_factor
    return weight


def pilot_misfit(unit: np.ndarray, pilot: np.ndarray, missing: np.ndarray) -> float:
    r"""The fraction :math:`q` of kept values with :math:`|f - u| > 0.01` ([0, 1] units).

    Parameters
    ----------
    unit : np.ndarray
        The data :math:`f`, in [0, 1] intensity units.
    pilot : np.ndarray, shape of ``unit``
        A masked TV-L1 solve :math:`u` of ``unit`` at :func:`impulse_weight`'s
        pilot weight :math:`w_0`.
    missing : np.ndarray of bool, shape of ``unit``
        The values treated as missing (detected or the user's): not counted.

    Returns
    -------
    float
        In [0, 1]; 0 when no value is kept.
    """
    kept = ~np.asarray(missing, bool)
    if not kept.any():
        return 0.0
    moved = np.abs(np.asarray(unit, np.float64) - np.asarray(pilot, np.float64)) > _PILOT_THRESHOLD
    return float(moved[kept].mean())


def smooth_fill(unknown: np.ndarray, missing: np.ndarray, sweeps: int = _FILL_SWEEPS,
                share: float = _FILL_SHARE) -> np.ndarray:
    r"""Move the missing values of a masked TV solution toward a smooth interpolant.

    ``sweeps`` Jacobi sweeps for Laplace's equation :math:`\Delta u = 0` on
    the missing values (each sweep replaces, at once, every missing value
    by the mean of its 4 neighbours, borders repeated; the observed values
    fixed) give :math:`v`; each missing value becomes
    :math:`(1 - s)\,u + s\,v`, :math:`s` = ``share``.

    Masked TV fills a hole with the least TV: piecewise constant, with
    staircases where the scene is a slope. Two sweeps move the fill toward
    the smooth (harmonic) interpolant within two pixels, which errs at
    edges instead; the two err in different places, and halfway between
    them (:math:`s = 1/2`) erred less than either. Measured on the
    salt-and-pepper route (whose observed values are exact) of the held-out
    moon, chelsea, coffee and rocket at 30, 50 and 70 % (256x256, seed 0;
    ``benchmarks/measure_impulse.py``, docs/noise.md): the full sweeps
    (:math:`s = 1`) gained up to 0.9 dB but lost 0.11 dB on coffee at 30 %
    and 0.17 dB on cell at 50 %, which halfway gained. On the
    random-valued route, whose data still hold undetected impulses, the
    sweeps changed PSNR by at most 0.1 dB either way, so it is not used
    there.

    Parameters
    ----------
    unknown : np.ndarray, shape (H, W, C) or (Z, H, W, C)
        The solution; a volume's planes are filled each from its own
        4 in-plane neighbours.
    missing : np.ndarray of bool, shape of ``unknown``, or without its C axis
        True at the values to move.
    sweeps : int
    share : float
        :math:`s`, in [0, 1].

    Returns
    -------
    np.ndarray, shape and dtype of ``unknown``
        A new array; ``unknown`` is not modified.
    """
    relaxed = np.array(unknown, copy=True)
    missing = np.broadcast_to(np.asarray(missing, bool).reshape(
        *relaxed.shape[:-1], -1), relaxed.shape)
    planes = ((0, 0),) * (relaxed.ndim - 3)
    for _ in range(sweeps):
        padded = np.pad(relaxed, (*planes, (1, 1), (1, 1), (0, 0)), mode="edge")
        mean = (padded[..., :-2, 1:-1, :] + padded[..., 2:, 1:-1, :]
                + padded[..., 1:-1, :-2, :] + padded[..., 1:-1, 2:, :]) / 4
        relaxed[missing] = mean[missing]
    relaxed[missing] = (1 - share) * unknown[missing] + share * relaxed[missing]
    return relaxed
