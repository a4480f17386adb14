r"""Restoration tasks: validate the input, build the objective, solve.

One public function per task. :func:`denoise` solves

.. math::

    \min_u \; \frac12 \sum (u - f)^2 + w \,\mathrm{TV}(u)

for an image :math:`f` scaled to [0, 1] (see :mod:`tvrestore.objective`),
and :func:`denoise_batch` does the same for several images, in one compiled
call per solve shape, each with its own weight and stopping, so an image's
result does not depend on the batch it is in.

The solver compiles one program per array shape. So that a directory of
many image sizes does not compile once per image, each image is solved in
the top-left corner of a zero-padded array whose sides are rounded up to a
few sizes per octave (:func:`solve_shape`); the padding changes nothing in
the objective (:mod:`tvrestore.objective`). An image is padded the same way
alone and in a batch, so its result is the same in both.
"""

from __future__ import annotations

import functools
import math
from dataclasses import asdict, dataclass, replace
from typing import Sequence

import numpy as np

from tvrestore import io, noise
from tvrestore.errors import TVRestoreError
from tvrestore.objective import DenoisingObjective
from tvrestore.pdhg import solve_pdhg
from tvrestore.solver import AdamSettings, AdamSolver, SolverOutput

__all__ = [
    "DEFAULT_GAP", "DEFAULT_MAX_ITER", "DEFAULT_TOL", "SOLVERS", "RestoreResult", "denoise",
    "denoise_batch", "solve_shape",
]

SOLVERS = ("adam", "pdhg")
# Iteration caps per solver, used when max_iter is None.
DEFAULT_MAX_ITER = {"adam": 2000, "pdhg": 20000}
DEFAULT_TOL = 3e-4
DEFAULT_GAP = 1e-4

# solve_shape rounds a side up to a multiple of 1/8 of the power of two
# below it (at most 12.5% more pixels per side, 8 sizes per octave), and
# of at least _MIN_GRANULE.
_GRANULES_PER_OCTAVE_LOG2 = 3
_MIN_GRANULE = 16


