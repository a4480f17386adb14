"""One volume or time-lapse file: planned from its header, denoised, written back with its metadata.

:func:`plan_volume` checks everything that needs no pixel and no
TensorFlow: the file's header (every plane counted in its budget), the
axes (the file's, or ``--axes``) against its shape, the spacing (``--spacing``,
else the file's physical sizes, :func:`tvrestore.io.volumes.solve_spacing`),
the solve budget and the output. :func:`restore_volume_file` then reads,
denoises through :func:`tvrestore.api.denoise` and writes the result in the
input's format with its axes, physical sizes and units
(:func:`tvrestore.io.volumes.write_volume`): a TIFF as a TIFF, an
OME-Zarr or zarr as such (:mod:`tvrestore.io.zarr_volumes`). With ``--psf`` (a 3-D spec or
file) or ``--mask`` (a TIFF stack of the input's planes, rows and columns)
the volume is deblurred or inpainted through :func:`tvrestore.api.restore`.
With a reference (a volume of the input's shape, checked from both headers)
the result is scored in N-D; with ``job.compare`` a denoised volume is
compared with scikit-image's chambolle in N-D and plane by plane
(:func:`tvrestore.evaluation.compare.compare_volume`); a ``draw`` hook
(the CLI's ``--figure``) is handed the volumes once written.

A batch (:func:`tvrestore.runs.batch.run_batch`, in process or on Dask
workers) restores its volume jobs (``FileJob.volume``) with the same two
functions: :func:`plan_volume` with ``check_output=False`` when it reads a
volume ahead (so each usage error is that file's failed entry), then
:func:`check_volume_output` once it holds the output's claim, and
:func:`restore_volume_file` with ``claimed=True``; ``--axes`` and
``--spacing`` reach every volume as :class:`VolumeSettings`. Volumes are
solved whole, one per solve.

:func:`restore_volume_tiled` (``--tile``) denoises a volume beyond the
whole-solve budget in N-D blocks with halos (:mod:`tvrestore.runs.blocks`),
read and written block by block, here or on a Dask cluster.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from tvrestore.errors import TVRestoreError, require_extra
from tvrestore.io.volumes import VolumeHeader, read_volume, read_volume_header, solve_spacing, write_volume
from tvrestore.io.pixels import from_unit_range, to_counts, to_unit_range
from tvrestore.io.psf import load_psf
from tvrestore.io.zarr_volumes import ZARR_FORMATS, check_zarr_output
from tvrestore.evaluation.metrics import psnr, volume_quality
from tvrestore.models.axes import Axes, check_volume_task
from tvrestore.models.psf import check_psf_fits
from tvrestore.options import RestoreOptions
from tvrestore.runs import report
from tvrestore.runs.claims import Claims, remove_leftovers
from tvrestore.runs.blocks import axis_kinds, block_shape, blocks, check_tile_halo
from tvrestore.runs.plan import FileJob, check_not_nested, max_pixels
from tvrestore.runs.tiles import default_halo

__all__ = ["VolumePlan", "VolumeSettings", "check_volume_budget", "check_volume_output", "default_volume_halo",
           "plan_volume", "restore_volume_file", "restore_volume_tiled"]


@dataclass(frozen=True)
class VolumeSettings:
    """What a run says of every volume it restores: the command line's ``--axes`` and ``--spacing``.

    Attributes
    ----------
    axes : str or None
        The letters of ``--axes`` (:class:`tvrestore.models.axes.Axes`);
        None: each file's own.
    spacing : tuple of float or None
        ``--spacing``; None: each file's physical sizes, else 1.

    The noise model is the run's :class:`tvrestore.options.RestoreOptions`'
    and the PSF and mask are each job's (:class:`tvrestore.runs.plan.FileJob`).
    """

    axes: str | None = None
    spacing: tuple[float, ...] | None = None


@dataclass(frozen=True)
class VolumePlan:
    """What :func:`plan_volume` found: the header, the axes, and the spacing to solve with.

    Attributes
    ----------
    header : VolumeHeader
    axes : Axes
    spacing : tuple of float or None
        As given (``--spacing``) or the file's steps in µm; None: 1.
    from_file : bool
        Whether ``spacing`` is the file's.
    note : str or None
        Why the file's spacing could not be used (said once).
    """

    header: VolumeHeader
    axes: Axes
    spacing: tuple[float, ...] | None
    from_file: bool
    note: str | None


def plan_volume(job: FileJob, axes: str | None = None,
                spacing: tuple[float, ...] | None = None, noise: str = "gaussian", *,
                check_output: bool = True, tile: int | None = None,
                halo: int | None = None, weight: float | str = "auto") -> VolumePlan:
    """Check a volume job from its header alone, before any pixel is read.

    With ``check_output`` False the output is left to
    :func:`check_volume_output`: a batch plans a volume before it creates
    the output's directory and claims the output, and checks the output
    once it holds the claim.

    Parameters
    ----------
    tile, halo : int, optional
        In blocks (:func:`restore_volume_tiled`): the core side and halo,
        in voxels, of the tiled axes (:mod:`tvrestore.runs.blocks`). The
        budget is then one block's solve, not the whole volume's: the
        largest block read, ``min(side, tile + 2 halo)`` per tiled axis
        (with ``halo`` None: the default halo of ``weight``, or for "auto"
        the smallest default halo, checked again once the weight is
        chosen), within :func:`tvrestore.runs.plan.max_pixels`.
    weight : float or "auto"
        For the default halo in the budget.

    Raises
    ------
    TVRestoreError
        One line naming the file: unreadable or too large a header, axes
        that the file does not name or that do not fit its shape, a spacing
        of the wrong count, upscaling, a PSF that
        is not 3-D or larger than the volume, a mask whose shape is not the
        volume's (channels apart), a solve beyond ``--max-pixels`` (a
        block's, in blocks), an
        output that is the input, inside it (or holds it), not of the
        input's kind (TIFF, or ``*.zarr`` for a zarr), or exists without
        ``--overwrite``; a zarr without the zarr package (the dask extra).
        In blocks also: a halo beyond the tile, a PSF, a mask, a reference,
        --compare, or noise other than Gaussian.
    """
    if tile is not None:
        check_tile_halo(tile, halo)
        asked = [name for name, given in (
            ("--psf", job.psf is not None), ("--mask", job.mask is not None),
            ("--reference", job.reference is not None), ("--compare", job.compare),
            (f"--noise {noise}", noise != "gaussian")) if given]
        if asked:
            raise TVRestoreError(
                f"{job.input}: a volume in blocks (--tile) is denoised under Gaussian noise, "
                f"block by block; {' and '.join(asked)} need the whole volume")
    header = read_volume_header(job.input)
    if header.format in ZARR_FORMATS:
        require_extra(f"{job.input}: reading {header.format}", "dask", ("zarr",))
    from tvrestore.io.lazy import open_lazy_volume

    if tile is not None and open_lazy_volume(header).offset is None \
            and not header.pages_are_planes and header.format not in ZARR_FORMATS:
        # A compressed (or non-contiguous) TIFF is read block by block through zarr.
        require_extra(f"{job.input}: a compressed TIFF in blocks", "dask", ("zarr",))
    if axes is None and header.axes is None:
        raise TVRestoreError(f"{job.input}: the file does not name its axes; give --axes "
                             "(e.g. ZYX)")
    named = Axes.parse(axes) if axes is not None else Axes(header.axes)
    try:
        named.check_fits(header.shape)
        coupled, _ = named.steps(spacing)
        check_volume_task(named, spacing, noise=noise, upscale=job.upscale,
                          forward_model=job.task != "denoise")
    except TVRestoreError as err:
        raise TVRestoreError(f"{job.input}: {err}") from err
    shape = dict(zip(named.letters, header.shape))
    if job.psf is not None:
        spatial = tuple(shape[letter] for letter in named.spatial(coupled))
        check_psf_fits(load_psf(job.psf), spatial, str(job.input), len(spatial),
                       psf_name=str(job.psf))
    if job.mask is not None:
        mask_shape = read_volume_header(job.mask).shape
        planes = tuple(side for letter, side in zip(named.letters, header.shape) if letter != "C")
        if tuple(mask_shape) != planes:
            raise TVRestoreError(
                f"{job.mask}: the mask is {'x'.join(map(str, mask_shape))}, but the volume "
                f"{job.input} is {'x'.join(map(str, planes))} ({named.letters.replace('C', '')})")
    if job.reference is not None:
        reference_shape = read_volume_header(job.reference).shape
        if tuple(reference_shape) != tuple(header.shape):
            raise TVRestoreError(
                f"{job.reference}: the reference is {'x'.join(map(str, reference_shape))}, but "
                f"the volume {job.input} is {'x'.join(map(str, header.shape))} ({named.letters})")
    if job.compare and noise != "gaussian":
        raise TVRestoreError(
            f"{job.input}: --compare on a volume compares Gaussian denoisers (scikit-image's "
            f"chambolle in 3-D and slice by slice); not under --noise {noise}")
    if job.compare and job.task != "denoise":
        raise TVRestoreError(
            f"{job.input}: --compare on a volume compares denoisers (scikit-image's chambolle "
            "in 3-D and slice by slice); without --psf and --mask")
    note, from_file = None, False
    if spacing is None:
        spacing, note = solve_spacing(header, named)
        from_file = spacing is not None
    check_volume_budget(job.input, header.shape, named, coupled, tile,
                        halo if halo is not None or tile is None else
                        min(tile, default_volume_halo(_MIN_HALO_WEIGHT if weight == "auto" else weight)))
    if check_output:
        check_volume_output(job, header)
    return VolumePlan(header, named, spacing, from_file, note)


def check_volume_output(job: FileJob, header: VolumeHeader) -> None:
    """The output of a volume job can be written in the input's format (``header``'s).

    Raises
    ------
    TVRestoreError
        An output that is the input, inside it (or holds it), not of the
        input's kind (TIFF, or ``*.zarr`` for a zarr), in a directory that
        does not exist (zarr), or existing without ``--overwrite``.
    """
    if os.path.realpath(job.output) == os.path.realpath(job.input):
        raise TVRestoreError(f"{job.output}: output would replace the input")
    if header.format in ZARR_FORMATS:
        check_zarr_output(job.output, job.overwrite)
        check_not_nested(job)
    else:
        if Path(job.output).suffix.lower() not in (".tif", ".tiff"):
            raise TVRestoreError(f"{job.output}: a volume is written as TIFF (.tif or .tiff)")
        if Path(job.output).exists() and not job.overwrite:
            raise TVRestoreError(f"{job.output}: output exists (use --overwrite)")


# default_halo is smallest (16) for any weight up to sqrt(16 / 3200) = 0.07.
_MIN_HALO_WEIGHT = 0.0


def default_volume_halo(weight: float) -> int:
    """Halo, in voxels, for blocks of a volume at TV weight ``weight``: 1.5 times the 2-D rule, a multiple of 8.

    A block sees its surroundings through more faces than a 2-D tile, and
    the 2-D rule's halo is not enough in 3-D: on 256x512x512 at w = 0.05
    in blocks of 64, a halo of 16 (the 2-D rule) left 1.07 x 1/510 at
    worst against the whole minimizer, and 24 left 0.46 x 1/510
    (docs/volumes.md). At w = 0.1, 16 left 1.4 x 1/510 on a small test
    volume; 48 (this rule) there is not measured beyond the tests.
    """
    return -(-(3 * default_halo(weight)) // 16) * 8


def check_volume_budget(name, shape: tuple[int, ...], axes: Axes, coupled: bool,
                        tile: int | None, halo: int | None) -> None:
    """Refuse a volume whose solve is beyond :func:`tvrestore.runs.plan.max_pixels`.

    Whole (``tile`` None): every value but the independent frames of an
    uncoupled T (solved one after another). In blocks: the largest block
    read (:func:`tvrestore.runs.blocks.block_shape` with ``halo``).

    Raises
    ------
    TVRestoreError
        Naming the volume, the solve's size and the limit, and what to do.
    """
    limit = max_pixels()
    kinds = axis_kinds(axes.letters, coupled)
    if tile is None:
        values = math.prod(side for side, kind in zip(shape, kinds) if kind != "frames")
        if values > limit:
            raise TVRestoreError(
                f"{name}: a volume of {values} values to solve at once is beyond --max-pixels "
                f"{limit} (restore it in blocks with --tile, e.g. --tile 128)")
        return
    block = block_shape(shape, kinds, tile, halo)
    if math.prod(block) > limit:
        raise TVRestoreError(
            f"{name}: a block of {'x'.join(map(str, block))} ({axes.letters}; --tile {tile} "
            f"with a halo of {halo}) is {math.prod(block)} values to solve at once, beyond "
            f"--max-pixels {limit} (give a smaller --tile or --halo)")


def restore_volume_file(job: FileJob, options: RestoreOptions, plan: VolumePlan,
                        draw: Callable[..., None] | None = None, *,
                        claimed: bool = False) -> report.ReportEntry:
    """Read, restore and write one planned volume; its report entry (with axes and spacing).

    The output is written atomically in the input's format, with the
    input's axes, physical sizes and units. With ``job.reference`` the
    entry has the result's N-D PSNR and SSIM
    (:func:`tvrestore.evaluation.metrics.volume_quality`, unit range,
    ``data_range`` 1, as written), with ``job.compare`` the rows of
    :func:`tvrestore.evaluation.compare.compare_volume`.

    Parameters
    ----------
    draw : callable, optional
        Called once the output is written, as
        :func:`tvrestore.runs.batch.restore_file` calls its hook, with
        ``axes`` and ``spacing`` too (the CLI binds
        :func:`tvrestore.viz.volume_figure.volume_figure`).
    claimed : bool
        Whether the caller holds the output's claim
        (:mod:`tvrestore.runs.claims`) and has tidied its directory, as a
        batch does (:func:`tvrestore.runs.batch.run_batch`); else it is
        claimed here, and released once written.
    """
    # TensorFlow loads here, once the plan has passed.
    from tvrestore.api import RestoreRequest, restore_image
    from tvrestore.backend import tf as _tf

    if not claimed:
        remove_leftovers([Path(job.output).parent])
    with contextlib.nullcontext(True) if claimed else Claims().claimed(job.output) as held:
        if not held:
            raise TVRestoreError(f"{job.output}: another tvrestore run is writing this output")
        start = time.perf_counter()
        pixels, header = read_volume(job.input)
        reference = None
        if job.reference is not None:
            reference = read_volume(job.reference, check=lambda found: _same_shape(
                job, found.shape, pixels.shape))[0]
        read_seconds = time.perf_counter() - start
        try:
            mask = None if job.mask is None else read_volume(job.mask)[0]
            restored, result = restore_image(pixels, RestoreRequest(
                options, psf=None if job.psf is None else load_psf(job.psf), mask=mask,
                axes=plan.axes.letters, spacing=plan.spacing))
        except TVRestoreError as err:
            raise TVRestoreError(f"{job.input}: {err}") from err
        scores, compared, rows = _scored(job, plan, pixels, restored, reference, result)
        start = time.perf_counter()
        write_volume(job.output, restored, like=header, axes=plan.axes.letters,
                     overwrite=job.overwrite)
        write_seconds = time.perf_counter() - start
    entry = report.entry(
        job, status=report.RESTORED, shape=tuple(pixels.shape), dtype=str(pixels.dtype),
        task=job.task, psf=job.psf, mask=None if job.mask is None else str(job.mask),
        upscale=1, **result.to_dict(), batch_size=1, read_seconds=read_seconds,
        write_seconds=write_seconds, tensorflow_seconds=_tf.IMPORT_SECONDS,
        total_seconds=(read_seconds + result.compile_seconds + result.weight_search_seconds
                       + result.solve_seconds + write_seconds),
        psnr=scores[0], ssim=scores[1], compare=rows,
    )
    if draw is not None:
        input_psnr = (None if reference is None else
                      psnr(to_unit_range(reference), to_unit_range(pixels)))
        draw(input=pixels, restored=restored, reference=reference,
             compare=[(row.method, row.weight, from_unit_range(compared[row.method], pixels.dtype),
                       row.psnr, row.ssim) for row in rows or () if row.method in compared],
             restored_label=f"tvrestore ({entry.solver})", weight=entry.weight, psnr=entry.psnr,
             ssim=entry.ssim, input_psnr=input_psnr, history=entry.history,
             axes=entry.axes, spacing=entry.spacing)
    return entry


def _same_shape(job: FileJob, reference_shape: tuple[int, ...], shape: tuple[int, ...]) -> None:
    """The reference as decoded has the volume's shape (its header was checked by the plan)."""
    if tuple(reference_shape) != tuple(shape):
        raise TVRestoreError(f"{job.reference}: the reference is "
                             f"{'x'.join(map(str, reference_shape))}, but the volume "
                             f"{job.input} is {'x'.join(map(str, shape))}")


