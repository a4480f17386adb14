r"""A restoration problem: forward model, fidelity, TV and reduction.

For observed data :math:`f`, a linear forward model :math:`A`
(:mod:`tvrestore.models.operators`), a fidelity :math:`F`
(:mod:`tvrestore.models.fidelities`) and a weight :math:`w` per image, the energy
in "sum" units is

.. math::

    E(u) = F(A u; f, m) + w\, \mathrm{TV}(u),

with :math:`m` the fitted data values (:meth:`LinearOperator.fitted
<tvrestore.models.operators.LinearOperator.fitted>`) and TV as in
:mod:`tvrestore.models.tv`. Denoising is :math:`A = I` with the L2 fidelity,
:math:`E(u) = \frac12 \sum (u - f)^2 + w\,\mathrm{TV}(u)`, where :math:`w`
is exactly scikit-image's ``denoise_tv_chambolle`` ``weight`` for grey
isotropic TV.

The loss an optimizer sees is :math:`s\,E(u)`:

``"sum"``
    :math:`s = 1`: the loss grows with the image's size.
``"mean"``
    :math:`s = 1 / N` with :math:`N = H W C` the number of unknowns: the
    values of :math:`u` at the output resolution, the PSF margin of a blur
    included. One weight then means the same in every task and at every
    size, and the minimizer is that of "sum". A naive mean (each term
    averaged over its own count with the same :math:`w`) would change what
    :math:`w` means with the channel count and the TV kind.

Only the Problem knows the scale (its fidelity's
:meth:`~tvrestore.models.fidelities.Fidelity.loss_scale`); solvers take it as
given (Adam rescales its epsilon with it). Reductions are per image: in a
batch, each image's loss has its own scale and the batch loss is the sum of
the image losses, so an image's gradient is the same alone or in a batch.

Images smaller than the batch's array sit in its top-left corner
(``extents``). No term of E reads :math:`u` or :math:`f` outside its
image's extent, whatever the padding holds: :math:`u` is zeroed there and
only the data values inside the extent are fitted.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from tvrestore.backend.tf import rows_of, tf
from tvrestore.models.fidelities import L2, Fidelity
from tvrestore.models.operators import Identity, LinearOperator, inside_extents
from tvrestore.options import check_choices
from tvrestore.models.tv import spatial_axes, swap_layout, total_variation

__all__ = ["Problem"]

# Values per band of rows in energy_value (float64: 8 MB per copy).
_BAND_VALUES = 2**20


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
        ``extents`` are for "hwc" only). Volumes are ``(B, Z, Y, X, C)``
        under "hwc".
    spacing : tuple of float, optional
        The step of each spatial axis, checked by
        :func:`tvrestore.models.tv.check_spacing`; TV divides each
        difference by its step. None: unit steps.
    """

    operator: LinearOperator = field(default_factory=Identity)
    fidelity: Fidelity = field(default_factory=L2)
    tv: str = "isotropic"
    color: str = "vectorial"
    reduction: str = "mean"
    layout: str = "hwc"
    spacing: tuple[float, ...] | None = None

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
        return self.fidelity.loss_scale(int(np.prod(unknown_shape)), self.reduction)

    @property
    def pointwise(self) -> bool:
        """Whether a data value depends on the unknown's value at its own position only."""
        return self.operator.reach == 0 and self.operator.scale() == 1

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
        if extents is None:
            predicted = self.operator(images)
            fitted = self.operator.fitted(predicted.shape[1:3])
        elif self.pointwise:
            # u zeroed beyond each image's extent (TV's differences along a
            # row stop at its last row, not at its last column), and the
            # data fitted only inside it: a data value is its own pixel's,
            # in either layout. Multiplying by 1 is exact, so inside, E is
            # that of the image alone, bit for bit.
            inside = self._inside(extents, images)
            images = images * inside
            predicted = self.operator(images)
            observed_values = self.operator.observed()
            fitted = inside if observed_values is None else inside * tf.cast(observed_values, images.dtype)
        else:
            if self.layout != "hwc":
                raise ValueError("extents need the 'hwc' layout")
            # A blur or binning beyond an image's last row (and columns
            # likewise) would read the padding; zeroed, it adds nothing,
            # whatever it holds.
            images = images * self._inside(extents, images)
            predicted = self.operator(images)
            fitted = self.operator.fitted(predicted.shape[1:3], extents)
        fidelity = self.fidelity(predicted, observed, fitted)
        return fidelity + weights * total_variation(
            images, self.tv, self.color, extents, self.layout, self.spacing
        )

    def _inside(self, extents: tf.Tensor, images: tf.Tensor) -> tf.Tensor:
        """1 inside each image's extent, 0 beyond; (B, H, W, 1), (B, Z, Y, X, 1), or (B, H, 1, W) for "hcw"."""
        cut = tf.cast(extents, tf.float32)
        # Sizes from the tensor, not its static shape: a program traced
        # for every shape (tvrestore.backend.tf.compiled) knows none.
        sizes = tf.shape(images)
        axes = spatial_axes(images.shape.rank, self.layout)
        inside = tf.cast(inside_extents(tuple(cut[:, index] for index in range(len(axes))),
                                        tuple(sizes[axis] for axis in axes)), images.dtype)
        return swap_layout(inside) if self.layout == "hcw" else inside

    def energy_value(
        self,
        image: np.ndarray,
        observed: np.ndarray,
        weight: float | np.ndarray,
        fitted: np.ndarray | None = None,
    ) -> float | np.ndarray:
        """E(u) in float64 for numpy images laid out "hwc", for reports and comparisons.

        Parameters
        ----------
        image : np.ndarray
            :math:`u` of one image as (H, W) or (H, W, C), or a batch as
            (B, H, W, C).
        observed : np.ndarray
            :math:`f`, shaped likewise at the data's size.
        weight : float or np.ndarray of shape (B,)
        fitted : np.ndarray, shape (h, w, 1), optional
            :math:`m`; default: the operator's own (every value for the
            identity).

        Returns
        -------
        float for one image, np.ndarray of shape (B,) for a batch.

        Notes
        -----
        For a pointwise forward model the energy is summed in bands of
        rows, so that float64 copies of a large image never exist whole. A
        band takes one row more than it owns: TV over rows r0..r1 (the last
        row has no vertical difference, as at the boundary) minus TV of row
        r1 alone is exactly the TV terms of rows r0..r1-1, vertical
        differences to row r1 included. Otherwise :math:`A u` is taken in
        float32, as the solvers do, and summed in float64.
        """
        single = np.ndim(weight) == 0
        if single:
            # (H, W) gains its channel axis; (H, W, C) and (Z, Y, X, C) have theirs.
            image, observed = (
                np.asarray(array)[None] if np.ndim(array) > 2 else np.asarray(array)[None, ..., None]
                for array in (image, observed)
            )
        weights = tf.constant(np.atleast_1d(np.asarray(weight, np.float64)))
        m = None if fitted is None else tf.constant(np.asarray(fitted, np.float64)[None])
        if not self.pointwise:
            predicted = self.operator.apply(tf.constant(np.asarray(image, np.float32)))
            fidelity = self.fidelity(tf.cast(predicted, tf.float64),
                                     tf.constant(np.asarray(observed, np.float64)), m)
            tv = total_variation(tf.constant(np.asarray(image, np.float64)), self.tv, self.color,
                                 spacing=self.spacing)
            energies = (fidelity + weights * tv).numpy()
            return float(energies[0]) if single else energies
        height = image.shape[1]
        rows_per_band = max(1, _BAND_VALUES // (image[0, 0].size * len(image)))
        energies = np.zeros(len(image))
        for start in range(0, height, rows_per_band):
            stop = min(start + rows_per_band, height)
            u = tf.constant(np.asarray(image[:, start : stop + 1], np.float64))
            f = tf.constant(np.asarray(observed[:, start:stop], np.float64))
            band_fitted = None if m is None else m[:, start:stop]
            energies += self.fidelity(u[:, : stop - start], f, band_fitted).numpy()
            tv = total_variation(u, self.tv, self.color, spacing=self.spacing)
            if stop < height:
                tv -= total_variation(u[:, -1:], self.tv, self.color, spacing=self.spacing)
            energies += (weights * tv).numpy()
        return float(energies[0]) if single else energies

    def rows_of_data(
        self, data: tuple[tf.Tensor, ...], first_row: tf.Tensor, rows
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """The data of :meth:`loss` for rows ``first_row:first_row + rows`` of the images.

        For a pointwise forward model (:attr:`pointwise`), whose data row
        is the unknown's row. ``data`` is ``(observed, weights, extents)``.
        The band's extents stop where each image's valid rows do; its cut
        ends are Neumann boundaries, exact only away from them (what
        :class:`tvrestore.solvers.adam.AdamSolver` needs of a band).
        """
        observed, weights, extents = data
        extents = tf.cast(extents, tf.float32)
        heights = tf.clip_by_value(extents[:, 0] - tf.cast(first_row, tf.float32), 0.0,
                                   tf.cast(rows, tf.float32))
        band_extents = tf.concat([heights[:, None], extents[:, 1:]], axis=1)
        return rows_of(observed, first_row, rows), weights, band_extents

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
