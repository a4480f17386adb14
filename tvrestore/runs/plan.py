"""Planning a run over files: what to restore, where each output goes, and every check that needs no solve.

No TensorFlow here: the command line plans and checks the whole run (inputs
exist and their headers decode, outputs and reports can be written and
touch no input) before TensorFlow loads, so a run that cannot succeed fails
in milliseconds, before any work.
"""

from __future__ import annotations

import contextlib
import errno
import glob
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import numpy as np

from tvrestore.io.images import (
    IMAGE_EXTENSIONS, MAX_DECODED_BYTES, MAX_PIXELS, ImageHeader, check_writable, read_header,
)
from tvrestore.io.lazy import StoredHeader, check_image, is_zarr, read_stored_header
from tvrestore.io.volumes import is_volume_file
from tvrestore.io.zarr_volumes import is_zarr_node
from tvrestore.errors import TVRestoreError, require_extra
from tvrestore.options import task_name
from tvrestore.io.psf import load_psf
from tvrestore.models.psf import PSF_FILE_SUFFIXES, check_psf_fits, names_a_psf_file
from tvrestore.models.shapes import colour_shape, solve_shape
from tvrestore.runs.naming import default_output_path, list_images

__all__ = [
    "DEFAULT_MAX_PIXELS", "DEFAULT_MAX_PIXELS_FORWARD_MODEL", "MAX_PIXELS_VARIABLE", "FileJob",
    "DEFAULT_TILE", "MAX_TILES", "MIN_TILE", "Route", "check_budget", "check_degradation", "check_distinct",
    "check_not_nested", "check_reference", "check_single", "check_stored_budget", "check_tiled",
    "degradation_files",
    "fits_in_memory", "largest_tile", "max_pixels", "pixel_limit", "plan_jobs", "route",
    "solve_values", "stored_header",
]



@dataclass(frozen=True)
class FileJob:
    """One input file, where its output goes, its optional reference, and its degradation.

    ``psf`` (a spec or a PSF file), ``mask`` (an image file, nonzero where
    a pixel is missing) and ``upscale`` describe the forward model of
    :func:`tvrestore.api.restore`; none of them is denoising. ``volume``:
    the input is a volume or time-lapse (a TIFF stack or a zarr volume,
    :func:`tvrestore.io.volumes.is_volume_file`), planned by
    :func:`tvrestore.runs.volumes.plan_volume` and restored by
    :func:`tvrestore.runs.volumes.restore_volume_file`.
    """

    input: Path
    output: Path
    reference: Path | None = None
    compare: bool = False
    overwrite: bool = False
    psf: str | None = None
    mask: Path | None = None
    upscale: int = 1
    volume: bool = False

    @property
    def task(self) -> str:
        """"denoise", "deblur", "upscale", "inpaint" or their "+"-joined composition."""
        return task_name(self.psf, self.mask, self.upscale)

    def output_shape(self, input_shape: tuple[int, ...]) -> tuple[int, ...]:
        """The restored image's shape: ``upscale`` times the input's per side."""
        return (input_shape[0] * self.upscale, input_shape[1] * self.upscale, *input_shape[2:])


