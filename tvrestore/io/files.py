"""Files written atomically: a temporary beside the target, renamed onto it; and the tidy-up.

Every output of tvrestore (images, reports, figures, tiled TIFFs and zarr
stores) is written to a hidden temporary file in the target directory,
flushed to disk, then renamed onto the target, so a target is never left
half-written and an existing file survives a failed write. The
temporary's name carries its writer's process id, so that a later run can
remove what a killed writer left (:func:`remove_temporaries`).
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
import secrets
import shutil
import time
from pathlib import Path
from typing import BinaryIO, Callable

from tvrestore.errors import TVRestoreError

__all__ = [
    "commit_temporary",
    "reason",
    "remove_temporaries",
    "temporary_path",
    "write_atomically",
    "write_bytes",
    "write_encoded",
    "write_text",
]


def write_text(path: str | os.PathLike[str], text: str, *, overwrite: bool = True) -> None:
    """Write a text file (a report) atomically, as :func:`tvrestore.io.images.write_image` does.

    Reports are regenerated on every run, so they are replaced by default.

    Raises
    ------
    TVRestoreError
        If the directory does not exist, `path` exists and `overwrite` is
        False, or writing fails.
    """
    write_bytes(path, text.encode("utf-8"), overwrite=overwrite)


def write_bytes(
    path: str | os.PathLike[str], data: bytes, *, overwrite: bool = True, what: str = "file"
) -> None:
    """Write bytes (an encoded figure, a report) atomically, as :func:`write_text` does.

    ``what`` names the file in an error message ("cannot write figure").
    """
    write_encoded(path, lambda file: file.write(data), overwrite=overwrite, what=what)


def write_encoded(
    path: str | os.PathLike[str], encode: Callable[[BinaryIO], object], *,
    overwrite: bool = True, what: str = "file",
) -> None:
    """Write what ``encode(file)`` writes to an open binary file, atomically.

    For encoders that stream (a tiled TIFF written tile by tile); otherwise
    as :func:`write_bytes`.
    """
    write_atomically(Path(path), encode, overwrite=overwrite, what=what)


def remove_temporaries(directory: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files and directories that dead writers left in a directory.

    Each writer removes its temporary file when it fails or is
    interrupted by an exception (Ctrl-C included); a process killed outright
    (SIGTERM with no handler, SIGKILL, power loss) leaves one behind. A run
    that is about to write into `directory` calls this first. The temporary
    file's name carries its writer's process id, so a run removes:

    - files of a process that no longer exists (checked with signal 0), and
      files of this process (call this before writing into `directory`,
      not while another thread of this process writes there);
    - files named in the format before the process id was added
      (``.<name>.tmp-<hex><suffix>``) once they are more than an hour
      old: their writer is unknown, and no write takes that long.

    Another live run's files are never touched, so two runs can share an
    output directory. Process ids are those of this machine's (container's)
    process table: on a directory shared across machines, a live writer
    elsewhere can look dead. Where processes cannot be probed (not POSIX),
    only the age rule applies.

    Parameters
    ----------
    directory : str or path-like
        Searched, not recursively; a missing directory is not an error.

    Returns
    -------
    list of pathlib.Path
        The files removed: regular files and directories (a zarr store
        written by :mod:`tvrestore.io.lazy`) named
        ``.<name>.tmp-<pid>-<hex><suffix>`` (or the old format) where
        ``<name>`` ends in ``<suffix>``, nothing else (no symbolic link is
        followed). One that cannot be removed (permissions) is skipped.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed = []
    now = time.time()
    for entry in os.scandir(directory):
        match = _TEMPORARY_NAME.fullmatch(entry.name)
        if not (match and match["name"].endswith(match["suffix"])):
            continue
        try:
            directory_store = entry.is_dir(follow_symlinks=False)
            if not (directory_store or entry.is_file(follow_symlinks=False)):
                continue
            if match["pid"] is None:
                stale = now - entry.stat(follow_symlinks=False).st_mtime > _STALE_SECONDS
            else:
                stale = not _other_process_alive(int(match["pid"]))
            if stale:
                if directory_store:
                    shutil.rmtree(entry.path)
                else:
                    os.unlink(entry.path)
                removed.append(Path(entry.path))
        except OSError:
            continue  # gone meanwhile, or not ours to remove
    return removed


_TOKEN_BYTES = 8
# "-<pid>" is optional: files from before it was added are still recognised.
_TEMPORARY_NAME = re.compile(
    rf"\.(?P<name>.+)\.tmp-(?:(?P<pid>[0-9]+)-)?[0-9a-f]{{{2 * _TOKEN_BYTES}}}"
    r"(?P<suffix>(\.[^.]*)?)"
)
# Age after which a temporary file of unknown owner is taken as abandoned.
_STALE_SECONDS = 3600


def temporary_path(path: Path) -> Path:
    """A hidden name beside ``path`` for its temporary, recognised by :func:`remove_temporaries`."""
    # Hidden, so listing images never picks it up; same directory, so that
    # os.replace is an atomic rename; the name says which file it becomes
    # and which process writes it (see remove_temporaries).
    token = secrets.token_hex(_TOKEN_BYTES)
    return path.with_name(f".{path.name}.tmp-{os.getpid()}-{token}{path.suffix}")


def _other_process_alive(pid: int) -> bool:
    """Whether `pid` is a live process other than this one."""
    if pid == os.getpid():
        return False
    if os.name != "posix":
        return True  # os.kill would terminate it on Windows
    if pid <= 0:
        return False  # never a writer's id; kill() would signal a group
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True  # another user's process
    except (OverflowError, OSError):
        return False
    return True


def write_atomically(
    path: Path, encode: Callable[[BinaryIO], object], *, overwrite: bool, what: str
) -> None:
    """Run `encode` on a temporary file beside `path`, then rename it onto `path`.

    Without `overwrite` the file is hard-linked onto `path`, which fails if
    `path` exists, so a file another process wrote meanwhile survives;
    where hard links are not supported, an exists check and a rename stand in.
    """
    if not path.parent.is_dir():
        raise TVRestoreError(f"{path}: output directory does not exist")
    if not overwrite:
        _check_absent(path)

    temp = temporary_path(path)
    try:
        with open(temp, "xb") as file:
            encode(file)
            file.flush()
            os.fsync(file.fileno())
        commit_temporary(temp, path, overwrite=overwrite)
    except TVRestoreError:
        raise
    except Exception as err:
        raise TVRestoreError(f"{path}: cannot write {what} ({reason(err)})") from err
    finally:
        # Unconditionally: a signal between the open and the first statement
        # in its block would otherwise leave the file. The name is this
        # process's own (its PID and a random token), so no other file is
        # removed; gone after a successful rename, and a failed cleanup must
        # not hide the error being raised.
        with contextlib.suppress(OSError):
            temp.unlink(missing_ok=True)


def commit_temporary(temp: Path, path: Path, *, overwrite: bool) -> None:
    """Put the finished temporary ``temp`` (:func:`temporary_path`) at ``path``, atomically.

    With ``overwrite`` a rename replaces ``path``; without, the file is
    hard-linked onto ``path``, which fails if it exists (a file another
    process wrote meanwhile survives), and ``temp`` stays for the caller
    to remove. For writers that fill their temporary themselves (a volume
    written block by block through a memory map).

    Raises
    ------
    TVRestoreError
        If ``path`` exists without ``overwrite``.
    """
    if overwrite:
        os.replace(temp, path)
    else:
        _link_or_rename(temp, path)


def _check_absent(path: Path) -> None:
    """Refuse an output path that exists, as a file or as a symbolic link."""
    try:
        os.lstat(path)
    except FileNotFoundError:
        return
    except OSError as err:
        raise TVRestoreError(f"{path}: cannot write here ({reason(err)})") from err
    try:
        os.stat(path)
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise TVRestoreError(
                f"{path}: output path is a symbolic link loop (use --overwrite to replace the link)"
            ) from err
    raise TVRestoreError(f"{path}: output exists (use --overwrite)")


def _link_or_rename(temp: Path, path: Path) -> None:
    try:
        os.link(temp, path, follow_symlinks=False)
    except FileExistsError as err:
        raise TVRestoreError(f"{path}: output exists (use --overwrite)") from err
    except OSError as err:
        if err.errno not in (errno.EPERM, errno.ENOTSUP, errno.EOPNOTSUPP, errno.EXDEV, errno.EMLINK):
            raise
        _check_absent(path)
        os.replace(temp, path)


def reason(err: BaseException) -> str:
    """The exception's message on one line, or its type if it has none.

    An OS error gives its description only ("No space left on device"): the
    file it names may be a temporary file the user never asked for.
    """
    if isinstance(err, OSError) and err.strerror:
        return err.strerror
    return " ".join(str(err).split()) or type(err).__name__
