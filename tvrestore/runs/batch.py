"""Restoring image files: one, or thousands in as few compiled calls as their shapes allow.

:func:`restore_file` restores one planned file (:mod:`tvrestore.runs.plan`),
raising on any problem. :func:`run_batch` restores many: images of one
solve shape (:func:`tvrestore.models.shapes.solve_shape`, sizes rounded up) go
through :func:`tvrestore.api.denoise_images` together, at most ``batch_size``
per compiled call; a small thread pool reads the next files and writes the
finished ones while the solver runs; a file that cannot be read, restored
or written gets an error entry (:mod:`tvrestore.runs.report`) and the others go
on; an existing output is skipped (resume). Each output is claimed
(:mod:`tvrestore.runs.claims`) before it is solved, so runs sharing an output
directory split the work. A volume job (``FileJob.volume``: a TIFF stack or
a zarr volume) is planned from its header as a single volume is
(:func:`tvrestore.runs.volumes.plan_volume`), so a bad one fails alone, and
restored alone by :func:`tvrestore.runs.volumes.restore_volume_file`.
"""

from __future__ import annotations

import collections
import concurrent.futures
import math
import os
import time
from dataclasses import dataclass, replace
from typing import Callable, Sequence

import numpy as np

from tvrestore.io.images import (
    LOSSY_EXTENSIONS,
    ImageHeader,
    read_image,
    read_image_and_header,
    write_image,
)
from tvrestore.io.pixels import from_counts, from_unit_range, split_alpha, to_counts, to_unit_range

from tvrestore.backend import tf as _tf

from tvrestore.evaluation import metrics

from tvrestore.runs import report
from tvrestore.runs.claims import Claims, remove_leftovers
from tvrestore.errors import TVRestoreError
from tvrestore.evaluation.metrics import quality
from tvrestore.options import DEFAULT_BATCH_SIZE, RestoreOptions, RestoreResult
from tvrestore.runs.plan import FileJob, Route, check_degradation, check_reference, max_pixels
from tvrestore.runs.volumes import (
    VolumePlan, VolumeSettings, check_volume_output, plan_volume, restore_volume_file,
)
from tvrestore.api import RestoreRequest, denoise_images, restore_image
from tvrestore.models.shapes import solve_shape

__all__ = ["restore_file", "run_batch"]

# The thread pool that reads and writes files while the solver runs. The
# solver itself already uses every core for its arithmetic; decoding and
# encoding only need to keep ahead of it.
_IO_WORKERS = 2


def restore_file(
    job: FileJob,
    options: RestoreOptions,
    *,
    draw: Callable[..., None] | None = None,
    tile_options: RestoreOptions | None = None,
) -> report.ReportEntry:
    """Restore one file and return its report entry.

    The output is written atomically; the input is only read.

    Parameters
    ----------
    job : FileJob
    options : RestoreOptions
    draw : callable, optional
        A hook that draws the restoration, called once it is written with
        the keyword arguments of :func:`tvrestore.viz.figures.restoration_figure`
        other than its path and zoom: input, restored, reference, compare
        (with ``job.compare``, skimage's results at the same weight),
        restored_label, weight, psnr, ssim, input_psnr and history. The
        caller (the CLI) binds the figure's path and zoom, so that runs/
        never imports viz/ (nor matplotlib).
    tile_options : RestoreOptions, optional
        The options of an image restored in tiles; default `options`. The
        command line solves tiles exactly unless --solver is named
        (:func:`tvrestore.runs.tiles.exact_tile_options`).

    Returns
    -------
    ReportEntry
        Its :class:`tvrestore.runs.report.ReportEntry`: input, output,
        reference, status ("restored"), error (None), shape, dtype, task,
        the :class:`~tvrestore.options.RestoreResult` fields, batch_size (1),
        read_seconds, write_seconds, tensorflow_seconds, total_seconds (see
        :class:`~tvrestore.runs.report.ReportEntry`), psnr and ssim (None
        without a reference) and compare (a tuple of
        :class:`~tvrestore.runs.report.CompareRow` with ``job.compare``,
        else None).

    An image beyond the whole-image budget that :func:`tvrestore.runs.plan.route`
    sends to tiles is restored by :func:`_restore_in_tiles`: no reference,
    comparison or figure.

    Raises
    ------
    TVRestoreError
        With a message that names the offending file; an existing output
        (without ``job.overwrite``) is an error here, not a skip, and so is
        an output another run has claimed.
    """
    if os.path.realpath(job.output) == os.path.realpath(job.input):
        raise TVRestoreError(f"{job.output}: output would replace the input")
    remove_leftovers([job.output.parent])
    with Claims().claimed(job.output) as held:
        if not held:
            raise TVRestoreError(f"{job.output}: another tvrestore run is writing this output")
        if job.output.exists() and not job.overwrite:
            raise TVRestoreError(f"{job.output}: output exists (use --overwrite)")
        loaded = _load(job)
        if loaded.route.in_tiles:
            if draw is not None:
                raise TVRestoreError(f"{job.input}: restored in tiles, so --figure cannot draw it")
            return _restore_in_tiles(loaded, tile_options or options)
        try:
            restored, result = _restore_loaded(loaded, options)
        except TVRestoreError as err:
            raise TVRestoreError(f"{job.input}: {err}") from err
        compared: dict[str, np.ndarray] = {}
        rows = _compare_rows(loaded, restored, result, 1, compared)
        entry = _finish(loaded, restored, result, rows, 1)
    if draw is not None:
        _draw_restoration(draw, loaded, restored, entry, compared)
    return entry


