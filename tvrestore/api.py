r"""Restoration tasks: validate the input, build the objective, solve.

One public function per task. :func:`denoise` solves

.. math::

    \min_u \; \frac12 \sum (u - f)^2 + w \,\mathrm{TV}(u)

for an image :math:`f` scaled to [0, 1] (see :mod:`tvrestore.models.problem`),
and :func:`denoise_batch` does the same for several images, in one compiled
call per solve shape, each with its own weight and stopping, so an image's
result does not depend on the batch it is in. :func:`restore` adds a
forward model (blur, binning, missing pixels). Every task is solved by
:mod:`tvrestore.solvers.engine`, denoising as the identity forward model.

Images are solved in the few padded shapes of :mod:`tvrestore.models.shapes`, so
that many sizes share compiled programs; ``weight="auto"`` is chosen by
:mod:`tvrestore.tuning.autoweight`.
"""

from __future__ import annotations

import functools
import math
import numbers
import time
import warnings
from dataclasses import dataclass, replace
from typing import Sequence

import numpy as np


from tvrestore.backend import cache

from tvrestore.solvers import engine
from tvrestore.tuning.autoweight import (
    choose_anscombe_weights, choose_poisson_weights, choose_weights,
)
from tvrestore.errors import TVRestoreError, TVRestoreWarning
from tvrestore.io.pixels import (
    from_counts, from_unit_range, join_alpha, split_alpha, to_counts, to_unit_range,
)
from tvrestore.models.fidelities import L2, Exact, fidelity_for
from tvrestore.solvers.history import SolverOutput
from tvrestore.options import (
    DEFAULT_GAP, DEFAULT_MAX_ITER, DEFAULT_TOL, MAX_PIXEL_MAGNITUDE, RestoreOptions,
    RestoreResult, check_weight,
)
from tvrestore.tuning.counts import estimate_gain_offset, inverse_anscombe, stabilized_unit
from tvrestore.tuning.impulses import (
    RANDOM_VALUED, SALT_AND_PEPPER, ImpulseDetection, detect_impulses, impulse_weight, pilot_misfit,
    range_extremes, smooth_fill,
)
from tvrestore.models.problem import Problem
from tvrestore.models.axes import Axes, check_volume_task, default_axes, relative_spacing
from tvrestore.models.shapes import solve_shape, volume_solve_shape, zero_padded

__all__ = [
    "MAX_UPSCALE", "RestoreRequest", "RestoreResult", "denoise", "denoise_batch", "denoise_images",
    "restore", "restore_image",
]

# The largest --upscale: beyond 8x8 binning a data pixel stands for more
# than 64 unknowns, which TV alone cannot determine.
MAX_UPSCALE = 8

def denoise(
    image: np.ndarray,
    weight: float | str = "auto",
    *,
    axes: str | None = None,
    spacing: Sequence[float] | None = None,
    reduction: str = "mean",
    tv: str = "isotropic",
    color: str = "vectorial",
    solver: str = "adam",
    max_iter: int | None = None,
    tol: float = DEFAULT_TOL,
    gap: float = DEFAULT_GAP,
    noise: str = "gaussian",
    gain: float | str = 1.0,
    offset: float | str = 0.0,
    poisson_route: str = "auto",
) -> tuple[np.ndarray, RestoreResult]:
    r"""Total-variation denoising of one image, with Adam or exactly.

    Minimizes :math:`E(u) = \frac12 \sum (u - f)^2 + w\,\mathrm{TV}(u)`
    over the image :math:`u` held as a TensorFlow variable, where :math:`f`
    is ``image`` scaled to [0, 1] (uint8 / 255, uint16 / 65535, floats as
    given).

    Volumes and time-lapses take the same objective with one more
    difference per extra axis, each divided by its step (``spacing``):
    see :mod:`tvrestore.models.tv` and :mod:`tvrestore.models.axes`.

    Parameters
    ----------
    image : np.ndarray
        ``(H, W)`` grey or ``(H, W, C)`` channel-last with C in 1..4;
        uint8, uint16, float32, float64 or bool. A 2nd or 4th channel is
        alpha and passes through untouched. Or a volume, a time-lapse or
        both, named by ``axes``: ``(Z, Y, X)``, ``(T, Y, X)``,
        ``(Z, Y, X, C)``, ... (a volume's channels are all data, no alpha).
    weight : float or "auto"
        :math:`w \ge 0`, the same number as scikit-image's
        ``denoise_tv_chambolle(weight=...)`` for grey isotropic TV. "auto"
        estimates the noise level, and among weights around the noise-level
        rule keeps the one of least Monte Carlo SURE, an unbiased estimate
        of the mean squared error that needs no clean image
        (:mod:`tvrestore.tuning.autoweight`): each candidate and its probed copy
        take 60 fixed iterations of the exact mode on a centre crop of at
        most 256x256 (64x64x64 for a volume), about the cost of one solve
        of the image.
    axes : str, optional
        One letter per axis of ``image``, in its order: T (time), Z, Y, X,
        C (channels), e.g. "ZYX", "TYX", "ZYXC". Default
        :func:`tvrestore.models.axes.default_axes`: a 3-D array is an
        image with channels when its last axis holds at most 4 values,
        else a Z stack.
    spacing : sequence of float, optional
        The step of each spatial axis in the canonical order (T,) Z, Y, X,
        e.g. ``(dz, dy, dx)``, in any one unit: TV divides each difference
        by its step relative to the smallest. A time axis is restored frame
        by frame, all frames with one weight (for "auto", the middle
        frame's), unless ``spacing`` has a step for it too, which couples
        the frames as one more dimension. Default: every step 1.
    reduction : {"mean", "sum"}
        The loss's units. The result is the same under both.
    tv : {"isotropic", "anisotropic"}
    color : {"vectorial", "channelwise"}
        How TV treats colour (:mod:`tvrestore.models.tv`).
    solver : {"adam", "pdhg"}
        "adam" (default): Adam on the image as a variable
        (:mod:`tvrestore.solvers.adam`). "pdhg": the exact mode, an accelerated
        primal-dual method that stops on a certified relative duality gap
        (:mod:`tvrestore.solvers.pdhg`); it needs no step size and reports the
        certificate in ``certified_gap``.
    max_iter : int, optional
        Iteration cap; default 2000 for "adam", 20000 for "pdhg".
    tol : float
        Adam's stopping tolerance: the relative objective decrease over a
        window of iterations that counts as a plateau. Denoising a volume
        reads it at a third
        (:data:`tvrestore.solvers.engine.VOLUME_TOL_FACTOR`).
    gap : float
        pdhg's target: stop once the certified relative gap
        :math:`(E(u) - E^*) / E^*` is at most this.
    noise : {"gaussian", "poisson", "impulse"}
        The noise model (docs/noise.md). "gaussian": the objective above.
        "poisson": the pixels are photon counts, ``gain * y + offset``,
        and the fidelity is the Kullback-Leibler divergence,
        :math:`E(u) = \sum (u - y + y \log(y / u)) + w\,\mathrm{TV}(u)`,
        :math:`u \ge 0`, in counts (nothing is scaled to [0, 1]); the result
        is in the input's units. "impulse": salt-and-pepper or
        random-valued impulses are detected value by value and treated as
        missing (:mod:`tvrestore.tuning.impulses`), and the rest fitted by
        :math:`\sum m |u - f|` on [0, 1]; "auto" takes the detection's
        weight (:func:`tvrestore.tuning.impulses.impulse_weight`), and the
        result's ``impulse_fraction`` and ``impulse_route`` say what was
        found. Each image is then solved on its own (a mask of its own).
    gain, offset : float or "auto"
        With "poisson": pixel units per count (> 0) and the pixel value of
        zero counts; "auto" estimates them from the image's mean-variance
        line (:func:`tvrestore.tuning.counts.estimate_gain_offset`). The
        defaults take the pixel values, of any dtype, as counts.
    poisson_route : {"auto", "anscombe", "kl"}
        With "poisson", how the counts are denoised (docs/noise.md).
        "anscombe": :math:`\frac12 \sum (z - a(y))^2 + W\,\mathrm{TV}(z)`
        on the Anscombe image :math:`a(y) = 2\sqrt{y + 3/8}`, whose noise has
        unit variance, then the exact unbiased inverse
        (:func:`tvrestore.tuning.counts.inverse_anscombe`) back to counts;
        ``weight`` is :math:`W`, scikit-image's ``denoise_tv_chambolle``
        weight on :math:`a(y)`, and "auto" chooses it by SURE with the noise
        level known (:func:`tvrestore.tuning.autoweight.choose_anscombe_weights`).
        "kl": the KL objective above, ``weight`` in its units. "auto"
        (default): "anscombe" when the weight is "auto", else "kl". The
        result's ``poisson_route`` says which was used.

    Returns
    -------
    restored : np.ndarray
        Same shape and dtype as ``image``; integer outputs are clipped to
        the dtype's range (and rounded, under "poisson"), float outputs are
        not clipped.
    result : RestoreResult

    Raises
    ------
    TVRestoreError
        For an array or option this function cannot work with.

    Examples
    --------
    >>> import numpy as np
    >>> from tvrestore import denoise
    >>> noisy = np.clip(0.5 + 0.1 * np.random.default_rng(0).standard_normal((32, 32)), 0, 1)
    >>> restored, result = denoise(noisy.astype(np.float32), weight=0.1)
    >>> bool(restored.std() < noisy.std()), result.converged
    (True, True)
    """
    # One image takes one weight: a sequence is denoise_batch's form.
    options = RestoreOptions(weight=weight, reduction=reduction, tv=tv, color=color,
                             solver=solver, max_iter=max_iter, tol=tol, gap=gap, noise=noise,
                             gain=gain, offset=offset, poisson_route=poisson_route)
    return restore_image(image, RestoreRequest(options, axes=axes, spacing=spacing))


