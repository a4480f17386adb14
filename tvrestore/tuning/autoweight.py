r"""``weight="auto"``: the TV weight of least estimated risk, for about one extra solve.

For each image, :func:`tvrestore.tuning.noise.estimate_noise_sigma` gives the noise
level :math:`\hat\sigma`, :func:`tvrestore.tuning.noise.auto_weight` the rule's
weight :math:`w_0`, and the candidates :math:`w_0 c` for the factors
:math:`c` of :data:`tvrestore.tuning.noise.SURE_CANDIDATE_FACTORS` are compared by
Monte Carlo SURE (:func:`tvrestore.tuning.noise.monte_carlo_sure`) on a centre crop
of at most :data:`CROP` pixels a side: the weight of least estimated mean
squared error wins, refined between candidates
(:func:`tvrestore.tuning.noise.sure_minimizer`).

SURE needs each candidate solved twice, from :math:`f` and from
:math:`f + \varepsilon b` with a random probe :math:`b`, and reads the
divergence from the difference. It holds for any weakly differentiable
denoiser, so the candidates are solved by a *fixed* map: exactly
:data:`ITERATIONS` iterations of the primal-dual method of
:mod:`tvrestore.solvers.pdhg`, whose steps do not depend on the data. Both solves of
a pair then follow the same path and the difference is the map's own
derivative, with no stopping rule to tear it; the estimated risk is that of
the :data:`ITERATIONS`-iteration result, which is close to the minimizer's.
(Solving each candidate to convergence with Adam, as before, needed a tight
tolerance for the same difference and cost about ten solves of the image.)

The candidates are not all solved: the search walks down the risk from
the rule's weight. It solves the centre candidate and its two neighbours,
then, while the least risk so far is at an end of the solved run, the next
candidate beyond it, and stops once the least risk has both neighbours
solved (or is at the grid's end). On a risk that falls and then rises
along the grid, as it does, this finds the grid's least risk and its
neighbours, all that :func:`tvrestore.tuning.noise.sure_minimizer` reads,
with 3 or 4 candidates of the 7 instead of all of them (the weights are the
same as from the whole grid on the calibration images and the tests').
Every image's next candidates, and their probes, go into as few compiled
calls as their crop shapes allow, one round of the walk at a time.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tvrestore.tuning import noise
from tvrestore.tuning.counts import anscombe_variance, inverse_anscombe, stabilized_unit
from tvrestore.backend.tf import tf
from tvrestore.solvers.engine import Degradation, solve
from tvrestore.solvers.pdhg import solve_pdhg
from tvrestore.models.shapes import solve_shape, volume_solve_shape, zero_padded

__all__ = [
    "ANSCOMBE_ITERATIONS", "CROP", "ITERATIONS", "POISSON_RESTORATION_WEIGHT_FACTOR", "POISSON_WEIGHT_FACTOR",
    "RESTORATION_CANDIDATE_FACTORS", "RESTORATION_CROP", "RESTORATION_ITERATIONS", "VOLUME_CROP",
    "WeightChoice", "choose_anscombe_weights", "choose_poisson_restoration_weight",
    "choose_poisson_weights",
    "choose_restoration_weight", "choose_weights",
]

# Side of the centre crop on which candidates are compared; a volume's crop
# has as many voxels: 64 a side.
CROP = 256
VOLUME_CROP = 64
# Primal-dual iterations per candidate (see the module docstring). Chosen as
# the fewest whose choices stay within 0.3 dB of the best weight on the
# calibration images (benchmarks/calibrate_auto_weight.py) and the tests'.
# 60 left the map short of converged at large weights: its error rose
# slower with the weight than the converged solution's, so SURE, right
# about the map, chose weights too large at high noise (cell, 128 px, at
# 50/255: the map's least error at 71/255, the converged solution's at 63;
# 0.37 dB lost; 90 iterations: 0.08 dB; docs/weight.md).
ITERATIONS = 90
# The Anscombe searches (photon counts) keep the map their weight factors
# and dark-variance numbers were measured with (docs/noise.md).
ANSCOMBE_ITERATIONS = 60
# A fixed seed keeps "auto" deterministic: the same image gets the same
# weight alone or in any batch.
_SEED = 20261124
# Values (pixels x channels x crops) per compiled call: its arrays stay in
# the CPU's cache (see _chunk_size).
_CALL_VALUES = 2**19
# Small crops get more probes, so that the divergence is always averaged
# over about CROP**2 probed pixels.
_MAX_PROBES = 4


@dataclass(frozen=True)
class WeightChoice:
    r"""The weight to use for one image.

    Attributes
    ----------
    weight : float
        :math:`w`.
    noise_sigma : float or None
        :math:`\hat\sigma` (intensity units) when the weight was chosen
        automatically, else None.
    """

    weight: float
    noise_sigma: float | None


@dataclass
class _Search:
    """The SURE problems of one image: a crop, its probes, its candidates, their risks so far.

    ``risks`` holds each candidate's estimated risk once it is solved, and
    infinity before. ``variances``, when given, is each value's own noise
    variance (heteroscedastic noise; ``sigma`` is then their root mean),
    else every value's is ``sigma**2``. ``censored``, when given, reads
    values at 0 or 1 as clipped (:func:`tvrestore.tuning.noise.censoring`).
    ``iterations``: the fixed map's primal-dual iterations.
    """

    crop: np.ndarray
    probes: np.ndarray
    step: float
    sigma: float
    candidates: np.ndarray
    risks: np.ndarray
    variances: np.ndarray | None = None
    censored: noise.Censoring | None = None
    iterations: int = ITERATIONS

    def next_candidates(self) -> list[int]:
        """The candidates the walk solves next (none: the search is done).

        First the centre and its neighbours; then the neighbour, not yet
        solved, of the least risk so far.
        """
        solved = np.isfinite(self.risks)
        if not solved.any():
            centre = len(self.candidates) // 2
            return [i for i in (centre - 1, centre, centre + 1) if 0 <= i < len(self.candidates)]
        best = int(np.argmin(self.risks))
        return [i for i in (best - 1, best + 1) if 0 <= i < len(self.candidates) and not solved[i]]

    def observed(self, chosen: list[int]) -> list[np.ndarray]:
        """The ``chosen`` candidates' data, unprobed, then once per probe."""
        return [self.crop] * len(chosen) + [
            self.crop + self.step * probe for probe in self.probes for _ in chosen
        ]

    def weights(self, chosen: list[int]) -> np.ndarray:
        return np.tile(self.candidates[chosen], len(self.probes) + 1)

    def record(self, chosen: list[int], solutions: list[np.ndarray]) -> None:
        """Keep the risks of the ``chosen`` candidates from their solutions (as :meth:`observed`)."""
        count = len(chosen)
        for i, candidate in enumerate(chosen):
            # SURE is linear in the divergence: averaging it over probes
            # averages the divergence estimates.
            self.risks[candidate] = np.mean([
                noise.monte_carlo_sure(
                    self.crop, solutions[i], solutions[count * (k + 1) + i], probe,
                    self.step, self.sigma, self.variances, self.censored,
                )
                for k, probe in enumerate(self.probes)
            ])

    def best_weight(self) -> float:
        return noise.sure_minimizer(self.candidates, self.risks)


