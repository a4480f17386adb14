"""Names of a run's files: the images under a directory, and where each result goes."""

from __future__ import annotations

import fnmatch
import os
from pathlib import Path

from tvrestore.errors import TVRestoreError
from tvrestore.io.files import reason
from tvrestore.io.images import IMAGE_EXTENSIONS
from tvrestore.io.zarr_volumes import is_zarr_node, is_zarr_volume

__all__ = ["default_output_path", "list_images"]


def default_output_path(input_path: str | os.PathLike[str]) -> Path:
    """Name the result beside the input: ``<dir>/<stem>_tv<suffix>``.

    Parameters
    ----------
    input_path : str or path-like
        The input image, e.g. ``a/noisy.png``.

    Returns
    -------
    pathlib.Path
        E.g. ``a/noisy_tv.png``; only the last suffix counts, so
        ``x.tar.tif`` gives ``x.tar_tv.tif``.
    """
    input_path = Path(input_path)
    return input_path.with_name(f"{input_path.stem}_tv{input_path.suffix}")


def list_images(
    root: str | os.PathLike[str], pattern: str | None = None
) -> list[Path]:
    """List the image files and zarr volumes under a directory, recursively.

    Parameters
    ----------
    root : str or path-like
        Directory to search.
    pattern : str, optional
        Shell-style pattern (:mod:`fnmatch`) matched against each file's path
        relative to `root`, written with ``/`` and compared case-insensitively.
        ``*`` also matches ``/``, so ``*.png`` selects PNGs at every depth and
        ``sub/*.tif`` the TIFFs anywhere below ``sub``. It only narrows the
        image files; other files are never listed.

    Returns
    -------
    list of pathlib.Path
        Paths (``root`` joined with the relative path) of files whose suffix,
        in any case, is in :data:`tvrestore.io.images.IMAGE_EXTENSIONS`, and
        of zarr stores that hold a volume
        (:func:`tvrestore.io.zarr_volumes.is_zarr_volume`: an OME-Zarr, or a
        zarr array with a Z or T axis), each one input, sorted. A zarr store
        is never searched inside, and one that holds no volume (a 2-D zarr,
        restored alone in tiles) is not listed. Hidden files and directories
        (name starting with ``.``) are skipped, which also skips the
        temporary files of :mod:`tvrestore.io.files`. Symbolic links to
        directories are not followed.

    Raises
    ------
    TVRestoreError
        If `root` is not a directory, or a directory under it cannot be
        listed (permission denied, ...): its images would be missed
        silently otherwise.
    """
    root = Path(root)
    if not root.is_dir():
        raise TVRestoreError(f"{root}: no such directory")

    def unlistable(err: OSError) -> None:
        raise TVRestoreError(f"{err.filename}: cannot list directory ({reason(err)})") from err

    found = []
    for directory, subdirectories, names in os.walk(root, onerror=unlistable):
        # Pruning in place stops os.walk from descending into hidden directories
        # and into zarr stores, whose chunks are no images.
        stores = [d for d in subdirectories if not d.startswith(".")
                  and is_zarr_node(Path(directory, d))]
        subdirectories[:] = [d for d in subdirectories
                             if not d.startswith(".") and d not in stores]
        for name in names + stores:
            path = Path(directory, name)
            if name in stores:
                if not is_zarr_volume(path):
                    continue
            elif name.startswith(".") or path.suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            relative = path.relative_to(root).as_posix().lower()
            if pattern is None or fnmatch.fnmatchcase(relative, pattern.lower()):
                found.append(path)
    return sorted(found)
