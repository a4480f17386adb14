r"""Data fidelities :math:`F(A u; f, m)`, in sum units, per image.

A fidelity measures how far the predicted data :math:`z = A u` are from
the observed data :math:`f` over the fitted values, those where the weight
:math:`m` (from :meth:`tvrestore.models.operators.LinearOperator.fitted`) is 1:

.. math::

    F(z; f, m) = \sum_i m_i\, \varphi(z_i; f_i),

a sum of one convex function :math:`\varphi` per value. A fidelity is one
class that offers what every solver needs of it:

- its value (:meth:`Fidelity.__call__`), whose gradient Adam takes by
  automatic differentiation;
- the proximal map of :math:`\tau F` (:meth:`Fidelity.prox`), with which
  the exact mode steps :math:`u` when :math:`A = I`, and of its conjugate
  :math:`\sigma F^*` (:meth:`Fidelity.conjugate_prox`, from the first by
  Moreau's identity), with which it steps a data dual otherwise (both as a
  step then the map: :meth:`Fidelity.prox_of_step`,
  :meth:`Fidelity.conjugate_prox_of_step`);
- the conjugate's value (:meth:`Fidelity.conjugate`), which makes the
  exact mode's lower bound :math:`-F^*(q) - \dots \le E^*` for the
  certificate;
- the scale of the reduction contract (:meth:`Fidelity.loss_scale`).

Adding a noise model means writing one subclass: :math:`\varphi`, its
proximal map and its conjugate, element by element.

:class:`L2` is the fidelity of Gaussian noise, :class:`KL` of Poisson
noise (photon counts), :class:`L1` of impulse noise; :func:`fidelity_for`
maps the noise model's name (``--noise``) to its fidelity. :class:`Exact` is the noise-free limit:
the data are kept exactly, :math:`A u = f` on the fitted values.
"""

from __future__ import annotations

import numpy as np

from tvrestore.backend.tf import tf

__all__ = ["Exact", "Fidelity", "KL", "L1", "L2", "fidelity_for"]