def _denoise_one(image: np.ndarray, request: "RestoreRequest") -> tuple[np.ndarray, RestoreResult]:
    """:func:`denoise` of a typed request with no forward model."""
    options, spacing = request.options, request.spacing
    named = _named_axes(image, request.axes)
    if named.letters in ("YX", "YXC") and spacing is None:
        return denoise_images([image], options)[0]
    if named.volume:
        check_volume_task(named, spacing, noise=options.noise)
    return _denoise_named(image, named, spacing, options.weight, options)


def denoise_batch(
    images: Sequence[np.ndarray],
    weight: float | str | Sequence[float | str] = "auto",
    *,
    reduction: str = "mean",
    tv: str = "isotropic",
    color: str = "vectorial",
    solver: str = "adam",
    max_iter: int | None = None,
    tol: float = DEFAULT_TOL,
    gap: float = DEFAULT_GAP,
    noise: str = "gaussian",
    gain: float | str = 1.0,
    offset: float | str = 0.0,
    poisson_route: str = "auto",
) -> list[tuple[np.ndarray, RestoreResult]]:
    """:func:`denoise` for several images, one compiled call per solve shape.

    ``weight`` is one value for all or one per image; "auto" is estimated
    per image. Images of equal :func:`solve_shape` are solved together in
    one call; each keeps its own loss scale, step size and stopping, so its
    result is the one :func:`denoise` gives it alone. Parameters and
    returns are otherwise as in :func:`denoise`, one pair per image, in
    order.
    """
    options = RestoreOptions(reduction=reduction, tv=tv, color=color, solver=solver,
                             max_iter=max_iter, tol=tol, gap=gap, noise=noise, gain=gain,
                             offset=offset, poisson_route=poisson_route)
    if _is_one_weight(weight):
        return denoise_images(images, replace(options, weight=check_weight(weight)))
    return denoise_images(images, options, weights=list(weight))


def denoise_images(
    images: Sequence[np.ndarray], options: RestoreOptions,
    weights: Sequence[float | str] | None = None,
) -> list[tuple[np.ndarray, RestoreResult]]:
    """:func:`denoise_batch` with its settings in one :class:`RestoreOptions`.

    The typed form that the library's own callers (batches, tiles) use:
    ``weights``, given, is one weight per image instead of
    ``options.weight``. Returns and raises as :func:`denoise_batch`.
    """
    images = list(images)
    one_each = options.weight if weights is None else weights
    if options.noise == "impulse":
        # Each image has impulses of its own, so a mask of its own: solved
        # one by one, through restore's masked path.
        return [restore_image(image, RestoreRequest(replace(options, weight=value)))
                for image, value in zip(images, _weights_for(one_each, len(images)))]
    prepared = [_Prepared.from_image(image, options.noise, options.gain, options.offset)
                for image in images]
    if not prepared:
        return []
    return _denoise_prepared(prepared, _weights_for(one_each, len(prepared)), None, options)


