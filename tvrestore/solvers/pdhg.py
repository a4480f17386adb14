r"""Exact mode: primal-dual (PDHG) for every forward model, with a duality-gap certificate.

Solves, per image of a batch, the problem of :class:`tvrestore.models.problem.Problem`
for a fidelity :math:`F` (:mod:`tvrestore.models.fidelities`), optionally over a box,

.. math::

    \min_{u \in [\mathrm{lo}, \mathrm{hi}]} E(u) = F(B u; f, m) + w\,\mathrm{TV}(u)
    = \min_u \max_{p \in K} F(B u) + \langle \nabla u, p \rangle,

where :math:`K = \{p : |p_g| \le w\}` bounds each group :math:`g` of the
dual field in the norm TV uses (see :mod:`tvrestore.models.tv`), :math:`B` is the
forward model without its mask and :math:`m \in \{0, 1\}` marks the
observed data values (data, not part of the compiled program, so one
program serves every mask of a shape). The iteration is Chambolle & Pock's
(J. Math. Imaging Vis. 40, 2011), split one of two ways, both through the
fidelity's proximal maps:

**Denoising** (:math:`B = I`, every value fitted, no box): the fidelity
stays on the primal side, :math:`K = \nabla`,

.. math::

    p^{k+1} = \Pi_K(p^k + \sigma_k \nabla \bar u^k), \quad
    u^{k+1} = \operatorname{prox}_{\tau_k F}(u^k + \tau_k \operatorname{div} p^{k+1}),
    \quad \bar u^{k+1} = u^{k+1} + \theta_k (u^{k+1} - u^k),

with :math:`\tau_0 \sigma_0 \|\nabla\|^2 \le 1`, :math:`\|\nabla\|^2 \le 4 \sum_a 1/h_a^2`
(8 for an image with unit steps, 12 for a volume; :math:`h_a` the spacing).
A :math:`\gamma`-strongly convex fidelity (L2: :math:`\gamma = 1`) takes
Algorithm 2's steps :math:`\theta_k = 1/\sqrt{1 + 2\gamma\tau_k}`,
:math:`\tau_{k+1} = \theta_k \tau_k`, :math:`\sigma_{k+1} = \sigma_k /
\theta_k`, rate :math:`O(1/k^2)`; others keep :math:`\theta = 1`. Every
feasible :math:`p` bounds the minimum from below:
:math:`D(p) = -F^*(\operatorname{div} p) \le E^*`; a fidelity whose
conjugate has a bounded domain (KL, L1) evaluates it at :math:`\vartheta p`,
the largest :math:`\vartheta \le 1` that keeps it finite
(:meth:`~tvrestore.models.fidelities.Fidelity.dual_scale`).

**Any other forward model**: Algorithm 1 on :math:`K = [B; \nabla]` with a
data dual :math:`q`,

.. math::

    q &\leftarrow \operatorname{prox}_{\sigma F^*}(q + \sigma B \bar u), \qquad
    p \leftarrow \Pi_K(p + \sigma \nabla \bar u), \\
    u^+ &= \Pi_{[\mathrm{lo}, \mathrm{hi}]}\bigl(u - \tau (B^* q - \operatorname{div} p)\bigr),
    \qquad \bar u = 2 u^+ - u,

with diagonal steps (Pock & Chambolle, ICCV 2011, :math:`\alpha = 1`) when
every entry of :math:`B` is non-negative: per value,
:math:`\tau_j = s / \sum_i |K_{ij}|` and :math:`\sigma_i = 1 / (s \sum_j
|K_{ij}|)` on :math:`K = [c B; \nabla]`, with the mask's rows left out (their :math:`q` is 0), so that
unobserved pixels and the unknown's margin take longer steps; the sums of
:math:`|B|` are :math:`B 1` and :math:`B^* m`. The data block's scale
:math:`c = \max(1, (0.01 / w)^{0.4})` (the same problem, in :math:`q / c`)
gives the data dual the longer steps the smaller the weight: near
:math:`w = 0` its :math:`q` must undo :math:`B` (:math:`B^* q \approx
\operatorname{div} p`), and with :math:`c = 1` the bound lagged a
converged primal. The balance starts at
:math:`s = 3 (0.01 / w)^{0.75}`, which gives the primal the longer step
the smaller the weight (the dual field is bounded by :math:`w`), and
adapts at restarts (below): no fixed :math:`s` suits every composition
(measured on 64x64 camera, benchmarks/measure_pdhg_composed.py:
multiplying a fixed :math:`s` by 2 to 8 helped some and hurt others).
Otherwise (``preconditioning="scalar"``,
or a PSF with negative values), scalar steps with
:math:`\tau \sigma (\|B\|^2 + \|\nabla\|^2) \le 1` (``norm_sq`` bounds
:math:`\|B\|^2`). A mask or binning has a null space, so the steps stay
constant (rate :math:`O(1/k)` on the gap). For every :math:`q` and feasible
:math:`p`,

.. math::

    D(q, p) = -F^*(q) - \sum \max(\mathrm{lo}\, v, \mathrm{hi}\, v),
    \qquad v = \operatorname{div} p - B^* q,

is at most :math:`E^*` (the last sum is the box's support function; it is
what keeps :math:`D` finite). At each check, the iterate's
:math:`(u, q, p)` and their mean since the window last restarted are
evaluated: :math:`D` at each pair, and with the fidelity's gradient at
:math:`B u` (of the iterate and of the mean) in place of :math:`q`; the
largest bound of this check and of every earlier one is kept (each bounds
the same minimum, so the certificate stays proven). With diagonal steps
the iteration restarts (Applegate et al., PDLP, NeurIPS 2021): when the
better of the two gaps :math:`E - D` (iterate's, mean's) has dropped by
:data:`_SUFFICIENT_DECAY` since the last restart, or by
:data:`_NECESSARY_DECAY` and grew since the last check, or the window
has doubled, the iterate restarts from the better of the two (the mean's
:math:`(u, q, p)` are a point like any other), and the balance moves to

.. math::

    s \leftarrow s^{1 - \beta} \bigl(\|\Delta u\|_{T_1^{-1}} /
    \|\Delta (q, p)\|_{\Sigma_1^{-1}}\bigr)^{\beta}, \qquad \beta = 0.25,

the moves since the last restart measured in the metrics of the steps at
:math:`s = 1` (PDLP's primal weight, :math:`1 / s`), kept within a factor
of :data:`_ADAPT_RANGE` above its start and never below it (below, the
larger dual steps let the bound stall). Scalar steps keep the plain
iteration (the mean's window restarts when it has doubled; the iterate
never moves), so that their fixed map stays what the automatic weight
was calibrated on.

**The noise-free limit** (:class:`~tvrestore.models.fidelities.Exact`,
:math:`F = \iota_{\{B u = f\}}` on the fitted values, for a mask or
binning): the same iteration, whose data-dual step is then
:math:`q \leftarrow q + \sigma (B \bar u - f)` (the conjugate is linear,
:math:`F^*(q) = \langle q, f \rangle`). The iterate is feasible only in the
limit, so :math:`E` is evaluated, and the result returned, at its
projection onto :math:`\{u \in [\mathrm{lo}, \mathrm{hi}] : m B u = m f\}`
(:meth:`~tvrestore.models.operators.LinearOperator.project_onto_data`),
where :math:`E = w\,\mathrm{TV}`; :math:`D(q, p)` is as above.

Certificate: :math:`(E(u) - D) / D` bounds the relative objective gap once
:math:`D > 0` (before, it is infinite). It is evaluated in float64 every
``check_every`` iterations, and the loop stops when it is at most ``gap``.
Each check's :math:`E(u)` and certificate are kept as the run's history
(:mod:`tvrestore.solvers.history`), from the starting point on; neither is promised
to decrease, but every check's :math:`E` is at least every check's
:math:`D`.

The same iteration with ``gap=0`` and ``max_iter = check_every = n`` is a
*fixed* map of the data (its steps do not depend on them), which
:mod:`tvrestore.tuning.autoweight` differentiates for its risk estimate.
"""

