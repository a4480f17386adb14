"""Files in, files out: restore image files and describe each in a report.

The library's :func:`tvrestore.denoise` works on arrays; this module adds
what a run over files needs: reading, writing next to or under a chosen
place, scoring against a reference file, the skimage comparison, and one
JSON-ready report entry per input file.
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from tvrestore import io
from tvrestore.compare import compare_methods
from tvrestore.errors import TVRestoreError
from tvrestore.metrics import comparable_shape, quality
from tvrestore.restore import DEFAULT_MAX_ITER, DEFAULT_TOL, denoise

__all__ = ["FileJob", "RestoreOptions", "restore_file", "write_report"]


@dataclass(frozen=True)
class RestoreOptions:
    """The settings of :func:`tvrestore.denoise` shared by every file of a run."""

    weight: float | str = "auto"
    reduction: str = "mean"
    tv: str = "isotropic"
    color: str = "vectorial"
    max_iter: int = DEFAULT_MAX_ITER
    tol: float = DEFAULT_TOL

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


def restore_file(job: FileJob, options: RestoreOptions) -> dict:
    """Restore one file and return its report entry.

    The output is written atomically; the input is only read.

    Returns
    -------
    dict
        input, output, shape, dtype, task, the :class:`RestoreResult`
        fields, total_seconds, psnr, ssim (None without a reference) and
        compare (a list of method rows with ``job.compare``, else None).

    Raises
    ------
    TVRestoreError
        With a message that names the offending file.
    """
    start = time.perf_counter()
    if job.output.resolve() == job.input.resolve():
        raise TVRestoreError(f"{job.output}: output would replace the input")
    if job.output.exists() and not job.overwrite:
        raise TVRestoreError(f"{job.output}: output exists (use --overwrite)")
    noisy = io.read_image(job.input)
    reference = None
    if job.reference is not None:
        reference = io.read_image(job.reference)
        if comparable_shape(reference) != comparable_shape(noisy):
            raise TVRestoreError(
                f"{job.reference}: reference has shape {reference.shape}, "
                f"but {job.input} has {noisy.shape}"
            )
    try:
        restored, result = denoise(noisy, options.weight, **options.as_kwargs())
    except TVRestoreError as err:
        raise TVRestoreError(f"{job.input}: {err}") from err
    scores = quality(reference, restored) if reference is not None else (None, None)
    rows = compare_methods(noisy, restored, result, reference) if job.compare else None
    io.write_image(job.output, restored, overwrite=job.overwrite)
    return {
        "input": str(job.input),
        "output": str(job.output),
        "shape": list(noisy.shape),
        "dtype": str(noisy.dtype),
        "task": "denoise",
        **result.to_dict(),
        "total_seconds": time.perf_counter() - start,
        "psnr": scores[0],
        "ssim": scores[1],
        "compare": None if rows is None else [row.to_dict() for row in rows],
    }


def write_report(path: Path, entries: list[dict]) -> None:
    """Write ``{"results": entries}`` as JSON, atomically."""
    io.write_text(path, json.dumps({"results": entries}, indent=2) + "\n")
