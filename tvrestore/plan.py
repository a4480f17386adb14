"""Planning a run over files: what to restore, where each output goes, and every check that needs no solve.

No TensorFlow here: the command line plans and checks the whole run (inputs
exist and their headers decode, outputs and reports can be written and
touch no input) before TensorFlow loads, so a run that cannot succeed fails
in milliseconds, before any work.
"""

from __future__ import annotations

import errno
import glob
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

from tvrestore import io
from tvrestore.errors import TVRestoreError
from tvrestore.options import task_name
from tvrestore.psf import PSF_KINDS
from tvrestore.shapes import colour_shape

__all__ = ["FileJob", "check_degradation", "check_distinct", "check_single", "plan_jobs"]

# What a PSF file may be (tvrestore.psf reads these).
_PSF_EXTENSIONS = (".npy", ".png", ".tif", ".tiff")


@dataclass(frozen=True)
class FileJob:
    """One input file, where its output goes, its optional reference, and its degradation.

    ``psf`` (a spec or a PSF file), ``mask`` (an image file, nonzero where
    a pixel is missing) and ``upscale`` describe the forward model of
    :func:`tvrestore.restore.restore`; none of them is denoising.
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
            psf=psf if psf_dir is None else _matched_name(Path(psf_dir), relative, _PSF_EXTENSIONS),
            mask=Path(mask) if mask is not None else (
                None if mask_dir is None else _match_reference(Path(mask_dir), relative)
            ),
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
        reference = io.read_header(job.reference)
        if colour_shape(reference.shape) != colour_shape(output_shape):
            raise TVRestoreError(
                f"{job.reference}: reference has shape {reference.shape}, "
                f"but the restored {job.input} has {output_shape}"
            )
    io.check_writable(job.output, output_shape, header.dtype)
    if not job.output.parent.is_dir():
        raise TVRestoreError(f"{job.output}: output directory does not exist")
    if job.output.is_dir():
        raise TVRestoreError(f"{job.output}: is a directory, not an output file")
    if job.output.exists() and not job.overwrite:
        raise TVRestoreError(f"{job.output}: output exists (use --overwrite)")
    check_distinct([job], written)
    return header


def check_degradation(job: FileJob, input_shape: tuple[int, ...]) -> None:
    """The job's PSF and mask can be read and fit its input of ``input_shape``.

    Raises
    ------
    TVRestoreError
        One line: a PSF spec or file that is not a PSF (sums to 0, holds
        NaN, ...), a PSF larger than the image, a mask that cannot be read
        or whose height and width are not the image's, or an ``upscale``
        outside 1..8.
    """
    from tvrestore.psf import check_psf_fits, parse_psf

    if not 1 <= job.upscale <= 8:
        raise TVRestoreError(f"--upscale must be from 2 to 8, got {job.upscale}")
    if job.psf is not None:
        check_psf_fits(parse_psf(job.psf), input_shape, str(job.input))
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
    """Whether a ``--psf`` value is read from a file, as :func:`tvrestore.psf.parse_psf` decides."""
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