def _draw_restoration(draw: Callable[..., None], loaded: _Loaded, restored: np.ndarray,
                      entry: report.ReportEntry, compared: dict[str, np.ndarray]) -> None:
    """Hand one restored file to the `draw` hook, titled with its entry's scores."""
    # The input's PSNR only: its SSIM would double the figure's cost on a
    # large image (12 s at 4096x4096, benchmarks/measure_figure.py).
    shown_input = loaded.noisy
    if loaded.job.upscale > 1:
        # The input at the output's size, each pixel a KxK block: what the
        # binned camera saw, comparable pixel for pixel with the result.
        shown_input = np.repeat(np.repeat(loaded.noisy, loaded.job.upscale, axis=0),
                                loaded.job.upscale, axis=1)
    input_psnr = (metrics.psnr(loaded.reference_unit, _unit(shown_input))
                  if loaded.reference is not None else None)
    dtype = loaded.noisy.dtype
    draw(
        input=shown_input, restored=restored, reference=loaded.reference,
        compare=[(row.method, row.weight, from_unit_range(compared[row.method], dtype),
                  row.psnr, row.ssim)
                 for row in entry.compare or () if row.method in compared],
        restored_label=f"tvrestore ({entry.solver})", weight=entry.weight,
        psnr=entry.psnr, ssim=entry.ssim, input_psnr=input_psnr,
        history=entry.history,
    )


def _restore_loaded(loaded: "_Loaded", options: RestoreOptions) -> tuple[np.ndarray, RestoreResult]:
    """One image alone, with the job's forward model (none: denoising)."""
    job = loaded.job
    return restore_image(loaded.noisy, RestoreRequest(options, psf=job.psf, mask=loaded.missing,
                                                      upscale=job.upscale))


def _restore_in_tiles(loaded: "_Loaded", options: RestoreOptions) -> report.ReportEntry:
    """The entry of a decoded image restored in tiles and written
    (:func:`tvrestore.runs.tiles.restore_decoded`)."""
    from tvrestore.runs.tiles import restore_decoded

    return restore_decoded(loaded.job, options, loaded.noisy, loaded.header,
                           loaded.route.tile_values, read_seconds=loaded.read_seconds)


@dataclass(frozen=True)
class _Loaded:
    """A job whose input (and reference) have been read, and how it is restored.

    ``reference_unit`` is the reference in unit range without alpha, what
    scores take, converted once after reading.
    """

    job: FileJob
    header: ImageHeader
    noisy: np.ndarray
    reference: np.ndarray | None
    read_seconds: float
    missing: np.ndarray | None = None
    route: Route = Route()
    reference_unit: np.ndarray | None = None


def _unit(pixels: np.ndarray) -> np.ndarray:
    """Pixels as read or written, in unit range without alpha: what scores and baselines take."""
    return to_unit_range(split_alpha(pixels)[0])


def _counts_reader(result: RestoreResult):
    """Pixels as read or written -> photon counts (float64, no alpha), by the result's calibration."""
    def counts_of(pixels: np.ndarray) -> np.ndarray:
        return to_counts(split_alpha(pixels)[0], result.gain, result.offset).astype(np.float64)

    return counts_of


class _InTiles(Exception):
    """Raised by :func:`_load` before decoding an image that goes to tiles, when asked to."""