def _denoise_prepared(
    prepared: list["_Prepared"], weights: list, spacing: tuple[float, ...] | None,
    options: RestoreOptions,
) -> list[tuple[np.ndarray, RestoreResult]]:
    """Choose the weights, solve and finish prepared images (or volumes) of one kind.

    ``spacing`` is relative (:func:`tvrestore.models.axes.relative_spacing`),
    one step per spatial axis of every item; ``options``' weight is unused.
    """
    tv, color, reduction, solver = options.tv, options.color, options.reduction, options.solver
    noise = options.noise
    max_iter = DEFAULT_MAX_ITER[solver] if options.max_iter is None else int(options.max_iter)
    weights = [check_weight(value) for value in weights]
    programs_before = cache.program_count()
    start = time.perf_counter()
    if noise == "poisson":
        prepared = [item.stabilized() if _poisson_route(options.poisson_route, weight) == "anscombe"
                    else item for item, weight in zip(prepared, weights)]
    chosen, search_compile_seconds = _choose_weights(prepared, weights, tv, color, spacing)
    search_seconds = time.perf_counter() - start - search_compile_seconds
    # A solve per fidelity: KL for counts, L2 for everything else (the
    # Anscombe route's data included).
    fidelities = [fidelity_for(noise) if item.counts is None or item.counts.top is None else L2()
                  for item in prepared]
    solved: list = [None] * len(prepared)
    for kind in {type(fidelity) for fidelity in fidelities}:
        members = [i for i, fidelity in enumerate(fidelities) if type(fidelity) is kind]
        outputs = _solve_denoising(
            [prepared[i].unit for i in members],
            [chosen[i].weight / prepared[i].weight_scale for i in members], tv=tv, color=color,
            reduction=reduction, solver=solver, max_iter=max_iter, tol=options.tol,
            gap=options.gap, fidelity=fidelities[members[0]], spacing=spacing,
        )
        for i, output in zip(members, outputs):
            solved[i] = output
    compile_seconds = search_compile_seconds + max(run["compile_seconds"] for _, run in solved)
    pairs = []
    for item, choice, fidelity, (solution, run) in zip(prepared, chosen, fidelities, solved):
        problem = Problem(fidelity=fidelity, tv=tv, color=color, reduction=reduction,
                          spacing=spacing)
        result = _result(
            problem, solution, item.unit, choice.weight / item.weight_scale, choice.noise_sigma,
            run, solver=solver, compile_seconds=compile_seconds, programs_before=programs_before,
            search_seconds=search_seconds, noise=noise, counts=item.counts,
        )
        pairs.append((item.finish(solution), result))
    return pairs


def _poisson_route(route: str, weight) -> str:
    """The route of :data:`tvrestore.options.POISSON_ROUTES` that denoises counts at ``weight``.

    "auto" is "anscombe" at an automatic weight, where it measured up to
    0.7 dB better than KL (docs/noise.md), and "kl" at a given weight,
    which is then the KL weight it always was.
    """
    if route != "auto":
        return route
    return "anscombe" if weight == "auto" else "kl"


def _choose_weights(
    prepared: list["_Prepared"], weights: list, tv: str, color: str,
    spacing: tuple[float, ...] | None,
) -> tuple[list, float]:
    """Each item's weight, in its own units (KL's, W on the Anscombe image, or unit range's)."""
    groups = {"kl": [], "anscombe": [], "unit": []}
    for index, item in enumerate(prepared):
        route = "unit" if item.counts is None else item.counts.route
        groups[route].append(index)
    chosen: list = [None] * len(prepared)
    compile_seconds = 0.0
    for route, members in groups.items():
        if not members:
            continue
        units = [prepared[i].unit for i in members]
        picked = [weights[i] for i in members]
        if route == "kl":
            choices, seconds = choose_poisson_weights(
                units, [prepared[i].counts.scale for i in members], picked, tv, color,
                spacing=spacing)
        elif route == "anscombe":
            choices, seconds = choose_anscombe_weights(
                units, [prepared[i].counts.top for i in members], picked, tv, color,
                spacing=spacing)
        else:
            choices, seconds = choose_weights(units, picked, tv, color, spacing=spacing)
        compile_seconds += seconds
        for i, choice in zip(members, choices):
            chosen[i] = choice
    return chosen, compile_seconds


def _is_one_weight(weight) -> bool:
    return isinstance(weight, (str, numbers.Number)) or np.ndim(weight) == 0


def _weights_for(weight, count: int) -> list[float | str]:
    """One checked weight per image: ``weight`` repeated, or one of a sequence each."""
    weights = [weight] * count if _is_one_weight(weight) else list(weight)
    if len(weights) != count:
        raise TVRestoreError(f"got {len(weights)} weights for {count} images")
    return [check_weight(value) for value in weights]


def _result(
    problem: Problem, unknown: np.ndarray, data: np.ndarray, weight: float,
    noise_sigma: float | None, run: dict, *, solver: str, compile_seconds: float,
    programs_before: int, search_seconds: float, fitted: np.ndarray | None = None,
    noise: str = "gaussian", counts: "_Counts | None" = None,
    impulses: "ImpulseDetection | None" = None, weight_auto: bool | None = None,
) -> RestoreResult:
    """The one place a :class:`RestoreResult` is made: one image's solve and its energy.

    Parameters
    ----------
    problem : Problem
        Laid out "hwc", with the run's forward model, TV and reduction.
    unknown, data : np.ndarray, shape (H, W, C) and (h, w, C)
        :math:`u` on the unknown's domain and :math:`f`.
    weight, noise_sigma : float, float or None
        The weight solved with; the noise estimate if it was chosen
        automatically.
    run : dict
        :func:`_run_record` of the image.
    solver : str
    compile_seconds : float
        Every compilation the call made, the weight search's included.
    programs_before : int
        :func:`tvrestore.backend.cache.program_count` before the call.
    search_seconds : float
        The weight search's time, compilation apart.
    fitted : np.ndarray, shape (h, w, 1), optional
        The fitted data values, for a mask.
    noise : str
    counts : _Counts, optional
        Under "poisson", the calibration: E is reported in counts (the
        solver's units times ``counts.scale``; KL and TV both scale so),
        or on the Anscombe route in the Anscombe image's units (times
        ``top**2``), with the weight ``weight * top``.
    impulses : ImpulseDetection, optional
        Under "impulse", what was detected (its fraction and route go
        into the result).
    weight_auto : bool, optional
        Whether the weight was chosen automatically; default: whether a
        noise level was estimated.
    """
    energy = problem.energy_value(unknown, data, weight, fitted)
    if counts is not None:
        energy *= counts.energy_scale
    compile_cached = None
    if cache.status().directory is not None or compile_seconds == 0:
        compile_cached = cache.program_count() == programs_before
    return RestoreResult(
        weight=float(weight) * (1.0 if counts is None else counts.weight_scale),
        weight_auto=noise_sigma is not None if weight_auto is None else weight_auto,
        noise_sigma=noise_sigma,
        compile_cached=compile_cached,
        weight_search_seconds=search_seconds if noise_sigma is not None or weight_auto else 0.0,
        reduction=problem.reduction,
        tv=problem.tv,
        color=problem.color,
        solver=solver,
        objective=energy,
        loss=energy * problem.loss_scale(unknown.shape),
        noise=noise,
        gain=None if counts is None else counts.gain,
        offset=None if counts is None else counts.offset,
        counts_clipped=None if counts is None else counts.clipped,
        impulse_fraction=None if impulses is None else impulses.fraction,
        impulse_route=None if impulses is None else impulses.route,
        poisson_route=None if counts is None else counts.route,
        **{**run, "compile_seconds": compile_seconds},
    )