@dataclass(frozen=True)
class RestoreResult:
    """What one restoration did.

    Attributes
    ----------
    weight : float
        :math:`w`, as given or as chosen by ``weight="auto"``.
    weight_auto : bool
        Whether :math:`w` was chosen by ``weight="auto"``.
    noise_sigma : float or None
        The estimated noise level (intensity units) when ``weight_auto``.
    reduction, tv, color, solver : str
        The settings used.
    iterations : int
        Iterations this image moved for.
    converged : bool
        Whether the stopping rule was met before ``max_iter``.
    objective : float
        :math:`E(u)` in sum units (float64), comparable across reductions
        and with any other solver.
    loss : float
        The final loss in the reduction's units, ``objective * scale``.
    certified_gap : float or None
        With the "pdhg" solver, a proven upper bound on the relative
        objective gap :math:`(E(u) - E^*) / E^*`; None with "adam".
    solve_seconds : float
        Optimization time of the batch the image was in (after compiling).
    compile_seconds : float
        One-off compilation time charged to this call (0 when cached).
    """

    weight: float
    weight_auto: bool
    noise_sigma: float | None
    reduction: str
    tv: str
    color: str
    solver: str
    iterations: int
    converged: bool
    objective: float
    loss: float
    certified_gap: float | None
    solve_seconds: float
    compile_seconds: float

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict."""
        return asdict(self)


def denoise(
    image: np.ndarray,
    weight: float | str = "auto",
    *,
    reduction: str = "mean",
    tv: str = "isotropic",
    color: str = "vectorial",
    solver: str = "adam",
    max_iter: int | None = None,
    tol: float = DEFAULT_TOL,
    gap: float = DEFAULT_GAP,
) -> tuple[np.ndarray, RestoreResult]:
    r"""Total-variation denoising of one image, with Adam or exactly.

    Minimizes :math:`E(u) = \frac12 \sum (u - f)^2 + w\,\mathrm{TV}(u)`
    over the image :math:`u` held as a TensorFlow variable, where :math:`f`
    is ``image`` scaled to [0, 1] (uint8 / 255, uint16 / 65535, floats as
    given).

    Parameters
    ----------
    image : np.ndarray
        ``(H, W)`` grey or ``(H, W, C)`` channel-last with C in 1..4;
        uint8, uint16, float32, float64 or bool. A 2nd or 4th channel is
        alpha and passes through untouched.
    weight : float or "auto"
        :math:`w \ge 0`, the same number as scikit-image's
        ``denoise_tv_chambolle(weight=...)`` for grey isotropic TV. "auto"
        estimates the noise level, and among weights around the noise-level
        rule keeps the one of least Monte Carlo SURE, an unbiased estimate
        of the mean squared error that needs no clean image
        (:mod:`tvrestore.noise`); it costs 14 extra solves on a crop of at
        most 256x256 (up to 35 for smaller images, which get more probes).
    reduction : {"mean", "sum"}
        The loss's units. The result is the same under both.
    tv : {"isotropic", "anisotropic"}
    color : {"vectorial", "channelwise"}
        How TV treats colour (:mod:`tvrestore.tv`).
    solver : {"adam", "pdhg"}
        "adam" (default): Adam on the image as a variable
        (:mod:`tvrestore.solver`). "pdhg": the exact mode, an accelerated
        primal-dual method that stops on a certified relative duality gap
        (:mod:`tvrestore.pdhg`); it needs no step size and reports the
        certificate in ``certified_gap``.
    max_iter : int, optional
        Iteration cap; default 2000 for "adam", 20000 for "pdhg".
    tol : float
        Adam's stopping tolerance: the relative objective decrease over a
        window of iterations that counts as a plateau.
    gap : float
        pdhg's target: stop once the certified relative gap
        :math:`(E(u) - E^*) / E^*` is at most this.

    Returns
    -------
    restored : np.ndarray
        Same shape and dtype as ``image``; integer outputs are clipped to
        the dtype's range, float outputs are not clipped.
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
    [(restored, result)] = denoise_batch(
        [image], weight, reduction=reduction, tv=tv, color=color, solver=solver,
        max_iter=max_iter, tol=tol, gap=gap,
    )
    return restored, result


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
) -> list[tuple[np.ndarray, RestoreResult]]:
    """:func:`denoise` for several images, one compiled call per solve shape.

    ``weight`` is one value for all or one per image; "auto" is estimated
    per image. Images of equal :func:`solve_shape` are solved together in
    one call; each keeps its own loss scale, step size and stopping, so its
    result is the one :func:`denoise` gives it alone. Parameters and
    returns are otherwise as in :func:`denoise`, one pair per image, in
    order.
    """
    objective = _objective(tv, color, reduction)
    if solver not in SOLVERS:
        raise TVRestoreError(f"solver must be one of {SOLVERS}, got {solver!r}")
    max_iter = DEFAULT_MAX_ITER[solver] if max_iter is None else max_iter
    if not isinstance(max_iter, int) or max_iter < 0:
        raise TVRestoreError(f"max_iter must be a whole number >= 0, got {max_iter!r}")
    for name, value in (("tol", tol), ("gap", gap)):
        if not (isinstance(value, (int, float)) and math.isfinite(value) and value > 0):
            raise TVRestoreError(f"{name} must be a positive number, got {value!r}")
    prepared = [_Prepared.from_image(image) for image in images]
    if not prepared:
        return []
    weights = [weight] * len(prepared) if isinstance(weight, (str, int, float)) else list(weight)
    if len(weights) != len(prepared):
        raise TVRestoreError(f"got {len(weights)} weights for {len(prepared)} images")
    # "auto" compares candidates with Adam whatever the solver: SURE needs
    # many solves, not certificates.
    adam_max_iter = max_iter if solver == "adam" else DEFAULT_MAX_ITER["adam"]
    chosen = [
        _choose_weight(value, item.unit, objective, adam_max_iter, tol)
        for value, item in zip(weights, prepared)
    ]
    solve = _solve_with_adam if solver == "adam" else _solve_with_pdhg
    solved = solve(
        objective, [item.unit for item in prepared], [w for w, _ in chosen],
        max_iter=max_iter, tol=tol, gap=gap,
    )

    pairs = []
    for item, (w, sigma), (solution, run) in zip(prepared, chosen, solved):
        energy = objective.energy_value(solution, item.unit, w)
        result = RestoreResult(
            weight=w,
            weight_auto=sigma is not None,
            noise_sigma=sigma,
            reduction=reduction,
            tv=tv,
            color=color,
            solver=solver,
            objective=energy,
            loss=energy * objective.loss_scale(item.unit.shape),
            **run,
        )
        pairs.append((item.finish(solution), result))
    return pairs