class Fidelity:
    r"""The interface: :math:`F(z; f, m) = \sum_i m_i \varphi(z_i; f_i)` and its maps.

    A subclass defines :meth:`value`, :meth:`prox_values` and
    :meth:`conjugate_values`, element by element; the mask :math:`m` is
    applied here, once for all of them.

    Attributes
    ----------
    name : str
    strong_convexity : float
        :math:`\gamma \ge 0` with :math:`\varphi - \gamma z^2 / 2` convex:
        the exact mode accelerates when :math:`\gamma > 0`.
    """

    name: str = ""
    strong_convexity: float = 0.0

    def __eq__(self, other) -> bool:
        # By value, so that equal fidelities share compiled programs.
        return type(other) is type(self) and vars(other) == vars(self)

    def __hash__(self) -> int:
        return hash((type(self), tuple(sorted(vars(self).items()))))

    def __call__(
        self, predicted: tf.Tensor, observed: tf.Tensor, fitted: tf.Tensor | None = None
    ) -> tf.Tensor:
        """:math:`F(z; f, m)` per image.

        Parameters
        ----------
        predicted, observed : tf.Tensor, shape (B, H, W, C)
            :math:`z = A u` and :math:`f`, in the data's units (any layout).
        fitted : tf.Tensor, broadcastable to ``predicted``, optional
            :math:`m`: 1 where a value is fitted, 0 where it is ignored;
            None fits every value.

        Returns
        -------
        tf.Tensor, shape (B,)
        """
        values = self.value(predicted, observed)
        if fitted is not None:
            values = fitted * values
        return tf.reduce_sum(values, axis=list(range(1, values.shape.rank)))

    def gradient(self, predicted: tf.Tensor, observed: tf.Tensor, fitted: tf.Tensor | None = None):
        """:math:`\\nabla_z F`, by automatic differentiation unless a subclass knows it."""
        with tf.GradientTape() as tape:
            tape.watch(predicted)
            total = tf.reduce_sum(self(predicted, observed, fitted))
        return tape.gradient(total, predicted)

    def prox(self, values, step, observed, fitted=None):
        r""":math:`\operatorname{prox}_{\tau F}(v) = \arg\min_z \tau F(z) + \tfrac12 \|z - v\|^2`.

        ``step`` is :math:`\tau > 0` (a scalar tensor); values that are not
        fitted are left as they are.
        """
        moved = self.prox_values(values, step, observed)
        return moved if fitted is None else fitted * moved + (1 - fitted) * values

    def prox_of_step(self, values, direction, step, observed):
        r""":math:`\operatorname{prox}_{\tau F}(v + \tau d)`: the exact mode's primal step.

        Every value is fitted (the step is for denoising). A subclass may
        write it in an order that rounds better; the default is :meth:`prox`.
        """
        return self.prox(values + step * direction, step, observed)

    def conjugate_prox_of_step(self, duals, direction, step, observed, fitted=None):
        r""":math:`\operatorname{prox}_{\sigma F^*}(q + \sigma d)`: the exact mode's data-dual step.

        The default is :meth:`conjugate_prox`.
        """
        return self.conjugate_prox(duals + step * direction, step, observed, fitted)

    def conjugate(self, duals, observed, fitted=None):
        r""":math:`F^*(q) = \sup_z \langle q, z \rangle - F(z)` per image (sum units).

        Values that are not fitted must hold :math:`q = 0` (elsewhere
        :math:`F^*` is infinite); they add nothing.
        """
        values = self.conjugate_values(duals, observed)
        if fitted is not None:
            values = fitted * values
        return tf.reduce_sum(values, axis=list(range(1, values.shape.rank)))

    def conjugate_prox(self, duals, step, observed, fitted=None):
        r""":math:`\operatorname{prox}_{\sigma F^*}(q) = q - \sigma \operatorname{prox}_{F/\sigma}(q / \sigma)`.

        Moreau's identity; values that are not fitted map to 0, the only
        point of :math:`F^*`'s domain there.
        """
        moved = duals - step * self.prox_values(duals / step, 1 / step, observed)
        return moved if fitted is None else fitted * moved

    def dual_scale(self, duals, observed):
        r"""The largest :math:`\theta \in (0, 1]` per image with :math:`F^*(\theta q)` finite.

        The exact mode's denoising bound :math:`-F^*(\operatorname{div} p)`
        holds for every feasible :math:`p`, and :math:`\theta p` is one; a
        fidelity whose conjugate has a bounded domain (KL, L1) scales an
        iterate whose divergence lies a little outside it, instead of
        giving no bound at all. Shape (B, 1, 1, 1); 1 for L2.
        """
        return tf.ones_like(duals[:, :1, :1, :1])

    def loss_scale(self, unknowns: int, reduction: str) -> float:
        """The factor from sum units to the loss under ``reduction``, for ``unknowns`` values of u.

        "mean" divides by the unknowns, so that one weight means the same at
        every size (see :mod:`tvrestore.models.problem`).
        """
        return 1.0 if reduction == "sum" else 1.0 / float(unknowns)

    def value(self, predicted, observed):
        r""":math:`\varphi(z_i; f_i)` element by element."""
        raise NotImplementedError

    def prox_values(self, values, step, observed):
        r""":math:`\operatorname{prox}_{\tau\varphi}(v_i)` element by element."""
        raise NotImplementedError

    def conjugate_values(self, duals, observed):
        r""":math:`\varphi^*(q_i; f_i)` element by element (may be infinite)."""
        raise NotImplementedError


class L2(Fidelity):
    r"""Gaussian noise: half the sum of squared residuals over the fitted values.

    .. math::

        \varphi(z; f) = \tfrac12 (z - f)^2, \qquad
        \operatorname{prox}_{\tau\varphi}(v) = \frac{v + \tau f}{1 + \tau}, \qquad
        \varphi^*(q) = \tfrac12 q^2 + q f.

    With :math:`m = 1` and :math:`z = u` it is the denoising fidelity.
    """

    name = "l2"
    strong_convexity = 1.0

    def __call__(self, predicted, observed, fitted=None):
        # Written out rather than through value(): the denoising loss of
        # every earlier release summed exactly these terms, bit for bit.
        residual = predicted - observed
        squares = residual * residual
        if fitted is not None:
            squares = fitted * squares
        return 0.5 * tf.reduce_sum(squares, axis=list(range(1, squares.shape.rank)))

    def gradient(self, predicted, observed, fitted=None):
        residual = predicted - observed
        return residual if fitted is None else fitted * residual

    def conjugate_prox(self, duals, step, observed, fitted=None):
        # Moreau's identity in closed form, without its division by step.
        moved = (duals - step * observed) / (1 + step)
        return moved if fitted is None else fitted * moved

    # The two steps in the order of operations that the exact mode has
    # always used (the residual first), so that its results stay the same,
    # bit for bit.
    def prox_of_step(self, values, direction, step, observed):
        return (values + step * (direction + observed)) / (1 + step)

    def conjugate_prox_of_step(self, duals, direction, step, observed, fitted=None):
        moved = (duals + step * (direction - observed)) / (1 + step)
        return moved if fitted is None else fitted * moved

    def value(self, predicted, observed):
        residual = predicted - observed
        return 0.5 * residual * residual

    def prox_values(self, values, step, observed):
        return (values + step * observed) / (1 + step)

    def conjugate_values(self, duals, observed):
        return 0.5 * duals * duals + duals * observed


