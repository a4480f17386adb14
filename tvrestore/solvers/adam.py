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
The losses of the checks are kept as the run's history
(:mod:`tvrestore.solvers.history`); Adam does not promise that they decrease.

Large arrays run each window band by band (temporal blocking). An array
that does not fit in the CPU cache would otherwise be streamed from memory
once per step; instead, the window's steps run on one band of rows at a
time while it stays in the cache. A step moves information by the loss's
stencil radius :math:`r` (rows a value's gradient depends on, each way), so
after a window of :math:`n` steps a band is exact except for its outer
:math:`rn` rows: bands overlap by that halo and keep only their exact rows.
The iterates are the same as without bands, step for step. The plateau
check's loss is summed band by band too, so no temporary array is larger
than a band: only the iterate, the data and Adam's two moments are whole.
"""

from __future__ import annotations

import functools
import math
import time
from dataclasses import dataclass
from typing import Callable

import numpy as np
from tvrestore.backend.tf import compiled, rows_of, signature_key, tf, with_rows
from tvrestore.solvers.history import History, Recorder, SolverOutput
from tvrestore.solvers.programs import Programs

__all__ = ["WHOLE_VALUES", "AdamSettings", "AdamSolver"]

# Compiled loops kept per solver (one for every shape stepped whole, one per
# banded shape); a run over many large sizes retraces the least recently used.
_PROGRAMS_KEPT = 8

# Values per array in one band of rows (1 MiB of float32): the band's
# dozen working arrays then stay in a 16-32 MiB cache. Arrays under four
# bands are solved whole. Measured with camera at sigma 25/255 on a 2-core
# AMD EPYC (32 MiB L3), per pixel and iteration: 1.3 ns at 512x512 whole;
# 3.7 / 1.6 ns whole / in bands at 2048x2048, 4.3 / 1.7 ns at 4096x4096.
# At 4096x4096, 0.75 MiB bands were slower (1.76 ns) and 1.5 or 2 MiB no
# faster (1.63 ns).
_BAND_VALUES = 2**18

# Arrays of at most this many values (12 MiB of float32) are stepped whole
# by the engine's solvers, however many bands they would make. Measured on
# a 2-core Intel Xeon (4 MiB L2 a core), warm, solve seconds whole / in
# 2^18-value bands: 4x480x480 grey 0.43 / 0.50, 4x512x512x3 1.36 / 1.66,
# 1024x1024x3 1.28 / 1.35; at 2048x2048 (4.2M values) bands win, 2.22 /
# 2.76 whole. Fewer banded programs to trace also helps a mixed folder.
WHOLE_VALUES = 3 * 2**20


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


class AdamSolver:
    """Minimize ``loss_fn(u, loss_scales, *data)`` (one loss per item) with Adam.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(u, loss_scales, *data) -> tf.Tensor`` of shape (B,),
        TensorFlow code that XLA can compile.
    settings : AdamSettings
    rows_of_data : callable, optional
        ``rows_of_data(data, first_row, rows) -> data`` gives the arguments
        of ``loss_fn`` for rows ``first_row:first_row + rows`` (axis 1) of
        the variable, with that band's own boundary. Given, large arrays
        run in bands of rows (see the module docstring).
    stencil_rows : int
        How many rows away, each way, a value's gradient depends on.
    band_values : int
        Values per band (the variable's rows times the values per row).
    whole_values : int
        An array of at most this many values is stepped whole, in any
        case (the engine passes :data:`WHOLE_VALUES`); 0: only arrays of
        under four bands are.
    project : callable, optional
        ``project(u, *data) -> u`` (``data`` as ``loss_fn`` gets them),
        applied after every step: a pointwise
        projection onto a box keeps the iterates in it. Adam's step is a
        diagonally scaled gradient step, and the projection onto a box in
        a diagonal metric is the Euclidean one, so this is projected
        gradient descent in Adam's metric.
    any_shape : bool
        ``loss_fn``, ``project`` and ``rows_of_data`` need no static size
        (but for ``kept_axes``), so one loop stepped whole, and one in
        bands, serve every shape: each is traced once per process (see
        :func:`tvrestore.backend.tf.compiled`).
    kept_axes : tuple of int
        With ``any_shape``, the axes (negative: from the end) of arguments
        of rank 4 and more whose sizes a trace keeps (the colour channels).

    Notes
    -----
    One instance compiles once per input shape; keep it to reuse the
    compiled loop.
    """

    def __init__(
        self,
        loss_fn: Callable[..., tf.Tensor],
        settings: AdamSettings,
        rows_of_data: Callable[..., tuple[tf.Tensor, ...]] | None = None,
        stencil_rows: int = 1,
        band_values: int = _BAND_VALUES,
        whole_values: int = 0,
        project: Callable[..., tf.Tensor] | None = None,
        any_shape: bool = False,
        kept_axes: tuple[int, ...] = (),
    ) -> None:
        self.loss_fn = loss_fn
        self.project = project
        self.settings = settings
        self.rows_of_data = rows_of_data
        self.stencil_rows = stencil_rows
        self.halo = stencil_rows * settings.window
        self.band_values = band_values
        self.whole_values = whole_values
        self.any_shape = any_shape
        self.kept_axes = kept_axes
        # The compiled loops (see minimize).
        self._programs = Programs(kept=_PROGRAMS_KEPT)

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
        start_tensor = tf.constant(initial)
        arguments = [tf.constant(np.asarray(loss_scales, np.float32))] + [
            tf.constant(np.asarray(item, np.float32)) for item in data
        ]
        banded = self.band_rows(initial.shape) is not None
        # With any_shape, the loop stepped whole and the loop in bands are
        # one program each for every shape, traced once with unknown sizes
        # (the bands' rows are computed from the shape inside it), and XLA
        # compiles (or loads from the on-disk cache) each shape without
        # tracing. Otherwise each shape is a program.
        shapes = tuple(tuple(t.shape) for t in [initial, *arguments])
        # A relaxed trace keeps the ranks and the kept axes' sizes: images
        # and volumes, grey and colour, are programs apart.
        key = ("any shape", banded, signature_key(shapes, self.kept_axes)) if self.any_shape else shapes
        loop, compile_seconds = self._programs.get(
            key, lambda: compiled(functools.partial(self._minimize_from, banded), self.any_shape,
                                  self.kept_axes),
            lambda loop: loop(start_tensor, tf.constant(0), tf.constant(tol, tf.float32),
                              *arguments),
            shape=shapes,
        )
        start = time.perf_counter()
        solution, iterations, converged, recorded = loop(
            start_tensor, tf.constant(max_iter), tf.constant(tol, tf.float32), *arguments
        )
        solution = solution.numpy()
        solve_seconds = time.perf_counter() - start
        return SolverOutput(
            solution=solution,
            iterations=iterations.numpy(),
            converged=converged.numpy(),
            solve_seconds=solve_seconds,
            compile_seconds=compile_seconds,
            history=History.from_state(("loss",), recorded),
        )

    def _minimize_from(
        self,
        banded: bool,
        initial: tf.Tensor,
        max_iter: tf.Tensor,
        tol: tf.Tensor,
        loss_scales: tf.Tensor,
        *data: tf.Tensor,
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tuple]:
        s = self.settings
        per_item = [-1] + [1] * (initial.shape.rank - 1)
        epsilon = tf.reshape(s.epsilon * loss_scales, per_item)
        batch = tf.shape(initial)[0]
        sizes = tf.shape(initial)
        band_rows = (self._band_rows_of(tf.reduce_prod(sizes) // sizes[1], tf.maximum)
                     if banded else None)
        recorder = Recorder(batch, {"loss": tf.float32})

        def steps(k, end, u, m, v, active_step, data):
            # Adam steps k..end-1 on u (the whole variable or one band).
            def adam_step(j, u, m, v):
                with tf.GradientTape() as tape:
                    tape.watch(u)
                    total = tf.reduce_sum(self.loss_fn(u, loss_scales, *data))
                gradient = tape.gradient(total, u)
                m = s.beta_1 * m + (1 - s.beta_1) * gradient
                v = s.beta_2 * v + (1 - s.beta_2) * gradient * gradient
                t = tf.cast(j + 1, tf.float32)
                m_hat = m / (1 - s.beta_1**t)
                v_hat = v / (1 - s.beta_2**t)
                u = u - active_step * m_hat / (tf.sqrt(v_hat) + epsilon)
                if self.project is not None:
                    u = self.project(u, *data)
                return j + 1, u, m, v

            return tf.while_loop(lambda j, u, m, v: j < end, adam_step, (k, u, m, v))[1:]

        def steps_in_bands(k, end, u, m, v, active_step):
            return self._in_bands(
                functools.partial(steps, k, end, active_step=active_step),
                band_rows, u, m, v, loss_scales, data,
            )

        def keep_going(k, u, m, v, step, reference, iterations, converged, recorded):
            return tf.logical_and(k < max_iter, tf.logical_not(tf.reduce_all(converged)))

        def window_of_steps(k, u, m, v, step, reference, iterations, converged, recorded):
            # The loss is only needed at the plateau check, so a window of
            # plain steps runs first and the loss is evaluated once after it.
            active_step = tf.reshape(tf.where(converged, 0.0, step), per_item)
            end = tf.minimum(k + s.window, max_iter)
            if band_rows is None:
                u, m, v = steps(k, end, u, m, v, active_step, data)
                losses = self.loss_fn(u, loss_scales, *data)
            else:
                u, m, v, losses = steps_in_bands(k, end, u, m, v, active_step)
            iterations += tf.where(converged, 0, end - k)
            recorded = recorder.record(recorded, k // s.window, end, losses)
            stalled = reference - losses <= tol * tf.abs(losses)
            step = tf.where(stalled, step * s.decay, step)
            converged = tf.logical_or(converged, step < s.min_learning_rate)
            return end, u, m, v, step, losses, iterations, converged, recorded

        zeros = tf.zeros_like(initial)
        state = (
            tf.constant(0),
            initial,
            zeros,
            zeros,
            tf.fill([batch], tf.constant(s.learning_rate, tf.float32)),
            tf.fill([batch], tf.constant(np.inf, tf.float32)),
            tf.zeros([batch], tf.int32),
            tf.zeros([batch], tf.bool),
            recorder.initial,
        )
        _, u, *_, iterations, converged, recorded = tf.while_loop(
            keep_going, window_of_steps, state
        )
        return u, iterations, converged, recorded

    def band_rows(self, shape: tuple[int, ...]) -> int | None:
        """Rows per band (halos apart) for a variable of ``shape``, or None if it is stepped whole.

        Stepped whole: arrays of at most ``whole_values``, arrays of under
        four bands, and volumes (rank 5) whose ``band_values`` hold fewer
        planes than four halos (plus the bands' overlap).
        """
        shape = tf.TensorShape(shape)
        if self.rows_of_data is None or shape.rank < 3:
            return None
        sizes = shape.as_list()
        if math.prod(sizes) <= self.whole_values:
            return None
        values_per_row = math.prod(sizes) // sizes[1]
        if shape.rank >= 5 and self.band_values // values_per_row - self._overlap < 4 * self.halo:
            # A volume's rows are planes. Where the budget holds fewer
            # planes than four halos, bands of four halos overflow it and
            # their halos' repeated steps cost more than the cache saves.
            # Measured on a 2-core AMD EPYC (32 MiB L3, loaded), ns per
            # voxel and iteration in one run: 256x128x128 in bands of 20
            # planes (31 read) 15.97, whole 9.08 (a 2-D 2048x2048 in
            # bands: 5.05). Images (rank 4) are not affected.
            return None
        rows = self._band_rows_of(values_per_row, max)
        # Under four bands (three and a last one), an array is small enough
        # to step whole.
        return rows if (shape[1] - self._overlap - 1) // rows >= 3 else None

    @property
    def _overlap(self) -> int:
        """Rows a band reads beyond its own."""
        return 2 * self.halo + self.stencil_rows

    def _band_rows_of(self, values_per_row, maximum: Callable):
        """Rows per band for ``values_per_row`` (an int, or an int32 tensor with ``tf.maximum``)."""
        # At least 4 halos per band, so that the halos cost at most half again.
        return maximum(self.band_values // values_per_row - self._overlap, 4 * self.halo)

    def _in_bands(
        self,
        run_steps: Callable[..., tuple[tf.Tensor, tf.Tensor, tf.Tensor]],
        rows: tf.Tensor,
        u: tf.Tensor,
        m: tf.Tensor,
        v: tf.Tensor,
        loss_scales: tf.Tensor,
        data: tuple[tf.Tensor, ...],
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor, tf.Tensor]:
        """``run_steps(u, m, v, data=...)`` band by band, and the loss after it.

        Band ``b`` reads rows ``b*rows`` to ``(b+1)*rows + 2h + r`` (``h``
        the halo, ``r`` the stencil reach), steps them and writes back the
        rows it got exactly: all but the last ``h``, and for all but the
        first band the first ``h`` too. A last, shorter band does the rest.
        Bands go top to bottom and are written in place, so each carries
        the original values of the rows its successor reads but it has
        overwritten.

        The loss is summed over the bands' exact rows while they are in the
        cache. A row's loss terms depend on it and the ``r`` rows below, so
        the loss of rows ``a`` to ``b + r`` (cut after them) minus that of
        rows ``b`` to ``b + r`` is exactly the terms of rows ``a`` to
        ``b - 1``; the extra ``r`` rows of halo below keep row ``b + r``
        exact.

        Returns
        -------
        u, m, v : tf.Tensor
            After the steps.
        losses : tf.Tensor, shape (B,)
            ``loss_fn`` of the new ``u``.
        """
        halo, reach = self.halo, self.stencil_rows
        overlap = 2 * halo + reach
        shape = u.shape
        # Sizes from the tensors, not their static shapes: a program traced
        # for every shape knows none (XLA knows them, as constants).
        height = tf.shape(u)[1]
        bands = (height - overlap - 1) // rows  # the last band has overlap+1 .. overlap+rows rows

        def loss_of_rows(band, band_first, first, count):
            # The loss terms of the band's rows first..first+count-1.
            def loss(start, size):
                band_data = self.rows_of_data(data, band_first + start, size)
                return self.loss_fn(rows_of(band, start, size), loss_scales, *band_data)

            return loss(first, count + reach) - loss(first + count, reach)

        def step_band(first, carried, fresh):
            originals = [tf.concat([c, f], axis=1) for c, f in zip(carried, fresh)]
            band_data = self.rows_of_data(data, first, tf.shape(originals[0])[1])
            return originals, run_steps(*originals, data=band_data)

        def written_at(b):
            return b * rows + halo * tf.minimum(b, 1)

        def band(b, u, m, v, losses, *carried_and_pending):
            carried, pending = carried_and_pending[:3], carried_and_pending[3:]
            # The band above is written only now, before this band reads
            # anything: a read of an array before its update in the same
            # loop step makes XLA copy the whole array.
            previous = tf.maximum(b - 1, 0)
            u, m, v = (with_rows(x, y, written_at(previous)) for x, y in zip((u, m, v), pending))
            first = b * rows
            fresh = [rows_of(x, first + overlap, rows) for x in (u, m, v)]
            originals, stepped = step_band(first, carried, fresh)
            # Rows first+h .. first+rows+h-1 are this band's to count; the
            # first band also counts the top h rows.
            losses += loss_of_rows(stepped[0], first, halo, rows)
            top = loss_of_rows(stepped[0], first, 0, halo)
            losses += tf.where(b == 0, top, tf.zeros_like(top))
            skip = halo * tf.minimum(b, 1)
            return (
                b + 1, u, m, v, losses,
                *(x[:, rows:] for x in originals),
                *(rows_of(y, skip, rows + halo + reach) for y in stepped),
            )

        # Before the first band, "the band above" is the top rows, unchanged.
        state = (
            0, u, m, v, tf.zeros_like(loss_scales),
            *(x[:, :overlap] for x in (u, m, v)),
            *(x[:, : rows + halo + reach] for x in (u, m, v)),
        )
        # The bands' row counts are not static (they are computed from the
        # shape): the arrays' rows are unknown sizes, their other axes kept.
        invariants = (tf.TensorShape([]), *(tf.TensorShape([None, None, *x.shape[2:]])
                                            if x.shape.rank > 1 else x.shape for x in state[1:]))
        _, u, m, v, losses, *carried_and_pending = tf.while_loop(
            lambda b, *_: b < bands, band, state, shape_invariants=invariants
        )
        carried, pending = carried_and_pending[:3], carried_and_pending[3:]
        u, m, v = (with_rows(x, y, written_at(bands - 1)) for x, y in zip((u, m, v), pending))
        first = bands * rows
        _, stepped = step_band(first, carried, [x[:, first + overlap :] for x in (u, m, v)])
        last = [y[:, halo:] for y in stepped]
        band_data = self.rows_of_data(data, first + halo, height - first - halo)
        losses += self.loss_fn(last[0], loss_scales, *band_data)
        u, m, v = (with_rows(x, y, first + halo) for x, y in zip((u, m, v), last))
        for x in (u, m, v):
            x.set_shape(shape)  # what the band loop relaxed, for the caller's loop
        return u, m, v, losses
