"""Report entries of a run over files, the console summary, and JSON or CSV reports.

An entry is a frozen :class:`ReportEntry`; it becomes JSON or CSV, with the
keys of :data:`ENTRY_KEYS` in order, only when the report is written.
"""

from __future__ import annotations

import csv
import json
import math
import re
from dataclasses import asdict, dataclass, fields
from io import StringIO
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np

from tvrestore.io.files import write_text
from tvrestore.errors import TVRestoreError, printable
from tvrestore.options import CompareRow
from tvrestore.runs.plan import FileJob

__all__ = [
    "CLAIMED", "ENTRY_KEYS", "FAILED", "OUTPUT_EXISTS", "RESTORED", "SKIPPED", "BatchSummary",
    "CompareRow", "ReportEntry",
    "entry", "failed_entry",
    "summarise", "write_report",
]

# The statuses of a report entry.
RESTORED, SKIPPED, FAILED = "restored", "skipped", "failed"
# Why an entry is "skipped" (its skip_reason): the output was there when
# the run came to it, or another run holds its claim (tvrestore.runs.claims) and
# is restoring it.
OUTPUT_EXISTS, CLAIMED = "output exists", "claimed by another run"

@dataclass(frozen=True, kw_only=True)
class ReportEntry:
    """One file's line in a run's report; None where a value is unknown.

    A skipped or failed file has no restoration fields. The fields after
    ``upscale`` up to ``history``, and the last ten (``noise``, ``gain``,
    ``offset``, ``counts_clipped``: the noise model and, for "poisson",
    the calibration used; ``impulse_fraction``, ``impulse_route``: for
    "impulse", what was detected; ``problem``: what was minimized; ``axes``
    and ``spacing``: a volume's, see :mod:`tvrestore.models.axes`;
    ``poisson_route``: how counts were denoised; appended so that earlier
    columns keep their places), are those of
    :class:`tvrestore.options.RestoreResult`. Times, in seconds:
    solve_seconds, compile_seconds and weight_search_seconds are those of
    the compiled call the image was in (shared by its batch_size images);
    read_seconds and write_seconds its own file's decoding and encoding;
    tensorflow_seconds the process's TensorFlow import (once per run);
    total_seconds = read + compile + weight search + solve + write, the
    work its result waited for, queue waits excluded. tile (height, width)
    and halo, in pixels, for an image restored in tiles, else None.
    psnr and ssim score the result as stored in the output's dtype;
    file_psnr and file_ssim the output file as decoded again, for a lossy
    format (JPEG) only, else None.
    """

    input: str
    output: str | None = None
    reference: str | None = None
    status: str | None = None
    error: str | None = None
    skip_reason: str | None = None
    shape: tuple[int, ...] | None = None
    dtype: str | None = None
    task: str | None = None
    psf: str | None = None
    mask: str | None = None
    upscale: int | None = None
    weight: float | None = None
    weight_auto: bool | None = None
    noise_sigma: float | None = None
    reduction: str | None = None
    tv: str | None = None
    color: str | None = None
    solver: str | None = None
    iterations: int | None = None
    converged: bool | None = None
    objective: float | None = None
    loss: float | None = None
    certified_gap: float | None = None
    solve_seconds: float | None = None
    compile_seconds: float | None = None
    compile_cached: bool | None = None
    weight_search_seconds: float | None = None
    history: tuple[dict, ...] | None = None
    batch_size: int | None = None
    tile: tuple[int, int] | None = None
    halo: int | None = None
    read_seconds: float | None = None
    write_seconds: float | None = None
    tensorflow_seconds: float | None = None
    total_seconds: float | None = None
    psnr: float | None = None
    ssim: float | None = None
    file_psnr: float | None = None
    file_ssim: float | None = None
    compare: tuple[CompareRow, ...] | None = None
    noise: str | None = None
    gain: float | None = None
    offset: float | None = None
    counts_clipped: float | None = None
    impulse_fraction: float | None = None
    impulse_route: str | None = None
    problem: str | None = None
    axes: str | None = None
    spacing: tuple[float, ...] | None = None
    poisson_route: str | None = None

    def to_dict(self) -> dict:
        """The fields in :data:`ENTRY_KEYS` order, as plain JSON-ready values."""
        record = {field.name: getattr(self, field.name) for field in fields(self)}
        if self.shape is not None:
            record["shape"] = list(self.shape)
        if self.tile is not None:
            record["tile"] = list(self.tile)
        if self.spacing is not None:
            record["spacing"] = list(self.spacing)
        if self.history is not None:
            record["history"] = [dict(check) for check in self.history]
        if self.compare is not None:
            record["compare"] = [asdict(row) for row in self.compare]
        return record


# The keys of a written entry, in order.
ENTRY_KEYS: tuple[str, ...] = tuple(field.name for field in fields(ReportEntry))


def entry(job: FileJob, **values) -> ReportEntry:
    """The entry of ``job``: its input, output and reference, and ``values``."""
    values = {"output": str(job.output),
              "reference": None if job.reference is None else str(job.reference),
              **values}
    return ReportEntry(input=str(job.input), **values)


def failed_entry(job: FileJob, err: BaseException) -> ReportEntry:
    if isinstance(err, OSError) and err.strerror:
        # One line naming the file, as the library's own errors do.
        message = f"{err.filename or job.output}: {err.strerror}"
    else:
        # Kept as it is, so that it still starts with a file name holding a
        # newline; whoever prints or reports it escapes it (errors.printable).
        message = str(err).strip() or type(err).__name__
    if not isinstance(err, (TVRestoreError, OSError)):
        message = f"{type(err).__name__}: {message}"
    named = [job.input, job.output, job.reference]
    if not any(path is not None and message.startswith(str(path)) for path in named):
        message = f"{job.input}: {message}"
    return entry(job, status=FAILED, error=message, output=None)