class L1(Fidelity):
    r"""Impulse noise: the sum of absolute residuals over the fitted values.

    .. math::

        \varphi(z; f) = |z - f|, \qquad
        \operatorname{prox}_{\tau\varphi}(v) = f + \operatorname{sign}(v - f)\max(|v - f| - \tau, 0),

    soft-thresholding around :math:`f`; :math:`\varphi^*(q) = q f` for
    :math:`|q| \le 1`, infinite beyond.
    """

    name = "l1"

    def value(self, predicted, observed):
        return tf.abs(predicted - observed)

    def prox_values(self, values, step, observed):
        offset = values - observed
        return observed + tf.sign(offset) * tf.maximum(tf.abs(offset) - step, 0)

    def conjugate_values(self, duals, observed):
        return tf.where(tf.abs(duals) <= 1, duals * observed, np.inf)

    def dual_scale(self, duals, observed):
        largest = tf.reduce_max(tf.abs(duals), axis=[1, 2, 3], keepdims=True)
        return tf.where(largest > 1, 1 / tf.maximum(largest, 1), tf.ones_like(largest))


class KL(Fidelity):
    r"""Poisson noise: the Kullback-Leibler divergence of the prediction from counts :math:`y`.

    .. math::

        \varphi(z; y) = (s - y) + y \log\frac{y}{s}, \qquad s = z + b > 0,

    with a known background :math:`b \ge 0`; :math:`0 \log 0 = 0`, so
    :math:`\varphi = s` where :math:`y = 0` (:math:`s \ge 0`), and
    :math:`\varphi` is infinite for :math:`s \le 0` where :math:`y > 0`.
    It is the negative log-likelihood of :math:`y \sim \mathrm{Poisson}(s)`
    up to a constant per value, chosen so that :math:`\varphi \ge 0` with
    equality at :math:`s = y`: the energy is then non-negative, the exact
    mode's relative gap :math:`(E - D) / D` means what it says, and
    :math:`\varphi(c z; c y) = c\,\varphi(z; y)` (with :math:`b` scaled
    too), so data in any multiple of counts give the same minimizer at
    the same weight. Its proximal map is the positive root of a
    quadratic, in :math:`s` and :math:`w = v + b`:

    .. math::

        s = \tfrac12\left((w - \tau) + \sqrt{(w - \tau)^2 + 4 \tau y}\right),

    and its conjugate, for :math:`q < 1`, is
    :math:`\varphi^*(q) = -q b - y \log(1 - q)` (infinite for :math:`q > 1`,
    and for :math:`q = 1` unless :math:`y = 0`).

    Parameters
    ----------
    background : float
        :math:`b`, in the data's units.
    """

    name = "kl"

    def __init__(self, background: float = 0.0) -> None:
        self.background = float(background)

    def value(self, predicted, observed):
        shifted = predicted + self.background
        # xlogy(y, .) is 0 where y = 0, whatever s (0 log 0 = 0), and its
        # gradient y / s is finite wherever Adam goes (s > 0): no log of a
        # negative number reaches a gradient. At s = 0 with y > 0 it is
        # +inf, as phi is; below 0, outside the domain, phi is +inf.
        finite = (shifted - observed + tf.math.xlogy(observed, observed)
                  - tf.math.xlogy(observed, shifted))
        return tf.where(shifted >= 0, finite, np.inf)

    def prox_values(self, values, step, observed):
        shifted = values + self.background - step
        root = 0.5 * (shifted + tf.sqrt(shifted * shifted + 4 * step * observed))
        return root - self.background

    def conjugate_values(self, duals, observed):
        below_one = duals < 1
        safe = tf.where(below_one, 1 - duals, tf.ones_like(duals))
        positive = observed > 0
        counts_term = tf.where(positive, -observed * tf.math.log(safe), tf.zeros_like(duals))
        finite = -duals * self.background + counts_term
        inside = tf.logical_or(below_one, tf.logical_and(duals <= 1, tf.logical_not(positive)))
        return tf.where(inside, finite, np.inf)

    def dual_scale(self, duals, observed):
        # q <= 1 where y = 0, q < 1 where y > 0 (there, at most 1 - 1e-6:
        # -y log(1 - q) stays finite, and the optimal q = 1 - y / s is well
        # below 1 wherever s is not many times y).
        counted = observed > 0
        floor = tf.constant(-np.inf, duals.dtype)
        sums = [1, 2, 3]
        with_counts = tf.reduce_max(tf.where(counted, duals, floor), axis=sums, keepdims=True)
        without = tf.reduce_max(tf.where(counted, floor, duals), axis=sums, keepdims=True)
        edge = 1 - 1e-6
        one = tf.ones_like(with_counts)
        return tf.minimum(
            tf.where(with_counts > edge, edge / tf.maximum(with_counts, edge), one),
            tf.where(without > 1, 1 / tf.maximum(without, 1), one))


