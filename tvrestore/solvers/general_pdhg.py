r"""Exact mode for a general forward model: Chambolle-Pock with a duality-gap certificate.

Solves, per image of a batch, the restoration problem of
:class:`tvrestore.models.problem.Problem` with the L2 fidelity over a box,

.. math::

    \min_{u \in [\mathrm{lo}, \mathrm{hi}]} E(u) =
        \tfrac12 \sum m\,(B u - f)^2 + w\,\mathrm{TV}(u),

where :math:`B` is the forward model without its mask (blur, binning) and
:math:`m \in \{0, 1\}` marks the observed data values: :math:`A = M B`.
The mask is data (a tensor argument), not part of the compiled program, so
one program serves every mask of a shape.

Chambolle & Pock's Algorithm 1 on :math:`K = [B; \nabla]`, with a data
dual :math:`q` and a gradient dual :math:`p`:

.. math::

    q &\leftarrow m\,\frac{q + \sigma (B \bar u - f)}{1 + \sigma}, \qquad
    p \leftarrow \Pi_{|p_g| \le w}(p + \sigma \nabla \bar u), \\
    u^+ &= \Pi_{[\mathrm{lo}, \mathrm{hi}]}\bigl(u - \tau (B^* q - \operatorname{div} p)\bigr),
    \qquad \bar u = 2 u^+ - u,

with :math:`\tau \sigma (\|B\|^2 + 8) \le 1` (``norm_sq`` bounds
:math:`\|B\|^2`, 8 bounds :math:`\|\nabla\|^2`). The problem is not
strongly convex in general (a mask or binning has a null space), so the
steps stay constant (rate :math:`O(1/k)` on the gap).

Certificate: for every :math:`q` and feasible :math:`p`,

.. math::

    D(q, p) = -\sum m \left(\tfrac12 q^2 + q f\right)
              - \sum \max(\mathrm{lo}\, v, \mathrm{hi}\, v),
    \qquad v = \operatorname{div} p - B^* q,

is at most :math:`E^*` (the last sum is the box's support function; it is
what keeps :math:`D` finite), so :math:`(E(u) - D) / D` bounds the relative
objective gap once :math:`D > 0`. It is evaluated in float64 every
``check_every`` iterations; the loop stops when it is at most ``gap``.

The same iteration with ``gap=0`` and ``max_iter = check_every = n`` is a
*fixed* map of the data (its steps do not depend on them), which
:mod:`tvrestore.tuning.autoweight` differentiates for its risk estimate.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

import numpy as np

from tvrestore.backend.tf import compiled, tf
from tvrestore.models.operators import LinearOperator
from tvrestore.solvers.pdhg import project_dual
from tvrestore.models.tv import divergence, forward_differences, total_variation

__all__ = ["GeneralPDHGOutput", "solve_general_pdhg"]

# tau / sigma = _STEP_RATIO**2 with tau * sigma * (norm_sq + 8) = 1: the
# primal, which the box and TV shape, takes the longer step. Iterations to a
# certified gap of 1e-4 on 96x96 camera and astronaut crops (deblur,
# deblur+inpaint, deblur+upscale of benchmarks/measure_restore.py; w 0.004):
# ratio 1: 10540-19980; 3: 3300-4320; 10: 1090-1450; 30: 1570-2280;
# 100: 3860-6720.
_STEP_RATIO = 10.0


@dataclass(frozen=True)
class GeneralPDHGOutput:
    """What :func:`solve_general_pdhg` returns; arrays are per image.

    Attributes
    ----------
    solution : np.ndarray, shape (B, H, W, C)
        :math:`u` on the unknown's domain.
    iterations : np.ndarray of int
    certified_gap : np.ndarray of float
        :math:`(E(u) - D) / D`, an upper bound on the relative gap;
        infinite while :math:`D \\le 0`.
    lower_bound : np.ndarray of float
        :math:`D`, a proven lower bound on :math:`E^*` (sum units).
    converged : np.ndarray of bool
    solve_seconds, compile_seconds : float
    """

    solution: np.ndarray
    iterations: np.ndarray
    certified_gap: np.ndarray
    lower_bound: np.ndarray
    converged: np.ndarray
    solve_seconds: float
    compile_seconds: float


def solve_general_pdhg(
    operator: LinearOperator,
    observed: np.ndarray,
    weights: np.ndarray,
    initial: np.ndarray,
    *,
    missing: np.ndarray | None = None,
    box: tuple[float, float] = (0.0, 1.0),
    tv: str = "isotropic",
    color: str = "vectorial",
    gap: float = 1e-4,
    max_iter: int = 20000,
    check_every: int = 10,
    dtype: str = "float32",
    layout: str = "hwc",
) -> GeneralPDHGOutput:
    """Minimize E over the box for a batch of equal-shaped problems.

    Parameters
    ----------
    operator : LinearOperator
        :math:`B`, with no :class:`~tvrestore.models.operators.Mask`.
    observed : np.ndarray, shape (B, h, w, C)
        :math:`f`, data values in intensity units.
    weights : np.ndarray, shape (B,)
        :math:`w > 0`.
    initial : np.ndarray, shape (B, H, W, C)
        Starting point on the unknown's domain (clipped to the box).
    missing : np.ndarray, shape (B, h, w, 1), optional
        Nonzero where a data value is missing (not fitted).
    box : (float, float)
        :math:`[\\mathrm{lo}, \\mathrm{hi}]`.
    tv, color : str
        The TV norm (:mod:`tvrestore.models.tv`).
    gap, max_iter, check_every : float, int, int
        Stop once the certified relative gap is at most ``gap``, or after
        ``max_iter`` iterations (rounded up to ``check_every``).
    dtype : {"float32", "float64"}
    layout : {"hwc", "hcw"}
        The layout the program iterates in (``operator`` must be built for
        it); the arrays in and out are (B, H, W, C) either way. "hcw"
        (columns innermost) is the faster for colour, see :mod:`tvrestore.models.tv`.
    """
    observed = np.asarray(observed)
    fitted = (
        np.ones((*observed.shape[:3], 1)) if missing is None else (np.asarray(missing) == 0)
    )
    low, high = (float(side) for side in box)
    norm = math.sqrt(operator.norm_sq + 8.0)
    program = _program(operator, tv, color, check_every, dtype, layout)
    args = (
        tf.constant(observed, dtype),
        tf.constant(fitted, dtype),
        tf.constant(weights, dtype),
        tf.constant(np.clip(initial, low, high), dtype),
        tf.constant([low, high, _STEP_RATIO / norm, 1.0 / (_STEP_RATIO * norm)], dtype),
        tf.constant(gap, tf.float64),
    )
    compile_seconds = 0.0
    key = (id(operator), observed.shape, np.shape(initial), tv, color, check_every, dtype, layout)
    if key not in _COMPILED:
        start = time.perf_counter()
        program(*args, tf.constant(0))
        compile_seconds = time.perf_counter() - start
        _COMPILED.add(key)
    start = time.perf_counter()
    solution, iterations, certified, lower = (t.numpy() for t in program(*args, tf.constant(max_iter)))
    solve_seconds = time.perf_counter() - start
    return GeneralPDHGOutput(
        solution=solution,
        iterations=iterations,
        certified_gap=certified,
        lower_bound=lower,
        converged=certified <= gap,
        solve_seconds=solve_seconds,
        compile_seconds=compile_seconds,
    )


_COMPILED: set[tuple] = set()
_PROGRAMS: dict[tuple, object] = {}


def _program(operator, tv, color, check_every, dtype, layout):
    key = (id(operator), tv, color, check_every, dtype, layout)
    if key not in _PROGRAMS:
        # The operator is kept alive by the program's closure, so its id is
        # not reused while the key exists.
        def run(observed, fitted, weights, initial, steps, target_gap, max_iter):
            if layout == "hwc":
                return _iterate(operator, tv, color, check_every, observed, fitted, weights,
                                initial, steps, target_gap, max_iter, layout)
            # Transposed once each way: (B, H, W, C) <-> (B, H, C, W).
            swap = lambda t: tf.transpose(t, [0, 1, 3, 2])  # noqa: E731
            u, *rest = _iterate(operator, tv, color, check_every, swap(observed), swap(fitted),
                                weights, swap(initial), steps, target_gap, max_iter, layout)
            return (swap(u), *rest)

        _PROGRAMS[key] = compiled(run)
    return _PROGRAMS[key]


class _Norm:
    """The (tv, color) pair that :func:`tvrestore.solvers.pdhg.project_dual` reads."""

    def __init__(self, tv, color):
        self.tv, self.color = tv, color


def _iterate(operator, tv, color, check_every, observed, fitted, weights, initial, steps,
             target_gap, max_iter, layout):
    low, high, tau, sigma = steps[0], steps[1], steps[2], steps[3]
    per_image = [-1, 1, 1, 1]
    norm = _Norm(tv, color)
    sums = [1, 2, 3]

    def bounds(u, q, py, px):
        # Primal E(u) and dual D(q, p) in float64: E - D is a small
        # difference of large sums.
        f64 = lambda t: tf.cast(t, tf.float64)  # noqa: E731
        f, m, w = f64(observed), f64(fitted), f64(weights)
        residual = f64(operator.apply(u)) - f
        primal = 0.5 * tf.reduce_sum(m * residual * residual, axis=sums) + w * total_variation(
            f64(u), tv, color, layout=layout
        )
        divergence_p = divergence(f64(py), f64(px), layout)

        def dual_of(q):
            q64 = f64(q)
            v = divergence_p - f64(operator.adjoint(q))
            support = tf.reduce_sum(tf.maximum(f64(low) * v, f64(high) * v), axis=sums)
            return -tf.reduce_sum(m * (0.5 * q64 * q64 + q64 * f), axis=sums) - support

        # Any q is dual feasible: the iterate's, and the fidelity's gradient
        # at u, which the optimal q equals at the minimizer and which
        # converges with the primal (measured: it certifies the same
        # iterate to a gap 10 to 100 times smaller).
        dual = tf.maximum(dual_of(q), dual_of(fitted * (operator.apply(u) - observed)))
        certified = tf.where(
            primal - dual <= 0, tf.zeros_like(dual),
            tf.where(dual > 0, (primal - dual) / tf.where(dual > 0, dual, 1.0), np.inf),
        )
        return certified, dual

    def keep_going(k, u, u_bar, q, py, px, gaps, lower, iterations):
        return tf.logical_and(k < max_iter, tf.reduce_any(gaps > target_gap))

    def step(k, u, u_bar, q, py, px, gaps, lower, iterations):
        active_images = gaps > target_gap
        active = tf.reshape(active_images, per_image)
        iterations += tf.where(active_images, check_every, 0)

        def iteration(j, u, u_bar, q, py, px):
            new_q = fitted * (q + sigma * (operator.apply(u_bar) - observed)) / (1 + sigma)
            dy, dx = forward_differences(u_bar, layout=layout)
            new_py, new_px = project_dual(py + sigma * dy, px + sigma * dx, weights, norm, layout)
            descent = operator.adjoint(new_q) - divergence(new_py, new_px, layout)
            new_u = tf.clip_by_value(u - tau * descent, low, high)
            u_bar = tf.where(active, 2 * new_u - u, u_bar)
            u = tf.where(active, new_u, u)
            q = tf.where(active, new_q, q)
            py = tf.where(active, new_py, py)
            px = tf.where(active, new_px, px)
            return j + 1, u, u_bar, q, py, px

        _, u, u_bar, q, py, px = tf.while_loop(
            lambda j, *_: j < check_every, iteration, (0, u, u_bar, q, py, px)
        )
        certified, dual = bounds(u, q, py, px)
        gaps = tf.where(active_images, certified, gaps)
        lower = tf.where(active_images, dual, lower)
        return k + check_every, u, u_bar, q, py, px, gaps, lower, iterations

    zeros_q = tf.zeros_like(observed)
    zeros_p = tf.zeros_like(initial)
    gaps, lower = bounds(initial, zeros_q, zeros_p, zeros_p)
    state = (
        tf.constant(0), initial, initial, zeros_q, zeros_p, zeros_p,
        gaps, lower, tf.zeros(tf.shape(weights), tf.int32),
    )
    _, u, _, _, _, _, gaps, lower, iterations = tf.while_loop(keep_going, step, state)
    return u, iterations, tf.cast(gaps, tf.float64), lower