def _load(job: FileJob, *, decode_in_tiles: bool = True) -> _Loaded:
    """Read a job's input (and reference, mask), checked from headers before decoding.

    An image that goes to tiles (:func:`tvrestore.runs.plan.route`) is read
    without its reference, which the tiles do not score; with
    ``decode_in_tiles`` False it is not decoded at all: :class:`_InTiles`
    is raised instead, so that a batch decodes such an image only when
    its turn comes, one at a time.
    """
    start = time.perf_counter()
    routes: list[Route] = []

    def check(header: ImageHeader) -> None:
        # The PSF, the mask and the size budget, from the header: nothing is
        # decoded past the budget.
        routes.append(check_degradation(job, header.shape, header.dtype))
        if routes[-1].in_tiles and not decode_in_tiles:
            raise _InTiles

    noisy, header = read_image_and_header(job.input, check=check)
    if routes[-1].in_tiles:
        return _Loaded(job=job, header=header, noisy=noisy, reference=None,
                       read_seconds=time.perf_counter() - start, route=routes[-1])
    missing = None
    if job.mask is not None:
        pixels = read_image(job.mask)
        missing = pixels != 0 if pixels.ndim == 2 else np.any(pixels != 0, axis=2)
    reference = None
    if job.reference is not None:
        reference, _ = read_image_and_header(
            job.reference, check=lambda header: check_reference(job, header.shape, noisy.shape))
    return _Loaded(job=job, header=header, noisy=noisy, reference=reference,
                   read_seconds=time.perf_counter() - start, missing=missing,
                   reference_unit=None if reference is None else _unit(reference))


def _compare_rows(
    loaded: _Loaded, restored: np.ndarray, result: RestoreResult, batch_size: int,
    solutions: dict[str, np.ndarray] | None = None,
) -> tuple[report.CompareRow, ...] | None:
    """The --compare rows, or None; tvrestore's seconds are its share of the batch.

    `solutions`, given, receives the compared methods' images by name.
    """
    if not loaded.job.compare:
        return None
    # scikit-image's restoration module pulls in scipy.stats (about 0.5 s):
    # only runs that compare pay for it.
    from tvrestore.evaluation.compare import compare_methods, compare_restoration

    share = replace(result, solve_seconds=result.solve_seconds / batch_size)
    job = loaded.job
    dtype = loaded.noisy.dtype
    if result.noise == "poisson":
        from tvrestore.evaluation.compare import compare_counts
        from tvrestore.io.psf import load_psf

        counts_of = _counts_reader(result)

        def counts_as_written(counts: np.ndarray) -> np.ndarray:
            return counts_of(from_counts(counts, result.gain, result.offset, dtype))

        rows = compare_counts(
            counts_of(loaded.noisy), counts_of(restored), share,
            None if loaded.reference is None else counts_of(loaded.reference),
            psf=None if job.psf is None else load_psf(job.psf), as_written=counts_as_written,
            solutions=solutions)
        return tuple(rows)

    def as_written(unit: np.ndarray) -> np.ndarray:
        return to_unit_range(from_unit_range(unit, dtype))

    scored = (_unit(loaded.noisy), _unit(restored), share, loaded.reference_unit)
    if job.task == "denoise":
        rows = compare_methods(*scored, as_written=as_written, solutions=solutions)
    else:
        from tvrestore.io.psf import load_psf

        rows = compare_restoration(
            *scored, psf=None if job.psf is None else load_psf(job.psf), missing=loaded.missing,
            upscale=job.upscale, as_written=as_written, solutions=solutions)
    return tuple(rows)


