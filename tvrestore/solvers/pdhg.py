r"""Exact mode: accelerated primal-dual (PDHG) with a duality-gap certificate.

Solves the denoising problem of :mod:`tvrestore.models.objective`,

.. math::

    \min_u E(u) = \frac12 \|u - f\|^2 + w\,\mathrm{TV}(u)
    = \min_u \max_{p \in K} \frac12 \|u - f\|^2 + \langle \nabla u, p \rangle,

where :math:`K = \{p : |p_g| \le w\}` bounds each group :math:`g` of the
dual field in the norm TV uses (a pixel's directions and channels for
isotropic vectorial TV, and so on; see :mod:`tvrestore.models.tv`). The iteration
is Chambolle & Pock's Algorithm 2 (J. Math. Imaging Vis. 40, 2011), which
uses the strong convexity of the fidelity to converge at rate
:math:`O(1/k^2)`:

.. math::

    p^{k+1} = \Pi_K(p^k + \sigma_k \nabla \bar u^k), \quad
    u^{k+1} = \frac{u^k + \tau_k (\operatorname{div} p^{k+1} + f)}{1 + \tau_k},

    \theta_k = 1/\sqrt{1 + 2\tau_k}, \quad \tau_{k+1} = \theta_k \tau_k, \quad
    \sigma_{k+1} = \sigma_k / \theta_k, \quad
    \bar u^{k+1} = u^{k+1} + \theta_k (u^{k+1} - u^k),

with :math:`\tau_0 \sigma_0 \|\nabla\|^2 \le 1` and :math:`\|\nabla\|^2
\le 8`. Every feasible :math:`p` bounds the minimum from below through the
dual :math:`D(p) = \frac12\|f\|^2 - \frac12\|f + \operatorname{div} p\|^2
\le E^*`, so

.. math::

    \frac{E(u) - E^*}{E^*} \le \frac{E(u) - D(p)}{D(p)} =: \text{gap},

which the loop measures every ``check_every`` iterations and stops on. The
bound needs :math:`D(p) > 0`; until the dual point gets there (early on, for
large weights) the certificate is infinite. Each check's :math:`E(u)` and
gap are kept as the run's history (:mod:`tvrestore.solvers.history`), from the
starting point :math:`u = f` on; neither is promised to decrease, but every
check's :math:`E` is at least every check's :math:`D`.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

import numpy as np

from tvrestore.backend.tf import compiled, tf
from tvrestore.solvers.history import History, Recorder
from tvrestore.models.objective import DenoisingObjective
from tvrestore.models.tv import divergence, forward_differences

__all__ = ["PDHGOutput", "project_dual", "solve_pdhg"]

# tau_0 * sigma_0 * 8 = 1. Any tau_0 > 0 converges, at a speed that
# depends on it. Measured to a gap of 1e-4 on camera, coins and astronaut
# (256 to 1024 px, sigma 25/255): tau_0 = 1 takes 30 to 100 iterations for
# w <= 0.07 (tau_0 = 0.05 took about 950 at w 0.07) and, for large
# weights, as many as any tau_0 tried (w 0.5: 460 to 1330).
_TAU_0 = 1.0
_SIGMA_0 = 1.0 / (8.0 * _TAU_0)


@dataclass(frozen=True)
class PDHGOutput:
    """What :func:`solve_pdhg` returns; arrays are per image.

    Attributes
    ----------
    solution : np.ndarray, shape (B, H, W, C)
    iterations : np.ndarray of int
    certified_gap : np.ndarray of float
        :math:`(E(u) - D(p)) / D(p)`, an upper bound on the relative
        objective gap of ``solution``.
    converged : np.ndarray of bool
        Whether ``certified_gap <= gap`` was reached within ``max_iter``.
    solve_seconds, compile_seconds : float
    history : History
        ``"objective"`` (:math:`E(u)`, sum units, float64) and
        ``"certified_gap"`` per image at iteration 0 and every check.
    """

    solution: np.ndarray
    iterations: np.ndarray
    certified_gap: np.ndarray
    converged: np.ndarray
    solve_seconds: float
    compile_seconds: float
    history: History | None = None


def solve_pdhg(
    observed: np.ndarray,
    weights: np.ndarray,
    *,
    tv: str = "isotropic",
    color: str = "vectorial",
    gap: float = 1e-4,
    max_iter: int = 20000,
    check_every: int = 10,
    dtype: str = "float32",
    extents: np.ndarray | None = None,
) -> PDHGOutput:
    """Minimize E for a batch of images to a certified relative gap.

    Parameters
    ----------
    observed : np.ndarray, shape (B, H, W, C)
        :math:`f`, in [0, 1] intensity units.
    weights : np.ndarray, shape (B,)
        :math:`w > 0` per image.
    tv, color : str
        The TV norm (:mod:`tvrestore.models.tv`).
    gap : float
        Stop once the certified relative gap is at most this.
    max_iter : int
        Iteration cap.
    check_every : int
        Iterations between two gap evaluations (each costs about one
        iteration).
    dtype : {"float32", "float64"}
        float64 for certificates below about 1e-6.
    extents : np.ndarray, shape (B, 2), optional
        Height and width of each image when it is smaller than its slot of
        ``observed`` (top-left, zeros around it; see :mod:`tvrestore.models.tv`),
        so that images of several sizes share one compiled program.
        Default: every image fills its slot.
    """
    objective = DenoisingObjective(tv=tv, color=color, reduction="sum")
    program = _program(objective, check_every, dtype)
    if extents is None:
        extents = np.tile(observed.shape[1:3], (len(observed), 1))
    args = (
        tf.constant(observed, dtype),
        tf.constant(weights, dtype),
        tf.constant(extents, dtype),
        tf.constant(gap, dtype),
        tf.constant(max_iter),
    )
    compile_seconds = 0.0
    key = (tuple(observed.shape), tv, color, check_every, dtype)
    if key not in _COMPILED:
        start = time.perf_counter()
        program(*args[:4], tf.constant(0))
        compile_seconds = time.perf_counter() - start
        _COMPILED.add(key)
    start = time.perf_counter()
    solution, iterations, certified, recorded = program(*args)
    solution, iterations, certified = solution.numpy(), iterations.numpy(), certified.numpy()
    solve_seconds = time.perf_counter() - start
    return PDHGOutput(
        solution=solution,
        iterations=iterations,
        certified_gap=certified,
        converged=certified <= gap,
        solve_seconds=solve_seconds,
        compile_seconds=compile_seconds,
        history=History.from_state(_RECORDED, recorded),
    )


_RECORDED = ("objective", "certified_gap")
_COMPILED: set[tuple] = set()
_PROGRAMS: dict[tuple, object] = {}


def _program(objective: DenoisingObjective, check_every: int, dtype: str):
    key = (objective, check_every, dtype)
    if key not in _PROGRAMS:

        def run(observed, weights, extents, target_gap, max_iter):
            if observed.shape[-1] == 1:
                return _iterate(objective, check_every, observed, weights, extents, target_gap,
                                max_iter, "hwc")
            # Colour iterates laid out (B, H, C, W), columns innermost, which
            # XLA vectorizes (see tvrestore.models.tv); transposed once each way.
            u, *rest = _iterate(
                objective, check_every, tf.transpose(observed, [0, 1, 3, 2]), weights, extents,
                target_gap, max_iter, "hcw")
            return (tf.transpose(u, [0, 1, 3, 2]), *rest)

        _PROGRAMS[key] = compiled(run)
    return _PROGRAMS[key]


def project_dual(py: tf.Tensor, px: tf.Tensor, weights: tf.Tensor, objective: DenoisingObjective,
             layout: str):
    """Project the dual field onto K: each group's norm at most w."""
    w = tf.reshape(weights, [-1, 1, 1, 1])
    groups = [(py, px)] if objective.tv == "isotropic" else [(py,), (px,)]
    projected = []
    for group in groups:
        squares = tf.add_n([p * p for p in group])
        if objective.color == "vectorial":
            squares = tf.reduce_sum(squares, axis=2 if layout == "hcw" else 3, keepdims=True)
        shrink = tf.maximum(tf.sqrt(squares) / w, 1)
        projected.extend(p / shrink for p in group)
    return projected


