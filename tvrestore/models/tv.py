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

Volumes are batches shaped ``(B, Z, Y, X, C)``, with a third difference
along the planes; the norms group the three directions as the table groups
two. Each difference may be divided by its axis's step (``spacing``, the
voxel's size), :math:`(\partial_a u)_i = (u_{i + e_a} - u_i) / h_a`, so
that a z step five times the pixel costs a fifth as much per unit of
intensity change, as for a derivative sampled at that step. Unit steps
(``spacing=None``) divide nothing.

A batch may hold images smaller than its array, each in the top-left corner
of its slot with zeros around it (``extents`` gives each image's height and
width). The differences across an image's last valid row and column are
then zero, as the Neumann boundary wants, so the padding adds nothing to TV
and, where the image is held equal to zero, nothing to its gradient.
"""

from __future__ import annotations

import functools
import operator

import numpy as np

from tvrestore.backend.tf import tf
from tvrestore.models import axes as named_axes
from tvrestore.options import COLOR_MODES, TV_KINDS

# Memory layouts of an image batch: (B, H, W, C), or (B, H, C, W) as the
# Adam solver holds colour.
LAYOUTS = ("hwc", "hcw")

__all__ = [
    "COLOR_MODES", "LAYOUTS", "TV_KINDS", "check_layout", "check_spacing", "divergence",
    "forward_differences", "gradient_norm_sq", "layout_for", "spatial_axes", "swap_layout",
    "total_variation",
]


def spatial_axes(rank: int, layout: str = "hwc") -> tuple[int, ...]:
    """The axes of a batch of ``rank`` that differences are taken along, in order.

    "hwc": every axis between the batch and the channels, ``(1, ..., rank - 2)``:
    rows and columns of an image, planes, rows and columns of a volume.
    "hcw" (images only): rows and columns, ``(1, 3)``.
    """
    check_layout(layout)
    if layout == "hcw":
        if rank != 4:
            raise ValueError("the 'hcw' layout is for image batches (B, H, C, W) only")
        return (1, 3)
    return tuple(range(1, rank - 1))


def check_spacing(spacing, dimensions: int) -> tuple[float, ...] | None:
    """``spacing`` as a tuple of ``dimensions`` positive finite floats, or None for unit steps.

    All-ones is None: the differences are then not divided at all, so a
    2-D image's results do not change by a bit. Raises
    :class:`~tvrestore.errors.TVRestoreError` (a ValueError) for a bad one.
    """
    if spacing is None:
        return None
    steps = named_axes.check_spacing(spacing, dimensions)
    return None if all(step == 1.0 for step in steps) else steps


def gradient_norm_sq(dimensions: int, spacing: tuple[float, ...] | None = None) -> float:
    r""":math:`4 \sum_i 1 / h_i^2 \ge \|\nabla\|^2` for forward differences divided by their steps.

    8 for an image with unit steps, 12 for a volume.
    """
    steps = (1.0,) * dimensions if spacing is None else spacing
    return float(sum(4.0 / step**2 for step in steps))


def _along(axis: int, rank: int, part: slice) -> tuple:
    """An index taking ``part`` of ``axis`` and every value of the other axes."""
    return tuple(part if a == axis else slice(None) for a in range(rank))


def _pads(axis: int, rank: int, before: int, after: int) -> list[list[int]]:
    return [[before, after] if a == axis else [0, 0] for a in range(rank)]


def forward_differences(
    images: tf.Tensor,
    extents: tf.Tensor | None = None,
    layout: str = "hwc",
    spacing: tuple[float, ...] | None = None,
) -> tuple[tf.Tensor, ...]:
    r"""Forward differences along every spatial axis, with a Neumann boundary.

    .. math::

        (\partial_a u)_i = (u_{i + e_a} - u_i) / h_a,

    0 across the last (valid) index of axis :math:`a`.

    Parameters
    ----------
    images : tf.Tensor, shape (B, H, W, C) or (B, Z, Y, X, C)
        Or (B, H, C, W) for ``layout="hcw"``; the differences come in the
        same layout.
    extents : tf.Tensor, shape (B, D), optional
        Each image's valid size along its D spatial axes (any numeric
        dtype) when it is smaller than its slot; default: the whole slot.
    layout : {"hwc", "hcw"}
        See :func:`total_variation`.
    spacing : tuple of float, optional
        :math:`h_a` per spatial axis (:func:`check_spacing`); None: 1.

    Returns
    -------
    tuple of tf.Tensor, one per spatial axis, each shaped as ``images``
        For an image ``(dy, dx)``: ``dy[:, i] = images[:, i + 1] -
        images[:, i]`` and 0 on the last (valid) row and below; ``dx``
        likewise along columns. For a volume ``(dz, dy, dx)``.
    """
    rank = images.shape.rank
    axes = spatial_axes(rank, layout)
    differences = []
    for index, axis in enumerate(axes):
        ahead = images[_along(axis, rank, slice(1, None))]
        behind = images[_along(axis, rank, slice(None, -1))]
        difference = tf.pad(ahead - behind, _pads(axis, rank, 0, 1))
        if extents is not None:
            sizes = tf.cast(extents, images.dtype)
            positions = tf.range(tf.shape(images)[axis], dtype=images.dtype)
            before_last = positions[None, :] < sizes[:, index : index + 1] - 1
            # (B, n) placed on the batch axis and this axis.
            shaped = before_last[(slice(None),) + tuple(
                slice(None) if a == axis else None for a in range(1, rank))]
            difference = tf.where(shaped, difference, 0.0)
        if spacing is not None and spacing[index] != 1.0:
            difference = difference / spacing[index]
        differences.append(difference)
    return tuple(differences)


def total_variation(
    images: tf.Tensor,
    tv: str = "isotropic",
    color: str = "vectorial",
    extents: tf.Tensor | None = None,
    layout: str = "hwc",
    spacing: tuple[float, ...] | None = None,
) -> tf.Tensor:
    """Total variation of each image or volume in a batch, summed over its pixels.

    Parameters
    ----------
    images : tf.Tensor, shape (B, H, W, C) or (B, Z, Y, X, C)
        Any float dtype; the result has the same dtype.
    tv : {"isotropic", "anisotropic"}
    color : {"vectorial", "channelwise"}
        See the module docstring for the norm each pair defines.
    extents : tf.Tensor, shape (B, D), optional
        Valid size per image along its D spatial axes (see
        :func:`forward_differences`).
    layout : {"hwc", "hcw"}
        "hcw": ``images`` are laid out ``(B, H, C, W)``, channels before
        columns, which is how the Adam solver holds colour (see below).
    spacing : tuple of float, optional
        The step of each spatial axis; each difference is divided by its
        step (:func:`forward_differences`). None: every step is 1.

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
    rank = images.shape.rank
    spacing = check_spacing(spacing, len(spatial_axes(rank, layout)))
    return _written_total_variation(images, tv, color, extents, layout, spacing)