@dataclass(frozen=True)
class BatchSummary:
    """What a run did, for the console.

    Attributes
    ----------
    restored, skipped, failed : int
        Entries by status.
    scored : int
        Restored images with a reference and a finite PSNR.
    identical : int
        Restored images identical to their reference (PSNR infinite, null
        in reports): not in the PSNR mean, which they would make infinite.
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
    identical: int
    psnr: float | None
    ssim: float | None
    compare: list[dict]
    wall_seconds: float

    @property
    def seconds_per_image(self) -> float | None:
        """Wall time per restored image (None if none was)."""
        return self.wall_seconds / self.restored if self.restored else None


def summarise(entries: Iterable[ReportEntry], wall_seconds: float) -> BatchSummary:
    """Count the entries by status and average their scores."""
    entries = list(entries)
    restored = [entry for entry in entries if entry.status == RESTORED]
    scored = [entry for entry in restored if entry.psnr is not None]
    rows: dict[str, list[CompareRow]] = {}
    for entry in restored:
        for row in entry.compare or ():
            rows.setdefault(row.method, []).append(row)
    return BatchSummary(
        restored=len(restored),
        skipped=sum(entry.status == SKIPPED for entry in entries),
        failed=sum(entry.status == FAILED for entry in entries),
        scored=len(scored),
        identical=sum(entry.reference is not None and entry.psnr is None
                      for entry in restored),
        psnr=_mean(entry.psnr for entry in scored),
        ssim=_mean(entry.ssim for entry in scored),
        compare=[
            {"method": method, "images": len(method_rows),
             **{key: _mean(getattr(row, key) for row in method_rows)
                for key in ("psnr", "ssim", "objective", "seconds")}}
            for method, method_rows in rows.items()
        ],
        wall_seconds=wall_seconds,
    )


def _mean(values: Iterable[float | None]) -> float | None:
    known = [value for value in values if value is not None]
    return float(np.mean(known)) if known else None


def write_report(path: str | Path, entries: Sequence[ReportEntry]) -> None:
    """Write the entries atomically: CSV if `path` ends in ``.csv``, else JSON.

    JSON is ``{"results": entries}``, strict: a value that is not a finite
    number (NaN, an infinite PSNR) is written as null, never as the
    ``NaN`` or ``Infinity`` that JSON parsers reject. CSV has one row per
    entry and the columns of :data:`ENTRY_KEYS` (shape as ``HxW`` or
    ``HxWxC``, None as an empty cell), with ``compare`` replaced by one
    column per method and value, e.g. ``skimage_chambolle_psnr``, and
    without ``history`` (the solver's checks, JSON only).

    Text is safe whatever the file names hold: every string passes through
    :func:`tvrestore.errors.printable` (a control character or a byte of a
    name that is not UTF-8 is written as its escape, ``bad\\xff.png``), and
    a CSV cell that a spreadsheet would take for a formula (it starts with
    ``=``, ``+``, ``-``, ``@``, tab or carriage return) starts with a single
    quote, as OWASP advises against CSV injection.
    """
    path = Path(path)
    entries = [_reportable(entry.to_dict()) for entry in entries]
    if path.suffix.lower() == ".csv":
        text = _csv_text(entries)
    else:
        text = json.dumps({"results": entries}, indent=2, allow_nan=False) + "\n"
    write_text(path, text)


def _reportable(value):
    """``value`` with every non-finite float inside it None, every string printable."""
    if isinstance(value, dict):
        return {key: _reportable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_reportable(item) for item in value]
    if isinstance(value, float) and not math.isfinite(value):
        return None
    if isinstance(value, str):
        return printable(value)
    return value


def _csv_text(entries: Sequence[dict]) -> str:
    rows = [_flat_row(entry) for entry in entries]
    columns = [key for key in ENTRY_KEYS if key not in _NOT_IN_CSV]
    for row in rows:
        columns += [key for key in row if key not in columns]
    buffer = StringIO()
    writer = csv.DictWriter(buffer, columns, restval="", lineterminator="\n")
    writer.writeheader()
    writer.writerows({key: _inert(value) for key, value in row.items()} for row in rows)
    return buffer.getvalue()


# What starts a formula in a spreadsheet (OWASP, "CSV Injection").
_FORMULA_STARTS = ("=", "+", "-", "@", "\t", "\r")


def _inert(cell):
    """A text cell a spreadsheet shows as text: a formula's first character after a quote."""
    if isinstance(cell, str) and cell.startswith(_FORMULA_STARTS):
        return "'" + cell
    return cell


# A list per entry has no cell: compare becomes columns, history stays in JSON.
_NOT_IN_CSV = ("compare", "history")


def _flat_row(entry: dict) -> dict:
    row = {key: "" if value is None else value for key, value in entry.items()
           if key not in _NOT_IN_CSV}
    if entry["shape"] is not None:
        row["shape"] = "x".join(map(str, entry["shape"]))
    if entry["spacing"] is not None:
        row["spacing"] = ",".join(f"{step:g}" for step in entry["spacing"])
    for method in entry["compare"] or ():
        name = re.sub(r"[^a-z0-9]+", "_", method["method"].lower()).strip("_")
        for key, value in method.items():
            if key != "method":
                row[f"{name}_{key}"] = "" if value is None else value
    return row
