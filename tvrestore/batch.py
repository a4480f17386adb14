"""Files in, files out: restore image files, one or thousands, and report on each.

The library's :func:`tvrestore.denoise` works on arrays; this module adds
what a run over files needs:

- :func:`plan_jobs` turns command-line inputs (files and directories) into
  one :class:`FileJob` per image: where its output goes, its reference, and
  every usage error (missing input, two inputs onto one output, an output
  onto an input, nothing to do) before any work starts.
- :func:`restore_file` restores one file, raising on any problem.
- :func:`run_batch` restores many: images of one solve shape
  (:func:`tvrestore.restore.solve_shape`, sizes rounded up) go through
  :func:`tvrestore.denoise_batch` together, at most ``batch_size`` per
  compiled call; a small thread pool reads the next files and writes the
  finished ones while the solver runs; a file that cannot be read, restored
  or written gets an error entry and the others go on; an existing output
  is skipped (resume).
- :func:`summarise` and :func:`write_report` turn the entries into the
  console summary and a JSON or CSV report.

Every entry has the same keys (:data:`ENTRY_KEYS`), None where a value is
unknown: a skipped or failed file has no restoration fields.
"""

from __future__ import annotations

import collections
import concurrent.futures
import csv
import glob
import json
import re
import time
from dataclasses import asdict, dataclass, fields, replace
from io import StringIO
from pathlib import Path
from typing import Callable, Iterable, Sequence

import numpy as np

from tvrestore import io
from tvrestore.compare import compare_methods
from tvrestore.errors import TVRestoreError
from tvrestore.metrics import comparable_shape, quality
from tvrestore.restore import (
    DEFAULT_GAP, DEFAULT_TOL, RestoreResult, denoise, denoise_batch, solve_shape,
)

__all__ = [
    "DEFAULT_BATCH_SIZE",
    "ENTRY_KEYS",
    "BatchSummary",
    "FileJob",
    "RestoreOptions",
    "plan_jobs",
    "restore_file",
    "run_batch",
    "summarise",
    "write_report",
]

DEFAULT_BATCH_SIZE = 8

# The statuses of a report entry.
RESTORED, SKIPPED, FAILED = "restored", "skipped", "failed"

ENTRY_KEYS: tuple[str, ...] = (
    "input", "output", "reference", "status", "error", "shape", "dtype", "task",
    *(field.name for field in fields(RestoreResult)),
    "batch_size", "total_seconds", "psnr", "ssim", "compare",
)

# The thread pool that reads and writes files while the solver runs. The
# solver itself already uses every core for its arithmetic; decoding and
# encoding only need to keep ahead of it.
_IO_WORKERS = 2


@dataclass(frozen=True)
class RestoreOptions:
    """The settings of :func:`tvrestore.denoise` shared by every file of a run.

    ``max_iter=None`` is :func:`tvrestore.denoise`'s own default.
    """

    weight: float | str = "auto"
    reduction: str = "mean"
    tv: str = "isotropic"
    color: str = "vectorial"
    solver: str = "adam"
    max_iter: int | None = None
    tol: float = DEFAULT_TOL
    gap: float = DEFAULT_GAP

    def as_kwargs(self) -> dict:
        """Everything but the weight, as keyword arguments of :func:`denoise`."""
        return {key: value for key, value in asdict(self).items() if key != "weight"}


@dataclass(frozen=True)
class FileJob:
    """One input file, where its output goes, and its optional reference."""

    input: Path
    output: Path
    reference: Path | None = None
    compare: bool = False
    overwrite: bool = False


# --- planning -----------------------------------------------------------------------