def _solve_with_adam(
    objective: DenoisingObjective, units: list[np.ndarray], weights: list[float], *,
    max_iter: int, tol: float, gap: float,
) -> list[tuple[np.ndarray, dict]]:
    """Per image: the solution and its run record (iterations, converged, ...).

    Images of one :func:`solve_shape` are solved in one call.
    """
    solved = [None] * len(units)
    for members in _by_solve_shape(units, range(len(units))).values():
        solutions, output = _minimize(
            objective, [units[i] for i in members], np.array([weights[i] for i in members], np.float32),
            max_iter, tol,
        )
        for position, index in enumerate(members):
            solved[index] = (solutions[position], _run_record(output, position, None))
    return solved


def _solve_with_pdhg(
    objective: DenoisingObjective, units: list[np.ndarray], weights: list[float], *,
    max_iter: int, tol: float, gap: float,
) -> list[tuple[np.ndarray, dict]]:
    """As :func:`_solve_with_adam`, exactly; images of one solve shape share a call.

    A zero weight needs no solve: :math:`u = f` is the minimizer, with gap 0.
    """
    groups = _by_solve_shape(units, [i for i, w in enumerate(weights) if w > 0])
    solved = [
        (unit, {"iterations": 0, "converged": True, "certified_gap": 0.0,
                "solve_seconds": 0.0, "compile_seconds": 0.0})
        for unit in units
    ]
    for shape, members in groups.items():
        padded, extents = _zero_padded([units[i] for i in members], shape)
        output = solve_pdhg(
            padded, np.array([weights[i] for i in members]), extents=extents,
            tv=objective.tv, color=objective.color, gap=gap, max_iter=max_iter,
        )
        for position, index in enumerate(members):
            height, width = units[index].shape[:2]
            solved[index] = (
                output.solution[position, :height, :width],
                _run_record(output, position, float(output.certified_gap[position])),
            )
    return solved


def _by_solve_shape(units: list[np.ndarray], indices) -> dict[tuple[int, ...], list[int]]:
    """The given indices of ``units``, grouped by :func:`solve_shape`."""
    groups: dict[tuple[int, ...], list[int]] = {}
    for index in indices:
        groups.setdefault(solve_shape(units[index].shape), []).append(index)
    return groups


def _run_record(output, position: int, certified_gap: float | None) -> dict:
    """One image's RestoreResult fields from its batch's solver output."""
    return {
        "iterations": int(output.iterations[position]),
        "converged": bool(output.converged[position]),
        "certified_gap": certified_gap,
        "solve_seconds": output.solve_seconds,
        "compile_seconds": output.compile_seconds,
    }