def _solve_denoising(
    units: list[np.ndarray], weights: list[float], *, tv: str, color: str, reduction: str,
    solver: str, max_iter: int, tol: float, gap: float, fidelity=None,
    spacing: tuple[float, ...] | None = None,
) -> list[tuple[np.ndarray, dict]]:
    """Per image: the solution and its run record (iterations, converged, ...).

    Images of one :func:`solve_shape` are zero-padded to it and solved in
    one call of the engine. The exact mode skips a zero weight: :math:`u = f`
    is the minimizer, with gap 0.
    """
    solved = [
        (unit, {"iterations": 0, "converged": True, "certified_gap": 0.0,
                "solve_seconds": 0.0, "compile_seconds": 0.0, "history": ()})
        for unit in units
    ]
    to_solve = [i for i, w in enumerate(weights) if solver == "adam" or w > 0]
    for shape, members in _by_solve_shape(units, to_solve).items():
        padded, extents = zero_padded([units[i] for i in members], shape)
        output = engine.solve(
            engine.Degradation(), padded, np.array([weights[i] for i in members]),
            extents=extents, tv=tv, color=color, reduction=reduction, solver=solver,
            max_iter=max_iter, tol=tol, gap=gap, fidelity=fidelity, spacing=spacing,
        )
        for position, index in enumerate(members):
            window = tuple(slice(0, side) for side in units[index].shape[:-1])
            solved[index] = (output.solution[position][window], _run_record(output, position))
    return solved