def _scored(job: FileJob, plan: VolumePlan, pixels: np.ndarray, restored: np.ndarray,
            reference: np.ndarray | None, result) -> tuple[tuple, dict, tuple | None]:
    """(PSNR, SSIM) of the result as written, the compared methods' volumes, and the --compare rows."""
    letters = plan.axes.letters
    channel_axis = letters.index("C") if "C" in letters else None
    clean = None if reference is None else to_unit_range(reference)
    if clean is not None and result.noise == "poisson":
        # In counts, the reference's largest count as the range (as for images).
        counts = to_counts(reference, result.gain, result.offset).astype(np.float64)
        peak = max(float(counts.max()), np.finfo(float).tiny)
        scores = volume_quality(
            counts / peak,
            to_counts(restored, result.gain, result.offset).astype(np.float64) / peak,
            channel_axis)
    else:
        scores = (None, None) if clean is None else volume_quality(
            clean, to_unit_range(restored), channel_axis)
    compared: dict[str, np.ndarray] = {}
    if not job.compare:
        return scores, compared, None
    # scikit-image's restoration module loads scipy.stats: only runs that compare pay for it.
    from tvrestore.evaluation.compare import compare_volume

    def as_written(unit: np.ndarray) -> np.ndarray:
        return to_unit_range(from_unit_range(unit, pixels.dtype))

    rows = compare_volume(to_unit_range(pixels), to_unit_range(restored), result, clean,
                          as_written=as_written, solutions=compared)
    return scores, compared, tuple(rows)