from __future__ import annotations

import functools
import math
import time

import numpy as np

from tvrestore.backend.tf import compiled, tf
from tvrestore.models.fidelities import L2, Exact, Fidelity
from tvrestore.solvers.history import History, Recorder, SolverOutput
from tvrestore.models.operators import Identity, LinearOperator
from tvrestore.models.problem import Problem
from tvrestore.solvers.programs import Programs
from tvrestore.models.tv import (
    check_spacing, divergence, forward_differences, gradient_norm_sq, layout_for, spatial_axes,
    swap_layout, total_variation,
)

__all__ = ["solve_pdhg"]

# Denoising: tau_0 * sigma_0 * L = 1 (L = 8 >= ||grad||^2 for an image with
# unit steps; gradient_norm_sq in general). Any tau_0 > 0 converges, at a speed
# that depends on it. Measured to a gap of 1e-4 on camera, coins and
# astronaut (256 to 1024 px, sigma 25/255): tau_0 = 1 takes 30 to 100
# iterations for w <= 0.07 (tau_0 = 0.05 took about 950 at w 0.07) and, for
# large weights, as many as any tau_0 tried (w 0.5: 460 to 1330).
_TAU_0 = 1.0

# Any other forward model: tau / sigma = _STEP_RATIO**2 with
# tau * sigma * (norm_sq + 8) = 1: the primal, which the box and TV shape,
# takes the longer step. Iterations to a certified gap of 1e-4 on 96x96
# camera and astronaut crops (deblur, deblur+inpaint, deblur+upscale of
# benchmarks/measure_restore.py; w 0.004): ratio 1: 10540-19980; 3:
# 3300-4320; 10: 1090-1450; 30: 1570-2280; 100: 3860-6720.
_STEP_RATIO = 10.0

