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
Volumes are solved whole: tiles, a cluster, and a batch of volumes are not
there yet.
"""

from __future__ import annotations

import math
import os
import time
from dataclasses import dataclass
from pathlib import Path

from tvrestore.errors import TVRestoreError, require_extra
from tvrestore.io.volumes import VolumeHeader, read_volume, read_volume_header, solve_spacing, write_volume
from tvrestore.io.psf import load_psf
from tvrestore.io.zarr_volumes import ZARR_FORMATS, check_zarr_output
from tvrestore.models.axes import Axes, check_volume_task
from tvrestore.models.psf import check_psf_fits
from tvrestore.options import RestoreOptions
from tvrestore.runs import report
from tvrestore.runs.claims import Claims, remove_leftovers
from tvrestore.runs.plan import FileJob, check_not_nested, max_pixels

__all__ = ["VolumePlan", "plan_volume", "restore_volume_file"]


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
                spacing: tuple[float, ...] | None = None, noise: str = "gaussian") -> VolumePlan:
    """Check a volume job from its header alone, before any pixel is read.

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
    return VolumePlan(header, named, spacing, from_file, note)


def restore_volume_file(job: FileJob, options: RestoreOptions, plan: VolumePlan) -> report.ReportEntry:
    """Read, restore and write one planned volume; its report entry (with axes and spacing).

    The output is written atomically in the input's format, with the
    input's axes, physical sizes and units.
    """
    # TensorFlow loads here, once the plan has passed.
    from tvrestore.api import RestoreRequest, restore_image
    from tvrestore.backend import tf as _tf

    remove_leftovers([Path(job.output).parent])
    with Claims().claimed(job.output) as held:
        if not held:
            raise TVRestoreError(f"{job.output}: another tvrestore run is writing this output")
        start = time.perf_counter()
        pixels, header = read_volume(job.input)
        read_seconds = time.perf_counter() - start
        try:
            mask = None if job.mask is None else read_volume(job.mask)[0]
            restored, result = restore_image(pixels, RestoreRequest(
                options, psf=None if job.psf is None else load_psf(job.psf), mask=mask,
                axes=plan.axes.letters, spacing=plan.spacing))
        except TVRestoreError as err:
            raise TVRestoreError(f"{job.input}: {err}") from err
        start = time.perf_counter()
        write_volume(job.output, restored, like=header, axes=plan.axes.letters,
                     overwrite=job.overwrite)
        write_seconds = time.perf_counter() - start
    return report.entry(
        job, status=report.RESTORED, shape=tuple(pixels.shape), dtype=str(pixels.dtype),
        task=job.task, upscale=1, **result.to_dict(), batch_size=1, read_seconds=read_seconds,
        write_seconds=write_seconds, tensorflow_seconds=_tf.IMPORT_SECONDS,
        total_seconds=(read_seconds + result.compile_seconds + result.weight_search_seconds
                       + result.solve_seconds + write_seconds),
    )