# The auto weight of a volume in blocks is chosen once, on the central crop
# of at most this many voxels per tiled axis (the middle frame of separate
# frames, every channel), as the 2-D tiles choose theirs on a central
# 512x512: the noise level is the whole volume's, and 128^3 voxels (2 Mi)
# estimate it as well as the whole.
_AUTO_CROP = 128
# Blocks a cluster holds at once (solving, or solved and waiting to be
# written) per worker: enough to keep every worker busy, few enough that
# the client holds a few blocks, not the volume.
_BLOCKS_IN_FLIGHT_PER_WORKER = 2


def restore_volume_tiled(job: FileJob, options: RestoreOptions, plan: VolumePlan, *,
                         tile: int, halo: int | None = None, client=None) -> report.ReportEntry:
    r"""Denoise a planned volume in N-D blocks with halos, read and written block by block.

    Each block (:func:`tvrestore.runs.blocks.blocks`: cores of ``tile``
    voxels per tiled axis, Z, Y, X and a coupled T, each read with ``halo``
    voxels of its neighbours; separate frames one by one; every channel)
    is read from the file alone (:func:`tvrestore.io.lazy.open_lazy_volume`),
    solved by :func:`tvrestore.api.restore_image` with the volume's axes,
    spacing and one weight, and its core is written into the output
    (:class:`tvrestore.io.volumes.VolumeWriter`: the input's format, axes,
    physical sizes and units; a TIFF uncompressed), so that memory holds a
    few blocks, never the volume. "auto" is chosen once, on the central
    crop of at most 128 voxels per tiled axis (the middle frame of separate
    frames), and used for every block.

    Each block minimizes

    .. math::

        E_b(u) = \frac12 \sum_{b + \text{halo}} (u - f)^2 + w \,\mathrm{TV}_h(u),

    with :math:`\mathrm{TV}_h` the volume's spacing-scaled TV, so the
    result approximates the whole volume's minimizer to within what the
    halo leaves (:func:`default_volume_halo`; measured in
    docs/volumes.md). With ``options`` naming no solver the blocks should
    be solved exactly (the command line's
    :func:`tvrestore.runs.tiles.exact_tile_options`).

    Parameters
    ----------
    job : FileJob
        Denoising, without reference or compare (:func:`plan_volume` with ``tile``).
    options : RestoreOptions
    plan : VolumePlan
    tile : int
        Core side, in voxels, of the tiled axes.
    halo : int, optional
        At most ``tile``; default :func:`default_volume_halo` of the
        weight, up to ``tile``.
    client : distributed.Client, optional
        Solve the blocks on its workers (each reads its block from the
        file, which every worker must see at the same path); this process
        writes them. The output is the in-process one, byte for byte.

    Returns
    -------
    ReportEntry
        With ``tile`` (the core per tiled axis) and ``halo``: iterations are
        the most any block took, converged whether every block did,
        certified_gap the largest, solve_seconds and compile_seconds sums
        over blocks; objective and loss are None (E of the whole is not
        computed).

    Raises
    ------
    TVRestoreError
        Naming the file: a block beyond the budget once the weight is
        chosen, a block that cannot be read (or holds NaN), a failed write
        (which leaves no output).
    """
    from tvrestore.api import RestoreRequest
    from tvrestore.backend import tf as _tf
    from tvrestore.io.lazy import open_lazy_volume
    from tvrestore.io.volumes import VolumeWriter

    start = time.perf_counter()
    letters = plan.axes.letters
    coupled, _ = plan.axes.steps(plan.spacing)
    kinds = axis_kinds(letters, coupled)
    remove_leftovers([Path(job.output).parent])
    with Claims().claimed(job.output) as held:
        if not held:
            raise TVRestoreError(f"{job.output}: another tvrestore run is writing this output")
        volume = open_lazy_volume(plan.header)
        weight, searched = options.weight, {}
        if weight == "auto":
            crop = volume.read(_central_crop(volume.shape, kinds))
            chosen = _solved(crop, RestoreRequest(options, axes=letters, spacing=plan.spacing),
                             job)[1]
            weight = chosen.weight
            searched = {"weight_auto": True, "noise_sigma": chosen.noise_sigma,
                        "weight_search_seconds": time.perf_counter() - start}
        if halo is None:
            halo = min(tile, default_volume_halo(weight))
            check_volume_budget(job.input, volume.shape, plan.axes, coupled, tile, halo)
        request = RestoreRequest(replace(options, weight=weight), axes=letters,
                                 spacing=plan.spacing)
        results = []
        with VolumeWriter(job.output, like=plan.header, axes=letters,
                          overwrite=job.overwrite) as writer:
            for block, restored, result in _solved_blocks(
                    volume, blocks(volume.shape, kinds, tile, halo), request, job, client):
                writer.write(block.core, restored)
                results.append(result)
    first = results[0]
    gaps = [result.certified_gap for result in results if result.certified_gap is not None]
    solve_seconds = sum(result.solve_seconds for result in results)
    compile_seconds = sum(result.compile_seconds for result in results)
    total_seconds = time.perf_counter() - start
    values = {**first.to_dict(), **searched}
    values.update(
        objective=None, loss=None, history=(),
        iterations=max(result.iterations for result in results),
        converged=all(result.converged for result in results),
        certified_gap=max(gaps) if gaps else None, solve_seconds=solve_seconds,
        compile_seconds=compile_seconds, compile_cached=None, axes=letters,
        spacing=first.spacing)
    return report.entry(
        job, status=report.RESTORED, shape=tuple(volume.shape), dtype=str(volume.dtype),
        task=job.task, upscale=1, **values, batch_size=1,
        tile=tuple(tile for kind in kinds if kind == "tiled"), halo=halo,
        read_seconds=0.0,
        write_seconds=max(0.0, total_seconds - solve_seconds - compile_seconds
                          - searched.get("weight_search_seconds", 0.0)),
        tensorflow_seconds=_tf.IMPORT_SECONDS, total_seconds=total_seconds)