def solve_shape(image_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """The (height, width, colour channels) array an image is solved in.

    Images with equal solve shapes share one compiled program and can be
    solved in one batch. Each side is rounded up to a multiple of 1/8 of
    the power of two below it (16 at least): 250 and 256 give 256, 300
    gives 320, 1000 gives 1024. An alpha channel is not solved.

    Parameters
    ----------
    image_shape : tuple of int
        ``(H, W)`` or ``(H, W, C)``, as :func:`denoise` accepts.
    """
    height, width, *rest = (int(side) for side in image_shape)
    channels = rest[0] if rest else 1
    colour_channels = channels - 1 if channels in (2, 4) else channels
    return (_round_up_side(height), _round_up_side(width), colour_channels)


def _round_up_side(side: int) -> int:
    granule = max(_MIN_GRANULE, 2 ** ((side - 1).bit_length() - 1 - _GRANULES_PER_OCTAVE_LOG2))
    return -(-side // granule) * granule


@dataclass(frozen=True)
class _Prepared:
    """An input split into the float (H, W, C) the solver sees and the rest."""

    unit: np.ndarray
    alpha: np.ndarray | None
    dtype: np.dtype
    colour_shape: tuple[int, ...]

    @classmethod
    def from_image(cls, image: np.ndarray) -> "_Prepared":
        if not isinstance(image, np.ndarray):
            raise TVRestoreError(f"expected a numpy array, got {type(image).__name__}")
        if image.ndim not in (2, 3) or (image.ndim == 3 and not 1 <= image.shape[2] <= 4):
            raise TVRestoreError(
                f"image has shape {image.shape}; expected (H, W) or (H, W, C) with C in 1..4"
            )
        if image.shape[0] == 0 or image.shape[1] == 0:
            raise TVRestoreError(f"image is empty (shape {image.shape})")
        try:
            colour, alpha = io.split_alpha(image)
            unit = io.to_unit_range(colour, copy=False)
        except ValueError as err:
            raise TVRestoreError(str(err)) from err
        if not np.all(np.isfinite(unit)):
            raise TVRestoreError("image contains NaN or infinite values")
        unit3 = unit.reshape(unit.shape[0], unit.shape[1], -1)
        return cls(unit=unit3, alpha=alpha, dtype=image.dtype, colour_shape=colour.shape)

    def finish(self, solution: np.ndarray) -> np.ndarray:
        """The solver's (H, W, C) float back in the input's dtype and layout."""
        colour = io.from_unit_range(solution.reshape(self.colour_shape), self.dtype)
        return io.join_alpha(colour, self.alpha)


def _objective(tv: str, color: str, reduction: str) -> DenoisingObjective:
    try:
        return DenoisingObjective(tv=tv, color=color, reduction=reduction)
    except ValueError as err:
        raise TVRestoreError(str(err)) from err


def _choose_weight(
    weight: float | str, unit: np.ndarray, objective: DenoisingObjective, max_iter: int, tol: float
) -> tuple[float, float | None]:
    """The weight to use and, when it was estimated, the noise level.

    "auto" estimates the noise level, takes the weight rule of
    :func:`tvrestore.noise.auto_weight` as the centre of a grid of
    candidates, and keeps the candidate of least Monte Carlo SURE
    (:func:`tvrestore.noise.monte_carlo_sure`), refined between grid
    points. The rule alone sees only the noise level; SURE also sees the
    image (smooth images want more weight, texture less). The grid is
    solved on a centre crop of at most ``_SURE_CROP`` pixels a side, in one
    batch with its probed copies, so its cost does not grow with the image.
    """
    if isinstance(weight, str):
        if weight != "auto":
            raise TVRestoreError(f"weight must be a number >= 0 or 'auto', got {weight!r}")
        sigma = noise.estimate_noise_sigma(unit)
        centre = noise.auto_weight(sigma, unit.shape[2], objective.tv, objective.color)
        if centre == 0:
            return 0.0, sigma
        return _sure_weight(unit, sigma, centre, objective, max_iter, tol), sigma
    if not (isinstance(weight, (int, float)) and math.isfinite(weight) and weight >= 0):
        raise TVRestoreError(f"weight must be a number >= 0 or 'auto', got {weight!r}")
    return float(weight), None


# Side of the centre crop on which weight="auto" compares candidates.
_SURE_CROP = 256
_SURE_SEED = 20261124
_SURE_MAX_PROBES = 4
# SURE reads the divergence from the difference of two solutions a probe
# step apart, so their optimization error must be well below that step:
# the candidates are solved at this tolerance or the user's, if tighter.
_SURE_TOL = 3e-5


def _sure_weight(
    unit: np.ndarray, sigma: float, centre: float, objective: DenoisingObjective,
    max_iter: int, tol: float,
) -> float:
    top = max(0, (unit.shape[0] - _SURE_CROP) // 2)
    left = max(0, (unit.shape[1] - _SURE_CROP) // 2)
    crop = unit[top : top + _SURE_CROP, left : left + _SURE_CROP]
    # A fixed seed keeps "auto" deterministic: the same image gets the same
    # weight alone or in any batch. The probes are random signs (Rademacher,
    # as valid for SURE as Gaussians and of lower variance), so they cannot
    # coincide with noise a user drew from a Gaussian generator with the
    # same seed; such a probe would read the noise as signal. Small crops
    # get several probes, so that the estimate always averages over about
    # _SURE_CROP**2 probed pixels.
    probe_count = min(_SURE_MAX_PROBES, math.ceil(_SURE_CROP**2 / (crop.shape[0] * crop.shape[1])))
    signs = np.random.default_rng(_SURE_SEED).integers(0, 2, (probe_count, *crop.shape))
    probes = (2 * signs - 1).astype(np.float32)
    step = noise.SURE_PROBE_SCALE * sigma
    candidates = centre * np.array(noise.SURE_CANDIDATE_FACTORS)
    count = len(candidates)
    observed = [crop] * count + [crop + step * probe for probe in probes for _ in range(count)]
    weights = np.tile(candidates, probe_count + 1).astype(np.float32)
    solution, _ = _minimize(objective, observed, weights, max_iter, min(tol, _SURE_TOL))
    # SURE is linear in the divergence: averaging it over probes averages
    # the divergence estimates.
    risks = np.array([
        np.mean([
            noise.monte_carlo_sure(
                crop, solution[i], solution[count * (k + 1) + i], probe, step, sigma
            )
            for k, probe in enumerate(probes)
        ])
        for i in range(count)
    ])
    return noise.sure_minimizer(candidates, risks)


def _minimize(
    objective: DenoisingObjective, observed: list[np.ndarray], weights: np.ndarray,
    max_iter: int, tol: float,
) -> tuple[list[np.ndarray], SolverOutput]:
    """Solve (H, W, C) images of one :func:`solve_shape` from their own values.

    Returns each image's solution, cropped back to its shape, and the
    solver's output for the padded batch.
    """
    height, width, channels = solve_shape(observed[0].shape)
    if objective.color == "channelwise" and channels > 1:
        # Channelwise TV is the sum of each channel's grey TV, so each channel
        # is a grey problem of its own; solved as grey images, they run about
        # twice as fast as interleaved (H, W, C) arrays, whose short last axis
        # XLA vectorizes poorly (measured at 512x512x3).
        planes = [image[..., [c]] for image in observed for c in range(channels)]
        _, output = _minimize(objective, planes, np.repeat(weights, channels), max_iter, tol)
        per_image = (len(observed), channels)
        output = replace(
            output,
            solution=output.solution.reshape(*per_image, height, width).transpose(0, 2, 3, 1),
            iterations=output.iterations.reshape(per_image).max(axis=1),
            converged=output.converged.reshape(per_image).all(axis=1),
        )
    else:
        output = _solve_padded(objective, observed, weights, height, width, channels, max_iter, tol)
    solutions = [
        solution[: image.shape[0], : image.shape[1]]
        for solution, image in zip(output.solution, observed)
    ]
    return solutions, output


def _solve_padded(
    objective: DenoisingObjective, observed: list[np.ndarray], weights: np.ndarray,
    height: int, width: int, channels: int, max_iter: int, tol: float,
) -> SolverOutput:
    """One compiled call on the images zero-padded to (height, width, channels)."""
    padded, extents = _zero_padded(observed, (height, width, channels))
    loss_scales = np.array([objective.loss_scale(image.shape) for image in observed], np.float32)
    return _solver(objective).minimize(
        padded, loss_scales, padded, weights, extents, max_iter=max_iter, tol=tol
    )


def _zero_padded(
    images: list[np.ndarray], shape: tuple[int, int, int]
) -> tuple[np.ndarray, np.ndarray]:
    """The images in the top-left corners of a zero (B, *shape) array, and their (height, width)."""
    extents = np.array([image.shape[:2] for image in images], np.float32)
    if len(images) == 1 and images[0].shape == shape and images[0].dtype == np.float32:
        return images[0][None], extents  # a view: a large image is not copied again
    padded = np.zeros((len(images), *shape), np.float32)
    for slot, image in zip(padded, images):
        slot[: image.shape[0], : image.shape[1]] = image
    return padded, extents


@functools.lru_cache(maxsize=None)
def _solver(objective: DenoisingObjective) -> AdamSolver:
    # One solver per objective keeps its compiled loops across calls. The
    # TV gradient at a pixel depends on the pixels one row away.
    return AdamSolver(
        objective.loss, AdamSettings(), rows_of_data=objective.rows_of_data, stencil_rows=1
    )