# The noise-free limit's TV weight. Its minimizer is the same for every
# w > 0, but the steps above suit weights near those of noisy data:
# iterations to a certified 1e-6 on the 12x14 mask and binning cases of
# tests/solvers/test_noise_free.py at w = 1: > 20000 (gap 6e-3);
# 0.1: > 5000 (8e-4); 0.01: 3180 - > 5000; 0.003: 1690-1820;
# 0.001: 1880-1930; 0.0003: 2050-2100; 0.0001: 2620-3380.
_EXACT_WEIGHT = 0.003
# Diagonal steps (_diagonal_steps): the primal's are scaled by
# s = _BALANCE * (_BALANCE_WEIGHT / w) ** _BALANCE_POWER and the duals' divided by it,
# s the start of the adapted balance. With the restarts below (share 0.25),
# the sums of the 12 runs measured there: _BALANCE 3: 19840 (largest
# 3020); 6: 22290 (3160); 12: > 33340 (one > 4000).
_BALANCE = 3.0
_BALANCE_WEIGHT = 0.01
_BALANCE_POWER = 0.75
# Diagonal steps' restarts (_iterate; Applegate et al.'s PDLP, 2021): the
# window restarts when its gap has dropped by _SUFFICIENT_DECAY since the
# last restart, or by _NECESSARY_DECAY and stopped dropping; the balance s
# then moves _ADAPT_SHARE of the way (in log) to the ratio of the primal's
# to the duals' move, between its start and _ADAPT_RANGE times it. Measured on 12
# runs of benchmarks/measure_pdhg_composed.py (64x64 camera: its 8 misses
# before the restarts and 4 others), _BALANCE 6, iterations to 1e-4 (cap
# 4000) summed (largest): restarts with a fixed balance 34110 (> 4000);
# share 0.5: 28200 (> 4000); 0.35: 22090 (3300); 0.25: 22290 (3160);
# 0.15: 23600 (3270); with share 0.25, a sufficient decay of 0.1 or 0.4
# and a necessary one of 0.9 changed the sum by 2 % or less.
# The floor at the start: on the 3-D deblur+inpaint of tests/test_volumes.py
# (gaussian:1,0.8,0.8, 20 % missing, w = 0.003, spacing (2, 1, 1)) the
# balance rose from 7.4 to 26, then fell with the move ratio to 1.9 while
# the bound stalled at a certified gap of 1.03e-4 after 5000 iterations
# (target 1e-4); with s kept >= its start it certifies in 1570 (kept
# within a factor 100 of its start both ways: 5000, stalled; a fixed
# balance: 2100), and the composed benchmark still certifies 21 of 24 in 2000.
_SUFFICIENT_DECAY = 0.2
# The data dual's block scaled by c = max(1, (_BALANCE_WEIGHT / w) ** _DATA_SCALE_POWER)
# (_diagonal_steps): the smaller the weight, the longer q's steps against
# the primal's through B. At w -> 0 the dual problem nears the constraint's,
# where q must undo the blur (B* q = div p) unregularized by |q|^2 / 2, and
# with c = 1 the bound lagged a converged primal (clean deblur, automatic
# weight 3.4e-5: 2840 iterations to 1e-4). Measured with
# benchmarks/measure_pdhg_composed.py (64x64 camera, cap 3000), worst
# iterations to 1e-4 over its 12 blur runs (deblur, deblur+inpaint,
# deblur+upscale): c = 1: not certified (3000, gap 1.1e-4); a fixed c of
# 0.3: 3 uncertified; 3: 2160; 10: 2040; 30: 2 at the cap; over all 24
# runs, the power 0.4: 1970 (0.5: 2100). Weights >= 0.01 keep c = 1.
_DATA_SCALE_POWER = 0.4
_ADAPT_SHARE = 0.25
_ADAPT_RANGE = 100.0
_NECESSARY_DECAY = 0.8
_RECORDED = ("objective", "certified_gap")
_PROGRAMS = Programs()


