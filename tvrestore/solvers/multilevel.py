r"""Coarse-to-fine starting points for Adam: the same objective on a pyramid of block means.

Denoising minimizes, per image,
:math:`E_h(u) = \tfrac12 \sum (u - f)^2 + w\,\mathrm{TV}(u)` on a grid of
pixel side :math:`h`. It is the discretisation of the continuum problem
:math:`\tfrac12 \int (u - f)^2 + \lambda \int |\nabla u|`: with forward
differences, :math:`h^2 \sum |\Delta u / h| = h \sum |\Delta u|`, so
:math:`E_h = h^{-2}\,[\ldots]` with :math:`w = \lambda / h`. The problem
at twice the pixel side (:math:`2 \times 2` block means of :math:`f`) is
therefore the same objective at weight :math:`w / 2`, and level
:math:`\ell` of the pyramid is solved at :math:`w / 2^\ell`. The loss
each level's Adam sees is in the reduction's units for its own size
(:meth:`tvrestore.models.problem.Problem.loss_scale`), as for any image,
so the levels obey the reduction contract like the full-size solve.

Measured (512x512 camera, sigma 25/255, w 0.07; benchmarks/bench_multilevel.py
``--study``): the 256x256 solution upsampled starts the full-size solve at a
relative gap of 0.10 at :math:`w/2` and 0.13 at :math:`w`; the exact
minimizer's own block means, upsampled, are at 0.11 to 0.14. That floor
is the full-resolution detail the coarse grid cannot hold, mostly in
TV (a deviation of 0.01 from the minimizer's flat regions costs
:math:`w` times it per pixel). A cold start passes the same gap in about
15 Adam iterations, so the start saves little at 512x512; at 2048x2048 a
bench image (resized, smoother per pixel) starts at 0.05.

The coarsest level starts from its data with the full-size schedule; every
finer level starts from the bilinear upsampling of the level below
(:func:`prolong`) with a smaller first step (:data:`WARM`). Coarse levels
stop early (:data:`COARSE_TOL`, :data:`COARSE_MIN_LEARNING_RATE`): their
solution only needs to be as close as the start it gives can be. The last
level, at full size, stops by the caller's rule, so the result is the same
minimizer to the same tolerance.

Images in a zero-padded batch (``extents``) are restricted and prolonged
each within its extent, with its edge repeated to an even size, so an image
gives the same start alone and in a batch.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Callable

import numpy as np

from tvrestore.solvers.adam import AdamSettings
from tvrestore.solvers.history import SolverOutput

__all__ = [
    "COARSE_MIN_LEARNING_RATE", "COARSE_TOL", "COARSEST_SIDE", "LevelSchedule", "MULTILEVEL_SIDE",
    "WARM", "level_count", "prolong", "restrict", "schedules", "warm_start",
]

# The coarsest level's shorter side is at least this (the "about 64 px").
COARSEST_SIDE = 64

# Arrays whose shorter side is below this are solved at full size only:
# the levels cost more than the iterations they save there (see
# docs/performance.md#coarse-to-fine).
MULTILEVEL_SIDE = 1024

# Coarse levels stop after three halvings of the step, at a relative
# decrease of 1e-3 per window: their solution is then within the floor of
# the start it gives (above).
COARSE_TOL = 1e-3
COARSE_MIN_LEARNING_RATE = 1.25e-3

# A warm level's first step (intensity units) and decay: the start is
# within a few hundredths of the minimizer, so the cold start's 0.01 would
# first undo it. Tuned with benchmarks/bench_multilevel.py --tune on the
# samples (see docs/performance.md#coarse-to-fine).
WARM = AdamSettings(learning_rate=0.005, decay=0.5)


@dataclass(frozen=True)
class LevelSchedule:
    """How one level is solved: Adam's settings and the plateau tolerance.

    Parameters
    ----------
    settings : AdamSettings
    tol : float
        The relative loss decrease per window below which the step decays.
    """

    settings: AdamSettings
    tol: float


def schedules(count: int, base: AdamSettings, tol: float) -> list[LevelSchedule]:
    """The schedule of each level, finest (level 0) first, for ``count`` coarse levels.

    ``base`` and ``tol`` are the full-size solve's own; level 0 keeps its
    stopping rule with :data:`WARM`'s first step, the coarsest starts cold
    with ``base``'s, and every coarse level stops early.
    """
    warm = replace(base, learning_rate=min(base.learning_rate, WARM.learning_rate), decay=WARM.decay)
    finest = LevelSchedule(warm, tol)
    coarse = []
    for level in range(1, count + 1):
        first = base.learning_rate if level == count else finest.settings.learning_rate
        coarse.append(LevelSchedule(
            replace(base, learning_rate=first,
                    min_learning_rate=min(first, max(base.min_learning_rate, COARSE_MIN_LEARNING_RATE))),
            max(tol, COARSE_TOL),
        ))
    return [finest, *coarse]


def level_count(shape: tuple[int, ...]) -> int:
    """Coarse levels for a batch array of ``shape`` (B, H, W, C): 0 below :data:`MULTILEVEL_SIDE`.

    Halves the shorter side while the coarser one stays at least
    :data:`COARSEST_SIDE`. It depends on the array, not the extents, so
    every image of a batch has the same levels, alone or not.
    """
    side = min(shape[1], shape[2])
    if side < MULTILEVEL_SIDE:
        return 0
    count = 0
    while side // 2 >= COARSEST_SIDE:
        side //= 2
        count += 1
    return count


def _halved(extents: np.ndarray) -> np.ndarray:
    return np.ceil(np.asarray(extents, np.float64) / 2).astype(np.float32)


def restrict(images: np.ndarray, extents: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """2x2 block means of each image within its extent, its last row and column repeated to even sides.

    Parameters
    ----------
    images : np.ndarray, shape (B, H, W, C)
        Zero-padded beyond ``extents``.
    extents : np.ndarray, shape (B, 2)

    Returns
    -------
    coarse : np.ndarray, shape (B, ceil(H / 2), ceil(W / 2), C), float32
        Zero beyond the coarse extents.
    coarse_extents : np.ndarray, shape (B, 2)
        ``ceil(extents / 2)``.
    """
    count, height, width, channels = images.shape
    coarse_extents = _halved(extents)
    coarse = np.zeros((count, -(-height // 2), -(-width // 2), channels), np.float32)
    for slot, image, (rows, columns) in zip(coarse, images, np.asarray(extents, int)):
        inside = image[:rows, :columns]
        even = np.pad(inside, ((0, rows % 2), (0, columns % 2), (0, 0)), mode="edge")
        blocks = even.reshape(even.shape[0] // 2, 2, even.shape[1] // 2, 2, channels)
        slot[: blocks.shape[0], : blocks.shape[2]] = blocks.mean(axis=(1, 3), dtype=np.float64)
    return coarse, coarse_extents


def prolong(
    coarse: np.ndarray, coarse_extents: np.ndarray, shape: tuple[int, ...], extents: np.ndarray
) -> np.ndarray:
    """Bilinear 2x upsampling of each image within its extent, onto the finer ``shape``.

    A fine pixel :math:`i` sits at coarse coordinate :math:`(i + 1/2)/2 - 1/2`
    (the block means' centres), so its value is :math:`3/4` of its own
    block's and :math:`1/4` of the nearest neighbour block's, the edge
    repeated beyond the extent. Zero beyond the fine ``extents``.
    """
    fine = np.zeros(shape, np.float32)
    for slot, image, (rows, columns), (fine_rows, fine_columns) in zip(
        fine, coarse, np.asarray(coarse_extents, int), np.asarray(extents, int)
    ):
        upsampled = _bilinear_2x(_bilinear_2x(image[:rows, :columns], 0), 1)
        slot[:fine_rows, :fine_columns] = upsampled[:fine_rows, :fine_columns]
    return fine


def _bilinear_2x(values: np.ndarray, axis: int) -> np.ndarray:
    size = values.shape[axis]
    padded = np.concatenate(
        [np.take(values, [0], axis), values, np.take(values, [size - 1], axis)], axis)
    before = np.take(padded, range(0, size), axis)
    after = np.take(padded, range(2, size + 2), axis)
    pair = np.stack([0.75 * values + 0.25 * before, 0.75 * values + 0.25 * after], axis + 1)
    shape = list(values.shape)
    shape[axis] = 2 * size
    return pair.reshape(shape)


def warm_start(
    minimize_level: Callable[[np.ndarray, np.ndarray, np.ndarray, np.ndarray, LevelSchedule], SolverOutput],
    observed: np.ndarray,
    weights: np.ndarray,
    extents: np.ndarray,
    levels: list[LevelSchedule],
) -> tuple[np.ndarray, float, float]:
    """The full-size starting point from the coarse levels, and their solve and compile seconds.

    Parameters
    ----------
    minimize_level : callable
        ``minimize_level(data, weights, extents, start, schedule) -> SolverOutput``:
        Adam on one level, the data zero-padded beyond ``extents``.
    observed : np.ndarray, shape (B, H, W, C)
        :math:`f`, zero-padded beyond ``extents``.
    weights : np.ndarray, shape (B,)
        :math:`w` at full size (sum units).
    extents : np.ndarray, shape (B, 2)
    levels : list of LevelSchedule
        From :func:`schedules`: the full size's first, then one per coarse level.

    Returns
    -------
    start : np.ndarray, shape (B, H, W, C), float32
    solve_seconds, compile_seconds : float
        Summed over the coarse levels.
    """
    pyramid = [(observed, np.asarray(extents, np.float32))]
    for _ in levels[1:]:
        pyramid.append(restrict(*pyramid[-1]))
    solve_seconds = compile_seconds = 0.0
    solution = None
    for level in range(len(levels) - 1, 0, -1):
        data, level_extents = pyramid[level]
        start = data if solution is None else prolong(
            solution, pyramid[level + 1][1], data.shape, level_extents)
        output = minimize_level(data, np.asarray(weights, np.float32) / 2**level, level_extents,
                                start, levels[level])
        solution = output.solution
        solve_seconds += output.solve_seconds
        compile_seconds += output.compile_seconds
    start = prolong(solution, pyramid[1][1], observed.shape, pyramid[0][1])
    return start, solve_seconds, compile_seconds
