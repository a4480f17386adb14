r"""The denoising objective and its loss under a chosen reduction.

For an observed image :math:`f` and a weight :math:`w` (both per image of a
batch), the objective in "sum" units is

.. math::

    E(u) = \frac12 \sum_{i} (u_i - f_i)^2 + w \, \mathrm{TV}(u),

summed over all values :math:`i` (pixels times channels); see
:mod:`tvrestore.models.tv` for TV. :math:`w` is exactly scikit-image's
``denoise_tv_chambolle`` ``weight`` for grey isotropic TV.

The loss that the optimizer sees is :math:`s \, E(u)` with the reduction's
scale :math:`s`:

``"sum"``
    :math:`s = 1`: the loss grows with the image's size.
``"mean"``
    :math:`s = 1 / (H W C)`: the fidelity becomes the mean over the image's
    values and the TV weight is rescaled to :math:`w / (H W C)` per unit of
    summed TV, so the loss is resolution-free and has the *same minimizer*
    as under "sum". A naive mean (each term averaged over its own count with
    the same :math:`w`) would change what :math:`w` means with the channel
    count and the TV kind.

Reductions are per image: in a batch, each image's loss has its own scale
and the batch loss is the sum of the image losses, so an image's gradient is
the same alone or in a batch. Images smaller than the batch's array sit in
its top-left corner with zeros around them (``extents``, see
:mod:`tvrestore.models.tv`); held at zero, the padding adds nothing to E.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from tvrestore.backend.tf import rows_of, tf

from tvrestore.options import check_choices
from tvrestore.models.tv import total_variation

__all__ = ["DenoisingObjective"]

# Values per band of rows in energy_value (float64: 8 MB per copy).
_BAND_VALUES = 2**20


@dataclass(frozen=True)
class DenoisingObjective:
    """Data fidelity plus weighted total variation, for image batches.

    Parameters
    ----------
    tv : {"isotropic", "anisotropic"}
    color : {"vectorial", "channelwise"}
    reduction : {"sum", "mean"}
        The units of :meth:`loss` (see the module docstring); the minimizer
        does not depend on it.
    """

    tv: str = "isotropic"
    color: str = "vectorial"
    reduction: str = "mean"

    def __post_init__(self) -> None:
        check_choices(tv=self.tv, color=self.color, reduction=self.reduction)

    def loss_scale(self, image_shape: tuple[int, ...]) -> float:
        """The factor :math:`s` from E (sum units) to the loss, for one image.

        Parameters
        ----------
        image_shape : tuple of int
            ``(H, W, C)`` of one image.
        """
        return 1.0 if self.reduction == "sum" else 1.0 / float(np.prod(image_shape))

    def energy(
        self,
        images: tf.Tensor,
        observed: tf.Tensor,
        weights: tf.Tensor,
        extents: tf.Tensor | None = None,
        layout: str = "hwc",
    ) -> tf.Tensor:
        """E(u) per image, in sum units.

        Parameters
        ----------
        images, observed : tf.Tensor, shape (B, H, W, C)
            :math:`u` and :math:`f`, in [0, 1] intensity units; shaped
            (B, H, C, W) for ``layout="hcw"``.
        weights : tf.Tensor, shape (B,)
            :math:`w` per image.
        extents : tf.Tensor, shape (B, 2), optional
            Valid height and width of each zero-padded image.
        layout : {"hwc", "hcw"}
            See :func:`tvrestore.models.tv.total_variation`.

        Returns
        -------
        tf.Tensor, shape (B,)
        """
        residual = images - observed
        fidelity = 0.5 * tf.reduce_sum(residual * residual, axis=[1, 2, 3])
        return fidelity + weights * total_variation(images, self.tv, self.color, extents, layout)

    def energy_value(
        self, image: np.ndarray, observed: np.ndarray, weight: float | np.ndarray
    ) -> float | np.ndarray:
        """E(u) in float64 for numpy images, for reports and comparisons.

        Parameters
        ----------
        image, observed : np.ndarray
            One image as (H, W) or (H, W, C), or a batch as (B, H, W, C).
        weight : float or np.ndarray of shape (B,)

        Returns
        -------
        float for one image, np.ndarray of shape (B,) for a batch.
        """
        single = np.ndim(weight) == 0
        if single:
            image, observed = (
                np.reshape(array, (1, np.shape(array)[0], np.shape(array)[1], -1))
                for array in (image, observed)
            )
        weights = tf.constant(np.atleast_1d(np.asarray(weight, np.float64)))
        # Evaluated in bands of rows, so that float64 copies of a large image
        # never exist whole. A band takes one row more than it owns: TV over
        # rows r0..r1 (the last row has no vertical difference, as at the
        # boundary) minus TV of row r1 alone is exactly the TV terms of rows
        # r0..r1-1, vertical differences to row r1 included.
        height = image.shape[1]
        rows_per_band = max(1, _BAND_VALUES // (image[0, 0].size * len(image)))
        energies = np.zeros(len(image))
        for start in range(0, height, rows_per_band):
            stop = min(start + rows_per_band, height)
            u = tf.constant(np.asarray(image[:, start : stop + 1], np.float64))
            f = tf.constant(np.asarray(observed[:, start:stop], np.float64))
            residual = u[:, : stop - start] - f
            energies += 0.5 * tf.reduce_sum(residual * residual, axis=[1, 2, 3]).numpy()
            tv = total_variation(u, self.tv, self.color)
            if stop < height:
                tv -= total_variation(u[:, -1:], self.tv, self.color)
            energies += (weights * tv).numpy()
        return float(energies[0]) if single else energies

    @staticmethod
    def rows_of_data(
        data: tuple[tf.Tensor, ...], first_row: tf.Tensor, rows: int
    ) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """The data of :meth:`loss` for rows ``first_row:first_row + rows`` of the images.

        ``data`` is ``(observed, weights, extents)``, as the solver gets it
        from :mod:`tvrestore.api`. The band's extents stop where each
        image's valid rows do; its cut ends are Neumann boundaries, exact
        only away from them (what :class:`tvrestore.solvers.adam.AdamSolver` needs
        of a band).
        """
        observed, weights, extents = data
        extents = tf.cast(extents, tf.float32)
        heights = tf.clip_by_value(extents[:, 0] - tf.cast(first_row, tf.float32), 0.0, float(rows))
        band_extents = tf.stack([heights, extents[:, 1]], axis=1)
        return rows_of(observed, first_row, rows), weights, band_extents

    def loss(
        self,
        images: tf.Tensor,
        loss_scales: tf.Tensor,
        observed: tf.Tensor,
        weights: tf.Tensor,
        extents: tf.Tensor | None = None,
        layout: str = "hwc",
    ) -> tf.Tensor:
        """The loss per image, :math:`s \\, E(u)`, in the reduction's units.

        ``loss_scales`` (shape (B,)) holds :meth:`loss_scale` of each
        image's valid shape, as a tensor so that one compiled loop serves
        every image size. ``layout`` as for :meth:`energy`.
        """
        return loss_scales * self.energy(images, observed, weights, extents, layout)