def solve_pdhg(
    observed: np.ndarray,
    weights: np.ndarray,
    *,
    operator: LinearOperator | None = None,
    fidelity: Fidelity | None = None,
    initial: np.ndarray | None = None,
    missing: np.ndarray | None = None,
    box: tuple[float, float] | None = None,
    tv: str = "isotropic",
    color: str = "vectorial",
    gap: float = 1e-4,
    max_iter: int = 20000,
    check_every: int = 10,
    dtype: str = "float32",
    extents: np.ndarray | None = None,
    layout: str | None = None,
    spacing: tuple[float, ...] | None = None,
    preconditioning: str = "diagonal",
) -> SolverOutput:
    """Minimize E for a batch of equal-shaped problems to a certified relative gap.

    Parameters
    ----------
    observed : np.ndarray, shape (B, h, w, C) or (B, z, y, x, C)
        :math:`f`, data values in intensity units: images or volumes.
    weights : np.ndarray, shape (B,)
        :math:`w > 0` per image. With the
        :class:`~tvrestore.models.fidelities.Exact` fidelity, whose
        minimizer does not depend on it, :data:`_EXACT_WEIGHT` is used
        instead (``objective`` and ``lower_bound`` are in its units).
    operator : LinearOperator, optional
        :math:`B`, with no :class:`~tvrestore.models.operators.Mask`, built for
        ``layout``; default the identity (denoising).
    fidelity : Fidelity, optional
        :math:`F`; default :class:`~tvrestore.models.fidelities.L2`.
    initial : np.ndarray, shape (B, H, W, C), optional
        Starting point on the unknown's domain (clipped to the box);
        default ``observed`` (for the identity).
    missing : np.ndarray, shape (B, h, w, 1), optional
        Nonzero where a data value is missing (not fitted).
    box : (float, float), optional
        :math:`[\\mathrm{lo}, \\mathrm{hi}]`; needed unless the forward
        model is the identity with every value fitted.
    tv, color : str
        The TV norm (:mod:`tvrestore.models.tv`).
    gap : float
        Stop once the certified relative gap is at most this.
    max_iter : int
        Iteration cap (rounded up to ``check_every``).
    check_every : int
        Iterations between two certificates (each costs about one
        iteration).
    dtype : {"float32", "float64"}
        float64 for certificates below about 1e-6.
    extents : np.ndarray, shape (B, 2), optional
        Denoising only: height and width of each image when it is smaller
        than its slot of ``observed`` (top-left, zeros around it; see
        :mod:`tvrestore.models.tv`), so that images of several sizes share one
        compiled program. Default: every image fills its slot.
    layout : {"hwc", "hcw"}, optional
        The layout the program iterates in (``operator`` must be built for
        it); default :func:`tvrestore.models.tv.layout_for` the channels. The
        arrays in and out are (B, H, W, C) either way.
    spacing : tuple of float, optional
        The step of each spatial axis, by which TV's differences are
        divided (:mod:`tvrestore.models.tv`); the step sizes follow
        ``||grad||^2 <= 4 sum_a 1 / h_a^2``.
    preconditioning : {"diagonal", "scalar"}
        A general forward model's steps: Pock & Chambolle's diagonal
        ones, balanced by the weight (see the module docstring), when the
        forward model's entries are all non-negative; "scalar" (or an
        operator with negative entries) takes one step per block, the fixed
        map :mod:`tvrestore.tuning.autoweight` was calibrated with.
        Denoising ignores it.

    Returns
    -------
    SolverOutput
        With ``certified_gap`` and ``lower_bound`` (:math:`D`, sum units)
        per image, and the history of ``"objective"`` (:math:`E(u)`, sum
        units) and ``"certified_gap"`` at check 0 and every check.
    """
    operator = Identity() if operator is None else operator
    fidelity = L2() if fidelity is None else fidelity
    observed = np.asarray(observed)
    dimensions = observed.ndim - 2
    layout = layout_for(observed.shape[-1], dimensions) if layout is None else layout
    spacing = check_spacing(spacing, dimensions)
    problem = Problem(operator, fidelity, tv=tv, color=color, reduction="sum", layout=layout,
                      spacing=spacing)
    gradient_sq = gradient_norm_sq(dimensions, spacing)
    fidelity_on_u = isinstance(operator, Identity) and missing is None and box is None
    if not fidelity_on_u and box is None:
        raise ValueError("a forward model other than the identity needs a box")
    if extents is not None and not fidelity_on_u:
        raise ValueError("extents are for denoising only")
    if isinstance(fidelity, Exact):
        if fidelity_on_u:
            raise ValueError("the exact fidelity needs a forward model other than the identity, or a mask")
        weights = np.full(np.shape(weights), _EXACT_WEIGHT)
    if preconditioning not in ("diagonal", "scalar"):
        raise ValueError(f"preconditioning must be 'diagonal' or 'scalar', got {preconditioning!r}")
    diagonal = preconditioning == "diagonal" and not fidelity_on_u and operator.nonnegative
    if fidelity_on_u:
        steps = [0.0, 0.0, _TAU_0, 1.0 / (gradient_sq * _TAU_0)]
    elif diagonal:
        steps = [*box, 0.0, 0.0]
    else:
        norm = math.sqrt(operator.norm_sq + gradient_sq)
        steps = [*box, _STEP_RATIO / norm, 1.0 / (_STEP_RATIO * norm)]
    start = observed if initial is None else np.asarray(initial)
    if box is not None:
        start = np.clip(start, *box)
    if extents is None:
        extents = np.tile(start.shape[1:-1], (len(start), 1))
    fitted = np.ones((*observed.shape[:-1], 1)) if missing is None else (np.asarray(missing) == 0)
    arguments = (
        tf.constant(observed, dtype),
        tf.constant(fitted, dtype),
        tf.constant(weights, dtype),
        tf.constant(start, dtype),
        tf.constant(extents, dtype),
        tf.constant(steps, dtype),
        tf.constant(_balance(np.asarray(weights, np.float64)) if diagonal else np.ones(len(start)), dtype),
        tf.constant(gap, tf.float64),
    )
    # One program per rank: a trace relaxed to every shape keeps the rank.
    settings = (problem.operator, problem.fidelity, tv, color, layout, fidelity_on_u, check_every, dtype,
                spacing, observed.ndim, diagonal)
    program, compile_seconds = _PROGRAMS.get(
        (settings, observed.shape, start.shape),
        functools.partial(_program, *settings),
        lambda program: program(*arguments, tf.constant(0)),
    )
    clock = time.perf_counter()
    solution, iterations, certified, lower, recorded = program(*arguments, tf.constant(max_iter))
    solution, iterations, certified = solution.numpy(), iterations.numpy(), certified.numpy()
    solve_seconds = time.perf_counter() - clock
    return SolverOutput(
        solution=solution,
        iterations=iterations,
        converged=certified <= gap,
        solve_seconds=solve_seconds,
        compile_seconds=compile_seconds,
        history=History.from_state(_RECORDED, recorded),
        certified_gap=certified,
        lower_bound=lower.numpy(),
    )