def plan_jobs(
    inputs: Sequence[str | Path],
    output_dir: str | Path | None = None,
    *,
    pattern: str | None = None,
    reference_dir: str | Path | None = None,
    compare: bool = False,
    overwrite: bool = False,
) -> list[FileJob]:
    """One job per image found in `inputs`, with its output and reference.

    Parameters
    ----------
    inputs : sequence of path
        Image files and directories, in the order given. Directories are
        searched recursively by :func:`tvrestore.io.list_images` (hidden
        files and directories skipped). A file named here is taken whatever
        its extension (reading it reports the problem).
    output_dir : path, optional
        Where the outputs go: a file ``D/rel`` found in directory ``D`` is
        written to ``output_dir/rel``, a file named in `inputs` to
        ``output_dir/<name>``; same names, so same formats. It need not
        exist yet, and is never searched for inputs, even inside an input
        directory. Without it, each output is ``<stem>_tv<suffix>`` beside
        its input (:func:`tvrestore.io.default_output_path`), and a file
        found in a directory that is the default output of another input
        found there counts as an output, not an input, so that a re-run
        does not restore its own results.
    pattern : str, optional
        Narrows the images found in directories: matched against each file's
        path relative to its directory (see :func:`tvrestore.io.list_images`;
        ``*`` also matches ``/``). Files named in `inputs` are always taken.
    reference_dir : path, optional
        Clean images with the same relative paths (``reference_dir/rel``, or
        ``reference_dir/<name>`` for a named file). If that file is missing,
        the one image file with the same stem and another image extension
        in the same place is taken (clean PNGs for noisy JPEGs); if there is
        none, the job has no reference and gets no PSNR or SSIM.
    compare, overwrite : bool
        Copied into every job.

    Returns
    -------
    list of FileJob
        In the order of `inputs`, each directory's files sorted; an image
        reached twice (a directory and a file in it) is kept once, first
        come.

    Raises
    ------
    TVRestoreError
        If an input or `reference_dir` does not exist, `output_dir` or
        `reference_dir` is not a directory (or `output_dir` does not exist
        and has an image file extension), two images would be written to
        one output, an output would replace an input, or no image was found.
    """
    inputs = [Path(path) for path in inputs]
    output_dir = None if output_dir is None else Path(output_dir)
    reference_dir = None if reference_dir is None else Path(reference_dir)
    for path in inputs:
        if not path.exists():
            raise TVRestoreError(f"{path}: no such file or directory")
    if output_dir is not None and output_dir.exists() and not output_dir.is_dir():
        raise TVRestoreError(f"{output_dir}: output directory is a file")
    if output_dir is not None and not output_dir.exists() and (
        output_dir.suffix.lower() in io.IMAGE_EXTENSIONS
    ):
        # Several inputs cannot go to one file; creating a directory "out.png" would surprise.
        raise TVRestoreError(
            f"{output_dir}: looks like an image file, but several images need an output directory"
        )
    if reference_dir is not None and not reference_dir.is_dir():
        raise TVRestoreError(f"{reference_dir}: reference directory does not exist")

    found = _found_images(inputs, output_dir, pattern)
    if not found:
        where = ", ".join(str(path) for path in inputs)
        narrowed = f" matching {pattern!r}" if pattern is not None else ""
        raise TVRestoreError(
            f"no image files{narrowed} found in {where} "
            f"(extensions {', '.join(sorted(io.IMAGE_EXTENSIONS))})"
        )
    jobs = [
        FileJob(
            input=path,
            output=io.default_output_path(path) if output_dir is None else output_dir / relative,
            reference=None if reference_dir is None else _match_reference(reference_dir, relative),
            compare=compare,
            overwrite=overwrite,
        )
        for path, relative in found
    ]
    _check_outputs(jobs)
    return jobs


def _found_images(
    inputs: list[Path], output_dir: Path | None, pattern: str | None
) -> list[tuple[Path, Path]]:
    """(path, path relative to its input) of every image to restore, in order."""
    found: dict[Path, tuple[Path, Path]] = {}
    for given in inputs:
        if given.is_dir():
            listed = io.list_images(given, pattern)
            if output_dir is not None and _strictly_inside(output_dir, given):
                # The outputs of this run, or of an earlier one: never inputs.
                excluded = output_dir.resolve()
                listed = [path for path in listed if not path.resolve().is_relative_to(excluded)]
            if output_dir is None:
                # What a run without OUT_DIR wrote beside its inputs.
                outputs = {io.default_output_path(path) for path in listed}
                listed = [path for path in listed if path not in outputs]
            images = [(path, path.relative_to(given)) for path in listed]
        else:
            images = [(given, Path(given.name))]
        for path, relative in images:
            found.setdefault(path.resolve(), (path, relative))
    return list(found.values())


def _strictly_inside(inner: Path, outer: Path) -> bool:
    inner, outer = inner.resolve(), outer.resolve()
    return inner != outer and inner.is_relative_to(outer)


def _match_reference(reference_dir: Path, relative: Path) -> Path | None:
    exact = reference_dir / relative
    if exact.is_file():
        return exact
    same_stem = [
        path for path in sorted(exact.parent.glob(f"{glob.escape(exact.stem)}.*"))
        if path.suffix.lower() in io.IMAGE_EXTENSIONS and path.is_file()
    ] if exact.parent.is_dir() else []
    return same_stem[0] if len(same_stem) == 1 else None