def choose_weights(
    units: list[np.ndarray], weights: list[float | str], tv: str, color: str,
    spacing: tuple[float, ...] | None = None,
) -> tuple[list[WeightChoice], float]:
    """The weight of each image: as given, or chosen by SURE for "auto".

    Parameters
    ----------
    units : list of np.ndarray, shape (H, W, C) or (Z, Y, X, C)
        The images (or volumes, all of one kind) in [0, 1] intensity units.
    weights : list of float or "auto"
        One per image, already validated.
    tv, color : str
        The TV norm (:mod:`tvrestore.models.tv`).
    spacing : tuple of float, optional
        The relative step of each spatial axis; the candidates are solved
        with it. A volume's noise comes from its planes
        (:func:`tvrestore.tuning.noise.estimate_volume_noise_sigma`).

    Returns
    -------
    choices : list of WeightChoice
        One per image, in order.
    compile_seconds : float
        Of the search's time, what went into compiling its programs.
    """
    choices: list[WeightChoice | None] = [None] * len(units)
    searches: dict[int, _Search] = {}
    for index, (unit, weight) in enumerate(zip(units, weights)):
        if weight != "auto":
            choices[index] = WeightChoice(float(weight), None)
            continue
        sigma = (noise.estimate_noise_sigma(unit) if unit.ndim == 3
                 else noise.estimate_volume_noise_sigma(unit))
        centre = noise.auto_weight(sigma, unit.shape[-1], tv, color)
        if centre == 0:
            choices[index] = WeightChoice(0.0, sigma)
        else:
            searches[index] = _search(unit, sigma, centre)
    chosen, compile_seconds = _run(searches, tv, color, spacing)
    for index, weight in chosen.items():
        choices[index] = WeightChoice(weight, searches[index].sigma)
    return choices, compile_seconds