@functools.lru_cache(maxsize=None)
def _program(operator, fidelity, tv, color, layout, fidelity_on_u, check_every, dtype, spacing, rank,
             diagonal):
    """One compiled program per model and settings; it traces once per shape, or for denoising once for all."""
    problem = Problem(operator, fidelity, tv=tv, color=color, reduction="sum", layout=layout,
                      spacing=spacing)

    def run(observed, fitted, weights, initial, extents, steps, balances, target_gap, max_iter):
        if layout == "hwc":
            return _iterate(problem, fidelity_on_u, diagonal, check_every, observed, fitted, weights,
                            initial, extents, steps, balances, target_gap, max_iter)
        # Transposed once each way.
        u, *rest = _iterate(problem, fidelity_on_u, diagonal, check_every, swap_layout(observed),
                            swap_layout(fitted), weights, swap_layout(initial), extents, steps,
                            balances, target_gap, max_iter)
        return (swap_layout(u), *rest)

    # Denoising needs no static size, so one trace serves every shape
    # (arrays in and out are (B, H, W, C): the channels stay static).
    return compiled(run, any_shape=fidelity_on_u, kept_axes=(-1,))


def _project(fields: tuple[tf.Tensor, ...], weights: tf.Tensor, problem: Problem) -> tuple[tf.Tensor, ...]:
    """Project the dual field (one component per spatial axis) onto K: each group's norm at most w."""
    rank = fields[0].shape.rank
    w = tf.reshape(weights, [-1] + [1] * (rank - 1))
    groups = [fields] if problem.tv == "isotropic" else [(p,) for p in fields]
    projected = []
    for group in groups:
        squares = tf.add_n([p * p for p in group])
        if problem.color == "vectorial":
            squares = tf.reduce_sum(squares, axis=2 if problem.layout == "hcw" else rank - 1,
                                    keepdims=True)
        shrink = tf.maximum(tf.sqrt(squares) / w, 1)
        projected.extend(p / shrink for p in group)
    return tuple(projected)