def _by_solve_shape(units: list[np.ndarray], indices) -> dict[tuple[int, ...], list[int]]:
    """The given indices of ``units``, grouped by :func:`solve_shape`."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for index in indices:
        shape = units[index].shape
        groups.setdefault(solve_shape(shape) if len(shape) == 3 else volume_solve_shape(shape),
                          []).append(index)
    return groups


def _run_record(output: SolverOutput, position: int) -> dict:
    """One image's RestoreResult fields from its batch's solver output.

    The output's history must hold ``"objective"`` in sum units (and
    ``"certified_gap"`` for pdhg).
    """
    iterations = int(output.iterations[position])
    checks, values = output.history.of_item(position, iterations)
    gaps = values.get("certified_gap", np.full(len(checks), np.nan))
    history = tuple(
        {"iteration": int(check), "objective": float(objective),
         # No certificate yet (dual value <= 0) is infinite: None, as in JSON.
         "certified_gap": float(gap) if np.isfinite(gap) else None}
        for check, objective, gap in zip(checks, values["objective"], gaps)
    )
    return {
        "iterations": iterations,
        "converged": bool(output.converged[position]),
        "certified_gap": None if output.certified_gap is None else float(output.certified_gap[position]),
        "solve_seconds": output.solve_seconds,
        "compile_seconds": output.compile_seconds,
        "history": history,
    }


# Under "poisson", a warning when more than this fraction of the pixels
# lie below the offset (negative counts, taken as 0): read noise puts a
# few dark pixels there, a wrong offset many.
_CLIPPED_WARNING = 0.01


@dataclass(frozen=True)
class _Counts:
    r"""How an image's pixels are photon counts, and the solver's unit of counts.

    ``pixel = gain * counts + offset``; the solver sees ``counts / scale``,
    ``scale`` a power of two at or above the counts' 99.9th percentile
    (at least 1), so that Adam's steps, made for data in [0, 1], fit:
    KL and TV both scale with the data, so the weight means the same in
    counts and in the solver's unit (:class:`tvrestore.models.fidelities.KL`).
    ``clipped`` is the fraction of negative counts, taken as 0. On the
    Anscombe route ``top`` is set, and the solver sees instead
    :math:`2\sqrt{y + 3/8} / t` (:func:`tvrestore.tuning.counts.stabilized_unit`)
    with L2: weights and energies in the Anscombe image's units are the
    solver's times ``weight_scale`` and ``energy_scale``.
    """

    gain: float
    offset: float
    scale: float
    clipped: float
    top: float | None = None

    @property
    def route(self) -> str:
        return "kl" if self.top is None else "anscombe"

    @property
    def weight_scale(self) -> float:
        # KL and TV are both homogeneous of degree 1 in the data.
        return 1.0 if self.top is None else self.top

    @property
    def energy_scale(self) -> float:
        # L2 is of degree 2, TV (with the weight scaled by t) too.
        return self.scale if self.top is None else self.top**2


def _counts_of(colour: np.ndarray, gain, offset) -> tuple[np.ndarray, _Counts]:
    """The solver's data (float32, counts / scale) of colour pixels under "poisson", and how.

    The rule for counts that are not counts (docs/noise.md): negative
    counts are taken as 0, with a :class:`TVRestoreWarning` beyond 1% of
    the pixels; float pixels read as counts (gain 1, offset 0) that are
    not whole numbers get a warning too; both go on.
    """
    values = np.asarray(colour)
    if values.dtype == np.bool_:
        raise TVRestoreError("a bool image holds no photon counts; give counts (any number type)")
    finite = np.isfinite(values) if values.dtype.kind == "f" else np.ones(values.shape, bool)
    if not finite.all():
        raise TVRestoreError("image contains NaN or infinite values")
    if gain == "auto" or offset == "auto":
        gain, offset = estimate_gain_offset(values, gain, offset)
    counts = to_counts(values, gain, offset)
    negative = counts < 0
    clipped = float(negative.mean())
    if clipped > _CLIPPED_WARNING:
        warnings.warn(
            f"{100 * clipped:.1f}% of the pixels are below the offset {offset:g} (negative "
            "counts), taken as 0 counts; check the offset", TVRestoreWarning, stacklevel=4)
    if (values.dtype.kind == "f" and gain == 1.0 and offset == 0.0
            and not np.array_equal(counts, np.round(counts))):
        warnings.warn(
            "the pixels are taken as photon counts but are not whole numbers; give the gain "
            "and offset (or 'auto') if they are not counts", TVRestoreWarning, stacklevel=4)
    counts = np.maximum(counts, 0)
    largest = float(counts.max())
    if largest > MAX_PIXEL_MAGNITUDE:
        raise TVRestoreError(
            f"counts reach {largest:.3g}; the float32 solvers take up to {MAX_PIXEL_MAGNITUDE:g}")
    high = float(np.percentile(counts, 99.9))
    scale = float(2.0 ** math.ceil(math.log2(max(1.0, high))))
    return counts / np.float32(scale), _Counts(float(gain), float(offset), scale, clipped)


def _check_solvable(unit: np.ndarray) -> None:
    """Refuse unit-range values the float32 solvers cannot take (NaN, infinity, overflow)."""
    if not np.all(np.isfinite(unit)):
        raise TVRestoreError("image contains NaN or infinite values")
    largest = float(np.abs(unit).max())
    if largest > MAX_PIXEL_MAGNITUDE:
        # float32 arithmetic would overflow into NaN somewhere in the solve.
        raise TVRestoreError(
            f"pixel values reach {largest:.3g}; the float32 solvers take up to "
            f"{MAX_PIXEL_MAGNITUDE:g} (scale the image to [0, 1])"
        )


@dataclass(frozen=True)
class _Prepared:
    """An input split into the float (H, W, C) the solver sees and the rest.

    ``counts`` is None for data in unit range ("gaussian", "impulse"), the
    calibration under "poisson".
    """

    unit: np.ndarray
    alpha: np.ndarray | None
    dtype: np.dtype
    colour_shape: tuple[int, ...]
    counts: _Counts | None = None

    @classmethod
    def from_image(cls, image: np.ndarray, noise: str = "gaussian", gain=1.0,
                   offset=0.0) -> "_Prepared":
        if not isinstance(image, np.ndarray):
            raise TVRestoreError(f"expected a numpy array, got {type(image).__name__}")
        if image.ndim not in (2, 3) or (image.ndim == 3 and not 1 <= image.shape[2] <= 4):
            raise TVRestoreError(
                f"image has shape {image.shape}; expected (H, W) or (H, W, C) with C in 1..4"
            )
        if image.shape[0] == 0 or image.shape[1] == 0:
            raise TVRestoreError(f"image is empty (shape {image.shape})")
        counts = None
        try:
            colour, alpha = split_alpha(image)
            if noise == "poisson":
                unit, counts = _counts_of(colour, gain, offset)
            else:
                unit = to_unit_range(colour, copy=False)
        except ValueError as err:
            raise TVRestoreError(str(err)) from err
        _check_solvable(unit)
        unit3 = unit.reshape(unit.shape[0], unit.shape[1], -1)
        return cls(unit=unit3, alpha=alpha, dtype=image.dtype, colour_shape=colour.shape,
                   counts=counts)

    @classmethod
    def from_volume(cls, volume: np.ndarray, channels: bool, noise: str = "gaussian", gain=1.0,
                    offset=0.0) -> "_Prepared":
        """A volume in canonical order, (Z, Y, X) or (Z, Y, X, C): every channel is data."""
        if 0 in volume.shape:
            raise TVRestoreError(f"the volume is empty (shape {volume.shape})")
        with_channels = volume if channels else volume[..., None]
        counts = None
        try:
            if noise == "poisson":
                unit, counts = _counts_of(with_channels, gain, offset)
            else:
                unit = to_unit_range(with_channels, copy=False)
        except ValueError as err:
            raise TVRestoreError(str(err)) from err
        _check_solvable(unit)
        return cls(unit=unit, alpha=None, dtype=volume.dtype, colour_shape=volume.shape,
                   counts=counts)

    @property
    def weight_scale(self) -> float:
        """A weight in the item's units over the solver's (the Anscombe route's ``top``, else 1)."""
        return 1.0 if self.counts is None else self.counts.weight_scale

    def stabilized(self) -> "_Prepared":
        r"""This image of counts on the Anscombe route: its data :math:`2\sqrt{y + 3/8} / t`."""
        unit, top = stabilized_unit(np.asarray(self.unit, np.float64) * self.counts.scale)
        return replace(self, unit=unit, counts=replace(self.counts, top=top))

    def colour(self, solution: np.ndarray) -> np.ndarray:
        """A solution shaped as the input's colour pixels, in their units and dtype."""
        if self.counts is None:
            return from_unit_range(solution, self.dtype)
        if self.counts.top is not None:
            counts = inverse_anscombe(np.asarray(solution, np.float64) * self.counts.top)
        else:
            counts = solution * self.counts.scale
        return from_counts(counts, self.counts.gain, self.counts.offset, self.dtype)

    def finish(self, solution: np.ndarray) -> np.ndarray:
        """The solver's (H, W, C) float back in the input's dtype and layout."""
        return join_alpha(self.colour(solution.reshape(self.colour_shape)), self.alpha)


def _named_axes(image, axes: str | None) -> Axes:
    """``axes`` parsed and checked against ``image``'s shape, or the default for it."""
    if not isinstance(image, np.ndarray):
        raise TVRestoreError(f"expected a numpy array, got {type(image).__name__}")
    named = default_axes(image.shape) if axes is None else Axes.parse(axes)
    named.check_fits(image.shape)
    return named


def _denoise_named(
    image: np.ndarray, named: Axes, spacing, weight, options: RestoreOptions,
) -> tuple[np.ndarray, RestoreResult]:
    """:func:`denoise` of an array with named axes: volumes, time-lapses, transposed images.

    The array is put in canonical order (T Z Y X C); a time axis without a
    step is split into frames solved in one batch with one weight, and the
    result is put back in the input's order.
    """
    coupled, steps = named.steps(spacing)
    canonical = np.transpose(image, named.to_canonical())
    letters = named.canonical
    channels = "C" in letters
    split = "T" in letters and not coupled
    frames = list(canonical) if split else [canonical]
    spatial = len(named.spatial(coupled))
    relative = relative_spacing(steps)
    noise, gain, offset = options.noise, options.gain, options.offset
    if spatial == 2:
        prepared = [_Prepared.from_image(frame, noise, gain, offset) for frame in frames]
    else:
        prepared = [_Prepared.from_volume(frame, channels, noise, gain, offset) for frame in frames]
    if weight == "auto" and len(prepared) > 1:
        # One weight for every frame, from the middle one: no flicker.
        start = time.perf_counter()
        middle = prepared[len(prepared) // 2]
        if noise == "poisson":
            # The route of an automatic weight, kept for the frames' given one.
            options = replace(options, poisson_route=_poisson_route(options.poisson_route, "auto"))
            if options.poisson_route == "anscombe":
                middle = middle.stabilized()
        [choice], search_compile_seconds = _choose_weights(
            [middle], ["auto"], options.tv, options.color, relative)
        searched = {"weight_auto": True, "noise_sigma": choice.noise_sigma,
                    "weight_search_seconds": time.perf_counter() - start - search_compile_seconds}
        pairs = [(restored, replace(result, **searched)) for restored, result in
                 _denoise_prepared(prepared, [choice.weight] * len(prepared), relative, options)]
    else:
        pairs = _denoise_prepared(prepared, [weight] * len(prepared), relative, options)
    restored = np.stack([item for item, _ in pairs]) if split else pairs[0][0]
    result = _combined([result for _, result in pairs])
    result = replace(result, axes=named.letters, spacing=steps)
    return np.transpose(restored, named.from_canonical()), result


def _combined(results: list[RestoreResult]) -> RestoreResult:
    """One result for frames solved with one weight: energies summed, the worst convergence."""
    if len(results) == 1:
        return results[0]
    gaps = [result.certified_gap for result in results]
    loss = float(sum(result.loss for result in results))
    return replace(
        results[0],
        objective=float(sum(result.objective for result in results)),
        # Frames of one shape: the mean of their means is the whole's mean.
        loss=loss / len(results) if results[0].reduction == "mean" else loss,
        iterations=max(result.iterations for result in results),
        converged=all(result.converged for result in results),
        certified_gap=None if None in gaps else float(max(gaps)),
    )


def restore(
    image: np.ndarray,
    *,
    psf=None,
    mask: np.ndarray | None = None,
    upscale: int = 1,
    weight: float | str = "auto",
    axes: str | None = None,
    spacing: Sequence[float] | None = None,
    reduction: str = "mean",
    tv: str = "isotropic",
    color: str = "vectorial",
    solver: str = "adam",
    max_iter: int | None = None,
    tol: float = DEFAULT_TOL,
    gap: float = DEFAULT_GAP,
    noise: str = "gaussian",
    gain: float | str = 1.0,
    offset: float | str = 0.0,
    poisson_route: str = "auto",
) -> tuple[np.ndarray, RestoreResult]:
    r"""Deblur, inpaint, upscale and denoise one image, in one objective.

    The data :math:`f` (``image`` scaled to [0, 1]) are modelled as
    :math:`f = A x + n` for a scene :math:`x` and Gaussian noise :math:`n`,
    with :math:`A = M D B`: blur :math:`B` by ``psf``, then
    :math:`K \times K` binning :math:`D` (``upscale`` = K), then the mask
    :math:`M` of missing pixels. The restoration minimizes

    .. math::

        E(u) = \tfrac12 \sum m\,(D B u - f)^2 + w\,\mathrm{TV}(u),
        \qquad \mathrm{lo} \le u \le \mathrm{hi},

    with :math:`m = 0` on missing pixels (their values are ignored) and 1
    elsewhere. :math:`u` is the scene at K times the data's resolution,
    extended by the PSF's radius on each side: the data are the 'valid'
    part of the blur of a larger scene, so no periodic or zero boundary is
    assumed and nothing rings at the borders. The box is [0, 1] widened to
    the observed values' range. The result is :math:`u` on the observed
    window, K times larger per side than ``image``
    (:mod:`tvrestore.solvers.engine`). With no ``psf``, ``mask`` or ``upscale``,
    this is :func:`denoise`, unchanged.

    Parameters
    ----------
    image : np.ndarray
        As for :func:`denoise`: ``(H, W)`` or ``(H, W, C)``; alpha passes
        through (repeated K times per side when upscaling).
    psf : str or array_like, optional
        :math:`B`'s PSF: a spec (``"gaussian:1.6"``, ``"box:3"``,
        ``"disk:2"``, ``"motion:9,30"``), a ``.npy``/PNG/TIFF file, or an
        array; normalised to sum 1 (:mod:`tvrestore.models.psf`). At most the
        image's size. A volume takes a 3-D one (``"gaussian:SZ,SY,SX"``, a
        3-D ``.npy``, a TIFF stack or array), in canonical (Z, Y, X) order.
    mask : array_like, shape (H, W), optional
        Nonzero where a pixel is missing (as in scikit-image's and
        OpenCV's inpainting). A volume's is its shape without the channel
        axis, in the array's axis order.
    upscale : int
        :math:`K`, 1 to 8: the data are the means of K x K blocks of the
        (blurred) scene, and the result is K times larger per side.
    weight : float or "auto"
        :math:`w`, in the same units as for :func:`denoise`. "auto"
        estimates the noise from the observed pixels and keeps the
        candidate weight of least Monte Carlo predicted-SURE, an unbiased
        estimate of the error :math:`\|A(u - x)\|^2` that needs no clean
        image (:func:`tvrestore.tuning.autoweight.choose_restoration_weight`).
    reduction : {"mean", "sum"}
        The loss's units: "mean" divides E by the number of unknowns (the
        values of u). The result is the same under both.
    tv, color : str
        The TV norm; colour is vectorial (coupled channels) by default,
        channelwise on request, as for :func:`denoise`.
    solver : {"adam", "pdhg"}
        "adam": Adam on u, projected onto the box. "pdhg": Chambolle-Pock,
        stopping on a certified relative duality gap
        (:mod:`tvrestore.solvers.pdhg`).
    max_iter, tol, gap
        As for :func:`denoise`.
    noise, gain, offset
        As for :func:`denoise`: under "poisson" the fidelity is
        :math:`\mathrm{KL}(A u; y)` over the fitted counts, with
        :math:`u \ge 0` (the box's lower end is 0).
    poisson_route : {"auto", "anscombe", "kl"}
        As for :func:`denoise`, which it is without ``psf``, ``mask`` or
        ``upscale``; with them, counts take the KL fidelity (no transform
        stabilizes blurred or binned counts), and "anscombe" is an error.
    axes, spacing
        As for :func:`denoise`. A volume (Z, Y, X), or a time-lapse whose
        frames a spacing couples, is deblurred and inpainted in 3-D (the
        unknown extends past it by the PSF's radius along every axis);
        upscaling, and noise other than Gaussian, take 2-D images only. An
        image's spacing divides TV's differences as a volume's does.

    Returns
    -------
    restored : np.ndarray
        ``(K H, K W[, C])``, the input's dtype (integers clipped to their
        range); a volume's shape for a volume.
    result : RestoreResult
        ``objective`` is E (sum units, float64); ``certified_gap`` is
        pdhg's bound on :math:`(E(u) - E^*) / E^*`.

    Raises
    ------
    TVRestoreError
        For a PSF larger than the image or of another dimension (3-D on
        an image, 2-D on a volume), a mask of another size, an ``upscale``
        outside 1..8 (or not 1 for a volume), or any input :func:`denoise`
        rejects.

    Examples
    --------
    >>> import numpy as np
    >>> from tvrestore.api import restore
    >>> data = (0.5 + 0.01 * np.random.default_rng(0).standard_normal((36, 36))).astype(np.float32)
    >>> restored, result = restore(data, psf="box:3", upscale=2, weight=0.01)
    >>> restored.shape, result.converged
    ((72, 72), True)
    """
    options = RestoreOptions(weight=weight, reduction=reduction, tv=tv, color=color,
                             solver=solver, max_iter=max_iter, tol=tol, gap=gap, noise=noise,
                             gain=gain, offset=offset, poisson_route=poisson_route)
    return restore_image(image, RestoreRequest(options, psf=psf, mask=mask, upscale=upscale,
                                               axes=axes, spacing=spacing))


@dataclass(frozen=True)
class RestoreRequest:
    """What :func:`restore` is asked, typed: the options and the forward model.

    Attributes
    ----------
    options : RestoreOptions
        The weight, solver and noise model.
    psf : str or array_like, optional
        As for :func:`restore`.
    mask : array_like, shape (H, W), optional
        Nonzero where a pixel is missing.
    upscale : int
        The binning factor K.
    axes : str, optional
        The axes' names (:mod:`tvrestore.models.axes`).
    spacing : sequence of float, optional
        The step of each spatial axis.
    """

    options: RestoreOptions = RestoreOptions()
    psf: object = None
    mask: np.ndarray | None = None
    upscale: int = 1
    axes: str | None = None
    spacing: Sequence[float] | None = None


def restore_image(image: np.ndarray, request: RestoreRequest) -> tuple[np.ndarray, RestoreResult]:
    """:func:`restore` (and :func:`denoise`) of a typed request: the form the library's own callers use.

    Returns and raises as :func:`restore`.
    """
    options = request.options
    psf, mask, upscale = request.psf, request.mask, request.upscale
    axes, spacing = request.axes, request.spacing
    weight, reduction, tv, color = check_weight(options.weight), options.reduction, options.tv, options.color
    solver, max_iter, tol, gap = options.solver, options.max_iter, options.tol, options.gap
    noise, gain, offset = options.noise, options.gain, options.offset
    if psf is None and mask is None and upscale == 1 and noise != "impulse":
        return _denoise_one(image, request)
    if options.poisson_route == "anscombe":
        raise TVRestoreError(
            "poisson_route 'anscombe' denoises counts; through a psf, mask or upscale the "
            "Poisson fidelity is the model (poisson_route 'kl' or 'auto')")
    named = _named_axes(image, axes)
    volume = named.volume
    if volume:
        check_volume_task(named, spacing, noise=noise, upscale=upscale,
                          forward_model=psf is not None or mask is not None)
    coupled, steps = named.steps(spacing)
    if named.letters != named.canonical:
        # An image given as XY or XYC, or a volume as XYZ: solved in
        # canonical order (T Z Y X C), its result put back.
        spatial = [letter for letter in named.letters if letter != "C"]
        mask = None if mask is None else np.transpose(
            np.asarray(mask), [spatial.index(letter) for letter in named.canonical if letter != "C"])
        restored, result = restore_image(
            np.transpose(image, named.to_canonical()),
            replace(request, mask=mask, axes=named.canonical))
        return np.transpose(restored, named.from_canonical()), replace(result, axes=named.letters)
    if "T" in named.letters and not coupled:
        # Impulses in frames (the one task without a forward model that
        # comes here): each frame detected and solved alone.
        frames = [restore_image(frame, replace(request, axes=named.letters[1:]))
                  for frame in image]
        result = replace(_combined([result for _, result in frames]), axes=axes, spacing=steps,
                         impulse_fraction=float(np.mean([r.impulse_fraction for _, r in frames])))
        return np.stack([restored for restored, _ in frames]), result
    from tvrestore.tuning.autoweight import (
        choose_poisson_restoration_weight, choose_restoration_weight,
    )
    from tvrestore.io.psf import load_psf
    from tvrestore.models.psf import check_psf_fits

    max_iter = DEFAULT_MAX_ITER[solver] if max_iter is None else int(max_iter)
    if isinstance(upscale, bool) or not isinstance(upscale, numbers.Integral) or not 1 <= upscale <= MAX_UPSCALE:
        raise TVRestoreError(f"upscale must be a whole number from 1 to {MAX_UPSCALE}, got {upscale!r}")
    prepared = (_Prepared.from_volume(image, "C" in named.letters, noise, gain, offset) if volume
                else _Prepared.from_image(image, noise, gain, offset))
    unit = prepared.unit
    dimensions = unit.ndim - 1
    kind = "volume" if volume else "image"
    kernel = None
    if psf is not None:
        kernel = load_psf(psf)
        check_psf_fits(kernel, unit.shape, kind, dimensions)
    missing = None
    if mask is not None:
        missing = np.asarray(mask)
        if missing.shape != unit.shape[:dimensions]:
            raise TVRestoreError(
                f"the mask has shape {missing.shape}, but the {kind} is "
                f"{'x'.join(str(side) for side in unit.shape[:dimensions])}"
            )
        missing = missing != 0
    impulses = None
    start = time.perf_counter()
    if noise == "impulse":
        # The impulses, value by value, join the user's missing pixels.
        impulses = detect_impulses(unit, extremes=range_extremes(unit, prepared.dtype),
                                   missing=missing)
        missing = impulses.missing
    degradation = engine.Degradation(psf=kernel, upscale=int(upscale), missing=missing)
    relative = relative_spacing(steps)
    programs_before = cache.program_count()
    auto = weight == "auto"
    if auto and noise == "impulse":
        weight, noise_sigma, search_compile_seconds = impulse_weight(impulses, tv, color), None, 0.0
        if impulses.route == RANDOM_VALUED and kernel is None and int(upscale) == 1:
            # A pilot at the detected fraction's weight; how many kept
            # values it moves says how textured the scene is.
            pilot = engine.solve(degradation, [unit], np.array([weight]), tv=tv, color=color,
                                 reduction=reduction, solver="adam", fidelity=fidelity_for(noise),
                                 spacing=relative)
            misfit = pilot_misfit(unit, pilot.solution[0], missing)
            weight = impulse_weight(impulses, tv, color, misfit=misfit)
            search_compile_seconds = pilot.compile_seconds
    elif weight == "auto" and noise == "poisson":
        weight, noise_sigma, search_compile_seconds = choose_poisson_restoration_weight(
            degradation, unit, prepared.counts.scale, tv, color, spacing=relative
        )
    elif weight == "auto":
        weight, noise_sigma, search_compile_seconds = choose_restoration_weight(
            degradation, unit, tv, color, spacing=relative
        )
    else:
        noise_sigma, search_compile_seconds = None, 0.0
    search_seconds = time.perf_counter() - start - search_compile_seconds
    fitted = None if missing is None else degradation.observed_mask(unit.shape[:dimensions])
    finish = prepared.finish if volume else functools.partial(
        _finish_upscaled, prepared, upscale=int(upscale))
    if weight == 0 and kernel is None and noise == "gaussian":
        unknown, result = _solve_noise_free(
            degradation, unit, tv=tv, color=color, reduction=reduction,
            max_iter=max_iter if solver == "pdhg" else DEFAULT_MAX_ITER["pdhg"], gap=gap,
            spacing=relative,
        )
        result = _result(
            Problem(degradation.operator, Exact(), tv=tv, color=color, reduction=reduction,
                    spacing=relative), unknown,
            unit, 1.0, noise_sigma, _run_record(result, 0), solver="pdhg",
            compile_seconds=search_compile_seconds + result.compile_seconds,
            programs_before=programs_before, search_seconds=search_seconds, fitted=fitted,
        )
        result = replace(result, weight=0.0, problem="noise-free")
        if axes is not None or steps is not None:
            result = replace(result, axes=named.letters if axes is not None else None, spacing=steps)
        return finish(degradation.window(unknown)), result
    fidelity = fidelity_for(noise)
    run = engine.solve(
        degradation, [unit], np.array([weight]), tv=tv, color=color, reduction=reduction,
        solver=solver, max_iter=max_iter, tol=tol, gap=gap, fidelity=fidelity, spacing=relative,
    )
    unknown = run.solution[0]
    if (impulses is not None and impulses.route == SALT_AND_PEPPER and solver == "adam"
            and kernel is None and int(upscale) == 1):
        # The fill of exact data, relaxed off TV's staircases (the exact
        # mode returns its certified minimizer as it is).
        unknown = smooth_fill(unknown, missing)
    result = _result(
        Problem(degradation.operator, fidelity, tv=tv, color=color, reduction=reduction,
                spacing=relative),
        unknown, unit, weight, noise_sigma, _run_record(run, 0), solver=solver,
        compile_seconds=search_compile_seconds + run.compile_seconds,
        programs_before=programs_before, search_seconds=search_seconds, fitted=fitted,
        noise=noise, counts=prepared.counts, impulses=impulses, weight_auto=auto,
    )
    if axes is not None or steps is not None:
        result = replace(result, axes=named.letters if axes is not None else None, spacing=steps)
    return finish(degradation.window(unknown)), result


def _solve_noise_free(
    degradation: engine.Degradation, unit: np.ndarray, *, tv: str, color: str, reduction: str,
    max_iter: int, gap: float, spacing: tuple[float, ...] | None = None,
) -> tuple[np.ndarray, SolverOutput]:
    r"""The noise-free limit of a mask and binning: :math:`\min \mathrm{TV}(u)` s.t. :math:`m D u = m f`.

    A weight of 0 (given, or chosen for data whose estimated noise is 0)
    would fit the data alone: its minimizers are every :math:`u` with
    :math:`m D u = m f`, and a solver would return its starting point
    (pixel replication, the initializer's fill). The limit of the
    minimizers as :math:`w \to 0` is the TV-least one of them, which the
    exact mode finds with the constraint's fidelity
    (:class:`~tvrestore.models.fidelities.Exact`); the result keeps the
    observed values to float32 rounding. Any :math:`w > 0` has the same
    minimizer (the exact mode picks its own), and the certificate is relative.
    """
    run = engine.solve(
        degradation, [unit], np.array([1.0]), tv=tv, color=color, reduction=reduction,
        solver="pdhg", max_iter=max_iter, gap=gap, fidelity=Exact(), spacing=spacing,
    )
    return run.solution[0], run


def _finish_upscaled(prepared: "_Prepared", solution: np.ndarray, upscale: int) -> np.ndarray:
    """The (K H, K W, C) solution in the input's dtype and layout; alpha repeated K times."""
    colour_shape = (solution.shape[0], solution.shape[1], *prepared.colour_shape[2:])
    colour = prepared.colour(solution.reshape(colour_shape))
    alpha = prepared.alpha
    if alpha is not None:
        alpha = np.repeat(np.repeat(alpha, upscale, axis=0), upscale, axis=1)
    return join_alpha(colour, alpha)
