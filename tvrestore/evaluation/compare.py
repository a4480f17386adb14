r"""scikit-image's TV denoisers on the same image at the same weight.

The baselines solve the same ROF problem
:math:`\min_u \frac12 \sum (u - f)^2 + w\,\mathrm{TV}(u)` with their own
algorithms:

``denoise_tv_chambolle(weight=w)``
    Chambolle's projection algorithm. Its ``weight`` is our :math:`w`
    exactly (isotropic TV; colour channel by channel).
``denoise_tv_bregman(weight=b)``
    Split Bregman. Its code's fixed point minimizes
    :math:`\frac12 \sum (u - f)^2 + \frac1b \mathrm{TV}(u)`, so
    :math:`b = 1/w` (``BREGMAN_WEIGHT_FACTOR``; its docstring's
    "weight = lambda/2" refers to its own lambda). With anisotropic TV it
    then matches our minimizer away from the border; its isotropic update
    is a smoothed shrinkage and its border is padded from the data once, so
    it never lands on our minimizer exactly: a baseline, not a second
    solver of the same problem.

For a volume or time-lapse (:func:`compare_volume`), the baselines are
``denoise_tv_chambolle`` in N-D over the volume (no spacing: scikit-image
has none) and 2-D ``denoise_tv_chambolle`` on each YX plane, both at
:math:`w`; the objective :math:`E` of each is tvrestore's, spacing included.

Under ``--noise impulse`` the baselines are the median filters
(:func:`tvrestore.evaluation.baselines.impulse_baselines`) instead: the
L2 denoisers at an L1 weight would compare nothing.

Every method is scored the same way: PSNR and SSIM of its output as a file
of the input's dtype would hold it (what would be written to disk; the
caller's ``as_written`` gives those values in unit range), and the objective
:math:`E` of its float output under tvrestore's TV settings, in sum units.
For colour, skimage treats channels separately, so under the default
vectorial TV its objective is higher by construction: that is the point of
the comparison, not a flaw of skimage.

Pixels come in unit range, converted once by the caller after reading
(:func:`tvrestore.io.pixels.to_unit_range`, alpha split off); this module
reads and converts nothing.
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np
from skimage.restoration import denoise_tv_bregman, denoise_tv_chambolle

from tvrestore.evaluation.baselines import Baseline
from tvrestore.evaluation.metrics import quality, volume_quality
from tvrestore.models.axes import Axes, relative_spacing
from tvrestore.models.problem import Problem
from tvrestore.options import CompareRow, RestoreResult

__all__ = [
    "BREGMAN_WEIGHT_FACTOR", "Baseline", "compare_counts", "compare_methods",
    "compare_restoration", "compare_volume", "skimage_baselines", "volume_baselines",
]

# skimage's bregman `weight` for our w is BREGMAN_WEIGHT_FACTOR / w.
BREGMAN_WEIGHT_FACTOR = 1.0


def compare_methods(
    noisy: np.ndarray,
    restored: np.ndarray,
    result: RestoreResult,
    reference: np.ndarray | None = None,
    *,
    as_written: Callable[[np.ndarray], np.ndarray],
    solutions: dict[str, np.ndarray] | None = None,
) -> list[CompareRow]:
    """tvrestore's result next to skimage's chambolle and bregman.

    Parameters
    ----------
    noisy : np.ndarray
        The input image given to :func:`tvrestore.denoise`, in unit range
        without alpha: ``(H, W)`` or ``(H, W, C)``.
    restored, result
        What :func:`tvrestore.denoise` returned for it, ``restored`` in
        unit range without alpha, as written.
    reference : np.ndarray, optional
        The clean image in unit range without alpha, for PSNR and SSIM.
    as_written : callable
        ``as_written(unit) -> unit``: the values a file of the input's
        dtype holds for unit-range pixels (8-bit levels for uint8, say),
        so that every method is scored as it would be written.
    solutions : dict, optional
        Given, each skimage method's output is put in it under the method's
        name, as written (``as_written``), in unit range (for a figure).

    Returns
    -------
    list of CompareRow
        tvrestore first, then the skimage methods at the same :math:`w`;
        a method whose output holds NaN (skimage's bregman does on some
        one-row images) has no row.
    """
    unit = np.asarray(noisy, np.float64)
    channel_axis = -1 if unit.ndim == 3 and unit.shape[2] > 1 else None
    grey = unit[..., 0] if unit.ndim == 3 and channel_axis is None else unit
    objective = Problem(tv=result.tv, color=result.color)
    w = result.weight

    def scored(method: str, weight: float, solve) -> CompareRow | None:
        start = time.perf_counter()
        # Reshaped: skimage's bregman squeezes a side of 1 ((1, W) -> (W,)).
        solution = np.reshape(solve(grey), grey.shape)
        seconds = time.perf_counter() - start
        if not np.isfinite(solution).all():
            return None  # bregman's NaN on some thin images (a 1-row ramp): no score
        written = as_written(solution.reshape(unit.shape))
        if solutions is not None:
            solutions[method] = written
        return CompareRow(
            method=method,
            weight=weight,
            **_scores(reference, written),
            objective=objective.energy_value(solution, grey, w),
            seconds=seconds,
        )

    rows = [
        CompareRow(
            method="tvrestore (adam)",
            weight=w,
            **_scores(reference, restored),
            objective=result.objective,
            seconds=result.solve_seconds,
        )
    ]
    if result.noise == "impulse":
        # chambolle and bregman fit squares, which impulses drag: the median
        # filter is the baseline (and E, with its detected mask, is ours only).
        return rows + _median_rows(unit, reference, as_written, solutions)
    for baseline in skimage_baselines(w, result.tv, channel_axis):
        row = scored(baseline.method, baseline.weight, baseline.solve)
        if row is not None:
            rows.append(row)
    return rows


def compare_volume(
    noisy: np.ndarray,
    restored: np.ndarray,
    result: RestoreResult,
    reference: np.ndarray | None = None,
    *,
    as_written: Callable[[np.ndarray], np.ndarray],
    solutions: dict[str, np.ndarray] | None = None,
) -> list[CompareRow]:
    """A denoised volume or time-lapse next to scikit-image's chambolle in N-D and plane by plane.

    The baselines are those of :func:`volume_baselines`, at tvrestore's
    :math:`w` (the 2-D comparison's mapping: chambolle's ``weight`` is
    :math:`w`), run on each independent frame (a time axis without a step)
    or on the whole. Scores are N-D (:func:`tvrestore.evaluation.metrics.volume_quality`);
    the objective :math:`E` of every method is tvrestore's, with the
    result's spacing, in sum units (frames summed, as the result's is).

    Parameters
    ----------
    noisy, restored : np.ndarray
        The input and tvrestore's result in unit range, in the array's axis
        order (``result.axes``), ``restored`` as written.
    result : RestoreResult
        With ``axes`` and ``spacing`` (:func:`tvrestore.api.denoise` sets them).
    reference : np.ndarray, optional
        The clean volume in unit range, same shape.
    as_written, solutions
        As for :func:`compare_methods`.
    """
    named = Axes(result.axes)
    coupled, steps = named.steps(result.spacing)
    channel_axis = named.letters.index("C") if "C" in named.letters else None
    canonical = np.transpose(np.asarray(noisy, np.float64), named.to_canonical())
    frames = list(canonical) if "T" in named.letters and not coupled else [canonical]
    channels = "C" in named.letters
    objective = Problem(tv=result.tv, color=result.color, spacing=relative_spacing(steps))
    w = result.weight

    def scores(image: np.ndarray) -> dict:
        if reference is None:
            return {"psnr": None, "ssim": None}
        psnr, ssim = volume_quality(reference, image, channel_axis)
        return {"psnr": psnr, "ssim": ssim}

    def energy(solved: list[np.ndarray]) -> float:
        # E takes a channel axis: a grey frame gains one.
        with_channels = [(u, f) if channels else (u[..., None], f[..., None])
                         for u, f in zip(solved, frames)]
        return float(sum(objective.energy_value(u, f, w) for u, f in with_channels))

    rows = [CompareRow(method=f"tvrestore ({result.solver})", weight=w, **scores(restored),
                       objective=result.objective, seconds=result.solve_seconds)]
    spatial = len(named.spatial(coupled))
    for baseline in volume_baselines(w, spatial, channels):
        start = time.perf_counter()
        solved = [baseline.solve(frame) for frame in frames]
        seconds = time.perf_counter() - start
        whole = np.stack(solved) if len(frames) > 1 else solved[0]
        written = as_written(np.transpose(whole, named.from_canonical()))
        if solutions is not None:
            solutions[baseline.method] = written
        rows.append(CompareRow(method=baseline.method, weight=baseline.weight, **scores(written),
                               objective=energy(solved), seconds=seconds))
    return rows


def volume_baselines(weight: float, spatial: int, channels: bool) -> list[Baseline]:
    """scikit-image's chambolle on a volume: in N-D (no spacing) and on each YX plane.

    Each takes one frame in canonical order, ``(Z, Y, X)`` or ``(T, Z, Y, X)``
    for coupled frames, with a last channel axis when ``channels``, and
    returns its estimate of that shape. None at :math:`w = 0` (see
    :func:`skimage_baselines`); no N-D row for frames of two spatial axes
    (a time-lapse's independent frames), where it would be the plane-by-plane one.

    Parameters
    ----------
    weight : float
        :math:`w`, chambolle's ``weight``.
    spatial : int
        The spatial axes of a frame (2 to 4).
    channels : bool
        Whether frames end in a channel axis (processed channel by channel).
    """
    if not weight > 0:
        return []
    channel_axis = -1 if channels else None

    def plane_by_plane(frame: np.ndarray) -> np.ndarray:
        planes = frame.reshape(-1, *frame.shape[spatial - 2:])
        return np.stack([denoise_tv_chambolle(plane, weight=weight, channel_axis=channel_axis)
                         for plane in planes]).reshape(frame.shape)

    baselines = [Baseline("skimage chambolle slice by slice", plane_by_plane, weight)]
    if spatial > 2:
        baselines.insert(0, Baseline(
            f"skimage chambolle {spatial}-D",
            lambda frame: denoise_tv_chambolle(frame, weight=weight, channel_axis=channel_axis),
            weight))
    return baselines


def compare_restoration(
    observed: np.ndarray,
    restored: np.ndarray,
    result: RestoreResult,
    reference: np.ndarray | None = None,
    *,
    psf: np.ndarray | None = None,
    missing: np.ndarray | None = None,
    upscale: int = 1,
    as_written: Callable[[np.ndarray], np.ndarray],
    solutions: dict[str, np.ndarray] | None = None,
) -> list[CompareRow]:
    """tvrestore's deblurring, inpainting or upscaling next to scikit-image's methods for it.

    The methods are those of :func:`tvrestore.evaluation.baselines.restoration_baselines`
    (``unsupervised_wiener`` and ``richardson_lucy`` for a PSF,
    ``inpaint_biharmonic`` for missing pixels, ``rescale`` orders 3 and 1
    for upscaling, and their chains for compositions). Each gets the
    observed image in [0, 1] and is scored like tvrestore's output: as
    written in the output's dtype, against ``reference``.

    Parameters
    ----------
    observed : np.ndarray
        The input image given to :func:`tvrestore.api.restore`, in unit
        range without alpha.
    restored, result
        What it returned, ``restored`` in unit range without alpha, as written.
    reference : np.ndarray, optional
        The clean image at the output's size in unit range without alpha,
        for PSNR and SSIM.
    psf : np.ndarray, optional
        The PSF kernel (normalised).
    missing : np.ndarray of bool, optional
        True where a pixel is missing.
    upscale : int
    as_written, solutions
        As for :func:`compare_methods`.
    """
    from tvrestore.evaluation.baselines import restoration_baselines

    colour = np.asarray(observed, np.float64)
    unit = colour[..., 0] if colour.ndim == 3 and colour.shape[2] == 1 else colour
    output_shape = (unit.shape[0] * upscale, unit.shape[1] * upscale, *colour.shape[2:])
    rows = [CompareRow(method=f"tvrestore ({result.solver})", weight=result.weight,
                         **_scores(reference, restored), objective=result.objective,
                         seconds=result.solve_seconds)]
    if result.noise == "impulse" and upscale == 1:
        rows += _median_rows(colour, reference, as_written, solutions)
    for baseline in restoration_baselines(psf=psf, mask=missing, upscale=upscale):
        start = time.perf_counter()
        solution = baseline.solve(unit)
        seconds = time.perf_counter() - start
        written = as_written(solution.reshape(output_shape))
        if solutions is not None:
            solutions[baseline.method] = written
        rows.append(CompareRow(method=baseline.method, weight=None,
                                 **_scores(reference, written), objective=None,
                                 seconds=seconds))
    return rows


def compare_counts(
    counts: np.ndarray,
    restored: np.ndarray,
    result: RestoreResult,
    reference: np.ndarray | None = None,
    *,
    psf: np.ndarray | None = None,
    as_written: Callable[[np.ndarray], np.ndarray],
    solutions: dict[str, np.ndarray] | None = None,
) -> list[CompareRow]:
    """Under ``noise="poisson"``: tvrestore's result next to what a photon counter would use.

    The baselines are those of
    :func:`tvrestore.evaluation.baselines.counts_baselines`: the generalized
    Anscombe transform + ``denoise_tv_chambolle`` + the exact unbiased
    inverse, at ``result.weight`` on the Anscombe route (the same problem),
    else at the weight that tvrestore's rule maps to ``result.weight``, and for a PSF ``richardson_lucy``. Everything is in counts (the pixels
    through ``result.gain`` and ``result.offset``); PSNR and SSIM take the
    reference's largest count as the range, so a score does not depend on
    the gain.

    Parameters
    ----------
    counts, restored : np.ndarray
        The input and tvrestore's result as counts, ``(H, W)`` or
        ``(H, W, C)``, float64, without alpha; ``restored`` as written.
    result : RestoreResult
    reference : np.ndarray, optional
        The clean image as counts.
    psf : np.ndarray, optional
    as_written : callable
        ``as_written(counts) -> counts``: what a file of the input's dtype
        holds for them.
    solutions : dict, optional
        As for :func:`compare_methods` (in counts).
    """
    from tvrestore.evaluation.baselines import counts_baselines

    counts = np.asarray(counts, np.float64)
    peak = 1.0 if reference is None else max(float(np.max(reference)), np.finfo(float).tiny)
    scaled = None if reference is None else np.asarray(reference, np.float64) / peak
    # The Anscombe route is named: its weight is chambolle's on the Anscombe image.
    route = ", anscombe" if result.poisson_route == "anscombe" else ""
    rows = [CompareRow(method=f"tvrestore ({result.solver}, poisson{route})", weight=result.weight,
                         **_scores(scaled, restored / peak), objective=result.objective,
                         seconds=result.solve_seconds)]
    for baseline in counts_baselines(result.weight, float(counts.mean()), psf=psf,
                                     route=result.poisson_route or "kl"):
        start = time.perf_counter()
        solution = baseline.solve(counts)
        seconds = time.perf_counter() - start
        written = as_written(solution.reshape(counts.shape))
        if solutions is not None:
            solutions[baseline.method] = written
        rows.append(CompareRow(method=baseline.method, weight=baseline.weight,
                                 **_scores(scaled, written / peak), objective=None,
                                 seconds=seconds))
    return rows


def skimage_baselines(weight: float, tv: str, channel_axis: int | None) -> list[Baseline]:
    """skimage's chambolle and bregman at tvrestore's :math:`w`; none at :math:`w = 0`.

    At :math:`w = 0` the minimiser is the image itself, and both skimage
    methods divide by the weight (ZeroDivisionError), so there is nothing
    to compare.

    Parameters
    ----------
    weight : float
        :math:`w` of tvrestore's objective.
    tv : {"isotropic", "anisotropic"}
        Bregman's TV kind; chambolle's is always isotropic.
    channel_axis : int or None
        None for grey images, -1 for colour (processed channel by channel).
    """
    if not weight > 0:
        return []
    bregman_weight = BREGMAN_WEIGHT_FACTOR / weight
    return [
        Baseline(
            "skimage chambolle",
            lambda image: denoise_tv_chambolle(image, weight=weight, channel_axis=channel_axis),
            weight,
        ),
        Baseline(
            "skimage bregman",
            lambda image: denoise_tv_bregman(
                image,
                weight=bregman_weight,
                isotropic=tv == "isotropic",
                channel_axis=channel_axis,
            ),
            bregman_weight,
        ),
    ]


def _median_rows(
    unit: np.ndarray, reference: np.ndarray | None, as_written: Callable[[np.ndarray], np.ndarray],
    solutions: dict[str, np.ndarray] | None,
) -> list[CompareRow]:
    """The median filters of :func:`tvrestore.evaluation.baselines.impulse_baselines` on ``unit``."""
    from tvrestore.evaluation.baselines import impulse_baselines

    rows = []
    for baseline in impulse_baselines():
        start = time.perf_counter()
        solution = baseline.solve(unit)
        seconds = time.perf_counter() - start
        written = as_written(solution)
        if solutions is not None:
            solutions[baseline.method] = written
        rows.append(CompareRow(method=baseline.method, weight=None,
                                 **_scores(reference, written), objective=None, seconds=seconds))
    return rows


def _scores(reference: np.ndarray | None, image: np.ndarray) -> dict:
    if reference is None:
        return {"psnr": None, "ssim": None}
    psnr, ssim = quality(reference, image)
    return {"psnr": psnr, "ssim": ssim}
