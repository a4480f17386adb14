"""Solve shapes: the few array shapes that images of every size are solved in.

The solvers compile one program per array shape. So that a directory of
many image sizes does not compile once per image, each image is solved in
the top-left corner of a zero-padded array whose sides are rounded up to a
few sizes per octave (:func:`solve_shape`); the padding changes nothing in
the objective, because each image's extent is its Neumann boundary
(:mod:`tvrestore.models.tv`). An image is padded the same way alone and in a
batch, so its result is the same in both. No TensorFlow here: the batch
planner groups files by these shapes before TensorFlow loads.
"""

from __future__ import annotations

import numpy as np

__all__ = ["colour_shape", "solve_shape", "volume_solve_shape", "zero_padded"]

# solve_shape rounds a side up to a multiple of 1/8 of the power of two
# below it (at most 12.5% more pixels per side, 8 sizes per octave), and
# of at least _MIN_GRANULE.
_GRANULES_PER_OCTAVE_LOG2 = 3
_MIN_GRANULE = 16


def solve_shape(image_shape: tuple[int, ...]) -> tuple[int, int, int]:
    """The (height, width, colour channels) array an image is solved in.

    Images with equal solve shapes share one compiled program and can be
    solved in one batch. Each side is rounded up to a multiple of 1/8 of
    the power of two below it (16 at least): 250 and 256 give 256, 300
    gives 320, 1000 gives 1024. An alpha channel is not solved.

    Parameters
    ----------
    image_shape : tuple of int
        ``(H, W)`` or ``(H, W, C)``, as :func:`tvrestore.denoise` accepts.
    """
    height, width, *rest = (int(side) for side in image_shape)
    channels = rest[0] if rest else 1
    colour_channels = channels - 1 if channels in (2, 4) else channels
    return (_round_up_side(height), _round_up_side(width), colour_channels)


def colour_shape(image_shape: tuple[int, ...]) -> tuple[int, ...]:
    """The shape that must match between an image and its reference.

    Alpha is dropped and a single channel counts as grey, so ``(H, W)``,
    ``(H, W, 1)`` and ``(H, W, 2)`` all give ``(H, W)``.
    """
    height, width, *rest = image_shape
    channels = rest[0] if rest else 1
    channels = channels - 1 if channels in (2, 4) else channels
    return (height, width) if channels == 1 else (height, width, channels)


def _round_up_side(side: int) -> int:
    granule = max(_MIN_GRANULE, 2 ** ((side - 1).bit_length() - 1 - _GRANULES_PER_OCTAVE_LOG2))
    return -(-side // granule) * granule


def volume_solve_shape(unit_shape: tuple[int, ...]) -> tuple[int, ...]:
    """:func:`solve_shape` for a volume's unit array (Z, Y, X, C): every spatial side rounded up."""
    *sides, channels = (int(side) for side in unit_shape)
    return (*(_round_up_side(side) for side in sides), channels)


def zero_padded(
    images: list[np.ndarray], shape: tuple[int, ...]
) -> tuple[np.ndarray, np.ndarray]:
    """The (H, W, C) images (or (Z, Y, X, C) volumes) in the top-left corners of a zero (B, *shape) float32 array.

    Returns
    -------
    padded : np.ndarray, shape (B, *shape)
        A view of the image, not a copy, for one float32 image that already
        has the shape (a large image is not copied again).
    extents : np.ndarray, shape (B, D)
        Each image's size along its D spatial axes ((height, width) for an
        image), float32.
    """
    extents = np.array([image.shape[:-1] for image in images], np.float32)
    if len(images) == 1 and images[0].shape == shape and images[0].dtype == np.float32:
        return images[0][None], extents
    padded = np.zeros((len(images), *shape), np.float32)
    for slot, image in zip(padded, images):
        slot[tuple(slice(0, side) for side in image.shape[:-1])] = image
    return padded, extents