def _finish(
    loaded: _Loaded, restored: np.ndarray, result: RestoreResult,
    compare: tuple[report.CompareRow, ...] | None, batch_size: int,
) -> report.ReportEntry:
    """Score and write a restored image; its report entry."""
    job = loaded.job
    if result.noise == "poisson" and loaded.reference is not None:
        # In counts, the reference's largest count as the range.
        counts_of = _counts_reader(result)
        clean = counts_of(loaded.reference)
        peak = max(float(clean.max()), np.finfo(float).tiny)

        def scores(pixels):
            return quality(clean / peak, counts_of(pixels) / peak)
    else:
        def scores(pixels):
            return quality(loaded.reference_unit, _unit(pixels))
    psnr, ssim = (None, None) if loaded.reference is None else scores(restored)
    start = time.perf_counter()
    # Written as the input was stored (TIFF photometric, lossless compression).
    write_image(job.output, restored, overwrite=job.overwrite, like=loaded.header)
    write_seconds = time.perf_counter() - start
    file_psnr = file_ssim = None
    if loaded.reference is not None and job.output.suffix.lower() in LOSSY_EXTENSIONS:
        # A JPEG file is not the result: score what was written, as a
        # reader of the file will decode it.
        file_psnr, file_ssim = scores(read_image(job.output))
    return report.entry(
        job,
        status=report.RESTORED,
        shape=tuple(loaded.noisy.shape),
        dtype=str(loaded.noisy.dtype),
        task=job.task,
        psf=job.psf,
        mask=None if job.mask is None else str(job.mask),
        upscale=job.upscale,
        **result.to_dict(),
        batch_size=batch_size,
        read_seconds=loaded.read_seconds,
        write_seconds=write_seconds,
        tensorflow_seconds=_tf.IMPORT_SECONDS,
        # The work this image's result waited for, not the queue: a batch's
        # images share its compile, search and solve times.
        total_seconds=(loaded.read_seconds + result.compile_seconds
                       + result.weight_search_seconds + result.solve_seconds + write_seconds),
        psnr=psnr,
        ssim=ssim,
        file_psnr=file_psnr,
        file_ssim=file_ssim,
        compare=compare,
    )


def run_batch(
    jobs: Sequence[FileJob],
    options: RestoreOptions,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_entry: Callable[[int, report.ReportEntry], None] | None = None,
    tile_options: RestoreOptions | None = None,
    volume_settings: VolumeSettings | None = None,
) -> list[report.ReportEntry]:
    """Restore every job, as few compiled calls as the shapes allow; never raise for a file.

    Files are read in order, `batch_size` ahead, by a thread pool. Read
    images wait in one buffer per :func:`~tvrestore.api.solve_shape`; a
    buffer that reaches `batch_size` is restored by one
    :func:`tvrestore.api.denoise_images` call (an image's result does not depend
    on its batch; if the call fails, its images are restored one by one so
    that only the culprit fails), and its images are scored and written by
    the pool while the next batch solves. At most ``4 * batch_size`` images
    wait in buffers: beyond that the fullest buffer is restored early, and
    at most ``2 * batch_size`` wait to be written, so memory stays bounded
    however many files and shapes there are. Partial buffers are restored
    at the end. An image beyond the whole-image budget that goes to tiles
    (:func:`tvrestore.runs.plan.route`) is decoded only when its turn comes and
    restored alone, in tiles, and written before the next is read on. A
    volume job is planned from its header when it is read ahead
    (:func:`tvrestore.runs.volumes.plan_volume`: every usage error of a
    single volume is its failed entry here), decoded when its turn comes,
    and restored and written alone
    (:func:`tvrestore.runs.volumes.restore_volume_file`), as a single
    volume is: the same bytes.

    Parameters
    ----------
    jobs : sequence of FileJob
        From :func:`plan_jobs`. Output directories are created as needed,
        after temporary files that a killed run left in them are removed.
    options : RestoreOptions
    batch_size : int
        Most images per compiled call.
    on_entry : callable, optional
        ``on_entry(index, entry)``, called in the calling thread as each
        job's entry is ready (in completion order, not job order).
    tile_options : RestoreOptions, optional
        The options of images restored in tiles (:func:`restore_file`).
    volume_settings : VolumeSettings, optional
        The axes and spacing of the volume jobs (default: each file's).

    Returns
    -------
    list of ReportEntry
        One entry per job, in job order. status "skipped" when the output
        exists and the job does not overwrite (nothing is read;
        skip_reason "output exists"), or when another live run has claimed
        it (skip_reason "claimed by another run"); "failed"
        with ``error``, one line naming the file and the problem, and
        output None when the file could not be read (or its reference, or
        it has the wrong shape), restored or written; "restored" otherwise,
        with the fields of :func:`restore_file`. ``solve_seconds`` is the
        time of the whole compiled call, shared by its ``batch_size``
        images; ``total_seconds`` is the work the image waited for, queue
        waits excluded (:class:`tvrestore.runs.report.ReportEntry`).

    Raises
    ------
    TVRestoreError
        If `batch_size` is below 1 (before any work).
    KeyboardInterrupt
        Passed on after the outputs already restored have been written
        (and reported through `on_entry`), and no read is pending.
    """
    if batch_size < 1:
        raise TVRestoreError(f"batch_size must be at least 1, got {batch_size!r}")
    remove_leftovers({job.output.parent for job in jobs})
    entries: list[dict | None] = [None] * len(jobs)
    claims = Claims()

    def deliver(index: int, entry: report.ReportEntry) -> None:
        entries[index] = entry
        if on_entry is not None:
            on_entry(index, entry)

    try:
        with concurrent.futures.ThreadPoolExecutor(_IO_WORKERS, "tvrestore-io") as pool:
            run = _BatchRun(jobs, options, batch_size, pool, deliver, claims,
                            tile_options or options, volume_settings or VolumeSettings())
            try:
                run.all()
            except BaseException:
                run.stop()
                raise
    finally:
        # After the pool is shut down: no read can claim anything any more.
        claims.release_all()
    return entries


