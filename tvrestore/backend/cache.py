"""The on-disk cache of compiled XLA programs, shared by every run on a machine.

Compiling the solver's loop for a new array shape costs about a second,
and a new process used to pay it again for every shape. TensorFlow can keep
the compiled programs on disk (``TF_XLA_FLAGS``:
``--tf_xla_persistent_cache_directory``, with the CPU among
``--tf_xla_persistent_cache_device_types``); a later process with the same
program loads it instead of compiling. This module picks the directory,
checks that it can be used, bounds its size, and sets the flags. It imports
no TensorFlow: the flags must be in the environment before TensorFlow loads,
so :mod:`tvrestore.backend.tf` calls :func:`configure` (with the environment's
settings) before it imports TensorFlow, and the command line calls it first
with its own options.

Where the cache lives, first match:

1. ``configure(directory=...)`` (``tvrestore --cache-dir DIR``);
2. ``$TVRESTORE_CACHE_DIR``;
3. ``$XDG_CACHE_HOME/tvrestore``, else ``~/.cache/tvrestore``.

``configure(enabled=False)`` (``--no-cache``) or ``TVRESTORE_NO_CACHE=1``
turn it off. Programs go into a subdirectory per TensorFlow version, whose
programs another version could not load.

Several processes may use one cache at once: TensorFlow writes each program
to a unique temporary name and renames it into place, so a reader sees a
whole file or none. The cache is bounded: when it holds more than
:data:`MAX_CACHE_BYTES`, the oldest programs are removed until it holds
half of that. A directory that cannot be created or written (a read-only
home, a container) turns the cache off for the run, with one message.
"""

from __future__ import annotations

import os
import tempfile
import time
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

__all__ = [
    "CACHE_DIR_ENV", "MAX_CACHE_BYTES", "NO_CACHE_ENV", "CacheStatus", "configure",
    "default_directory", "drop_unreadable_entries", "program_count", "status",
]

CACHE_DIR_ENV = "TVRESTORE_CACHE_DIR"
NO_CACHE_ENV = "TVRESTORE_NO_CACHE"

# A program of the Adam loop is 0.1 to 1 MB on disk (measured: 0.2 MB at
# 512x512 grey); 256 MiB holds several hundred shapes and settings.
MAX_CACHE_BYTES = 256 * 2**20

# Temporary files of a TensorFlow writer that died mid-write; a live writer
# renames its file within seconds.
_STALE_TEMPORARY_SECONDS = 3600

_PROGRAM_SUFFIX = ".pb"


@dataclass(frozen=True)
class CacheStatus:
    """What :func:`configure` decided.

    Attributes
    ----------
    directory : Path or None
        Where compiled programs are kept; None when the cache is off.
    message : str or None
        Why the cache is off when it was asked for but cannot be used
        (shown once by the command line), else None.
    """

    directory: Path | None
    message: str | None = None


_status: CacheStatus | None = None


def default_directory() -> Path:
    """``$TVRESTORE_CACHE_DIR``, else ``$XDG_CACHE_HOME/tvrestore``, else ``~/.cache/tvrestore``."""
    if os.environ.get(CACHE_DIR_ENV):
        return Path(os.environ[CACHE_DIR_ENV]).expanduser()
    base = os.environ.get("XDG_CACHE_HOME") or Path("~/.cache").expanduser()
    return Path(base) / "tvrestore"