# The fidelity of each noise model (tvrestore.options.NOISE_MODELS).
_NOISE_FIDELITIES = {"gaussian": L2, "poisson": KL, "impulse": L1}


def fidelity_for(noise: str) -> Fidelity:
    """The fidelity of a noise model: "gaussian" :class:`L2`, "poisson" :class:`KL`, "impulse" :class:`L1`.

    For "impulse" this is the fidelity of the pixels that are kept; which
    pixels those are (the detection of salt and pepper) is the caller's.
    """
    return _NOISE_FIDELITIES[noise]()

class Exact(Fidelity):
    r"""Noise-free data: the constraint :math:`z = f` on the fitted values.

    .. math::

        \varphi(z; f) = \iota_{\{f\}}(z) =
        \begin{cases} 0 & z = f \\ \infty & \text{else,} \end{cases}
        \qquad \operatorname{prox}_{\tau\varphi}(v) = f, \qquad
        \varphi^*(q) = q f,

    so the proximal map is the projection onto the data and the conjugate
    is linear; :math:`\operatorname{prox}_{\sigma\varphi^*}(q) = q - \sigma f`.
    With it, :math:`\min_u F(A u) + w\,\mathrm{TV}(u)` is
    :math:`\min \mathrm{TV}(u)` subject to :math:`A u = f` on the fitted values,
    the limit of the L2 problem as the noise (and the weight) goes to 0; its
    minimizer does not depend on :math:`w > 0`.

    A value counts as kept when it is within :data:`TOLERANCE` of the
    datum: a point solvers made feasible in float32 arithmetic (a mean of
    :math:`k^2` values rounds by about 1e-7) is feasible; 8-bit data are
    1/255 apart.
    """

    name = "exact"
    TOLERANCE = 1e-5

    def __call__(self, predicted, observed, fitted=None):
        # Values that are not fitted are selected away, not multiplied by
        # 0 (0 * inf is NaN).
        values = self.value(predicted, observed)
        if fitted is not None:
            values = tf.where(tf.broadcast_to(fitted, tf.shape(values)) > 0, values, tf.zeros_like(values))
        return tf.reduce_sum(values, axis=[1, 2, 3])

    def value(self, predicted, observed):
        kept = tf.abs(predicted - observed) <= self.TOLERANCE
        return tf.where(kept, tf.zeros_like(predicted), np.inf)

    def gradient(self, predicted, observed, fitted=None):
        raise ValueError("the exact fidelity is a constraint: it has no gradient")

    def prox_values(self, values, step, observed):
        return observed + 0 * values

    def conjugate_prox(self, duals, step, observed, fitted=None):
        moved = duals - step * observed
        return moved if fitted is None else fitted * moved

    def conjugate_prox_of_step(self, duals, direction, step, observed, fitted=None):
        moved = duals + step * (direction - observed)
        return moved if fitted is None else fitted * moved

    def conjugate_values(self, duals, observed):
        return duals * observed