def _check_outputs(jobs: list[FileJob]) -> None:
    inputs = {job.input.resolve(): job.input for job in jobs}
    writers: dict[Path, FileJob] = {}
    for job in jobs:
        target = job.output.resolve()
        if target in inputs:
            raise TVRestoreError(
                f"{job.output}: output of {job.input} would replace the input {inputs[target]}"
            )
        if target in writers:
            raise TVRestoreError(
                f"{job.output}: both {writers[target].input} and {job.input} would be written here"
            )
        writers[target] = job


# --- one file -----------------------------------------------------------------------


def restore_file(job: FileJob, options: RestoreOptions) -> dict:
    """Restore one file and return its report entry.

    The output is written atomically; the input is only read.

    Returns
    -------
    dict
        The keys of :data:`ENTRY_KEYS`: input, output, reference, status
        ("restored"), error (None), shape, dtype, task, the
        :class:`~tvrestore.restore.RestoreResult` fields, batch_size (1),
        total_seconds, psnr and ssim (None without a reference) and compare
        (a list of method rows with ``job.compare``, else None).

    Raises
    ------
    TVRestoreError
        With a message that names the offending file; an existing output
        (without ``job.overwrite``) is an error here, not a skip.
    """
    start = time.perf_counter()
    if job.output.resolve() == job.input.resolve():
        raise TVRestoreError(f"{job.output}: output would replace the input")
    if job.output.exists() and not job.overwrite:
        raise TVRestoreError(f"{job.output}: output exists (use --overwrite)")
    loaded = _load(job, start)
    try:
        restored, result = denoise(loaded.noisy, options.weight, **options.as_kwargs())
    except TVRestoreError as err:
        raise TVRestoreError(f"{job.input}: {err}") from err
    return _finish(loaded, restored, result, _compare_rows(loaded, restored, result, 1), 1)


@dataclass(frozen=True)
class _Loaded:
    """A job whose input (and reference) have been read."""

    job: FileJob
    noisy: np.ndarray
    reference: np.ndarray | None
    start: float


def _load(job: FileJob, start: float) -> _Loaded:
    noisy = io.read_image(job.input)
    reference = None
    if job.reference is not None:
        reference = io.read_image(job.reference)
        if comparable_shape(reference) != comparable_shape(noisy):
            raise TVRestoreError(
                f"{job.reference}: reference has shape {reference.shape}, "
                f"but {job.input} has {noisy.shape}"
            )
    return _Loaded(job=job, noisy=noisy, reference=reference, start=start)


def _compare_rows(
    loaded: _Loaded, restored: np.ndarray, result: RestoreResult, batch_size: int
) -> list[dict] | None:
    """The --compare rows, or None; tvrestore's seconds are its share of the batch."""
    if not loaded.job.compare:
        return None
    share = replace(result, solve_seconds=result.solve_seconds / batch_size)
    rows = compare_methods(loaded.noisy, restored, share, loaded.reference)
    return [row.to_dict() for row in rows]


def _finish(
    loaded: _Loaded, restored: np.ndarray, result: RestoreResult,
    compare: list[dict] | None, batch_size: int,
) -> dict:
    """Score and write a restored image; its report entry."""
    job = loaded.job
    psnr, ssim = quality(loaded.reference, restored) if loaded.reference is not None else (None, None)
    io.write_image(job.output, restored, overwrite=job.overwrite)
    return _entry(
        job,
        status=RESTORED,
        shape=list(loaded.noisy.shape),
        dtype=str(loaded.noisy.dtype),
        task="denoise",
        **result.to_dict(),
        batch_size=batch_size,
        total_seconds=time.perf_counter() - loaded.start,
        psnr=psnr,
        ssim=ssim,
        compare=compare,
    )


def _entry(job: FileJob, **values) -> dict:
    entry = dict.fromkeys(ENTRY_KEYS)
    entry.update(
        input=str(job.input),
        output=str(job.output),
        reference=None if job.reference is None else str(job.reference),
    )
    entry.update(values)
    return entry


def _failed(job: FileJob, err: BaseException) -> dict:
    message = " ".join(str(err).split()) or type(err).__name__
    if not isinstance(err, TVRestoreError):
        message = f"{type(err).__name__}: {message}"
    named = [job.input, job.output, job.reference]
    if not any(path is not None and message.startswith(str(path)) for path in named):
        message = f"{job.input}: {message}"
    return _entry(job, status=FAILED, error=message, output=None)


# --- many files -----------------------------------------------------------------------