def _iterate(problem, fidelity_on_u, diagonal, check_every, observed, fitted, weights, initial, extents,
             steps, balances, target_gap, max_iter):
    operator, fidelity, layout = problem.operator, problem.fidelity, problem.layout
    spacing = problem.spacing
    low, high, tau_0, sigma_0 = steps[0], steps[1], steps[2], steps[3]
    dtype = observed.dtype
    rank = observed.shape.rank
    per_image = [-1] + [1] * (rank - 1)
    sums = list(range(1, rank))
    # Masked differences keep the dual field, and so the padding, at zero
    # outside each image; a general model's batch has no padding.
    cut = extents if fidelity_on_u else None
    fit = None if fidelity_on_u else fitted
    gamma = fidelity.strong_convexity if fidelity_on_u else 0.0
    exact = isinstance(fidelity, Exact)
    averaged = not fidelity_on_u
    recorder = Recorder(tf.shape(weights)[0], {"objective": tf.float64, "certified_gap": tf.float64})
    f64 = lambda t: tf.cast(t, tf.float64)  # noqa: E731

    def ascent(p, u_bar, sigma, extents=None):
        # p: one dual component per spatial axis.
        differences = forward_differences(u_bar, extents, layout, spacing)
        return _project(tuple(a + sigma * d for a, d in zip(p, differences)), weights, problem)

    def bounds(u, q, p, q_mean, p_mean):
        # E(u) and D in float64 whatever the iteration's dtype: E - D is a
        # small difference of two large sums, which float32 would get wrong
        # on large images.
        f, m, w = f64(observed), None if fit is None else f64(fit), f64(weights)
        if exact:
            # The constraint's E is finite only where A u = f: it is taken
            # at the projection of u onto that set (and the box).
            u = operator.project_onto_data(f64(u), f, m, f64(low), f64(high))
            primal = w * total_variation(u, problem.tv, problem.color, cut, layout, spacing)
        else:
            primal = fidelity(f64(operator.apply(u)), f, m) + w * total_variation(
                f64(u), problem.tv, problem.color, cut, layout, spacing
            )

        def dual_of(q, p):
            divergence_p = divergence(*(f64(a) for a in p), layout=layout, spacing=spacing)
            if fidelity_on_u:
                # theta p is as feasible as p (theta <= 1) and keeps div p in
                # the conjugate's domain (KL: below 1) while the iterate is not yet.
                scaled = divergence_p * fidelity.dual_scale(divergence_p, f)
                return -fidelity.conjugate(scaled, f, m)
            v = divergence_p - f64(operator.adjoint(q))
            return (-fidelity.conjugate(f64(q), f, m)
                    - tf.reduce_sum(tf.maximum(f64(low) * v, f64(high) * v), axis=sums))

        dual = dual_of(q, p)
        if not fidelity_on_u:
            # Any q, and any p in K, is dual feasible: the mean of the
            # iterates since the last restart of the mean (convex
            # combinations stay in K and in F*'s domain), which converges
            # where the iterates oscillate, and, but for a constraint
            # (which has no gradient), the fidelity's gradient at B u,
            # which the optimal q equals at the minimizer and which
            # converges with the primal (measured: it certifies the same
            # iterate to a gap 10 to 100 times smaller).
            dual = tf.maximum(dual, dual_of(q_mean, p_mean))
            if not exact:
                gradient = fidelity.gradient(operator.apply(u), observed, fit)
                dual = tf.maximum(dual, tf.maximum(dual_of(gradient, p), dual_of(gradient, p_mean)))
        return primal, dual

    def certificate(primal, dual):
        return tf.where(
            primal - dual <= 0, tf.zeros_like(dual),
            tf.where(dual > 0, (primal - dual) / tf.where(dual > 0, dual, 1.0), np.inf),
        )

    def denoising_iteration(u, u_bar, q, p, tau, sigma):
        new_p = ascent(p, u_bar, sigma, cut)
        new_u = fidelity.prox_of_step(
            u, divergence(*new_p, layout=layout, spacing=spacing), tau, observed)
        theta = 1 / tf.sqrt(1 + 2 * gamma * tau) if gamma > 0 else tf.ones_like(tau)
        return new_u, new_u + theta * (new_u - u), q, new_p, theta * tau, sigma / theta

    # A general model's steps: these times the balance s (the state's tau,
    # one per image; 1 for scalar steps) for the primal, divided by it for
    # the duals.
    if diagonal:
        # The noise-free limit's weight is nominal: its data block keeps scale 1.
        data_scales = tf.ones_like(weights) if exact else _data_scale(weights)
        primal_step, data_step, field_step = _diagonal_steps(
            operator, spacing, observed, fitted, initial, tf.ones_like(balances), data_scales)
    else:
        primal_step, data_step, field_step = tau_0, sigma_0, sigma_0

    def general_iteration(u, u_bar, q, p, tau, sigma):
        new_q = fidelity.conjugate_prox_of_step(q, operator.apply(u_bar), data_step / tau, observed, fitted)
        new_p = ascent(p, u_bar, field_step / tau)
        descent = operator.adjoint(new_q) - divergence(*new_p, layout=layout, spacing=spacing)
        new_u = tf.clip_by_value(u - (primal_step * tau) * descent, low, high)
        return new_u, 2 * new_u - u, new_q, new_p, tau, sigma

    def distances(u, q, p, anchor):
        # ||.||_{T^-1} of the primal move and ||.||_{Sigma^-1} of the duals' from the
        # last restart, in the unbalanced steps' metric.
        anchor_u, anchor_q, *anchor_p = anchor
        primal = tf.reduce_sum(tf.square(u - anchor_u) / primal_step, axis=sums)
        dual = tf.reduce_sum(tf.square(q - anchor_q) / data_step, axis=sums) + tf.add_n(
            [tf.reduce_sum(tf.square(a - b) / field_step, axis=sums) for a, b in zip(p, anchor_p)])
        return tf.sqrt(primal), tf.sqrt(dual)

    one_iteration = denoising_iteration if fidelity_on_u else general_iteration

    def keep_going(k, u, u_bar, q, p, tau, sigma, totals, since, gaps, lower, iterations, recorded,
                   restart_gap, last_gap, anchor):
        return tf.logical_and(k < max_iter, tf.reduce_any(gaps > target_gap))

    def step(k, u, u_bar, q, p, tau, sigma, totals, since, gaps, lower, iterations, recorded, restart_gap,
             last_gap, anchor):
        active_images = gaps > target_gap
        active = tf.reshape(active_images, per_image)
        iterations += tf.where(active_images, check_every, 0)

        def iteration(j, u, u_bar, q, p, tau, sigma, totals):
            new_u, new_u_bar, new_q, new_p, *new_steps = one_iteration(u, u_bar, q, p, tau, sigma)
            kept = [tf.where(active, a, b) for a, b in zip((new_u, new_u_bar, new_q), (u, u_bar, q))]
            kept_p = tuple(tf.where(active, a, b) for a, b in zip(new_p, p))
            if averaged:
                totals = tuple(total + a for total, a in zip(totals, (kept[0], kept[2], *kept_p)))
            return (j + 1, *kept, kept_p, *new_steps, totals)

        # A loop, not check_every copies of the iteration: the program's
        # size, and its compile time, would grow with check_every.
        _, u, u_bar, q, p, tau, sigma, totals = tf.while_loop(
            lambda j, *_: j < check_every, iteration, (0, u, u_bar, q, p, tau, sigma, totals)
        )
        k += check_every
        if not averaged:
            primal, dual = bounds(u, q, p, q, p)
            # Denoising's D grows with its iterate: the last is kept.
            lower = tf.where(active_images, dual, lower)
            gaps = tf.where(active_images, certificate(primal, lower), gaps)
            recorded = recorder.record(recorded, k // check_every, k, primal, gaps)
            return (k, u, u_bar, q, p, tau, sigma, totals, since, gaps, lower, iterations, recorded,
                    restart_gap, last_gap, anchor)
        count = tf.reshape(tf.cast(k - since, dtype), per_image)
        mean_u, mean_q, *mean_p = (total / count for total in totals)
        mean_p = tuple(mean_p)
        primal, dual = bounds(u, q, p, mean_q, mean_p)
        mean_primal, mean_dual = bounds(mean_u, mean_q, mean_p, q, p)
        # Every check's D bounds the same minimum: the best so far is kept.
        lower = tf.where(active_images, tf.maximum(lower, tf.maximum(dual, mean_dual)), lower)
        # Restarts (Applegate et al., PDLP, 2021): the iterate restarts at
        # the mean of its window when the mean's gap is the smaller, the
        # window restarts when the gap has dropped by _SUFFICIENT_DECAY since
        # the last restart, or by _NECESSARY_DECAY and stopped dropping, or
        # when the window has doubled.
        current_gap, mean_gap = primal - dual, mean_primal - mean_dual
        to_mean = mean_gap < current_gap
        candidate_gap = tf.minimum(current_gap, mean_gap)
        doubled = k >= 2 * since
        if diagonal:
            restart = tf.logical_and(active_images, tf.logical_or(
                tf.logical_or(candidate_gap <= _SUFFICIENT_DECAY * restart_gap,
                              tf.logical_and(candidate_gap <= _NECESSARY_DECAY * restart_gap,
                                             candidate_gap > last_gap)),
                doubled))
        else:
            # Scalar steps keep their fixed map (the automatic weight's):
            # only the mean's window restarts.
            restart = tf.logical_and(active_images, doubled)
            to_mean = tf.zeros_like(restart)
        jump = tf.reshape(tf.logical_and(restart, to_mean), per_image)
        u = tf.where(jump, mean_u, u)
        u_bar = tf.where(jump, mean_u, u_bar)
        q = tf.where(jump, mean_q, q)
        p = tuple(tf.where(jump, a, b) for a, b in zip(mean_p, p))
        primal = tf.where(tf.logical_and(restart, to_mean), mean_primal, primal)
        gaps = tf.where(active_images, certificate(primal, lower), gaps)
        recorded = recorder.record(recorded, k // check_every, k, primal, gaps)
        restart_gap = tf.where(restart, candidate_gap, restart_gap)
        last_gap = tf.where(active_images, candidate_gap, last_gap)
        since = tf.where(restart, k, since)
        wide = tf.reshape(restart, per_image)
        if diagonal:
            # The balance moves halfway (in log) to the ratio of the primal's
            # to the duals' move since the last restart (PDLP's primal weight).
            moved_u, moved_y = distances(u, q, p, anchor)
            moved = tf.reshape(tf.logical_and(restart, tf.logical_and(moved_u > 0, moved_y > 0)), per_image)
            ratio = tf.reshape(moved_u / tf.where(moved_y > 0, moved_y, 1), per_image)
            adapted = tau * tf.where(moved, ratio / tau, 1) ** _ADAPT_SHARE
            first = tf.reshape(balances, per_image)
            # Never below its start: a smaller s (larger dual steps) let the
            # bound stall (see _ADAPT_RANGE).
            adapted = tf.clip_by_value(adapted, first, first * _ADAPT_RANGE)
            tau = tf.where(moved, adapted, tau)
            anchor = tuple(tf.where(wide, a, b) for a, b in zip((u, q, *p), anchor))
        totals = tuple(tf.where(wide, tf.zeros_like(total), total) for total in totals)
        return (k, u, u_bar, q, p, tau, sigma, totals, since, gaps, lower, iterations, recorded, restart_gap,
                last_gap, anchor)

    # The denoising split has no data dual: a placeholder of one value per image.
    zeros_q = tf.zeros([tf.shape(weights)[0]] + [1] * (rank - 1), dtype) if fidelity_on_u else tf.zeros_like(observed)
    zeros_p = tuple(tf.zeros_like(initial) for _ in spatial_axes(rank, layout))
    initial_primal, lower = bounds(initial, zeros_q, zeros_p, zeros_q, zeros_p)
    gaps = certificate(initial_primal, lower)
    totals = (tf.zeros_like(initial), zeros_q, *zeros_p) if averaged else ()
    state = (
        tf.constant(0), initial, initial, zeros_q, zeros_p,
        tau_0 if fidelity_on_u else tf.reshape(balances, per_image), sigma_0, totals,
        tf.zeros(tf.shape(weights), tf.int32), gaps, lower,
        tf.zeros(tf.shape(weights), tf.int32),
        # Check 0 is the starting point.
        recorder.record(recorder.initial, 0, 0, initial_primal, gaps),
        initial_primal - lower, initial_primal - lower,
        (initial, zeros_q, *zeros_p) if averaged else (),
    )
    _, u, *_, gaps, lower, iterations, recorded, _, _, _ = tf.while_loop(keep_going, step, state)
    if exact:
        # The result is the feasible point the certificate is about.
        u = operator.project_onto_data(u, observed, fitted, low, high)
    return u, iterations, gaps, lower, recorded


def _balance(weights: np.ndarray) -> np.ndarray:
    """The diagonal steps' balance :math:`s` per image (see :func:`_diagonal_steps`)."""
    return _BALANCE * (_BALANCE_WEIGHT / weights) ** _BALANCE_POWER


def _data_scale(weights):
    """The diagonal steps' data-block scale :math:`c` per image (see :func:`_diagonal_steps`)."""
    return tf.maximum((_BALANCE_WEIGHT / weights) ** _DATA_SCALE_POWER, 1.0)


def _diagonal_steps(operator, spacing, observed, fitted, initial, balances, data_scales):
    r"""Pock & Chambolle's diagonal steps on :math:`K = [c\, m B; \nabla]`, balanced by the weight.

    Returns :math:`T = s / \sum_i |K_{ij}|` (shaped as :math:`u`),
    :math:`\Sigma_q = c / (s \sum_j |B_{ij}|)` (as the data) and
    :math:`\Sigma_p = 1 / (s \max_a 2 / h_a)` (one per image): for
    :math:`B \ge 0` the sums of :math:`|B|` are :math:`B 1` and
    :math:`B^* m`, and a row of :math:`\nabla` holds :math:`\pm 1/h_a`.
    The data block scaled by :math:`c` (``data_scales``) is the same
    problem in the dual variable :math:`q / c`: its steps are
    Pock & Chambolle's for :math:`c B`, written back in :math:`q`
    (:math:`\Sigma_q` times :math:`c^2`).
    """
    rank = initial.shape.rank
    inverse = [1.0] * (rank - 2) if spacing is None else [1.0 / step for step in spacing]
    balance = tf.reshape(balances, [-1] + [1] * (rank - 1))
    scale = tf.reshape(data_scales, [-1] + [1] * (rank - 1))
    rows = operator.apply(tf.ones_like(initial))
    columns = operator.adjoint(tf.broadcast_to(fitted, tf.shape(observed)))
    primal = balance / (scale * columns + 2 * sum(inverse))
    data = scale / (balance * tf.where(rows > 0, rows, tf.ones_like(rows)))
    field = 1 / (balance * 2 * max(inverse))
    return primal, data, field