def _search(unit: np.ndarray, sigma: float, centre: float,
            variances: np.ndarray | None = None, clipped: bool = True,
            iterations: int | None = None) -> _Search:
    """The search of one image around ``centre``.

    ``variances``: the noise variance per value, as ``unit``'s shape;
    default sigma^2. ``clipped``: the data are clipped to [0, 1] (8-bit
    files), and SURE reads a value at a bound as censored
    (:func:`tvrestore.tuning.noise.censoring`). ``iterations``: the fixed
    map's, :data:`ITERATIONS` (read at the call) unless given.
    """
    side = CROP if unit.ndim == 3 else VOLUME_CROP
    window = tuple(slice(max(0, (length - side) // 2), max(0, (length - side) // 2) + side)
                   for length in unit.shape[:-1])
    crop = unit[window]
    # Random signs (Rademacher): as valid for SURE as Gaussians and of lower
    # variance, and they cannot coincide with noise a user drew from a
    # Gaussian generator with the same seed (which SURE would read as signal).
    probe_count = min(_MAX_PROBES, math.ceil(CROP**2 / np.prod(crop.shape[:-1])))
    signs = np.random.default_rng(_SEED).integers(0, 2, (probe_count, *crop.shape))
    return _Search(
        crop=crop,
        probes=(2 * signs - 1).astype(np.float32),
        step=noise.SURE_PROBE_SCALE * sigma,
        sigma=sigma,
        candidates=centre * np.array(noise.SURE_CANDIDATE_FACTORS),
        risks=np.full(len(noise.SURE_CANDIDATE_FACTORS), np.inf),
        variances=None if variances is None else variances[window],
        censored=noise.censoring(crop, sigma) if clipped else None,
        iterations=ITERATIONS if iterations is None else iterations,
    )


def _run(
    searches: dict[int, _Search], tv: str, color: str, spacing: tuple[float, ...] | None = None,
) -> tuple[dict[int, float], float]:
    """Walk every search down its risk, a round at a time; the weights and the compile seconds.

    In a round, every search's next candidates are solved, in calls of
    :func:`_chunk_size` problems each: all problems of one crop shape and
    probe count share one compiled program, and every call of every round
    takes the same number of them (that of the first round, to a power of
    two), the last one padded with copies (a problem's solution depends
    only on its own data). Later rounds, smaller, would otherwise be new
    shapes, each a program for XLA to compile or load; padding a round's
    call costs less.
    """
    compile_seconds = 0.0
    chunks: dict[tuple, int] = {}
    while True:
        chosen = {index: search.next_candidates() for index, search in searches.items()}
        chosen = {index: picked for index, picked in chosen.items() if picked}
        if not chosen:
            break
        groups: dict[tuple, list[int]] = {}
        for index in chosen:
            search = searches[index]
            shape = search.crop.shape
            key = (solve_shape(shape) if len(shape) == 3 else volume_solve_shape(shape),
                   len(search.probes), search.iterations)
            groups.setdefault(key, []).append(index)
        for key, members in groups.items():
            observed = [image for index in members for image in searches[index].observed(chosen[index])]
            chunk = chunks.setdefault(key, _chunk_size(key[0], 2 ** math.ceil(math.log2(len(observed)))))
            solutions, seconds = _solve_problems(
                key[0], chunk, observed,
                np.concatenate([searches[index].weights(chosen[index]) for index in members]),
                tv, color, spacing, iterations=key[2],
            )
            compile_seconds += seconds
            start = 0
            for index in members:
                search = searches[index]
                count = len(chosen[index]) * (len(search.probes) + 1)
                window = tuple(slice(0, side) for side in search.crop.shape[:-1])
                search.record(chosen[index], [s[window] for s in solutions[start : start + count]])
                start += count
    return {index: search.best_weight() for index, search in searches.items()}, compile_seconds


def _solve_problems(
    shape: tuple[int, ...], chunk: int, observed: list[np.ndarray], weights: np.ndarray,
    tv: str, color: str, spacing: tuple[float, ...] | None = None, iterations: int | None = None,
) -> tuple[list[np.ndarray], float]:
    """The fixed map (``iterations`` iterations, default :data:`ITERATIONS`) of every problem (crops of at most ``shape``), ``chunk`` a call; the compile seconds."""
    iterations = ITERATIONS if iterations is None else iterations
    solutions, compile_seconds = [], 0.0
    for first in range(0, len(observed), chunk):
        part = list(range(first, min(first + chunk, len(observed))))
        part += [part[-1]] * (chunk - len(part))
        padded, extents = zero_padded([observed[i] for i in part], shape)
        output = solve_pdhg(
            padded, weights[part], tv=tv, color=color, gap=0.0, max_iter=iterations,
            check_every=iterations, extents=extents, spacing=spacing,
        )
        compile_seconds += output.compile_seconds
        solutions.extend(output.solution[: len(observed) - first])
    return solutions, compile_seconds


def _chunk_size(shape: tuple[int, int, int], problems: int) -> int:
    """How many crops of ``shape`` one call solves: as many as fit ``_CALL_VALUES``.

    One call over every crop of a batch (168 crops of 256x256 for 12
    images) streamed its arrays from memory each iteration: the searches
    of 12 grey images (256 to 480 px) took 2.0 s, and of 12 colour ones
    (320 to 512 px) 6.4 s, against 0.57 s and 2.1 s in calls of 2^19
    values (2^18: 0.69 and 2.3 s; 2^20: 0.86 and 3.0 s; one warm process,
    interleaved).
    """
    return max(1, min(problems, _CALL_VALUES // int(np.prod(shape))))


# --- restoration through a forward model A -------------------------------------
#
# The denoising search above, through A: the risk estimated is the predicted
# risk ||A (u - x)||^2 over the observed data values (Monte Carlo
# predicted-SURE, Eldar 2009; Ramani, Blu & Unser 2008), which needs only
# the data and A, and the candidates are solved by a fixed number of
# primal-dual iterations (tvrestore.solvers.pdhg) so that a candidate and
# its probed twin follow one differentiable map.

# Side of the centre crop on which candidates are compared, in pixels of
# the result: RESTORATION_CROP // K data pixels for --upscale K, so that
# the search's unknown is no larger than for the other tasks.
RESTORATION_CROP = 128
# A volume's crop, in voxels a side: 32^3 voxels, about as many unknowns as
# the 2-D crop's 128^2, at least. Through a PSF each side is at least
# RESTORATION_MARGIN_SIDES times the PSF's radius along it: the unknown
# extends past the data by that radius, and on a crop where that margin is
# a large share of the side the best weight falls (measured on 64^3 blobs
# through gaussian:2,1,1, radius 7 in z: the true best weight of the 32^3
# crop was 0.0025, of the 48^3 crop 0.004, of the whole 0.0048; see
# docs/volumes.md). The 2-D crop's margin is about a tenth of its side.
RESTORATION_VOLUME_CROP = 32
RESTORATION_MARGIN_SIDES = 16
# Primal-dual iterations per candidate (see benchmarks/measure_restore.py).
RESTORATION_ITERATIONS = 150
# Candidates as multiples of the rule's weight: the weights that restore
# best through a blur or binning are smaller than a denoising weight for
# the same noise (the fidelity already smooths), down to about a tenth.
RESTORATION_CANDIDATE_FACTORS = tuple(float(x) for x in np.geomspace(0.05, 1.0, 7))


def choose_restoration_weight(
    degradation: Degradation, unit: np.ndarray, tv: str, color: str,
    spacing: tuple[float, ...] | None = None,
) -> tuple[float, float, float]:
    r"""The weight of least Monte Carlo predicted-SURE for one degraded image.

    For data :math:`f = A x + \sigma n` and the restoration :math:`u(f)`,

    .. math::

        \mathbb{E}\,\frac{\|m A (u - x)\|^2}{n} = \mathbb{E}\Big[
            \frac{\|m (A u - f)\|^2}{n} - \sigma^2
            + \frac{2\sigma^2}{n}\, \operatorname{div}_f (m A u)\Big]

    over the :math:`n` observed data values; the divergence is read from
    one random-sign probe :math:`b` on the observed values,
    :math:`b^\top m A (u(f + \varepsilon b) - u(f)) / \varepsilon`.
    Candidates :math:`w_0 c` (:data:`RESTORATION_CANDIDATE_FACTORS`, with
    :math:`w_0` the denoising rule's weight for the estimated
    :math:`\hat\sigma`) are compared on a centre crop of at most
    :data:`RESTORATION_CROP` pixels of the result a side (the crop is a window of
    the scene like the whole, so the same model applies), each solved by
    :data:`RESTORATION_ITERATIONS` iterations of the primal-dual method
    from the data's own starting point, all in one compiled call.

    Parameters
    ----------
    degradation : tvrestore.solvers.engine.Degradation
    unit : np.ndarray, shape (h, w, C), or (z, y, x, C) for a volume
        The data in intensity units. A volume's crop is
        :data:`RESTORATION_VOLUME_CROP` voxels a side, and its noise is
        estimated from its planes.
    tv, color : str
    spacing : tuple of float, optional
        The relative step of each spatial axis, for the candidates' TV.

    Returns
    -------
    weight : float
    noise_sigma : float
        :math:`\hat\sigma`, estimated from the observed pixels.
    compile_seconds : float
    """
    missing = None if degradation.missing is None else np.asarray(degradation.missing, bool)
    volume = unit.ndim == 4
    hides = _hides_diagonal_detail(degradation)
    if volume:
        sigma = noise.estimate_volume_noise_sigma(unit, missing, weak_texture_tiles=not hides)
    else:
        sigma = noise.estimate_noise_sigma(unit, missing, weak_texture_tiles=not hides)
    centre = noise.auto_weight(sigma, unit.shape[-1], tv, color)
    if centre == 0:
        return 0.0, sigma, 0.0
    if volume:
        radii = ((0,) * 3 if degradation.psf is None
                 else tuple((side - 1) // 2 for side in np.shape(degradation.psf)))
        sides = tuple(max(RESTORATION_VOLUME_CROP, RESTORATION_MARGIN_SIDES * radius)
                      for radius in radii)
    else:
        sides = (RESTORATION_CROP // degradation.upscale,) * 2
    window = tuple(slice(max(0, (length - side) // 2), max(0, (length - side) // 2) + side)
                   for length, side in zip(unit.shape[:-1], sides))
    crop = unit[window]
    cropped = Degradation(
        psf=degradation.psf, upscale=degradation.upscale,
        missing=None if missing is None else missing[window],
    )
    fitted = cropped.observed_mask(crop.shape[:-1])
    # As for denoising, a small crop gets more probes (at most _MAX_PROBES),
    # so that the divergence is averaged over about side**D probed values.
    probe_count = min(_MAX_PROBES, math.ceil(math.prod(sides) / math.prod(crop.shape[:-1])))
    signs = np.random.default_rng(_SEED).integers(0, 2, (probe_count, *crop.shape))
    probes = ((2 * signs - 1) * fitted).astype(np.float32)
    step = noise.SURE_PROBE_SCALE * sigma
    candidates = centre * np.array(RESTORATION_CANDIDATE_FACTORS)
    count = len(candidates)
    data = [crop] * count + [crop + step * probe for probe in probes for _ in range(count)]
    # The starting points are the data's (a linear map of them), so each
    # probed twin starts from its own data, as the map requires; the map is
    # pdhg's scalar-step one, on which the candidates were calibrated.
    run = solve(
        cropped, data, np.tile(candidates, probe_count + 1), tv=tv, color=color, solver="pdhg",
        gap=0.0, max_iter=RESTORATION_ITERATIONS, check_every=RESTORATION_ITERATIONS,
        spacing=spacing, preconditioning="scalar",
    )
    operator = cropped.operator
    predicted = operator.apply(tf.constant(run.solution)).numpy().astype(np.float64)
    observed_count = fitted.sum() * crop.shape[-1]
    sharpen = (_Sharpening(degradation.psf, crop.shape[:-1])
               if volume and degradation.psf is not None else None)
    # Each probe as the divergence pairs it: b, or m W^T W b (the same for every candidate).
    paired = probes if sharpen is None else [fitted * sharpen.filter_twice(probe) for probe in probes]
    spread = 1.0 if sharpen is None else sharpen.spread
    risks = []
    for i in range(count):
        residual = fitted * (predicted[i] - crop)
        fit = np.sum((residual if sharpen is None else sharpen.filter(residual))**2)
        divergence = np.mean([
            np.sum(pair * (predicted[count * (k + 1) + i] - predicted[i])) / step
            for k, pair in enumerate(paired)
        ])
        risks.append(
            fit / observed_count - sigma**2 * spread + 2 * sigma**2 * divergence / observed_count
        )
    return noise.sure_minimizer(candidates, np.array(risks)), sigma, run.compile_seconds


# The regularization of a volume's sharpening filter W = K* / (|K|^2 + alpha):
# the frequencies that the PSF passes with more than sqrt(alpha) (about 3%)
# of their amplitude are scored in the scene's units, the rest as in the
# data. With the faces' band left out (_Sharpening), the weight of least
# scored risk moves towards the weight of best PSNR as alpha falls from
# 0.01 to 1e-3 (benchmarks/diagnose_deblur_auto_3d.py; docs/volumes.md).
SHARPENING_ALPHA = 1e-3


class _Sharpening:
    r"""The filter :math:`M W` of a volume's generalized SURE, on a crop (circular, by FFT).

    Predicted-SURE scores :math:`\|A(u - x)\|^2`, which the blur damps
    where :math:`u` errs most; through a 3-D PSF the weight it chose was 2
    to 3 times too small (docs/volumes.md). Scoring :math:`\|M W A (u - x)\|^2`
    instead, with :math:`W A \approx I` on the frequencies the PSF passes,
    is as unbiased (Eldar's generalized SURE): for a probe :math:`b` on
    the observed values,
    :math:`\mathbb{E}\|M W(m A u - f)\|^2 = \|M W m A (u - x)\|^2 + \sigma^2 \mathrm{tr}(m W^\top M W m) - 2\sigma^2 \mathrm{tr}(m W^\top M W m J)`,
    :math:`J` the Jacobian of :math:`m A u` in :math:`f`, read as
    :math:`(m W^\top M W b)^\top (m A u(f + \varepsilon b) - m A u(f)) / \varepsilon`.

    :math:`M` keeps the values at least the PSF's radius from every face
    of the crop (along each axis, that axis's radius). :math:`W` inverts
    the blur as a circular convolution, which the crop's data are not:
    they are the 'valid' window of a larger scene, and within a radius of
    a face they differ from the circular model's. Without :math:`M`, that
    difference, spread by :math:`W`, decided the score, and the more so
    the sharper :math:`W` (measured: the weight of least true score fell
    as alpha fell; with :math:`M` it rises to the weight of best PSNR).
    """

    def __init__(self, psf: np.ndarray, shape: tuple[int, ...]):
        padded = np.zeros([max(side, k) for side, k in zip(shape, np.shape(psf))])
        padded[tuple(slice(0, k) for k in np.shape(psf))] = psf
        # The kernel's centre at the origin: W is then zero-phase where K is.
        padded = np.roll(padded, [-(k // 2) for k in np.shape(psf)], axis=tuple(range(padded.ndim)))
        transfer = np.fft.rfftn(padded, s=shape, axes=tuple(range(len(shape))))
        self.shape = shape
        self.response = np.conj(transfer) / (np.abs(transfer) ** 2 + SHARPENING_ALPHA)
        # M: a radius in from each face, at least one value kept along each axis.
        self.inside = np.zeros((*shape, 1))
        self.inside[tuple(slice(min((k - 1) // 2, (side - 1) // 2), side - min((k - 1) // 2, (side - 1) // 2))
                          for side, k in zip(shape, np.shape(psf)))] = 1.0
        # diag(W^T M W) of a circular W, averaged: |M| / N times diag(W^T W),
        # which is the mean of |W|^2 over the spectrum.
        whole = float(np.fft.irfftn(np.abs(self.response) ** 2, s=shape,
                                    axes=tuple(range(len(shape)))).flat[0])
        self.spread = whole * float(self.inside.mean())

    def _apply(self, values: np.ndarray, response: np.ndarray) -> np.ndarray:
        axes = tuple(range(len(self.shape)))
        return np.fft.irfftn(np.fft.rfftn(values, axes=axes) * response[..., None], s=self.shape,
                             axes=axes)

    def filter(self, values: np.ndarray) -> np.ndarray:
        """:math:`M W` applied to (z, y, x, C) values, channel by channel."""
        return self.inside * self._apply(values, self.response)

    def filter_twice(self, values: np.ndarray) -> np.ndarray:
        r""":math:`W^\top M W` applied to (z, y, x, C) values."""
        return self._apply(self.filter(values), np.conj(self.response))


# A PSF passing at most this fraction of the diagonal Nyquist frequency
# leaves the data's finest diagonal details to the noise alone.
_NYQUIST_GAIN = 0.1


def _hides_diagonal_detail(degradation) -> bool:
    r"""Whether the data's Haar diagonal details are noise only, so need no texture tiles.

    True for a PSF (with no binning after it) whose gain at the diagonal
    Nyquist frequency, :math:`|\sum_{a,b} k_{a,b} (-1)^{a+b}|`, is at most
    :data:`_NYQUIST_GAIN` (``gaussian:1.6``: 2e-9; ``disk:2``: 0.09;
    ``motion:9,30``: 0.05; ``box:3``: 0.11, so it keeps the tiles). A 3-D
    PSF's planes are summed: a volume's details are taken plane by plane.
    """
    if degradation.psf is None or degradation.upscale > 1:
        return False
    rows, columns = np.indices(degradation.psf.shape)[-2:]
    return abs(float(np.sum(degradation.psf * (-1.0) ** (rows + columns)))) <= _NYQUIST_GAIN


# --- photon counts (noise="poisson") -------------------------------------------
#
# Denoising on the Anscombe route (tvrestore.api, docs/noise.md) takes the
# weight W of choose_anscombe_weights itself: L2 TV on z is the problem its
# SURE search scores. The KL route's weight is read off the Gaussian search
# run on the Anscombe image: z = 2 sqrt(y + 3/8) has noise of unit variance
# (from about 4 counts up), so
# the SURE search above chooses a weight W for it (in z's units) with the
# noise level known, not estimated. Locally, around an intensity lambda,
# dz = du / sqrt(lambda) and KL(u; y) ~ (u - y)^2 / (2 lambda), so
# 1/2 (z(u) - z)^2 + W TV(z(u)) ~ KL(u; y) + (W / sqrt(lambda)) TV(u):
# the KL weight is W / sqrt(lambda) for one reference lambda, times a
# factor fitted on the calibration images (benchmarks/measure_noise_models.py).

# w = POISSON_WEIGHT_FACTOR * W / sqrt(lambda_ref), lambda_ref the mean count.
POISSON_WEIGHT_FACTOR = 0.92
# The same through a forward model (the predicted-SURE search on the
# Anscombe image of the data).
POISSON_RESTORATION_WEIGHT_FACTOR = 1.0


def _anscombe_unit(unit: np.ndarray, scale: float) -> tuple[np.ndarray, float, float]:
    """The Anscombe image of counts ``unit * scale``, divided by its maximum; that maximum; lambda_ref."""
    counts = np.asarray(unit, np.float64) * scale
    stabilized, top = stabilized_unit(counts)
    return stabilized, top, max(float(counts.mean()), 1e-3)


# Gaussian smoothing, in pixels, of the Anscombe image whose inverse gives
# each value's count for its noise variance.
_VARIANCE_SMOOTHING = 2.0


def _local_counts(stabilized: np.ndarray, top: float) -> np.ndarray:
    """The counts about each value of an (H, W, C) or (Z, Y, X, C) Anscombe image over ``top``: its smoothed inverse."""
    from scipy.ndimage import gaussian_filter

    smoothing = (_VARIANCE_SMOOTHING,) * (stabilized.ndim - 1) + (0,)
    smooth = gaussian_filter(np.asarray(stabilized, np.float64) * top, sigma=smoothing)
    return inverse_anscombe(smooth)


def choose_anscombe_weights(
    stabilized: list[np.ndarray], tops: list[float], weights: list[float | str], tv: str,
    color: str, *, dark_variance: bool = True, spacing: tuple[float, ...] | None = None,
) -> tuple[list[WeightChoice], float]:
    r"""The weight :math:`W` of each Anscombe image, in its units (noise of unit variance).

    For "auto": the Gaussian SURE search of :func:`choose_weights` on
    :math:`z / t` (:func:`tvrestore.tuning.counts.stabilized_unit`), with
    the noise level known, not estimated; its weight times :math:`t` is
    :math:`W`, the ``denoise_tv_chambolle`` weight on :math:`z`. It costs
    what the Gaussian search does (about one solve).

    The transform stabilizes the variance to 1 only from about 4 counts up
    (:func:`tvrestore.tuning.counts.anscombe_variance`); with
    ``dark_variance`` (default) each value's risk takes the variance of its
    local count (the image smoothed over :data:`_VARIANCE_SMOOTHING` pixels,
    inverted), by SURE for heteroscedastic noise
    (:func:`tvrestore.tuning.noise.monte_carlo_sure` with a variance per value). Measured on held-out images at 5 photons
    peak, the known variance 1 chose weights 1.25 to 1.6 times the best,
    0.26 to 0.54 dB below it; the local variances 0 to 0.29 dB below
    (docs/noise.md). Without it every value's variance is 1 (the KL
    route's rule, whose factor was fitted so).

    Parameters
    ----------
    stabilized : list of np.ndarray, shape (H, W, C) or (Z, Y, X, C)
        :math:`z / t` per image (or volume, all of one kind).
    tops : list of float
        :math:`t` per image.
    weights : list of float or "auto"
        A number is :math:`W` as given.
    tv, color : str
    spacing : tuple of float, optional
        A volume's relative steps, as for :func:`choose_weights`.

    Returns
    -------
    choices : list of WeightChoice
        :math:`W`; ``noise_sigma`` is the noise estimated on :math:`z` (about
        1 when the counts are Poisson: a check of the gain).
    compile_seconds : float
    """
    choices: list[WeightChoice | None] = [None] * len(stabilized)
    searches: dict[int, _Search] = {}
    estimates: dict[int, float] = {}
    for index, (unit, top, weight) in enumerate(zip(stabilized, tops, weights)):
        if weight != "auto":
            choices[index] = WeightChoice(float(weight), None)
            continue
        variances = (anscombe_variance(_local_counts(unit, top)) / top**2 if dark_variance
                     else None)
        sigma = 1.0 / top if variances is None else math.sqrt(float(variances.mean()))
        estimates[index] = top * (noise.estimate_noise_sigma(unit) if unit.ndim == 3
                                  else noise.estimate_volume_noise_sigma(unit))
        # Anscombe values are not 8-bit data clipped at a bound.
        searches[index] = _search(unit, sigma, noise.auto_weight(sigma, unit.shape[-1], tv, color),
                                  variances, clipped=False, iterations=ANSCOMBE_ITERATIONS)
    chosen, compile_seconds = _run(searches, tv, color, spacing)
    for index, weight in chosen.items():
        choices[index] = WeightChoice(weight * tops[index], estimates[index])
    return choices, compile_seconds


def choose_poisson_weights(
    units: list[np.ndarray], scales: list[float], weights: list[float | str], tv: str, color: str,
    spacing: tuple[float, ...] | None = None,
) -> tuple[list[WeightChoice], float]:
    r"""The KL weight of each image under ``noise="poisson"``: as given, or by the Anscombe rule.

    For "auto": :func:`choose_anscombe_weights` on the Anscombe image
    :math:`z = 2\sqrt{y + 3/8}` of the counts chooses :math:`W`; the KL
    weight is :math:`c\,W / \sqrt{\bar y}` (:data:`POISSON_WEIGHT_FACTOR`,
    :math:`\bar y` the mean count; see the comment above). The search costs
    what the Gaussian one does (about one solve).

    Parameters
    ----------
    units : list of np.ndarray, shape (H, W, C) or (Z, Y, X, C)
        The counts divided by their ``scales`` (the solver's data).
    scales : list of float
    weights : list of float or "auto"
    tv, color : str
    spacing : tuple of float, optional
        As for :func:`choose_weights`.

    Returns
    -------
    choices : list of WeightChoice
        ``noise_sigma`` is the noise estimated on the Anscombe image, in
        its units: about 1 when the counts are Poisson (a check of the gain).
    compile_seconds : float
    """
    auto = [index for index, weight in enumerate(weights) if weight == "auto"]
    choices = [WeightChoice(float(weight), None) if weight != "auto" else None
               for weight in weights]
    stabilized = [_anscombe_unit(units[index], scales[index]) for index in auto]
    chosen, compile_seconds = choose_anscombe_weights(
        [unit for unit, _, _ in stabilized], [top for _, top, _ in stabilized],
        ["auto"] * len(auto), tv, color, dark_variance=False, spacing=spacing)
    for index, (_, _, mean_count), choice in zip(auto, stabilized, chosen):
        choices[index] = WeightChoice(
            POISSON_WEIGHT_FACTOR * choice.weight / math.sqrt(mean_count), choice.noise_sigma)
    return choices, compile_seconds


def choose_poisson_restoration_weight(
    degradation: Degradation, unit: np.ndarray, scale: float, tv: str, color: str,
    spacing: tuple[float, ...] | None = None,
) -> tuple[float, float, float]:
    r"""The KL weight for counts degraded by a forward model: :func:`choose_restoration_weight`'s search on the Anscombe image.

    As :func:`choose_poisson_weights`, through :math:`A`: the predicted-SURE
    search runs on the Anscombe image of the data (its noise level
    estimated, as for Gaussian data) and the weight found, :math:`W` in
    :math:`z`'s units, becomes :math:`c\,W / \sqrt{\bar y}`
    (:data:`POISSON_RESTORATION_WEIGHT_FACTOR`).

    Returns
    -------
    weight : float
    noise_sigma : float
        The noise estimated on the Anscombe image, in its units (about 1).
    compile_seconds : float
    """
    stabilized, top, mean_count = _anscombe_unit(unit, scale)
    weight, sigma, compile_seconds = choose_restoration_weight(degradation, stabilized, tv, color,
                                                               spacing=spacing)
    return (POISSON_RESTORATION_WEIGHT_FACTOR * weight * top / math.sqrt(mean_count),
            sigma * top, compile_seconds)