def run_batch(
    jobs: Sequence[FileJob],
    options: RestoreOptions,
    *,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_entry: Callable[[int, dict], None] | None = None,
) -> list[dict]:
    """Restore every job, as few compiled calls as the shapes allow; never raise for a file.

    Files are read in order, `batch_size` ahead, by a thread pool. Read
    images wait in one buffer per :func:`~tvrestore.restore.solve_shape`; a
    buffer that reaches `batch_size` is restored by one
    :func:`tvrestore.denoise_batch` call (an image's result does not depend
    on its batch; if the call fails, its images are restored one by one so
    that only the culprit fails), and its images are scored and written by
    the pool while the next batch solves. At most ``4 * batch_size`` images
    wait in buffers: beyond that the fullest buffer is restored early, and
    at most ``2 * batch_size`` wait to be written, so memory stays bounded
    however many files and shapes there are. Partial buffers are restored
    at the end.

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

    Returns
    -------
    list of dict
        One entry per job, in job order. status "skipped" when the output
        exists and the job does not overwrite (nothing is read); "failed"
        with ``error``, one line naming the file and the problem, and
        output None when the file could not be read (or its reference, or
        it has the wrong shape), restored or written; "restored" otherwise,
        with the fields of :func:`restore_file`. ``solve_seconds`` is the
        time of the whole compiled call, shared by its ``batch_size``
        images; ``total_seconds`` runs from the start of the file's read to
        the end of its write, waits included.

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
    for directory in {job.output.parent for job in jobs}:
        io.remove_temporaries(directory)
    entries: list[dict | None] = [None] * len(jobs)

    def deliver(index: int, entry: dict) -> None:
        entries[index] = entry
        if on_entry is not None:
            on_entry(index, entry)

    with concurrent.futures.ThreadPoolExecutor(_IO_WORKERS, "tvrestore-io") as pool:
        run = _BatchRun(jobs, options, batch_size, pool, deliver)
        try:
            run.all()
        except BaseException:
            run.stop()
            raise
    return entries


class _BatchRun:
    """The state of one :func:`run_batch`: reads ahead, shape buffers, writes behind."""

    def __init__(self, jobs, options, batch_size, pool, deliver) -> None:
        self.jobs = jobs
        self.options = options
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
            if isinstance(loaded, dict):
                self.deliver(index, loaded)
                continue
            key = solve_shape(loaded.noisy.shape)
            group = self.waiting.setdefault(key, [])
            group.append((index, loaded))
            if len(group) >= self.batch_size:
                self._restore(key)
            elif sum(map(len, self.waiting.values())) > 4 * self.batch_size:
                self._restore(max(self.waiting, key=lambda key: len(self.waiting[key])))
            self._collect_writes(block=False)
        while self.waiting:
            self._restore(next(iter(self.waiting)))
        self._collect_writes(block=True)

    def stop(self) -> None:
        """After an interrupt: drop pending reads, let started writes finish and report them."""
        for _, future in self.reads:
            future.cancel()
        self._collect_writes(block=True)

    def _read_ahead(self, upcoming) -> None:
        while len(self.reads) < self.batch_size:
            job = next(upcoming, None)
            if job is None:
                return
            index, job = job
            self.reads.append((index, self.pool.submit(_read, job)))

    def _restore(self, key: tuple) -> None:
        group = self.waiting.pop(key)
        for (index, loaded), outcome in zip(group, _solve([item for _, item in group], self.options)):
            if isinstance(outcome, BaseException):
                self.deliver(index, _failed(loaded.job, outcome))
                continue
            restored, result = outcome
            try:
                # Here, not in the pool, so that skimage's timings are not
                # taken while the solver competes for the same cores.
                compare = _compare_rows(loaded, restored, result, len(group))
            except Exception as err:
                self.deliver(index, _failed(loaded.job, err))
                continue
            # Bounded: finished images wait for the pool, not pile up.
            while len(self.writes) >= 2 * self.batch_size:
                self._collect_writes(block=True, first_only=True)
            future = self.pool.submit(_write, loaded, restored, result, compare, len(group))
            self.writes[future] = index

    def _collect_writes(self, *, block: bool, first_only: bool = False) -> None:
        if block and self.writes:
            when = concurrent.futures.FIRST_COMPLETED if first_only else concurrent.futures.ALL_COMPLETED
            concurrent.futures.wait(self.writes, return_when=when)
        for future in [future for future in self.writes if future.done()]:
            self.deliver(self.writes.pop(future), future.result())


def _read(job: FileJob) -> _Loaded | dict:
    """The pool's reading task: a loaded job, or its skipped or failed entry."""
    start = time.perf_counter()
    if job.output.exists() and not job.overwrite:
        return _entry(job, status=SKIPPED)
    try:
        return _load(job, start)
    except Exception as err:
        return _failed(job, err)


