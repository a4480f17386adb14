r"""Total variation of image batches, in TensorFlow.

Images are batches shaped ``(B, H, W, C)``. The gradient is taken with
forward differences and a Neumann boundary (the difference across the last
row or column is zero):

.. math::

    (\partial_y u)_{i,j,c} = u_{i+1,j,c} - u_{i,j,c}, \qquad
    (\partial_x u)_{i,j,c} = u_{i,j+1,c} - u_{i,j,c}.

The total variation sums a norm of these differences over the pixels. Two
choices fix the norm:

``tv``
    ``"isotropic"`` groups both directions under one Euclidean norm;
    ``"anisotropic"`` takes each direction on its own.
``color``
    ``"vectorial"`` groups all channels of a pixel under the norm, which
    couples them (an edge is shared by the channels, so colour fringes cost
    more); ``"channelwise"`` takes each channel on its own, the grey TV of
    every channel summed, as scikit-image does.

=============  =====================================================  =========================================
               vectorial                                              channelwise
=============  =====================================================  =========================================
isotropic      :math:`\sqrt{\sum_c \partial_y u_c^2 + \partial_x u_c^2}`  :math:`\sum_c \sqrt{\partial_y u_c^2 + \partial_x u_c^2}`
anisotropic    :math:`\sqrt{\sum_c \partial_y u_c^2} + \sqrt{\sum_c \partial_x u_c^2}`  :math:`\sum_c |\partial_y u_c| + |\partial_x u_c|`
=============  =====================================================  =========================================

For one channel the two colour modes agree.

A batch may hold images smaller than its array, each in the top-left corner
of its slot with zeros around it (``extents`` gives each image's height and
width). The differences across an image's last valid row and column are
then zero, as the Neumann boundary wants, so the padding adds nothing to TV
and, where the image is held equal to zero, nothing to its gradient.
"""

from __future__ import annotations

import numpy as np

from tvrestore.backend.tf import tf
from tvrestore.options import COLOR_MODES, TV_KINDS

# Memory layouts of an image batch: (B, H, W, C), or (B, H, C, W) as the
# Adam solver holds colour.
LAYOUTS = ("hwc", "hcw")

__all__ = [
    "COLOR_MODES", "LAYOUTS", "TV_KINDS", "check_layout", "divergence", "forward_differences",
    "layout_for", "swap_layout", "total_variation",
]


def forward_differences(
    images: tf.Tensor, extents: tf.Tensor | None = None, layout: str = "hwc"
) -> tuple[tf.Tensor, tf.Tensor]:
    """Forward differences along rows and columns with a Neumann boundary.

    Parameters
    ----------
    images : tf.Tensor, shape (B, H, W, C)
        Or (B, H, C, W) for ``layout="hcw"``; the differences come in the
        same layout.
    extents : tf.Tensor, shape (B, 2), optional
        Each image's valid height and width (any numeric dtype) when it is
        smaller than its slot; default: the whole slot.
    layout : {"hwc", "hcw"}
        See :func:`total_variation`.

    Returns
    -------
    dy, dx : tf.Tensor, shape (B, H, W, C)
        ``dy[:, i] = images[:, i + 1] - images[:, i]`` and 0 on the last
        (valid) row and below; ``dx`` likewise along columns.
    """
    check_layout(layout)
    if layout == "hcw":
        return _differences_hcw(images, extents)
    dy = tf.pad(images[:, 1:] - images[:, :-1], [[0, 0], [0, 1], [0, 0], [0, 0]])
    dx = tf.pad(images[:, :, 1:] - images[:, :, :-1], [[0, 0], [0, 0], [0, 1], [0, 0]])
    if extents is not None:
        extents = tf.cast(extents, images.dtype)
        rows = tf.range(tf.shape(images)[1], dtype=images.dtype)
        columns = tf.range(tf.shape(images)[2], dtype=images.dtype)
        below_last_row = rows[None, :] < extents[:, :1] - 1
        left_of_last_column = columns[None, :] < extents[:, 1:] - 1
        dy = tf.where(below_last_row[:, :, None, None], dy, 0.0)
        dx = tf.where(left_of_last_column[:, None, :, None], dx, 0.0)
    return dy, dx


