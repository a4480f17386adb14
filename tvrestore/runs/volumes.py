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
solved whole, one per solve: tiles of a volume are not there yet.
"""

from __future__ import annotations

import contextlib
import math
import os
import time
from dataclasses import dataclass
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
from tvrestore.runs.plan import FileJob, check_not_nested, max_pixels

__all__ = ["VolumePlan", "VolumeSettings", "check_volume_output", "plan_volume",
           "restore_volume_file"]


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
                check_output: bool = True) -> VolumePlan:
    """Check a volume job from its header alone, before any pixel is read.

    With ``check_output`` False the output is left to
    :func:`check_volume_output`: a batch plans a volume before it creates
    the output's directory and claims the output, and checks the output
    once it holds the claim.

    Raises
    ------
    TVRestoreError
        One line naming the file: unreadable or too large a header, axes
        that the file does not name or that do not fit its shape, a spacing
        of the wrong count, noise other than Gaussian, upscaling, a PSF that
        is not 3-D or larger than the volume, a mask whose shape is not the
        volume's (channels apart), a solve beyond ``--max-pixels``, an
        output that is the input, inside it (or holds it), not of the
        input's kind (TIFF, or ``*.zarr`` for a zarr), or exists without
        ``--overwrite``; a zarr without the zarr package (the dask extra).
    """
    header = read_volume_header(job.input)
    if header.format in ZARR_FORMATS:
        require_extra(f"{job.input}: reading {header.format}", "dask", ("zarr",))
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
    limit = max_pixels()
    values = math.prod(header.shape) // (header.shape[named.letters.index("T")]
                                         if "T" in named.letters else 1)
    if values > limit:
        raise TVRestoreError(
            f"{job.input}: a volume of {values} values to solve at once is beyond --max-pixels "
            f"{limit} (volumes are solved whole; tiles for them are not there yet)")
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
