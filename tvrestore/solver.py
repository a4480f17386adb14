r"""Adam with a plateau schedule and a stopping rule, compiled as one loop.

The solver minimizes a batch of independent losses :math:`L_b(u_b)` over a
variable :math:`u` of shape ``(B, ...)``. It knows nothing of images.

Update, per item :math:`b` and element, with gradient :math:`g_k`:

.. math::

    m_k = \beta_1 m_{k-1} + (1 - \beta_1) g_k, \quad
    v_k = \beta_2 v_{k-1} + (1 - \beta_2) g_k^2,

    u_{k} = u_{k-1} - \eta_b \,
        \frac{m_k / (1 - \beta_1^k)}{\sqrt{v_k / (1 - \beta_2^k)} + s_b \epsilon}.

Adam's step is invariant to the scale of the loss except through
:math:`\epsilon`; scaling :math:`\epsilon` by the loss scale :math:`s_b`
(1 for sums, :math:`1/N` for means over :math:`N` values) makes the steps,
and so the result, the same under every reduction and at every size. The
step size :math:`\eta_b` is therefore in the variable's own units
(intensity, for images) and needs no rescaling.

Schedule and stopping: every ``window`` iterations each item compares its
loss with the loss a window earlier. If it fell by less than
``tol * |loss|`` (or not at all) the item has reached the noise floor of its current step,
and :math:`\eta_b` is multiplied by ``decay``. An item has *converged* when
:math:`\eta_b` falls below ``min_learning_rate``; it then stops moving. The
loop ends when every item has converged or after ``max_iter`` iterations.
All of it, the convergence test included, runs inside one XLA-compiled
``tf.while_loop`` with no host round trip.
"""

from __future__ import annotations

import collections
import functools
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
from tvrestore._tf import tf

__all__ = ["AdamSettings", "AdamSolver", "SolverOutput"]

# Compiled loops (and their variables) kept per solver; a run over images of
# many sizes recompiles the least recently used ones.
_PROGRAMS_KEPT = 8


@dataclass(frozen=True)
class AdamSettings:
    """Constants of the Adam solver (see the module docstring for symbols).

    Parameters
    ----------
    learning_rate : float
        Initial step :math:`\\eta`, in the variable's units.
    min_learning_rate : float
        Converged once the step has decayed below this.
    decay : float
        Factor applied to the step on a plateau.
    window : int
        Iterations between plateau checks.
    beta_1, beta_2, epsilon : float
        Adam's constants; ``epsilon`` is in units where the loss is a sum.
    """

    learning_rate: float = 0.01
    min_learning_rate: float = 1e-4
    decay: float = 0.5
    window: int = 5
    beta_1: float = 0.9
    beta_2: float = 0.999
    epsilon: float = 1e-8

    def __post_init__(self) -> None:
        if not 0 < self.min_learning_rate <= self.learning_rate:
            raise ValueError("need 0 < min_learning_rate <= learning_rate")
        if not 0 < self.decay < 1:
            raise ValueError("decay must be in (0, 1)")
        if self.window < 1:
            raise ValueError("window must be >= 1")


@dataclass(frozen=True)
class SolverOutput:
    """What :meth:`AdamSolver.minimize` returns; arrays are per item.

    Attributes
    ----------
    solution : np.ndarray
        The minimizer estimate, shaped like the initial value.
    iterations : np.ndarray of int
        Iterations each item moved for.
    converged : np.ndarray of bool
        Whether each item met the stopping rule before ``max_iter``.
    solve_seconds : float
        Wall time of the optimization, excluding compilation.
    compile_seconds : float
        Time spent compiling for this shape (0 when it was cached).
    """

    solution: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    solve_seconds: float
    compile_seconds: float


