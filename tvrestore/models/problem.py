r"""A restoration problem: forward model, fidelity, TV and reduction.

For observed data :math:`f`, a linear forward model :math:`A`
(:mod:`tvrestore.models.operators`), a fidelity :math:`F`
(:mod:`tvrestore.models.fidelities`) and a weight :math:`w` per image, the energy
in "sum" units is

.. math::

    E(u) = F(A u; f, m) + w\, \mathrm{TV}(u),

with :math:`m` the fitted data values (:meth:`LinearOperator.fitted
<tvrestore.models.operators.LinearOperator.fitted>`) and TV as in
:mod:`tvrestore.models.tv`. For :math:`A = I` and the L2 fidelity it is the
denoising energy of :class:`tvrestore.models.objective.DenoisingObjective`.

The loss an optimizer sees is :math:`s\,E(u)`:

``"sum"``
    :math:`s = 1`.
``"mean"``
    :math:`s = 1 / N` with :math:`N = H W C` the number of unknowns: the
    values of :math:`u` at the output resolution, the PSF margin of a blur
    included. One weight then means the same in every task and at every
    size, and the minimizer is that of "sum".

Only the Problem knows the scale; solvers take it as given (Adam rescales
its epsilon with it).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tvrestore.backend.tf import tf
from tvrestore.models.fidelities import L2, Fidelity
from tvrestore.models.operators import Identity, LinearOperator, inside_extents
from tvrestore.options import check_choices
from tvrestore.models.tv import total_variation

__all__ = ["Problem"]


@dataclass(frozen=True, eq=False)
class Problem:
    """Fidelity of a forward model plus weighted TV, for image batches.

    Parameters
    ----------
    operator : LinearOperator
        :math:`A`; default the identity (denoising).
    fidelity : Fidelity
        :math:`F`; default :class:`~tvrestore.models.fidelities.L2`.
    tv : {"isotropic", "anisotropic"}
    color : {"vectorial", "channelwise"}
    reduction : {"sum", "mean"}
        The units of :meth:`loss`; the minimizer does not depend on it.
    layout : {"hwc", "hcw"}
        How images and data are laid out: ``(B, H, W, C)`` or
        ``(B, H, C, W)`` (the operator must be built for the same layout;
        ``extents`` are for "hwc" only).
    """

    operator: LinearOperator = field(default_factory=Identity)
    fidelity: Fidelity = field(default_factory=L2)
    tv: str = "isotropic"
    color: str = "vectorial"
    reduction: str = "mean"
    layout: str = "hwc"

    def __post_init__(self) -> None:
        check_choices(tv=self.tv, color=self.color, reduction=self.reduction)

    @property
    def stencil_rows(self) -> int | None:
        """Rows away, each way, that a value's gradient of E depends on; None if global.

        :math:`A^* A` couples rows ``2 * reach`` apart and TV's gradient
        rows 1 apart; the gradient is their sum, so the larger counts.
        """
        reach = self.operator.reach
        return None if reach is None else max(1, 2 * reach)

    def loss_scale(self, unknown_shape: tuple[int, ...]) -> float:
        """The factor :math:`s` from E (sum units) to the loss, for one image.

        Parameters
        ----------
        unknown_shape : tuple of int
            ``(H, W, C)`` of the image's unknown :math:`u` (for a blur, the
            data's size plus the PSF margin; for binning by k, k times the
            data's sides).
        """
        return 1.0 if self.reduction == "sum" else 1.0 / float(np.prod(unknown_shape))

    def energy(
        self,
        images: tf.Tensor,
        observed: tf.Tensor,
        weights: tf.Tensor,
        extents: tf.Tensor | None = None,
    ) -> tf.Tensor:
        """E(u) per image, in sum units.

        Parameters
        ----------
        images : tf.Tensor, shape (B, H, W, C)
            :math:`u`, in intensity units.
        observed : tf.Tensor, shape (B, *operator.output_shape((H, W)), C)
            :math:`f`; values that are not fitted are ignored.
        weights : tf.Tensor, shape (B,)
            :math:`w` per image.
        extents : tf.Tensor, shape (B, 2), optional
            Height and width of each image's unknown in a zero-padded
            batch; no term reads :math:`u` outside it.

        Returns
        -------
        tf.Tensor, shape (B,)
        """
        if extents is not None:
            if self.layout != "hwc":
                raise ValueError("extents need the 'hwc' layout")
            # TV's differences along a row beyond an image's last row (and
            # columns likewise) would read the padding; zeroed, it adds
            # nothing, whatever it holds.
            extents = tf.cast(extents, images.dtype)
            images = images * inside_extents((extents[:, 0], extents[:, 1]), images.shape[1:3])
        predicted = self.operator(images)
        fitted = self.operator.fitted(predicted.shape[1:3], extents)
        fidelity = self.fidelity(predicted, observed, fitted)
        return fidelity + weights * total_variation(
            images, self.tv, self.color, extents, self.layout
        )

    def loss(
        self,
        images: tf.Tensor,
        loss_scales: tf.Tensor,
        observed: tf.Tensor,
        weights: tf.Tensor,
        extents: tf.Tensor | None = None,
    ) -> tf.Tensor:
        """The loss per image, :math:`s\\,E(u)`, in the reduction's units.

        ``loss_scales`` (shape (B,)) holds :meth:`loss_scale` of each
        image's unknown shape, as a tensor so that one compiled program
        serves every image size.
        """
        return loss_scales * self.energy(images, observed, weights, extents)
