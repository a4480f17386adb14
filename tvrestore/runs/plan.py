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

from tvrestore import io
from tvrestore.errors import TVRestoreError
from tvrestore.models.psf import PSF_KINDS
from tvrestore.models.shapes import colour_shape, solve_shape

__all__ = [
    "DEFAULT_MAX_PIXELS", "DEFAULT_MAX_PIXELS_FORWARD_MODEL", "MAX_PIXELS_VARIABLE", "FileJob",
    "check_budget", "check_degradation", "check_distinct", "check_reference", "check_single",
    "check_stored_budget", "check_tiled", "degradation_files", "max_pixels", "pixel_limit",
    "plan_jobs", "solve_values",
]

# What a PSF file may be (tvrestore.models.psf reads these).
_PSF_EXTENSIONS = (".npy", ".png", ".tif", ".tiff")


@dataclass(frozen=True)
class FileJob:
    """One input file, where its output goes, its optional reference, and its degradation.

    ``psf`` (a spec or a PSF file), ``mask`` (an image file, nonzero where
    a pixel is missing) and ``upscale`` describe the forward model of
    :func:`tvrestore.api.restore`; none of them is denoising.
    """

    input: Path
    output: Path
    reference: Path | None = None
    compare: bool = False
    overwrite: bool = False
    psf: str | None = None
    mask: Path | None = None
    upscale: int = 1

    @property
    def task(self) -> str:
        """"denoise", "deblur", "upscale", "inpaint" or their "+"-joined composition."""
        parts = [name for name, present in (
            ("deblur", self.psf is not None), ("upscale", self.upscale > 1),
            ("inpaint", self.mask is not None),
        ) if present]
        return "+".join(parts) or "denoise"

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
    for name, directory in (("PSF", psf_dir), ("mask", mask_dir)):
        if directory is not None and not Path(directory).is_dir():
            raise TVRestoreError(f"{directory}: {name} directory does not exist")

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
            **degradation_files(relative, psf=psf, psf_dir=psf_dir, mask=mask, mask_dir=mask_dir),
            upscale=upscale,
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
                excluded = _real(output_dir)
                listed = [path for path in listed if not _real(path).is_relative_to(excluded)]
            if output_dir is None:
                # What a run without OUT_DIR wrote beside its inputs.
                outputs = {io.default_output_path(path) for path in listed}
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
    reference_dir: Path, relative: Path, extensions=io.IMAGE_EXTENSIONS
) -> Path | None:
    exact = reference_dir / relative
    if exact.is_file():
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
        psf = _matched_name(Path(psf_dir), relative, _PSF_EXTENSIONS)
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