class AdamSolver:
    """Minimize ``loss_fn(u, loss_scales, *data)`` (one loss per item) with Adam.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(u, loss_scales, *data) -> tf.Tensor`` of shape (B,),
        TensorFlow code that XLA can compile.
    settings : AdamSettings

    Notes
    -----
    One instance compiles once per input shape; keep it to reuse the
    compiled loop.
    """

    def __init__(self, loss_fn: Callable[..., tf.Tensor], settings: AdamSettings) -> None:
        self.loss_fn = loss_fn
        self.settings = settings
        # Per argument shapes: the variable that holds the iterate and the
        # compiled loop that updates it, most recently used last.
        self._programs: collections.OrderedDict[tuple, tuple[tf.Variable, Callable]] = (
            collections.OrderedDict()
        )

    def minimize(
        self,
        initial: np.ndarray,
        loss_scales: np.ndarray,
        *data: np.ndarray,
        max_iter: int = 2000,
        tol: float = 3e-4,
    ) -> SolverOutput:
        """Run Adam from ``initial``.

        Parameters
        ----------
        initial : np.ndarray, shape (B, ...)
            Starting point; float32.
        loss_scales : np.ndarray, shape (B,)
            The factor from sum units to each item's loss (scales epsilon).
        *data : np.ndarray
            Further arguments of ``loss_fn``, passed as tensors.
        max_iter : int
            Iteration cap; an item still moving then is reported not
            converged.
        tol : float
            A relative loss decrease below ``tol`` over a window is a
            plateau. Smaller is more accurate and slower.

        Both stopping values are tensors inside the compiled loop, so
        changing them does not recompile.
        """
        if max_iter < 0 or not tol > 0:
            raise ValueError("need max_iter >= 0 and tol > 0")
        initial = np.asarray(initial, np.float32)
        arguments = [tf.constant(np.asarray(loss_scales, np.float32))] + [
            tf.constant(np.asarray(item, np.float32)) for item in data
        ]
        signature = tuple(tuple(t.shape) for t in [initial, *arguments])
        compile_seconds = 0.0
        if signature not in self._programs:
            variable = tf.Variable(initial)
            loop = tf.function(
                functools.partial(self._minimize_in_place, variable), jit_compile=True
            )
            # A run of zero iterations compiles the same program, so the
            # compilation can be timed apart from the solve.
            start = time.perf_counter()
            loop(tf.constant(0), tf.constant(tol, tf.float32), *arguments)
            compile_seconds = time.perf_counter() - start
            self._programs[signature] = (variable, loop)
            if len(self._programs) > _PROGRAMS_KEPT:
                self._programs.popitem(last=False)
        self._programs.move_to_end(signature)
        variable, loop = self._programs[signature]
        start = time.perf_counter()
        variable.assign(initial)
        iterations, converged = loop(
            tf.constant(max_iter), tf.constant(tol, tf.float32), *arguments
        )
        solution = variable.numpy()
        solve_seconds = time.perf_counter() - start
        return SolverOutput(
            solution=solution,
            iterations=iterations.numpy(),
            converged=converged.numpy(),
            solve_seconds=solve_seconds,
            compile_seconds=compile_seconds,
        )

    def _minimize_in_place(
        self,
        variable: tf.Variable,
        max_iter: tf.Tensor,
        tol: tf.Tensor,
        loss_scales: tf.Tensor,
        *data: tf.Tensor,
    ) -> tuple[tf.Tensor, tf.Tensor]:
        s = self.settings
        per_item = [-1] + [1] * (variable.shape.rank - 1)
        epsilon = tf.reshape(s.epsilon * loss_scales, per_item)
        batch = tf.shape(variable)[0]

        def adam_step(k, m, v, active_step):
            with tf.GradientTape() as tape:
                total = tf.reduce_sum(self.loss_fn(variable, loss_scales, *data))
            gradient = tape.gradient(total, variable)
            m = s.beta_1 * m + (1 - s.beta_1) * gradient
            v = s.beta_2 * v + (1 - s.beta_2) * gradient * gradient
            t = tf.cast(k + 1, tf.float32)
            m_hat = m / (1 - s.beta_1**t)
            v_hat = v / (1 - s.beta_2**t)
            variable.assign_sub(active_step * m_hat / (tf.sqrt(v_hat) + epsilon))
            return k + 1, m, v

        def keep_going(k, m, v, step, reference, iterations, converged):
            return tf.logical_and(k < max_iter, tf.logical_not(tf.reduce_all(converged)))

        def window_of_steps(k, m, v, step, reference, iterations, converged):
            # The loss is only needed at the plateau check, so a window of
            # plain steps runs first and the loss is evaluated once after it.
            active_step = tf.reshape(tf.where(converged, 0.0, step), per_item)
            end = tf.minimum(k + s.window, max_iter)
            k_end, m, v = tf.while_loop(
                lambda j, m, v: j < end,
                lambda j, m, v: adam_step(j, m, v, active_step),
                (k, m, v),
            )
            iterations += tf.where(converged, 0, k_end - k)
            losses = self.loss_fn(variable, loss_scales, *data)
            stalled = reference - losses <= tol * tf.abs(losses)
            step = tf.where(stalled, step * s.decay, step)
            converged = tf.logical_or(converged, step < s.min_learning_rate)
            return k_end, m, v, step, losses, iterations, converged

        zeros = tf.zeros_like(variable)
        state = (
            tf.constant(0),
            zeros,
            zeros,
            tf.fill([batch], tf.constant(s.learning_rate, tf.float32)),
            tf.fill([batch], tf.constant(np.inf, tf.float32)),
            tf.zeros([batch], tf.int32),
            tf.zeros([batch], tf.bool),
        )
        *_, iterations, converged = tf.while_loop(keep_going, window_of_steps, state)
        return iterations, converged