def configure(directory: str | os.PathLike[str] | None = None, enabled: bool | None = None) -> CacheStatus:
    """Choose the cache directory and set TensorFlow's flags for it.

    Call before TensorFlow is imported; a later call only returns the first
    decision (TensorFlow reads its flags once).

    Parameters
    ----------
    directory : path, optional
        The cache's root; default :func:`default_directory`.
    enabled : bool, optional
        False turns the cache off; default: on unless ``$TVRESTORE_NO_CACHE``
        is set to anything but "" or "0".

    Returns
    -------
    CacheStatus
    """
    global _status
    if _status is not None:
        return _status
    if enabled is None:
        enabled = os.environ.get(NO_CACHE_ENV, "") in ("", "0")
    if not enabled:
        _status = CacheStatus(directory=None)
        return _status
    root = Path(directory).expanduser() if directory is not None else default_directory()
    programs = root / f"xla-tf{_tensorflow_version()}"
    problem = _unusable(programs)
    if problem is not None:
        _status = CacheStatus(directory=None, message=f"compile cache off: {programs}: {problem}")
        return _status
    _prune(root)
    flags = [
        f"--tf_xla_persistent_cache_directory={programs}",
        "--tf_xla_persistent_cache_device_types=CPU,GPU",
    ]
    os.environ["TF_XLA_FLAGS"] = " ".join([os.environ.get("TF_XLA_FLAGS", ""), *flags]).strip()
    _status = CacheStatus(directory=programs)
    return _status


def status() -> CacheStatus:
    """The decision of :func:`configure` (made now, from the environment, if not yet)."""
    return configure()


def program_count() -> int:
    """Programs in the cache now (0 when it is off): a compile that adds none was loaded."""
    directory = status().directory
    if directory is None:
        return 0
    try:
        return sum(entry.name.endswith(_PROGRAM_SUFFIX) for entry in os.scandir(directory))
    except OSError:
        return 0


def drop_unreadable_entries() -> list[Path]:
    """Remove the cache's programs that TensorFlow could not read; return their paths.

    An entry is one serialised protocol buffer (``XlaSerializedCacheEntry``);
    one that does not parse as a protocol buffer, or is empty, was cut
    short or overwritten. Each file is parsed without its schema (its
    fields kept as unknown ones), which checks every length and tag. Called
    only after a load failed, so a whole cache is read only then.
    """
    from google.protobuf import empty_pb2
    from google.protobuf.message import DecodeError

    directory = status().directory
    if directory is None:
        return []
    dropped = []
    for path in sorted(directory.glob(f"*{_PROGRAM_SUFFIX}")):
        try:
            data = path.read_bytes()
            empty_pb2.Empty.FromString(data)
            readable = bool(data)
        except DecodeError:
            readable = False
        except OSError:  # removed by another process meanwhile: nothing to drop
            continue
        if not readable:
            path.unlink(missing_ok=True)
            dropped.append(path)
    return dropped


def _tensorflow_version() -> str:
    try:
        return metadata.version("tensorflow")
    except metadata.PackageNotFoundError:
        return "unknown"


def _unusable(directory: Path) -> str | None:
    """Why ``directory`` cannot hold the cache (created if missing), or None."""
    try:
        directory.mkdir(parents=True, exist_ok=True)
        with tempfile.NamedTemporaryFile(dir=directory, prefix=".probe-"):
            pass
    except OSError as err:
        return err.strerror or type(err).__name__
    return None


def _prune(root: Path, max_bytes: int = MAX_CACHE_BYTES) -> None:
    """Remove the programs written first while ``root`` holds more than ``max_bytes``.

    Down to half of ``max_bytes``, so that pruning is rare. A file another
    process removed or is reading meanwhile is no error: a reader that finds
    its program gone compiles it again.
    """
    entries = []
    now = time.time()
    for path in root.glob("xla-*/*"):
        try:
            info = path.stat()
        except OSError:
            continue
        if path.name.endswith(_PROGRAM_SUFFIX):
            entries.append((info.st_mtime, info.st_size, path))
        elif now - info.st_mtime > _STALE_TEMPORARY_SECONDS:
            path.unlink(missing_ok=True)
    total = sum(size for _, size, _ in entries)
    if total <= max_bytes:
        return
    for _, size, path in sorted(entries):
        try:
            path.unlink(missing_ok=True)
        except OSError:  # not ours to remove: leave the cache as it is
            return
        total -= size
        if total <= max_bytes // 2:
            return