def plan_jobs(
    inputs: Sequence[str | Path],
    output_dir: str | Path | None = None,
    *,
    pattern: str | None = None,
    reference_dir: str | Path | None = None,
    compare: bool = False,
    overwrite: bool = False,
    psf: str | None = None,
    psf_dir: str | Path | None = None,
    mask: str | Path | None = None,
    mask_dir: str | Path | None = None,
    upscale: int = 1,
) -> list[FileJob]:
    """One job per image found in `inputs`, with its output and reference.

    Parameters
    ----------
    inputs : sequence of path
        Image files and directories, in the order given. Directories are
        searched recursively by :func:`tvrestore.runs.naming.list_images` (hidden
        files and directories skipped; a zarr volume is one input). A file
        named here is taken whatever its extension (reading it reports the
        problem), and so is a zarr store named here.
    output_dir : path, optional
        Where the outputs go: a file ``D/rel`` found in directory ``D`` is
        written to ``output_dir/rel``, a file named in `inputs` to
        ``output_dir/<name>``; same names, so same formats. It need not
        exist yet, and is never searched for inputs, even inside an input
        directory. Without it, each output is ``<stem>_tv<suffix>`` beside
        its input (:func:`tvrestore.runs.naming.default_output_path`), and a file
        found in a directory that is the default output of another input
        found there counts as an output, not an input, so that a re-run
        does not restore its own results.
    pattern : str, optional
        Narrows the images found in directories: matched against each file's
        path relative to its directory (see :func:`tvrestore.runs.naming.list_images`;
        ``*`` also matches ``/``). Files named in `inputs` are always taken.
    reference_dir : path, optional
        Clean images with the same relative paths (``reference_dir/rel``, or
        ``reference_dir/<name>`` for a named file). If that file is missing,
        the one image file with the same stem and another image extension
        in the same place is taken (clean PNGs for noisy JPEGs); if there is
        none, the job has no reference and gets no PSNR or SSIM.
    compare, overwrite : bool
        Copied into every job.
    psf, mask : str or path, optional
        One PSF (spec or file) and one mask file for every job.
    psf_dir, mask_dir : path, optional
        Per image: the file with the same relative path, or the only one
        with the same stem and a PSF (``.npy``, ``.png``, ``.tif``,
        ``.tiff``) or image extension, as for ``reference_dir``; an image
        without one gets none.
    upscale : int
        Copied into every job.

    Returns
    -------
    list of FileJob
        In the order of `inputs`, each directory's files sorted; an image
        reached twice (a directory and a file in it) is kept once, first
        come. A TIFF stack or zarr volume (from its header,
        :func:`tvrestore.io.volumes.is_volume_file`) is a ``volume`` job;
        its header is checked when its turn comes, so a bad one fails
        alone.

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
        output_dir.suffix.lower() in IMAGE_EXTENSIONS
    ):
        # Several inputs cannot go to one file; creating a directory "out.png" would surprise.
        raise TVRestoreError(
            f"{output_dir}: looks like an image file, but several images need an output directory"
        )
    if reference_dir is not None and not reference_dir.is_dir():
        raise TVRestoreError(f"{reference_dir}: reference directory does not exist")
    for name, directory in (("PSF", psf_dir), ("mask", mask_dir)):
        if directory is not None and not Path(directory).is_dir():
            raise TVRestoreError(f"{directory}: {name} directory does not exist")

    found = _found_images(inputs, output_dir, pattern)
    if not found:
        where = ", ".join(str(path) for path in inputs)
        narrowed = f" matching {pattern!r}" if pattern is not None else ""
        raise TVRestoreError(
            f"no image files{narrowed} found in {where} "
            f"(extensions {', '.join(sorted(IMAGE_EXTENSIONS))}, or zarr volumes)"
        )
    jobs = [
        FileJob(
            input=path,
            output=default_output_path(path) if output_dir is None else output_dir / relative,
            reference=None if reference_dir is None else _match_reference(reference_dir, relative),
            compare=compare,
            overwrite=overwrite,
            **degradation_files(relative, psf=psf, psf_dir=psf_dir, mask=mask, mask_dir=mask_dir),
            upscale=upscale,
            volume=is_volume_file(path),
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
        if given.is_dir() and not is_zarr_node(given):
            listed = list_images(given, pattern)
            if output_dir is not None and _strictly_inside(output_dir, given):
                # The outputs of this run, or of an earlier one: never inputs.
                excluded = _real(output_dir)
                listed = [path for path in listed if not _real(path).is_relative_to(excluded)]
            if output_dir is None:
                # What a run without OUT_DIR wrote beside its inputs.
                outputs = {default_output_path(path) for path in listed}
                listed = [path for path in listed if path not in outputs]
            images = [(path, path.relative_to(given)) for path in listed]
        else:
            images = [(given, Path(given.name))]
        for path, relative in images:
            found.setdefault(_real(path), (path, relative))
    return list(found.values())


def _real(path: Path) -> Path:
    """`path` with symbolic links resolved as far as they go.

    Unlike ``Path.resolve`` (RuntimeError on Python < 3.13), a symbolic
    link loop is no error here: the file is planned like any other, and its
    read fails alone with "symbolic link loop".
    """
    return Path(os.path.realpath(path))


def _strictly_inside(inner: Path, outer: Path) -> bool:
    inner, outer = _real(inner), _real(outer)
    return inner != outer and inner.is_relative_to(outer)


def _match_reference(
    reference_dir: Path, relative: Path, extensions=IMAGE_EXTENSIONS
) -> Path | None:
    exact = reference_dir / relative
    if exact.is_file() or is_zarr_node(exact):
        return exact
    same_stem = [
        path for path in sorted(exact.parent.glob(f"{glob.escape(exact.stem)}.*"))
        if path.suffix.lower() in extensions and path.is_file()
    ] if exact.parent.is_dir() else []
    return same_stem[0] if len(same_stem) == 1 else None


def _matched_name(directory: Path, relative: Path, extensions) -> str | None:
    """The PSF file matched as a reference is, as a spec string (its path)."""
    found = _match_reference(directory, relative, extensions)
    return None if found is None else str(found)


def degradation_files(
    relative: Path,
    *,
    psf: str | None = None,
    psf_dir: str | Path | None = None,
    mask: str | Path | None = None,
    mask_dir: str | Path | None = None,
) -> dict:
    """The PSF and mask of the input at `relative`: the ones given, or those matched in a directory.

    A file in `psf_dir` or `mask_dir` matches as a reference does: the same
    relative path, or the one file with the same stem.

    Returns
    -------
    dict
        :class:`FileJob`'s ``psf`` (a spec string or None) and ``mask`` (a
        Path or None).
    """
    if psf_dir is not None:
        psf = _matched_name(Path(psf_dir), relative, PSF_FILE_SUFFIXES)
    if mask_dir is not None:
        mask = _match_reference(Path(mask_dir), relative)
    return {"psf": psf, "mask": None if mask is None else Path(mask)}


def _check_outputs(jobs: list[FileJob]) -> None:
    inputs = {_real(job.input): job.input for job in jobs}
    writers: dict[Path, FileJob] = {}
    for job in jobs:
        target = _real(job.output)
        if target in inputs:
            raise TVRestoreError(
                f"{job.output}: output of {job.input} would replace the input {inputs[target]}"
            )
        if target in writers:
            raise TVRestoreError(
                f"{job.output}: both {writers[target].input} and {job.input} would be written here"
            )
        writers[target] = job


def check_single(
    job: FileJob, written: dict[str, Path | None] | None = None
) -> tuple[ImageHeader, Route]:
    """Every check of a one-file run that needs no solve, from headers alone.

    Parameters
    ----------
    job : FileJob
    written : dict, optional
        Other files the run will write, by what they are (``{"report":
        path}``); None values are ignored.

    Returns
    -------
    tvrestore.io.ImageHeader
        The input's header.
    Route
        Whether it is restored whole or in tiles (:func:`route`).

    Raises
    ------
    TVRestoreError
        One line naming the file, if the input or reference cannot be read
        from its header, it is too large to restore (:func:`route`), the
        reference's shape differs from the input's,
        the output's format cannot store the input's pixels, its directory
        is missing, it exists (without ``job.overwrite``) or is a directory,
        or two of the files read and written are one file.
    """
    header = read_header(job.input)
    chosen = check_degradation(job, header.shape, header.dtype)
    output_shape = job.output_shape(header.shape)
    if job.reference is not None:
        check_reference(job, read_header(job.reference).shape, header.shape)
    check_writable(job.output, output_shape, header.dtype)
    if not job.output.parent.is_dir():
        raise TVRestoreError(f"{job.output}: output directory does not exist")
    if job.output.is_dir():
        raise TVRestoreError(f"{job.output}: is a directory, not an output file")
    if job.output.exists() and not job.overwrite:
        raise TVRestoreError(f"{job.output}: output exists (use --overwrite)")
    check_distinct([job], written)
    return header, chosen


def check_tiled(job: FileJob, written: dict[str, Path | None] | None = None) -> str:
    """Every check of a run in tiles that needs no solve: :func:`check_single`'s promises.

    The input is a TIFF file or a zarr array directory, read and written
    chunk by chunk (:mod:`tvrestore.io.lazy`), so its header is that of a
    TIFF or zarr, and its output has its format: a TIFF gives a ``.tif``
    or ``.tiff``, a zarr a ``.zarr`` or an existing zarr directory.

    A zarr store is a directory that its writer replaces whole, so besides
    :func:`check_distinct` (one file through links) no file read or
    written may be inside another: an output or report inside the input
    store, or the input inside the output store, is refused.

    Parameters
    ----------
    job : FileJob
        Denoising only (tiles restore no PSF, mask or upscaling).
    written : dict, optional
        Other files the run writes, as for :func:`check_single`.

    Returns
    -------
    str
        The format read and written: "TIFF" or "zarr".

    Raises
    ------
    TVRestoreError
        One line naming the file, if the input is not a TIFF or zarr image
        the tiles can restore (shape, empty, dtype), the output's name is
        not of its format, its directory is missing, it exists (without
        ``job.overwrite``) or is a directory that is no zarr array, or two
        of the files read and written are one, or one is inside the other.
    """
    stored = stored_header(job.input)
    if stored is None:
        raise TVRestoreError(f"{job.input}: only TIFF and zarr are read in tiles")
    check_image(stored.shape, stored.dtype, job.input)
    read_format = "zarr" if is_zarr(job.input) else "TIFF"
    suffix = job.output.suffix.lower()
    written_format = "zarr" if suffix == ".zarr" or is_zarr(job.output) else "TIFF"
    if written_format != read_format or (written_format == "TIFF" and suffix not in (".tif", ".tiff")):
        raise TVRestoreError(
            f"{job.output}: a {read_format} input is written as {read_format} in tiles "
            f"(name the output {'*.zarr' if read_format == 'zarr' else '*.tif'})")
    if not job.output.parent.is_dir():
        raise TVRestoreError(f"{job.output}: output directory does not exist")
    if job.output.is_dir() and not is_zarr(job.output):
        # Overwriting it would delete whatever the directory holds.
        raise TVRestoreError(f"{job.output}: is a directory, not a zarr array")
    if os.path.lexists(job.output) and not job.overwrite:
        raise TVRestoreError(f"{job.output}: output exists (use --overwrite)")
    check_distinct([job], written)
    check_not_nested(job, written)
    return read_format


def check_not_nested(job: FileJob, written: dict[str, Path | None] | None = None) -> None:
    """No path read or written is inside another (a zarr store is a directory), through links.

    Raises
    ------
    TVRestoreError
        Naming both, e.g. ``out.zarr: the output is inside the input in.zarr``.
    """
    roles = [("input", job.input), ("output", job.output)]
    roles += [(role, Path(path)) for role, path in (written or {}).items() if path is not None]
    for role, path in roles:
        for other_role, other in roles:
            if _strictly_inside(path, other):
                raise TVRestoreError(f"{path}: the {role} is inside the {other_role} {other}")


def check_reference(
    job: FileJob, reference_shape: tuple[int, ...], input_shape: tuple[int, ...]
) -> None:
    """The reference, of ``reference_shape`` (from its header), matches the restored input's shape.

    Raises
    ------
    TVRestoreError
        Naming the reference and both shapes (alpha and a single channel
        aside, :func:`tvrestore.models.shapes.colour_shape`).
    """
    output_shape = job.output_shape(input_shape)
    if colour_shape(reference_shape) != colour_shape(output_shape):
        raise TVRestoreError(
            f"{job.reference}: reference has shape {reference_shape}, "
            f"but the restored {job.input} has {output_shape}"
        )


def check_degradation(job: FileJob, input_shape: tuple[int, ...], dtype) -> Route:
    """The job's PSF and mask can be read and fit its input of ``input_shape``, within the budget.

    Called with the input's header shape and dtype, before its pixels are decoded.

    Returns
    -------
    Route
        Whether the image is restored whole or in tiles (:func:`route`).

    Raises
    ------
    TVRestoreError
        One line: a PSF spec or file that is not a PSF (sums to 0, holds
        NaN, ...), a PSF larger than the image, a mask that cannot be read
        or whose height and width are not the image's, an ``upscale``
        outside 1..8, or an image :func:`route` refuses.
    """
    if not 1 <= job.upscale <= 8:
        raise TVRestoreError(f"--upscale must be from 2 to 8, got {job.upscale}")
    psf_shape = (1, 1)
    if job.psf is not None:
        kernel = load_psf(job.psf)
        check_psf_fits(kernel, input_shape, str(job.input), psf_name=str(job.psf))
        psf_shape = kernel.shape
    chosen = route(job, input_shape, dtype, psf_shape=psf_shape)
    if job.mask is not None:
        mask_shape = read_header(job.mask).shape
        if tuple(mask_shape[:2]) != tuple(input_shape[:2]):
            raise TVRestoreError(
                f"{job.mask}: the mask is {mask_shape[0]}x{mask_shape[1]}, "
                f"but {job.input} is {input_shape[0]}x{input_shape[1]}"
            )
    return chosen


def check_distinct(jobs: Sequence[FileJob], written: dict[str, Path | None] | None = None) -> None:
    """No file the run writes is a file it reads, or another file it writes.

    Files are compared as the file system sees them: through symbolic
    links and hard links, so a report named like an input by another path
    is caught too.

    Parameters
    ----------
    jobs : sequence of FileJob
        Their inputs, references, masks and PSF files (a ``psf`` that names
        a file, not a spec such as ``gaussian:1.6``) are read, their
        outputs written.
    written : dict, optional
        Other files the run writes, by what they are (``"report"``,
        ``"figure"``, ``"gallery"``); None values are ignored.

    Raises
    ------
    TVRestoreError
        Naming both roles, e.g. ``run.json: the report would replace the
        input a.png``.
    """
    read: dict[tuple, str] = {}
    for job in jobs:
        read[_identity(job.input)] = f"the input {job.input}"
        if job.reference is not None:
            read[_identity(job.reference)] = f"the reference {job.reference}"
        if job.mask is not None:
            read[_identity(Path(job.mask))] = f"the mask {job.mask}"
        if job.psf is not None and names_a_psf_file(job.psf):
            read[_identity(Path(job.psf))] = f"the PSF {job.psf}"
    writes: dict[tuple, str] = {}
    for job in jobs:
        identity = _identity(job.output)
        if identity in read:
            raise TVRestoreError(f"{job.output}: the output would replace {read[identity]}")
        writes.setdefault(identity, f"the output {job.output}")
    for role, path in (written or {}).items():
        if path is None:
            continue
        identity = _identity(path)
        clash = read.get(identity) or writes.get(identity)
        if clash is not None:
            raise TVRestoreError(f"{path}: the {role} would replace {clash}")
        writes[identity] = f"the {role} {path}"


def _identity(path: Path) -> tuple:
    """What names one file: its device and inode if it exists, else its resolved path."""
    try:
        info = os.stat(path)
        return ("inode", info.st_dev, info.st_ino)
    except FileNotFoundError:
        pass
    except OSError as err:
        if err.errno != errno.ELOOP:
            raise TVRestoreError(f"{path}: {err.strerror}") from err
        # A loop is no file, so it is none of the others: reading it fails
        # alone, and writing replaces the link, never a file behind it.
    return ("path", _real(path))


# --- the size budget: one limit for every path, checked from headers -------------

MAX_PIXELS_VARIABLE = "TVRESTORE_MAX_PIXELS"

# What a whole-image solve may take, on top of what TensorFlow and Python
# take before any image (0.93 GB peak RSS for a 256x256 run). Peak RSS of
# `tvrestore restore IMG -q --max-iter 20` (/usr/bin/time -v, random grey
# PNGs, 256x256 against 4096x4096, or 2048x2048 with --upscale 2) grows per
# value solved (padded height x width x colour channels) by:
#   denoise, adam: 928 -> 1659 MB, 44 bytes per value;
#   denoise, pdhg: 959 -> 2279 MB, 79 bytes per value;
#   --upscale 2, adam: 928 -> 2298 MB for 4096x4096, 82 bytes per value;
#   --psf gaussian:2, adam: 928 -> 3443 MB for 4608x4608 solved, 118 bytes per value;
#   --psf gaussian:2, pdhg: 959 -> 1712 MB for 2304x2304 solved (2048x2048 in), 142 bytes per value;
#   colour (3 channels) 2048x2048, pdhg: 959 -> 1963 MB, 80 bytes per value;
#   --psf gaussian:2, pdhg, 2546x2546 in (2560x2560 solved): 959 -> 2190 MB, 188 bytes per value.
# The worst of each kind, with a margin, sizes its default limit. With 1 GiB
# of solve the peaks at the limits were: denoising 3328x3584, pdhg 1932 MB,
# adam 1465 MB; deblurring 2290x2290 with gaussian:2, pdhg 1900 MB;
# inpainting 2304x2304, pdhg 1730 MB, adam 1472 MB (MB of 2**20 bytes):
# within 2 GiB, but 1932 MiB is above 2e9 bytes. 900 MiB of solve keeps
# every kind below 2 GB however it is counted: at the new denoising limit
# (3064x3320 grey, --max-iter 20) pdhg peaked at 1667 MiB, adam at 1329 MiB.
_SOLVE_BYTES = 900 * 2**20
_DENOISE_BYTES_PER_VALUE = 88
_FORWARD_MODEL_BYTES_PER_VALUE = 200
DEFAULT_MAX_PIXELS = _SOLVE_BYTES // _DENOISE_BYTES_PER_VALUE
DEFAULT_MAX_PIXELS_FORWARD_MODEL = _SOLVE_BYTES // _FORWARD_MODEL_BYTES_PER_VALUE

# The tiled path holds a few stored chunks and tiles at a time, never the
# image, but Dask plans one task per stored chunk: a header declaring
# [1e9, 1e9] or chunks of one pixel would take gigabytes in the plan alone.
# 2**36 pixels is a 256-gigapixel image; 2**18 chunks keep Dask's plan
# within a few hundred MB.
MAX_TILED_PIXELS = 2**36
MAX_STORED_CHUNKS = 2**18

_RAISE_HINT = f"raise it with --max-pixels or {MAX_PIXELS_VARIABLE}"


def max_pixels(forward_model: bool = False) -> int:
    """The largest solve, in pixel values: ``$TVRESTORE_MAX_PIXELS`` if set.

    Else :data:`DEFAULT_MAX_PIXELS` for denoising, or
    :data:`DEFAULT_MAX_PIXELS_FORWARD_MODEL` with a forward model
    (``forward_model``: a PSF, a mask or upscaling), whose solve takes more
    memory per value. The command line's ``--max-pixels`` sets the
    variable for its run (and the local workers it starts).

    Raises
    ------
    TVRestoreError
        If the variable is set to anything but a positive whole number.
    """
    value = os.environ.get(MAX_PIXELS_VARIABLE)
    if value is None:
        return DEFAULT_MAX_PIXELS_FORWARD_MODEL if forward_model else DEFAULT_MAX_PIXELS
    try:
        limit = int(value)
    except ValueError:
        limit = 0
    if limit < 1:
        raise TVRestoreError(
            f"{MAX_PIXELS_VARIABLE}: expected a positive whole number, not {value!r}")
    return limit


@contextlib.contextmanager
def pixel_limit(limit: int | None):
    """Within the block, :func:`max_pixels` is ``limit`` (None: unchanged), here and in
    the worker processes started meanwhile; the variable is restored after."""
    if limit is None:
        yield
        return
    before = os.environ.get(MAX_PIXELS_VARIABLE)
    os.environ[MAX_PIXELS_VARIABLE] = str(limit)
    try:
        yield
    finally:
        if before is None:
            del os.environ[MAX_PIXELS_VARIABLE]
        else:
            os.environ[MAX_PIXELS_VARIABLE] = before


def solve_values(
    input_shape: tuple[int, ...], *, upscale: int = 1, psf_shape: tuple[int, int] = (1, 1)
) -> tuple[tuple[int, int, int], int]:
    """The padded (height, width, colour channels) a whole-image solve takes, and its values.

    The solve covers the output (``upscale`` times the input per side),
    widened by the PSF's margin on each side, padded as
    :func:`tvrestore.models.shapes.solve_shape` pads it (a 1-pixel-high image
    solves as 16 rows); alpha is not solved.
    """
    height, width = (int(side) for side in input_shape[:2])
    padded = solve_shape((upscale * height + psf_shape[0] - 1,
                          upscale * width + psf_shape[1] - 1, *input_shape[2:]))
    return padded, math.prod(padded)


def check_budget(
    name: str | Path,
    input_shape: tuple[int, ...],
    *,
    upscale: int = 1,
    psf_shape: tuple[int, int] = (1, 1),
    forward_model: bool = False,
) -> None:
    """Refuse an image whose whole-image solve would exceed :func:`max_pixels`, from its shape.

    The solve's values are counted by :func:`solve_values`: the padded,
    upscaled output with the PSF's margin, times its colour channels.
    Every path that solves a whole image checks this before decoding it
    (:func:`route` sends a denoising beyond it to tiles instead).

    Parameters
    ----------
    name : str or path
        Names the image in the message.
    input_shape : tuple of int
        ``(H, W)`` or ``(H, W, C)``, from the header.
    upscale : int
    psf_shape : (int, int)
        The PSF's (height, width), odd sides.
    forward_model : bool
        Whether the solve has a forward model (PSF, mask or upscaling):
        its default limit is lower (:func:`max_pixels`), and it cannot be
        solved in tiles.

    Raises
    ------
    TVRestoreError
        Naming the image, the solve's padded shape, the limit and how to raise it.
    """
    values = solve_values(input_shape, upscale=upscale, psf_shape=psf_shape)[1]
    if values > max_pixels(forward_model):
        tiles = ("tiles restore noise only, not --psf, --mask or --upscale" if forward_model
                 else "beyond it, denoising is restored in tiles")
        raise TVRestoreError(
            f"{_beyond_the_limit(name, input_shape, upscale, psf_shape, forward_model)} "
            f"({_RAISE_HINT}; {tiles})")


def _beyond_the_limit(name, input_shape, upscale=1, psf_shape=(1, 1), forward_model=False) -> str:
    """``<name>: too large to restore whole: <its solve> ... more than the limit of <N>``."""
    height, width = (int(side) for side in input_shape[:2])
    padded, values = solve_values(input_shape, upscale=upscale, psf_shape=psf_shape)
    how = f" upscaled {upscale}x" if upscale > 1 else ""
    how += f" with a {psf_shape[0]}x{psf_shape[1]} PSF" if psf_shape != (1, 1) else ""
    return (f"{name}: too large to restore whole: {height}x{width}{how} solves as "
            f"{padded[0]}x{padded[1]} pixels x {padded[2]} channel(s) = {values} values, "
            f"more than the limit of {max_pixels(forward_model)}")


@dataclass(frozen=True)
class Route:
    """How an image is restored: whole, or decoded whole and solved in tiles.

    Attributes
    ----------
    in_tiles : bool
    tile_values : int
        In tiles: the most values one tile's solve may take (its tile and
        halo, padded, times its colour channels; :func:`largest_tile`).
        0 for a whole image.
    """

    in_tiles: bool = False
    tile_values: int = 0


# Decoded whole and solved in tiles (:func:`route`), an image is held in
# its own dtype up to three times beside the tiles' solves: the decoded
# input, the restored output the tiles are stored into, and the copy its
# encoder makes while writing (or its decoder while reading). The tiles'
# solve budget gives way to them, at the denoising solve's bytes per value.
_HELD_COPIES = 3
# The smallest tile :func:`largest_tile` gives, and the smallest halo
# (tiles.default_halo's): a tile that small still sees 16 pixels around it.
MIN_TILE = 16
# Tile side when tiling is automatic: a 2048x2048 float32 tile is 16 MiB,
# and its solve (iterate, data, Adam's two moments, gradients, halo) stays
# within a few hundred MiB, beside TensorFlow's own few hundred.
DEFAULT_TILE = 2048
# Dask plans about ten tasks per tile: 4096 tiles keep the plan within a few
# MB. Within the decoding limits only a long, thin image needs more (a 1 x
# 100,000,000 PNG would be 48,829 tiles of 2048 pixels); a 2**27-pixel
# image of any usual aspect in tiles of 2048 needs 32.
MAX_TILES = 4096


def route(
    job: FileJob, input_shape: tuple[int, ...], dtype, *, psf_shape: tuple[int, int] = (1, 1)
) -> Route:
    """Whether an image of ``input_shape`` and ``dtype`` (its header's) is restored whole or in tiles.

    Whole if its solve is within :func:`check_budget`'s limit. Beyond it,
    a denoising (tiles restore noise only) within :mod:`tvrestore.io`'s
    decoding limits is decoded whole in its own dtype and solved in tiles
    (:func:`tvrestore.runs.tiles.restore_decoded`): each tile's solve takes at
    most :func:`max_pixels` values less what the image held whole takes
    (:data:`_HELD_COPIES` copies, counted at the denoising solve's bytes
    per value), so the run keeps the memory a whole-image solve at the
    limit has. Tiles need the ``dask`` extra.

    Raises
    ------
    TVRestoreError
        One line naming the file: a forward model beyond the limit
        (:func:`check_budget`), an image whose copies leave too little for
        a :data:`MIN_TILE` tile with its halo, one that would need more than
        :data:`MAX_TILES` tiles, or tiles without Dask;
        each says how to raise the limit (``--max-pixels``).
    """
    if job.task != "denoise":
        check_budget(job.input, input_shape, upscale=job.upscale, psf_shape=psf_shape,
                     forward_model=True)
        return Route()
    if solve_values(input_shape)[1] <= max_pixels():
        return Route()
    held = _HELD_COPIES * math.prod(int(side) for side in input_shape) * np.dtype(dtype).itemsize
    tile_values = max_pixels() - math.ceil(held / _DENOISE_BYTES_PER_VALUE)
    if largest_tile(input_shape, tile_values, halo=MIN_TILE, largest=MIN_TILE) is None:
        raise TVRestoreError(
            f"{_beyond_the_limit(job.input, input_shape)}, and too large for tiles: held whole "
            f"({_HELD_COPIES} x {held // _HELD_COPIES} bytes) it leaves {max(0, tile_values)} "
            f"values for a tile's solve, less than a {MIN_TILE}x{MIN_TILE} tile with its halo "
            f"takes ({_RAISE_HINT})")
    tiles = math.prod(-(-int(side) // DEFAULT_TILE) for side in input_shape[:2])
    if tiles > MAX_TILES:
        raise TVRestoreError(
            f"{_beyond_the_limit(job.input, input_shape)}, and too long and thin for tiles: "
            f"{tiles} tiles of at most {DEFAULT_TILE}x{DEFAULT_TILE} pixels, more than "
            f"{MAX_TILES} ({_RAISE_HINT})")
    try:
        require_extra("restoring it in tiles", "dask", ("dask",))
    except TVRestoreError as err:
        raise TVRestoreError(
            f"{_beyond_the_limit(job.input, input_shape)}; {err}, or {_RAISE_HINT} "
            f"to restore it whole") from err
    return Route(in_tiles=True, tile_values=tile_values)


def largest_tile(
    shape: tuple[int, ...], tile_values: int, *, halo: int, largest: int
) -> tuple[int, int] | None:
    """The largest tile side (a multiple of 16 up to ``largest``) whose solve fits ``tile_values``.

    A tile's solve covers the tile and ``min(halo, tile)`` pixels of its
    neighbours on every side (a halo beyond the tile would merge tiles),
    no more than the image's own sides, padded as :func:`solve_values`
    counts it.

    Returns
    -------
    (tile, halo) : (int, int) or None
        None if not even a :data:`MIN_TILE` tile fits.
    """
    height, width = (int(side) for side in shape[:2])
    for tile in range(largest - largest % MIN_TILE, MIN_TILE - 1, -MIN_TILE):
        seen = min(halo, tile)
        block = (min(height, tile + 2 * seen), min(width, tile + 2 * seen), *shape[2:])
        if solve_values(block)[1] <= tile_values:
            return tile, seen
    return None


def check_stored_budget(
    name: str | Path, shape: tuple[int, ...], dtype, chunk_shape: tuple[int, ...]
) -> None:
    """Refuse a TIFF or zarr for the tiled path whose header asks too much, before reading it.

    Parameters
    ----------
    name : str or path
    shape, chunk_shape : tuple of int
        The stored array's shape and its stored chunk's (a TIFF's tile or
        strip, a zarr's chunk), from the header.
    dtype : numpy dtype-like

    Raises
    ------
    TVRestoreError
        If the image has more than :data:`MAX_TILED_PIXELS` pixels, more
        than :data:`MAX_STORED_CHUNKS` chunks, or one chunk (decoded whole
        to read any pixel of it) holds more values than :func:`max_pixels`.
    """
    shape = tuple(int(side) for side in shape)
    chunk_shape = tuple(max(1, min(int(c), s)) for c, s in zip(chunk_shape, shape))
    pixels = math.prod(shape[:2])
    if pixels > MAX_TILED_PIXELS:
        raise TVRestoreError(
            f"{name}: absurd image size {'x'.join(map(str, shape))} "
            f"(more than {MAX_TILED_PIXELS} pixels, even in tiles)")
    chunks = math.prod(-(-side // chunk) for side, chunk in zip(shape, chunk_shape))
    if chunks > MAX_STORED_CHUNKS:
        raise TVRestoreError(
            f"{name}: {chunks} stored chunks of {'x'.join(map(str, chunk_shape))} "
            f"(more than {MAX_STORED_CHUNKS}); store it in larger chunks")
    chunk_values = math.prod(chunk_shape)
    limit = max_pixels()
    if chunk_values > limit:
        raise TVRestoreError(
            f"{name}: one stored chunk of {'x'.join(map(str, chunk_shape))} "
            f"({chunk_values * np.dtype(dtype).itemsize} bytes decoded) holds more than "
            f"the limit of {limit} values ({_RAISE_HINT}, or store it in smaller tiles)")


def stored_header(path: str | Path) -> StoredHeader | None:
    """A TIFF's or zarr's header (:func:`tvrestore.io.lazy.read_stored_header`), within the tiled budget.

    None for other formats. This is how the command line finds the images
    too large to read whole: what tiles cannot read either is refused here,
    from the header, before Dask or TensorFlow loads.

    Raises
    ------
    TVRestoreError
        Naming the file, if its header cannot be read or asks too much
        (:func:`check_stored_budget`: absurd sizes, too many chunks or one
        chunk past the budget).
    """
    header = read_stored_header(path)
    if header is not None:
        check_stored_budget(path, header.shape, header.dtype, header.chunks)
    return header


def fits_in_memory(shape: tuple[int, ...], dtype) -> bool:
    """Whether an image can be restored whole: within io's decoding limits
    (:data:`tvrestore.io.images.MAX_PIXELS`, :data:`~tvrestore.io.images.MAX_DECODED_BYTES`)
    and the solve budget (:func:`check_budget`)."""
    pixels = int(shape[0]) * int(shape[1])
    decodable = pixels <= MAX_PIXELS and (
        pixels * int(np.prod(shape[2:])) * np.dtype(dtype).itemsize <= MAX_DECODED_BYTES)
    return decodable and solve_values(shape)[1] <= max_pixels()