def _total_variation(images, tv, color, extents, layout, spacing):
    """:func:`total_variation` of checked arguments, differentiated by TensorFlow.

    The solvers use :func:`_written_total_variation`, the same value with
    its gradient written out; this one is kept as its reference (tests and
    benchmarks compare the two).
    """
    images, layout = _differenced_layout(images, layout)
    return _value_and_gradient(images, tv, color, extents, layout, spacing)[0]


def _differenced_layout(images, layout):
    """The batch and layout TV is computed in: colour images with the columns innermost.

    With colour as the innermost axis, XLA's CPU loops cannot vectorize
    along its 3 values: a 512x512x3 Adam iteration cost 4.3x a grey one
    interleaved, against 3.4x with the columns innermost (measured with
    benchmarks/bench_colour.py's images).
    """
    if layout == "hwc" and images.shape.rank == 4 and images.shape[-1] != 1:
        return swap_layout(images), "hcw"
    return images, layout


def _written_total_variation(images, tv, color, extents, layout, spacing):
    r""":func:`total_variation` of checked arguments, with its gradient written out.

    The value is :func:`_total_variation`'s, bit for bit. The gradient is
    the one TensorFlow derives from it, to float32 rounding (the terms are
    summed in another order): with :math:`s_g` a group's sum of squared
    differences and :math:`\bar w_b` the incoming gradient of item
    :math:`b`,

    .. math::

        p_a = \frac{\bar w_b}{\sqrt{s_{g(a)}}}\, \frac{\partial_a u}{h_a}
        \quad (0 \text{ where } s_{g(a)} = 0), \qquad
        \nabla_u = \sum_a p_a[i - e_a] - \sum_a p_a[i],

    with :math:`p_a[i - e_a] = 0` on an axis's first index (and
    :math:`p_a = 0` on its last, and beyond the extents, where
    :math:`\partial_a u` is). Written so for XLA's fusion (measured with
    ``benchmarks/measure_volume_cost.py`` and
    ``benchmarks/measure_tv_gradient.py``; docs/volumes.md, target 6, and
    docs/performance.md): the derived gradient scatters each difference's
    two slices into arrays of their own (six a step for a volume, four for
    an image), which XLA wrote to memory and Adam's two moment updates each
    read again. Here the scale
    :math:`\bar w / \sqrt{s}` has no ``where`` after it (:math:`1/\sqrt{\infty} = 0`),
    so each shifted :math:`p_a` is computed from two arrays, and the
    unshifted sum is divided by an exact 1 computed at run time: XLA
    duplicates cheap elementwise work into every consumer but not a
    division, so it writes that sum once instead of recomputing it from
    four arrays in both moment updates.
    """
    images, layout = _differenced_layout(images, layout)

    @tf.custom_gradient
    def with_gradient(images):
        return _value_and_gradient(images, tv, color, extents, layout, spacing)

    return with_gradient(images)