def check_single(job: FileJob, written: dict[str, Path | None] | None = None) -> io.ImageHeader:
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

    Raises
    ------
    TVRestoreError
        One line naming the file, if the input or reference cannot be read
        from its header, the reference's shape differs from the input's,
        the output's format cannot store the input's pixels, its directory
        is missing, it exists (without ``job.overwrite``) or is a directory,
        or two of the files read and written are one file.
    """
    header = io.read_header(job.input)
    check_degradation(job, header.shape)
    output_shape = job.output_shape(header.shape)
    if job.reference is not None:
        check_reference(job, io.read_header(job.reference).shape, header.shape)
    io.check_writable(job.output, output_shape, header.dtype)
    if not job.output.parent.is_dir():
        raise TVRestoreError(f"{job.output}: output directory does not exist")
    if job.output.is_dir():
        raise TVRestoreError(f"{job.output}: is a directory, not an output file")
    if job.output.exists() and not job.overwrite:
        raise TVRestoreError(f"{job.output}: output exists (use --overwrite)")
    check_distinct([job], written)
    return header


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
    from tvrestore.io import lazy as lazyio

    stored = lazyio.stored_shape(job.input)
    if stored is None:
        raise TVRestoreError(f"{job.input}: only TIFF and zarr are read in tiles")
    lazyio.check_image(*stored, job.input)
    read_format = "zarr" if lazyio.is_zarr(job.input) else "TIFF"
    suffix = job.output.suffix.lower()
    written_format = "zarr" if suffix == ".zarr" or lazyio.is_zarr(job.output) else "TIFF"
    if written_format != read_format or (written_format == "TIFF" and suffix not in (".tif", ".tiff")):
        raise TVRestoreError(
            f"{job.output}: a {read_format} input is written as {read_format} in tiles "
            f"(name the output {'*.zarr' if read_format == 'zarr' else '*.tif'})")
    if not job.output.parent.is_dir():
        raise TVRestoreError(f"{job.output}: output directory does not exist")
    if job.output.is_dir() and not lazyio.is_zarr(job.output):
        # Overwriting it would delete whatever the directory holds.
        raise TVRestoreError(f"{job.output}: is a directory, not a zarr array")
    if os.path.lexists(job.output) and not job.overwrite:
        raise TVRestoreError(f"{job.output}: output exists (use --overwrite)")
    check_distinct([job], written)
    _check_not_nested(job, written)
    return read_format


def _check_not_nested(job: FileJob, written: dict[str, Path | None] | None) -> None:
    """No path read or written is inside another (a zarr store is a directory), through links."""
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


def check_degradation(job: FileJob, input_shape: tuple[int, ...]) -> None:
    """The job's PSF and mask can be read and fit its input of ``input_shape``, within the budget.

    Called with the input's header shape, before its pixels are decoded.

    Raises
    ------
    TVRestoreError
        One line: a PSF spec or file that is not a PSF (sums to 0, holds
        NaN, ...), a PSF larger than the image, a mask that cannot be read
        or whose height and width are not the image's, an ``upscale``
        outside 1..8, or a solve beyond :func:`check_budget`'s limit.
    """
    from tvrestore.models.psf import check_psf_fits, parse_psf

    if not 1 <= job.upscale <= 8:
        raise TVRestoreError(f"--upscale must be from 2 to 8, got {job.upscale}")
    psf_shape = (1, 1)
    if job.psf is not None:
        kernel = parse_psf(job.psf)
        check_psf_fits(kernel, input_shape, str(job.input))
        psf_shape = kernel.shape
    check_budget(job.input, input_shape, upscale=job.upscale, psf_shape=psf_shape,
                 forward_model=job.task != "denoise")
    if job.mask is not None:
        mask_shape = io.read_header(job.mask).shape
        if tuple(mask_shape[:2]) != tuple(input_shape[:2]):
            raise TVRestoreError(
                f"{job.mask}: the mask is {mask_shape[0]}x{mask_shape[1]}, "
                f"but {job.input} is {input_shape[0]}x{input_shape[1]}"
            )


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
        if job.psf is not None and _names_a_file(job.psf):
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


def _names_a_file(psf: str) -> bool:
    """Whether a ``--psf`` value is read from a file, as :func:`tvrestore.models.psf.parse_psf` decides."""
    kind, colon, _ = str(psf).partition(":")
    if colon and kind.lower() in PSF_KINDS:
        return False
    return Path(psf).suffix.lower() in _PSF_EXTENSIONS


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
# The worst of each kind, with a margin, sizes its default limit, so that no
# option takes a run past 2 GiB. At the limits: denoising 3328x3584, pdhg
# 1932 MB, adam 1465 MB; deblurring 2290x2290 with gaussian:2, pdhg 1900 MB;
# inpainting 2304x2304, pdhg 1730 MB, adam 1472 MB.
_SOLVE_BYTES = 2**30
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
    Every path that solves a whole image checks this before decoding it.

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
        its default limit is lower (:func:`max_pixels`).

    Raises
    ------
    TVRestoreError
        Naming the image, the solve's padded shape, the limit and how to raise it.
    """
    height, width = (int(side) for side in input_shape[:2])
    padded, values = solve_values(input_shape, upscale=upscale, psf_shape=psf_shape)
    limit = max_pixels(forward_model)
    if values > limit:
        how = f" upscaled {upscale}x" if upscale > 1 else ""
        how += f" with a {psf_shape[0]}x{psf_shape[1]} PSF" if psf_shape != (1, 1) else ""
        raise TVRestoreError(
            f"{name}: too large to restore whole: {height}x{width}{how} solves as "
            f"{padded[0]}x{padded[1]} pixels x {padded[2]} channel(s) = {values} values, "
            f"more than the limit of {limit} ({_RAISE_HINT}; TIFF and zarr images "
            f"beyond it are restored in tiles)"
        )


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