def _iterate(objective, check_every, observed, weights, extents, target_gap, max_iter, layout):
    dtype = observed.dtype
    per_image = [-1, 1, 1, 1]
    zeros = tf.zeros_like(observed)
    recorder = Recorder(tf.shape(weights)[0], {"objective": tf.float64, "certified_gap": dtype})

    def certificate(u, py, px):
        # In float64 whatever the iteration's dtype: E - D is a small
        # difference of two large sums, which float32 would get wrong on
        # large images.
        f, w = tf.cast(observed, tf.float64), tf.cast(weights, tf.float64)
        primal = objective.energy(tf.cast(u, tf.float64), f, w, extents, layout)
        dual_image = f + divergence(tf.cast(py, tf.float64), tf.cast(px, tf.float64), layout)
        dual = 0.5 * tf.reduce_sum(f * f - dual_image * dual_image, axis=[1, 2, 3])
        # (E - D) / D bounds the relative gap only for D > 0; an early dual
        # point can have D <= 0, which certifies nothing.
        certified = tf.where(dual > 0, (primal - dual) / tf.where(dual > 0, dual, 1.0), np.inf)
        return primal, tf.cast(certified, dtype)

    def keep_going(k, u, u_bar, py, px, tau, sigma, gaps, iterations, recorded):
        return tf.logical_and(k < max_iter, tf.reduce_any(gaps > target_gap))

    def step(k, u, u_bar, py, px, tau, sigma, gaps, iterations, recorded):
        active = tf.reshape(gaps > target_gap, per_image)
        iterations += tf.where(gaps > target_gap, check_every, 0)

        def iteration(j, u, u_bar, py, px, tau, sigma):
            # Masked differences keep the dual field, and so the padding,
            # at zero outside each image.
            dy, dx = forward_differences(u_bar, extents, layout)
            new_py, new_px = project_dual(py + sigma * dy, px + sigma * dx, weights, objective, layout)
            new_u = (u + tau * (divergence(new_py, new_px, layout) + observed)) / (1 + tau)
            theta = 1 / tf.sqrt(1 + 2 * tau)
            u_bar = tf.where(active, new_u + theta * (new_u - u), u_bar)
            u = tf.where(active, new_u, u)
            py = tf.where(active, new_py, py)
            px = tf.where(active, new_px, px)
            return j + 1, u, u_bar, py, px, theta * tau, sigma / theta

        # A loop, not check_every copies of the iteration: the program's
        # size, and its compile time, would grow with check_every.
        _, u, u_bar, py, px, tau, sigma = tf.while_loop(
            lambda j, *_: j < check_every, iteration, (0, u, u_bar, py, px, tau, sigma)
        )
        primal, certified = certificate(u, py, px)
        gaps = tf.where(tf.reshape(active, [-1]), certified, gaps)
        k += check_every
        recorded = recorder.record(recorded, k // check_every, k, primal, certified)
        return k, u, u_bar, py, px, tau, sigma, gaps, iterations, recorded

    initial_primal, initial_gaps = certificate(observed, zeros, zeros)
    state = (
        tf.constant(0),
        observed,
        observed,
        zeros,
        zeros,
        tf.constant(_TAU_0, dtype),
        tf.constant(_SIGMA_0, dtype),
        initial_gaps,
        tf.zeros(tf.shape(weights), tf.int32),
        # Check 0 is the starting point u = f.
        recorder.record(recorder.initial, 0, 0, initial_primal, initial_gaps),
    )
    _, u, *_, gaps, iterations, recorded = tf.while_loop(keep_going, step, state)
    return u, iterations, gaps, recorded
