r"""N-D blocks with halos: the geometry of a volume restored in tiles (pure numpy, no TensorFlow).

A volume's axes (:mod:`tvrestore.models.axes`) are cut three ways:

``tiled``
    The axes TV differentiates along (Z, Y, X, and T when a spacing
    couples its frames): cores of ``tile`` voxels, each read with ``halo``
    voxels of its neighbours on both sides (fewer at the volume's own
    border, where the whole-volume problem has its Neumann boundary too),
    as :func:`dask.array.map_overlap` does with ``boundary="none"``.
``frames``
    A time axis without a step: one frame per block, no halo, since the
    frames are independent problems (:func:`tvrestore.api.denoise`
    solves them apart too).
``whole``
    The channel axis: every channel in every block (colour TV couples them).

A block's solve is the minimizer of

.. math::

    E(u) = \frac12 \sum (u - f)^2 + w \,\mathrm{TV}_h(u)

restricted to the block read (core and halo), with a free boundary at the
halo's edge; only its core is kept (:attr:`Block.crop`). The error at the
core decays with the distance to that edge (:func:`tvrestore.runs.volumes.default_volume_halo`),
so the cores of all blocks, put together, approximate the whole volume's
minimizer; after cropping they cover every voxel exactly once.
"""

from __future__ import annotations

import itertools
import math
from dataclasses import dataclass
from typing import Iterator

from tvrestore.errors import TVRestoreError

__all__ = ["Block", "axis_kinds", "block_count", "block_shape", "blocks", "check_tile_halo"]


@dataclass(frozen=True)
class Block:
    """One block: the voxels it owns, the voxels its solve reads, and where its core sits in them.

    Attributes
    ----------
    core : tuple of slice
        The voxels this block writes, in the volume's coordinates.
    read : tuple of slice
        The core widened by the halo (clipped to the volume): what its solve reads.
    crop : tuple of slice
        The core within the array read: ``solved[crop]`` is written at ``core``.
    """

    core: tuple[slice, ...]
    read: tuple[slice, ...]
    crop: tuple[slice, ...]


def axis_kinds(letters: str, time_coupled: bool) -> tuple[str, ...]:
    """How each axis of ``letters`` is cut: "tiled", "frames" or "whole" (module docstring).

    ``time_coupled``: whether a spacing gives T a step (:meth:`tvrestore.models.axes.Axes.steps`).
    """
    kinds = {"Z": "tiled", "Y": "tiled", "X": "tiled", "C": "whole",
             "T": "tiled" if time_coupled else "frames"}
    return tuple(kinds[letter] for letter in letters)


def check_tile_halo(tile: int, halo: int | None) -> None:
    """Refuse a tile or halo the blocks cannot take (a usage error, before any work).

    Raises
    ------
    TVRestoreError
        A tile below 1, a negative halo, or a halo beyond the tile side: a
        block sees its neighbouring blocks, no further (a larger halo would
        merge blocks, up to the whole volume).
    """
    if tile < 1:
        raise TVRestoreError(f"--tile {tile}: at least 1 voxel per side")
    if halo is not None and halo < 0:
        raise TVRestoreError(f"--halo {halo}: at least 0")
    if halo is not None and halo > tile:
        raise TVRestoreError(f"--halo {halo}: at most the tile side, {tile} "
                             "(a block sees its neighbouring blocks, no further)")


def _spans(length: int, kind: str, tile: int, halo: int) -> list[tuple[slice, slice, slice]]:
    """(core, read, crop) along one axis of ``length`` voxels."""
    if kind == "whole":
        return [(slice(0, length), slice(0, length), slice(0, length))]
    step, seen = (1, 0) if kind == "frames" else (tile, halo)
    spans = []
    for start in range(0, length, step):
        stop = min(start + step, length)
        first, last = max(0, start - seen), min(length, stop + seen)
        spans.append((slice(start, stop), slice(first, last),
                      slice(start - first, stop - first)))
    return spans


def blocks(shape: tuple[int, ...], kinds: tuple[str, ...], tile: int, halo: int) -> Iterator[Block]:
    """The blocks of a volume of ``shape``, in C order (the first axis slowest).

    Parameters
    ----------
    shape : tuple of int
        The volume's shape, in its own axis order.
    kinds : tuple of str
        :func:`axis_kinds` of its axes.
    tile, halo : int
        Core side and halo, in voxels, of the tiled axes (:func:`check_tile_halo`).

    Yields
    ------
    Block
        Their cores cover every voxel once.

    Examples
    --------
    >>> [(b.core, b.read) for b in blocks((5,), ("tiled",), 3, 1)]
    [((slice(0, 3, None),), (slice(0, 4, None),)), ((slice(3, 5, None),), (slice(2, 5, None),))]
    """
    if len(shape) != len(kinds):
        raise TVRestoreError(f"{len(kinds)} axis kinds for shape {tuple(shape)}")
    check_tile_halo(tile, halo)
    per_axis = [_spans(int(length), kind, tile, halo) for length, kind in zip(shape, kinds)]
    for combination in itertools.product(*per_axis):
        core, read, crop = zip(*combination)
        yield Block(core=tuple(core), read=tuple(read), crop=tuple(crop))


def block_shape(shape: tuple[int, ...], kinds: tuple[str, ...], tile: int, halo: int) -> tuple[int, ...]:
    """The largest block a solve reads: ``min(length, tile + 2 halo)`` per tiled axis,
    1 per frame axis, the whole channel axis. Its product is a block's solve budget."""
    return tuple(length if kind == "whole" else 1 if kind == "frames"
                 else min(int(length), tile + 2 * halo)
                 for length, kind in zip(shape, kinds))


def block_count(shape: tuple[int, ...], kinds: tuple[str, ...], tile: int) -> int:
    """How many blocks :func:`blocks` yields."""
    return math.prod(1 if kind == "whole" else int(length) if kind == "frames"
                     else -(-int(length) // tile) for length, kind in zip(shape, kinds))