class _BatchRun:
    """The state of one :func:`run_batch`: reads ahead, shape buffers, writes behind."""

    def __init__(self, jobs, options, batch_size, pool, deliver, claims, tile_options,
                 volume_settings) -> None:
        self.jobs = jobs
        self.volume_settings = volume_settings
        self.claims = claims
        self.options = options
        self.tile_options = tile_options
        self.batch_size = batch_size
        self.pool = pool
        self.deliver = deliver
        self.reads: collections.deque = collections.deque()
        self.waiting: dict[tuple, list[tuple[int, _Loaded]]] = {}
        self.writes: dict[concurrent.futures.Future, int] = {}

    def all(self) -> None:
        upcoming = iter(enumerate(self.jobs))
        self._read_ahead(upcoming)
        while self.reads:
            index, future = self.reads.popleft()
            self._read_ahead(upcoming)
            loaded = future.result()
            if isinstance(loaded, report.ReportEntry):
                self.deliver(index, loaded)
                continue
            if isinstance(loaded, FileJob):
                self._restore_in_tiles(index, loaded)
                continue
            if isinstance(loaded, _PlannedVolume):
                self._restore_volume(index, loaded)
                continue
            key = solve_shape(loaded.noisy.shape)
            group = self.waiting.setdefault(key, [])
            group.append((index, loaded))
            if len(group) >= self._images_per_call(key):
                self._restore(key)
            elif sum(map(len, self.waiting.values())) > 4 * self.batch_size:
                self._restore(max(self.waiting, key=lambda key: len(self.waiting[key])))
            self._collect_writes(block=False)
        while self.waiting:
            self._restore(next(iter(self.waiting)))
        self._collect_writes(block=True)

    def _images_per_call(self, key: tuple) -> int:
        """At most ``batch_size`` images of solve shape ``key`` per call, together within
        the size budget one image has (:func:`tvrestore.runs.plan.max_pixels`)."""
        return max(1, min(self.batch_size, max_pixels() // math.prod(key)))

    def stop(self) -> None:
        """After an interrupt: drop pending reads, let started writes finish and report them."""
        for _, future in self.reads:
            future.cancel()
        self._collect_writes(block=True)

    def _restore_in_tiles(self, index: int, job: FileJob) -> None:
        """Decode, restore in tiles and write a claimed job here, alone; deliver its entry."""
        try:
            entry = _restore_in_tiles(_load(job), self.tile_options)
        except Exception as err:
            entry = report.failed_entry(job, err)
        finally:
            self.claims.release(job.output)
        self.deliver(index, entry)

    def _restore_volume(self, index: int, planned: _PlannedVolume) -> None:
        """Read, restore and write a planned, claimed volume here, alone; deliver its entry."""
        try:
            entry = restore_volume_file(planned.job, self.options, planned.plan, claimed=True)
        except Exception as err:
            entry = report.failed_entry(planned.job, err)
        finally:
            self.claims.release(planned.job.output)
        self.deliver(index, entry)

    def _read_ahead(self, upcoming) -> None:
        while len(self.reads) < self.batch_size:
            job = next(upcoming, None)
            if job is None:
                return
            index, job = job
            self.reads.append((index, self.pool.submit(
                _read, job, self.claims, self.volume_settings, self.options.noise)))

    def _restore(self, key: tuple) -> None:
        group = self.waiting.pop(key)
        for (index, loaded), outcome in zip(group, _solve([item for _, item in group], self.options)):
            if isinstance(outcome, BaseException):
                self.claims.release(loaded.job.output)
                self.deliver(index, report.failed_entry(loaded.job, outcome))
                continue
            restored, result = outcome
            try:
                # Here, not in the pool, so that skimage's timings are not
                # taken while the solver competes for the same cores.
                compare = _compare_rows(loaded, restored, result, len(group))
            except Exception as err:
                self.claims.release(loaded.job.output)
                self.deliver(index, report.failed_entry(loaded.job, err))
                continue
            # Bounded: finished images wait for the pool, not pile up.
            while len(self.writes) >= 2 * self.batch_size:
                self._collect_writes(block=True, first_only=True)
            # An image with a forward model was solved alone (see _solve).
            solved_with = len(group) if loaded.job.task == "denoise" else 1
            future = self.pool.submit(_write, loaded, restored, result, compare, solved_with,
                                      self.claims)
            self.writes[future] = index

    def _collect_writes(self, *, block: bool, first_only: bool = False) -> None:
        if block and self.writes:
            when = concurrent.futures.FIRST_COMPLETED if first_only else concurrent.futures.ALL_COMPLETED
            concurrent.futures.wait(self.writes, return_when=when)
        for future in [future for future in self.writes if future.done()]:
            self.deliver(self.writes.pop(future), future.result())


@dataclass(frozen=True)
class _PlannedVolume:
    """A volume job planned from its header and claimed, to be read and restored in its turn."""

    job: FileJob
    plan: VolumePlan


def _read(job: FileJob, claims: Claims, volume_settings: VolumeSettings = VolumeSettings(),
          noise: str = "gaussian") -> _Loaded | FileJob | _PlannedVolume | report.ReportEntry:
    """The pool's reading task: a loaded and claimed job, or its skipped or failed entry.

    A job that goes to tiles is claimed but not decoded: the job itself
    is returned, for the batch to decode when its turn comes; so is a
    volume job, planned (:func:`tvrestore.runs.volumes.plan_volume`) and
    its output checked once claimed.

    The output is claimed after the read, so that a broken file creates no
    output directory; it is checked again once claimed, because another
    run may have written it meanwhile and released its claim.
    """
    if job.output.exists() and not job.overwrite:
        return report.entry(job, status=report.SKIPPED, skip_reason=report.OUTPUT_EXISTS)
    try:
        if job.volume:
            loaded = _PlannedVolume(job, plan_volume(
                job, volume_settings.axes, volume_settings.spacing, noise, check_output=False))
        else:
            try:
                loaded = _load(job, decode_in_tiles=False)
            except _InTiles:
                loaded = job
        job.output.parent.mkdir(parents=True, exist_ok=True)
        if not claims.acquire(job.output):
            return report.entry(job, status=report.SKIPPED, skip_reason=report.CLAIMED)
    except Exception as err:
        return report.failed_entry(job, err)
    if job.output.exists() and not job.overwrite:
        claims.release(job.output)
        return report.entry(job, status=report.SKIPPED, skip_reason=report.OUTPUT_EXISTS)
    if isinstance(loaded, _PlannedVolume):
        try:
            check_volume_output(job, loaded.plan.header)
        except Exception as err:
            claims.release(job.output)
            return report.failed_entry(job, err)
    return loaded


def _solve(items: list[_Loaded], options: RestoreOptions) -> list[tuple | BaseException]:
    """(restored, result) or the exception, per item; one bad image fails alone.

    Images with a forward model are restored one by one.
    """
    if any(item.job.task != "denoise" for item in items):
        outcomes: list[tuple | BaseException] = []
        for item in items:
            try:
                outcomes.append(_restore_loaded(item, options))
            except Exception as err:
                outcomes.append(err)
        return outcomes
    try:
        return denoise_images([item.noisy for item in items], options)
    except Exception as err:
        if len(items) == 1:
            return [err]
    outcomes: list[tuple | BaseException] = []
    for item in items:
        try:
            outcomes.append(denoise_images([item.noisy], options)[0])
        except Exception as err:
            outcomes.append(err)
    return outcomes


def _write(
    loaded: _Loaded, restored: np.ndarray, result: RestoreResult,
    compare: tuple[report.CompareRow, ...] | None, batch_size: int, claims: Claims,
) -> report.ReportEntry:
    """The pool's writing task: score and write, or the failed entry; then release the claim."""
    try:
        return _finish(loaded, restored, result, compare, batch_size)
    except Exception as err:
        return report.failed_entry(loaded.job, err)
    finally:
        claims.release(loaded.job.output)