def total_variation(
    images: tf.Tensor,
    tv: str = "isotropic",
    color: str = "vectorial",
    extents: tf.Tensor | None = None,
    layout: str = "hwc",
) -> tf.Tensor:
    """Total variation of each image in a batch, summed over its pixels.

    Parameters
    ----------
    images : tf.Tensor, shape (B, H, W, C)
        Any float dtype; the result has the same dtype.
    tv : {"isotropic", "anisotropic"}
    color : {"vectorial", "channelwise"}
        See the module docstring for the norm each pair defines.
    extents : tf.Tensor, shape (B, 2), optional
        Valid height and width per image (see :func:`forward_differences`).
    layout : {"hwc", "hcw"}
        "hcw": ``images`` are laid out ``(B, H, C, W)``, channels before
        columns, which is how the Adam solver holds colour (see below).

    Returns
    -------
    tf.Tensor, shape (B,)
        TV(u) per image, in "sum" units: it grows with the pixel count.
        Differentiable everywhere; where a norm's argument is 0 the gradient
        is the subgradient 0.
    """
    if tv not in TV_KINDS:
        raise ValueError(f"tv must be one of {TV_KINDS}, got {tv!r}")
    if color not in COLOR_MODES:
        raise ValueError(f"color must be one of {COLOR_MODES}, got {color!r}")
    check_layout(layout)
    if layout == "hwc" and images.shape[-1] == 1:
        dy, dx = forward_differences(images, extents)
        channel_axis = -1
    else:
        # With colour as the innermost axis, XLA's CPU loops cannot vectorize
        # along its 3 values: a 512x512x3 Adam iteration cost 4.3x a grey one
        # interleaved, against 3.4x with the columns innermost (measured
        # with benchmarks/bench_colour.py's images).
        if layout == "hwc":
            images = swap_layout(images)
        dy, dx = _differences_hcw(images, extents)
        channel_axis = 2
    grouped = [dy * dy + dx * dx] if tv == "isotropic" else [dy * dy, dx * dx]
    if color == "vectorial":
        grouped = [tf.reduce_sum(squares, axis=channel_axis) for squares in grouped]
    return tf.add_n(
        [tf.reduce_sum(_norm(squares), axis=range(1, squares.shape.rank)) for squares in grouped]
    )


def _differences_hcw(
    images: tf.Tensor, extents: tf.Tensor | None
) -> tuple[tf.Tensor, tf.Tensor]:
    """:func:`forward_differences` for images laid out ``(B, H, C, W)``."""
    dy = tf.pad(images[:, 1:] - images[:, :-1], [[0, 0], [0, 1], [0, 0], [0, 0]])
    dx = tf.pad(images[..., 1:] - images[..., :-1], [[0, 0], [0, 0], [0, 0], [0, 1]])
    if extents is not None:
        extents = tf.cast(extents, images.dtype)
        rows = tf.range(tf.shape(images)[1], dtype=images.dtype)
        columns = tf.range(tf.shape(images)[3], dtype=images.dtype)
        below_last_row = rows[None, :] < extents[:, :1] - 1
        left_of_last_column = columns[None, :] < extents[:, 1:] - 1
        dy = tf.where(below_last_row[:, :, None, None], dy, 0.0)
        dx = tf.where(left_of_last_column[:, None, None, :], dx, 0.0)
    return dy, dx


def divergence(py: tf.Tensor, px: tf.Tensor, layout: str = "hwc") -> tf.Tensor:
    """The negative adjoint of :func:`forward_differences`.

    ``sum(dy * py + dx * px) == -sum(u * divergence(py, px))`` for
    ``dy, dx = forward_differences(u)`` and fields ``py, px`` that are 0
    wherever the differences are (the last row and column, and across an
    image's extent). ``layout`` as for :func:`forward_differences`.
    """
    check_layout(layout)
    column_axis = 3 if layout == "hcw" else 2
    py = py[:, :-1]  # the boundary differences are 0
    px = px[..., :-1] if layout == "hcw" else px[:, :, :-1]
    row_pads = ([[0, 0], [0, 1], [0, 0], [0, 0]], [[0, 0], [1, 0], [0, 0], [0, 0]])
    column_pads = [[[0, 0]] * 4 for _ in range(2)]
    column_pads[0][column_axis], column_pads[1][column_axis] = [0, 1], [1, 0]
    rows = tf.pad(py, row_pads[0]) - tf.pad(py, row_pads[1])
    cols = tf.pad(px, column_pads[0]) - tf.pad(px, column_pads[1])
    return rows + cols


def check_layout(layout: str) -> None:
    """Refuse a layout that is not one of :data:`LAYOUTS`, with a ValueError."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")


def layout_for(channels: int) -> str:
    """The layout the solvers hold images of ``channels`` in.

    Colour is held (B, H, C, W), columns innermost, which XLA's CPU loops
    vectorize (see :func:`total_variation`); rows stay axis 1 for Adam's
    bands. Grey is (B, H, W, 1).
    """
    return "hcw" if channels > 1 else "hwc"


def swap_layout(images):
    """A batch in the other layout: (B, H, W, C) <-> (B, H, C, W).

    numpy arrays come back contiguous (a copy), TensorFlow tensors as a
    transposed tensor.
    """
    if isinstance(images, np.ndarray):
        return np.ascontiguousarray(images.transpose(0, 1, 3, 2))
    return tf.transpose(images, [0, 1, 3, 2])


def _norm(squares: tf.Tensor) -> tf.Tensor:
    """sqrt(squares), with the subgradient 0 where ``squares`` is 0.

    The gradient x/|x| of a norm is undefined at x = 0; choosing 0 there
    keeps flat regions flat. The inner ``where`` keeps sqrt's own gradient
    finite at 0, so no NaN leaks through the outer one.
    """
    positive = squares > 0
    return tf.where(positive, tf.sqrt(tf.where(positive, squares, tf.ones_like(squares))), 0.0)