def _solve(items: list[_Loaded], options: RestoreOptions) -> list[tuple | BaseException]:
    """(restored, result) or the exception, per item; one bad image fails alone."""
    try:
        return denoise_batch([item.noisy for item in items], options.weight, **options.as_kwargs())
    except Exception as err:
        if len(items) == 1:
            return [err]
    outcomes: list[tuple | BaseException] = []
    for item in items:
        try:
            outcomes.append(denoise(item.noisy, options.weight, **options.as_kwargs()))
        except Exception as err:
            outcomes.append(err)
    return outcomes


def _write(
    loaded: _Loaded, restored: np.ndarray, result: RestoreResult,
    compare: list[dict] | None, batch_size: int,
) -> dict:
    """The pool's writing task: score and write, or the failed entry."""
    try:
        loaded.job.output.parent.mkdir(parents=True, exist_ok=True)
        return _finish(loaded, restored, result, compare, batch_size)
    except Exception as err:
        return _failed(loaded.job, err)


# --- summary and reports --------------------------------------------------------------


@dataclass(frozen=True)
class BatchSummary:
    """What a run did, for the console.

    Attributes
    ----------
    restored, skipped, failed : int
        Entries by status.
    scored : int
        Restored images with a reference (they have a PSNR).
    psnr, ssim : float or None
        Means over the scored images (SSIM over those that have one).
    compare : list of dict
        With --compare: per method, its name, ``images`` and mean ``psnr``,
        ``ssim``, ``objective`` and ``seconds`` (None when unknown).
    wall_seconds : float
        The whole run, start-up and compilation included.
    """

    restored: int
    skipped: int
    failed: int
    scored: int
    psnr: float | None
    ssim: float | None
    compare: list[dict]
    wall_seconds: float

    @property
    def seconds_per_image(self) -> float | None:
        """Wall time per restored image (None if none was)."""
        return self.wall_seconds / self.restored if self.restored else None


def summarise(entries: Iterable[dict], wall_seconds: float) -> BatchSummary:
    """Count the entries by status and average their scores."""
    entries = list(entries)
    restored = [entry for entry in entries if entry["status"] == RESTORED]
    scored = [entry for entry in restored if entry["psnr"] is not None]
    rows: dict[str, list[dict]] = {}
    for entry in restored:
        for row in entry["compare"] or ():
            rows.setdefault(row["method"], []).append(row)
    return BatchSummary(
        restored=len(restored),
        skipped=sum(entry["status"] == SKIPPED for entry in entries),
        failed=sum(entry["status"] == FAILED for entry in entries),
        scored=len(scored),
        psnr=_mean(entry["psnr"] for entry in scored),
        ssim=_mean(entry["ssim"] for entry in scored),
        compare=[
            {"method": method, "images": len(method_rows),
             **{key: _mean(row[key] for row in method_rows)
                for key in ("psnr", "ssim", "objective", "seconds")}}
            for method, method_rows in rows.items()
        ],
        wall_seconds=wall_seconds,
    )


def _mean(values: Iterable[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return float(np.mean(known)) if known else None


def write_report(path: str | Path, entries: Sequence[dict]) -> None:
    """Write the entries atomically: CSV if `path` ends in ``.csv``, else JSON.

    JSON is ``{"results": entries}``. CSV has one row per entry and the
    columns of :data:`ENTRY_KEYS` (shape as ``HxW`` or ``HxWxC``, None as
    an empty cell), with ``compare`` replaced by one column per method and
    value, e.g. ``skimage_chambolle_psnr``.
    """
    path = Path(path)
    if path.suffix.lower() == ".csv":
        text = _csv_text(entries)
    else:
        text = json.dumps({"results": list(entries)}, indent=2) + "\n"
    io.write_text(path, text)


def _csv_text(entries: Sequence[dict]) -> str:
    rows = [_flat_row(entry) for entry in entries]
    columns = [key for key in ENTRY_KEYS if key != "compare"]
    for row in rows:
        columns += [key for key in row if key not in columns]
    buffer = StringIO()
    writer = csv.DictWriter(buffer, columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows(rows)
    return buffer.getvalue()


def _flat_row(entry: dict) -> dict:
    row = {key: "" if value is None else value for key, value in entry.items() if key != "compare"}
    if entry["shape"] is not None:
        row["shape"] = "x".join(map(str, entry["shape"]))
    for method in entry["compare"] or ():
        name = re.sub(r"[^a-z0-9]+", "_", method["method"].lower()).strip("_")
        for key, value in method.items():
            if key != "method":
                row[f"{name}_{key}"] = "" if value is None else value
    return row
