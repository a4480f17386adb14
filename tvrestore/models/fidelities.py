r"""Data fidelities :math:`F(A u; f, m)`, in sum units, per image.

A fidelity measures how far the predicted data :math:`z = A u` are from
the observed data :math:`f` over the fitted values, those where the weight
:math:`m` (from :meth:`tvrestore.models.operators.LinearOperator.fitted`) is 1.
It is TensorFlow code: solvers take its gradient by automatic
differentiation, and no proximal operator is needed or offered.

:class:`L2` is the fidelity of Gaussian noise. Others (L1 for impulse
noise, the Poisson log-likelihood) subclass :class:`Fidelity`.
"""

from __future__ import annotations

from tvrestore.backend.tf import tf

__all__ = ["Fidelity", "L2"]


class Fidelity:
    """The interface: ``fidelity(predicted, observed, fitted) -> (B,)`` in sum units."""

    name: str = ""

    def __call__(
        self, predicted: tf.Tensor, observed: tf.Tensor, fitted: tf.Tensor | None = None
    ) -> tf.Tensor:
        """:math:`F(z; f, m)` per image.

        Parameters
        ----------
        predicted, observed : tf.Tensor, shape (B, H, W, C)
            :math:`z = A u` and :math:`f`, in intensity units.
        fitted : tf.Tensor, shape (B, H, W, 1) or (B, H, W, C), optional
            :math:`m`: 1 where a value is fitted, 0 where it is ignored;
            None fits every value.

        Returns
        -------
        tf.Tensor, shape (B,)
        """
        raise NotImplementedError


class L2(Fidelity):
    r"""Half the sum of squared residuals over the fitted values.

    .. math::

        F(z; f, m) = \frac12 \sum_i m_i (z_i - f_i)^2,

    summed over pixels and channels. With :math:`m = 1` it is the
    fidelity of :class:`tvrestore.models.objective.DenoisingObjective` for
    :math:`z = u`, value for value.
    """

    name = "l2"

    def __call__(self, predicted, observed, fitted=None):
        residual = predicted - observed
        squares = residual * residual
        if fitted is not None:
            squares = fitted * squares
        return 0.5 * tf.reduce_sum(squares, axis=[1, 2, 3])
