"""Claims on outputs, so that runs sharing an output directory split the work.

Before a run reads an input it claims the output: it takes an exclusive
lock (:func:`fcntl.flock`) on a hidden marker file beside the output,
``.<name>.claim``, which holds the owner's process id for people to read.
A second run that finds the lock held skips the image ("claimed by another
run") instead of solving it again; once the first run has written the
output and released the claim, any later claimant sees the output and
skips it as done. The kernel drops a lock when its process dies, however
it dies (SIGKILL included), so a claim of a dead run is never in the way:
the next run takes the same marker file over and removes it when done.
No process ids are compared, so no live run's claim can be mistaken for a
stale one.

Locks are those of this machine: two machines writing into one network
directory may not see each other's locks (NFS without lock support).
Where :mod:`fcntl` does not exist (Windows) claims always succeed, and two
runs can solve an image twice; each output is still written whole.
"""

from __future__ import annotations

import contextlib
import os
import threading
from pathlib import Path
from typing import Iterator

from tvrestore.errors import TVRestoreError
from tvrestore.io.files import remove_temporaries

try:
    import fcntl
except ImportError:  # not POSIX
    fcntl = None

__all__ = ["CLAIM_SUFFIX", "Claims", "claim_path", "remove_leftovers", "remove_stale_claims"]

CLAIM_SUFFIX = ".claim"


def claim_path(output: str | os.PathLike[str]) -> Path:
    """The marker file of `output`'s claim: hidden, beside it, so never listed as an input."""
    output = Path(output)
    return output.with_name(f".{output.name}{CLAIM_SUFFIX}")


class Claims:
    """The claims one run holds; thread-safe, released by :meth:`release` or :meth:`release_all`."""

    def __init__(self) -> None:
        self._held: dict[Path, int] = {}
        self._lock = threading.Lock()

    def acquire(self, output: str | os.PathLike[str]) -> bool:
        """Claim `output`; False if another live process holds its claim.

        The output's directory must exist. A claim this run already holds
        is not taken twice (False).

        Raises
        ------
        TVRestoreError
            Naming `output`, if the marker file cannot be created (missing
            or read-only directory, ...) or is a symbolic link.
        """
        output = Path(output)
        if fcntl is None:
            return True
        with self._lock:
            if output in self._held:
                return False
        marker = claim_path(output)
        while True:
            # O_NOFOLLOW: a link planted at the marker's name must not make
            # us truncate the file it points to.
            try:
                descriptor = os.open(marker, os.O_RDWR | os.O_CREAT | os.O_NOFOLLOW | os.O_CLOEXEC,
                                     0o644)
            except OSError as err:
                raise TVRestoreError(f"{output}: cannot write here ({err.strerror})") from err
            try:
                fcntl.flock(descriptor, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                os.close(descriptor)
                return False
            except BaseException:
                os.close(descriptor)
                raise
            # The holder before us may have removed the marker between our
            # open and our lock: then we locked an orphan, so try again.
            if _same_file(descriptor, marker):
                break
            os.close(descriptor)
        try:
            os.ftruncate(descriptor, 0)
            os.write(descriptor, f"{os.getpid()}\n".encode())
        except OSError:
            pass  # the lock is the claim; the pid is for people reading it
        with self._lock:
            self._held[output] = descriptor
        return True

    def release(self, output: str | os.PathLike[str]) -> None:
        """Give up the claim on `output` (if held) and remove its marker file."""
        output = Path(output)
        with self._lock:
            descriptor = self._held.pop(output, None)
        if descriptor is None:
            return
        # Removed while still locked, so nobody can lock the old file and
        # believe it is the current marker (see the check in acquire).
        with contextlib.suppress(OSError):
            os.unlink(claim_path(output))
        os.close(descriptor)

    def release_all(self) -> None:
        """Release every claim still held (after an interrupt or an error)."""
        with self._lock:
            held = list(self._held)
        for output in held:
            self.release(output)

    @contextlib.contextmanager
    def claimed(self, output: str | os.PathLike[str]) -> Iterator[bool]:
        """``with claims.claimed(output) as held:``; released on leaving."""
        held = self.acquire(output)
        try:
            yield held
        finally:
            if held:
                self.release(output)


def remove_stale_claims(directory: str | os.PathLike[str]) -> list[Path]:
    """Remove the claim markers in `directory` that no live process holds.

    A run killed outright leaves its marker file (unlocked); this tidies
    them, as :func:`tvrestore.io.files.remove_temporaries` does temporary files.
    A marker locked by a live run is left alone.

    Returns
    -------
    list of pathlib.Path
        The markers removed.
    """
    directory = Path(directory)
    if fcntl is None or not directory.is_dir():
        return []
    removed = []
    for entry in os.scandir(directory):
        if not (entry.name.startswith(".") and entry.name.endswith(CLAIM_SUFFIX)):
            continue
        output = Path(entry.path).with_name(entry.name[1:-len(CLAIM_SUFFIX)])
        claims = Claims()
        try:
            if not entry.is_file(follow_symlinks=False) or not claims.acquire(output):
                continue
        except (OSError, TVRestoreError):
            continue  # not ours to lock
        claims.release(output)
        removed.append(Path(entry.path))
    return removed


def remove_leftovers(directories) -> None:
    """Remove what killed runs left in output directories: temporaries and stale claims.

    The one tidy-up of every path (single, batch, tiled, cluster), run
    before writing into each directory: :func:`tvrestore.io.files.remove_temporaries`
    and :func:`remove_stale_claims`.

    Parameters
    ----------
    directories : iterable of path
    """
    for directory in directories:
        remove_temporaries(directory)
        remove_stale_claims(directory)


def _same_file(descriptor: int, path: Path) -> bool:
    try:
        current = os.stat(path, follow_symlinks=False)
    except FileNotFoundError:
        return False
    opened = os.fstat(descriptor)
    return (current.st_dev, current.st_ino) == (opened.st_dev, opened.st_ino)