def _value_and_gradient(images, tv, color, extents, layout, spacing):
    """TV per item, and the function from its incoming gradient to the images' (:func:`_written_total_variation`)."""
    differences = forward_differences(images, extents, layout, spacing)
    rank = images.shape.rank
    channel_axis = 2 if layout == "hcw" else rank - 1
    axes = spatial_axes(rank, layout)
    squares = [difference * difference for difference in differences]
    groups = [list(range(len(axes)))] if tv == "isotropic" else [[a] for a in range(len(axes))]
    sums = [functools.reduce(operator.add, [squares[a] for a in group]) for group in groups]
    if color == "vectorial":
        sums = [tf.reduce_sum(total, axis=channel_axis) for total in sums]
    value = tf.add_n([tf.reduce_sum(_norm(total), axis=range(1, total.shape.rank)) for total in sums])

    def gradient(upstream):
        per_item = tf.reshape(upstream, [-1] + [1] * (sums[0].shape.rank - 1))
        behind, here = [], []
        for group, total in zip(groups, sums):
            # w / sqrt(s), and w / sqrt(inf) = 0 where every difference is 0.
            scale = per_item / tf.sqrt(tf.where(total > 0, total, np.inf))
            if color == "vectorial":
                scale = tf.expand_dims(scale, channel_axis)
            for a in group:
                p = scale * differences[a]
                if spacing is not None and spacing[a] != 1.0:
                    p = p / spacing[a]
                behind.append(tf.pad(p[_along(axes[a], rank, slice(None, -1))],
                                     _pads(axes[a], rank, 1, 0)))
                here.append(p)
        one = tf.reshape(upstream * 0.0 + 1.0, [-1] + [1] * (rank - 1))
        return functools.reduce(operator.add, behind) - functools.reduce(operator.add, here) / one

    return value, gradient


def divergence(
    *fields: tf.Tensor, layout: str = "hwc", spacing: tuple[float, ...] | None = None
) -> tf.Tensor:
    """The negative adjoint of :func:`forward_differences`.

    ``sum(d_a * p_a) == -sum(u * divergence(*p))`` summed over the axes
    ``a``, for ``d = forward_differences(u, layout=layout,
    spacing=spacing)`` and fields ``p`` (one per spatial axis, in the same
    order) that are 0 wherever the differences are (the last index of
    their axis, and across an image's extent): the backward difference of
    each field along its axis, divided by its step, summed.
    """
    rank = fields[0].shape.rank
    axes = spatial_axes(rank, layout)
    if len(fields) != len(axes):
        raise ValueError(f"need {len(axes)} fields for a batch of rank {rank}, got {len(fields)}")
    terms = []
    for index, (field, axis) in enumerate(zip(fields, axes)):
        inner = field[_along(axis, rank, slice(None, -1))]  # the boundary differences are 0
        term = tf.pad(inner, _pads(axis, rank, 0, 1)) - tf.pad(inner, _pads(axis, rank, 1, 0))
        if spacing is not None and spacing[index] != 1.0:
            term = term / spacing[index]
        terms.append(term)
    return functools.reduce(operator.add, terms)


def check_layout(layout: str) -> None:
    """Refuse a layout that is not one of :data:`LAYOUTS`, with a ValueError."""
    if layout not in LAYOUTS:
        raise ValueError(f"layout must be one of {LAYOUTS}, got {layout!r}")


def layout_for(channels: int, dimensions: int = 2) -> str:
    """The layout the solvers hold images of ``channels`` in.

    Colour images are held (B, H, C, W), columns innermost, which XLA's
    CPU loops vectorize (see :func:`total_variation`); rows stay axis 1
    for Adam's bands. Grey images, and volumes of any channels
    (``dimensions`` 3), are channel-last: (B, H, W, C), (B, Z, Y, X, C).
    """
    return "hcw" if channels > 1 and dimensions == 2 else "hwc"


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