def _central_crop(shape: tuple[int, ...], kinds: tuple[str, ...]) -> tuple[slice, ...]:
    """The central crop the auto weight is chosen on: at most :data:`_AUTO_CROP` per tiled
    axis, the middle frame of separate frames, every channel."""
    index = []
    for side, kind in zip(shape, kinds):
        if kind == "whole":
            index.append(slice(0, side))
        elif kind == "frames":
            index.append(slice(side // 2, side // 2 + 1))
        else:
            first = max(0, side // 2 - _AUTO_CROP // 2)
            index.append(slice(first, min(side, first + _AUTO_CROP)))
    return tuple(index)


def _solved(pixels: np.ndarray, request, job: FileJob):
    """:func:`tvrestore.api.restore_image` of ``pixels``; an error names the input."""
    from tvrestore.api import restore_image

    try:
        return restore_image(pixels, request)
    except TVRestoreError as err:
        raise TVRestoreError(f"{job.input}: {err}") from err


def solve_block(volume, block, request, job: FileJob):
    """One block's task: read it, solve it, keep its core; (core, RestoreResult).

    Runs in this process or on a Dask worker (everything it takes pickles).
    """
    restored, result = _solved(volume.read(block.read), request, job)
    return np.ascontiguousarray(restored[block.crop]), result


def _solved_blocks(volume, planned, request, job: FileJob, client):
    """(block, its restored core, its result) for every block, in order.

    In this process one block after another; on a cluster at most
    :data:`_BLOCKS_IN_FLIGHT_PER_WORKER` per worker at once, yielded in
    order (each is solved alone, so the order changes no voxel).
    """
    if client is None:
        for block in planned:
            yield (block, *solve_block(volume, block, request, job))
        return
    from collections import deque

    limit = _BLOCKS_IN_FLIGHT_PER_WORKER * max(1, len(client.scheduler_info()["workers"]))
    pending: deque = deque()
    try:
        for block in planned:
            pending.append((block, client.submit(solve_block, volume, block, request, job,
                                                 pure=False)))
            if len(pending) >= limit:
                done, future = pending.popleft()
                yield (done, *future.result())
        while pending:
            done, future = pending.popleft()
            yield (done, *future.result())
    finally:
        client.cancel([future for _, future in pending])
