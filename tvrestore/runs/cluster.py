"""Batches on a Dask cluster: ``--workers N`` (a local cluster) or ``--scheduler ADDRESS``.

The client plans, the workers restore, the client reports. The client
reads every input's header (no pixels, no TensorFlow), leaves out the jobs
whose output exists (resume) or whose header cannot be read (failed), and cuts the rest into groups of one solve
shape (:func:`tvrestore.models.shapes.solve_shape`), at most ``batch_size`` each;
volume jobs (``FileJob.volume``) are grouped apart, their headers left to
the worker's plan (:func:`tvrestore.runs.volumes.plan_volume`).
Each group is one task: :func:`tvrestore.runs.batch.run_batch` on a worker, with
every promise it keeps in one process (one compiled call per group,
per-file failure isolation, atomic writes). Entries come back to the
client, which delivers them as tasks finish (progress) and writes the one
report.

Workers stay warm: :class:`tvrestore.runs.worker.WarmWorker` imports TensorFlow when a worker
starts, with its thread pools limited to the worker's share of the host's
cores, and the solvers' compiled programs live in the worker process
across tasks.

Faults: a worker killed in mid-task loses only that task; Dask runs it
again on another worker. An output the lost attempt had already written
is not written again: the retry finds it (the client knew it absent) and
solves that image in memory only, so its report entry is the same as
without the fault. Ctrl-C on the client cancels the tasks not finished and
passes the interrupt on, after delivering every finished entry.

Nothing here imports Dask until a cluster is asked for.
"""

from __future__ import annotations

import contextlib
import logging
import math
import tempfile
import threading
import urllib.parse
from dataclasses import replace
from pathlib import Path
from typing import Callable, Iterator, Sequence

from tvrestore.io.images import read_header

from tvrestore.runs import report
from tvrestore.errors import TVRestoreError, require_extra
from tvrestore.options import DEFAULT_BATCH_SIZE, RestoreOptions
from tvrestore.runs.claims import remove_leftovers
from tvrestore.runs.plan import FileJob
from tvrestore.runs.volumes import VolumeSettings, plan_volume, restore_volume_file
from tvrestore.models.shapes import solve_shape

__all__ = [
    "DEFAULT_SCHEDULER_TIMEOUT", "check_dask_installed", "check_scheduler_address", "connect",
    "restore_group", "run_batch_on_cluster",
]

# The packages of the "dask" extra, by import name.
_DASK_PACKAGES = ("dask", "distributed", "zarr")


# Seconds a client has to reach a scheduler and be greeted by it before the
# run is a usage error (--scheduler-timeout).
DEFAULT_SCHEDULER_TIMEOUT = 10.0

# The transports a scheduler address may name: Dask's TCP, with or without TLS.
_SCHEDULER_SCHEMES = ("tcp", "tls")


def check_dask_installed(option: str) -> None:
    """Raise, naming the extra, if the Dask packages are missing; imports none of them.

    Raises
    ------
    TVRestoreError
        ``--workers needs the dask extra (missing: distributed): pip install 'tvrestore[dask]'``
    """
    require_extra(option, "dask", _DASK_PACKAGES)


def check_scheduler_address(address: str) -> str:
    """``address`` if it is ``tcp://HOST:PORT`` or ``tls://HOST:PORT``; imports no Dask.

    Raises
    ------
    TVRestoreError
        For anything else: another scheme (``http://``, ``inproc://``), no
        host, no port or one out of range, a path or query, or user info.
    """
    try:
        parts = urllib.parse.urlsplit(address)
        port = parts.port
    except ValueError:  # a port that is not a number in 0-65535, an unclosed [
        parts, port = None, None
    if (parts is None or parts.scheme not in _SCHEDULER_SCHEMES or not parts.hostname
            or not port or parts.username is not None or parts.path or parts.query
            or parts.fragment):
        raise TVRestoreError(
            f"{address!r} is not a scheduler address: give tcp://HOST:PORT or tls://HOST:PORT")
    return address


@contextlib.contextmanager
def connect(workers: int | None = None, scheduler: str | None = None,
            scheduler_timeout: float = DEFAULT_SCHEDULER_TIMEOUT) -> Iterator:
    """A ``distributed.Client``: of a new local cluster of `workers` processes, or of `scheduler`.

    A local cluster listens on 127.0.0.1 only, one thread per worker
    process (TensorFlow parallelises inside it), and is closed on exit.
    A scheduler must accept the connection and answer Dask's handshake
    within `scheduler_timeout` seconds, both together.

    Raises
    ------
    TVRestoreError
        If `scheduler` is not a tcp:// or tls:// address, cannot be
        reached, does not answer in time, or answers as no Dask scheduler
        does (an HTTP server, garbage, a frame too large to hold).
    """
    from distributed import Client, LocalCluster

    if (workers is None) == (scheduler is None):
        raise TVRestoreError("give either workers or a scheduler address")
    with contextlib.ExitStack() as stack:
        if scheduler is None:
            # Its scheduler and nannies log in this process. Every task's
            # outcome reaches the user as a report entry; what Dask logs
            # beyond that comes from stopping the cluster when Ctrl-C has
            # stopped its workers too (a nanny's close, cancelled: an ERROR
            # with a traceback), which would bury the run's one line.
            # Without a dashboard the scheduler still serves HTTP (health
            # checks), on port 8787 by default, and warns on stderr when
            # another cluster (another run, a notebook's) holds it: any free
            # port on loopback instead.
            cluster = stack.enter_context(LocalCluster(
                n_workers=workers, threads_per_worker=1, processes=True, host="127.0.0.1",
                dashboard_address=None, silence_logs=logging.CRITICAL,
                scheduler_kwargs={"dashboard_address": "127.0.0.1:0"},
            ))
            client = stack.enter_context(Client(cluster))
        else:
            client = stack.enter_context(_client_of(scheduler, scheduler_timeout))
        client.register_plugin(_warm_worker(client))
        yield client


def _client_of(scheduler: str, timeout: float):
    """A ``distributed.Client`` of `scheduler`, connected and greeted within `timeout` seconds.

    Dask's own timeout covers opening the connection but not reading the
    scheduler's handshake, so a server that accepts and stays silent would
    hold the client forever: the client is made in a thread, waited for
    with the deadline, and abandoned after it (a daemon thread; the run
    ends with the error). It is not made the default client, which Dask
    would try to close at exit. Dask's errors about an answer that is no
    Dask message (a MemoryError for a forged frame length, a ValueError
    for garbage) are turned into one line here.
    """
    from distributed import Client

    check_scheduler_address(scheduler)
    outcome: dict = {}

    def start() -> None:
        try:
            outcome["client"] = Client(scheduler, timeout=timeout, set_as_default=False)
        except Exception as err:  # reported by the waiting thread
            outcome["error"] = err

    thread = threading.Thread(target=start, name="tvrestore-connect", daemon=True)
    thread.start()
    thread.join(timeout)
    error = outcome.get("error")
    if thread.is_alive() or isinstance(error, (OSError, TimeoutError)):
        # Dask retries a refused connection until its timeout, which is ours:
        # whichever ends first, the user's remedy is the same.
        raise TVRestoreError(f"{scheduler}: cannot reach the Dask scheduler within {timeout:g} s "
                             "(--scheduler-timeout)") from error
    if error is not None:
        raise TVRestoreError(f"{scheduler}: not a Dask scheduler: its answer cannot be read "
                             f"({type(error).__name__})") from error
    return outcome["client"]


def _warm_worker(client):
    """The plugin, told how many workers share each host (seen when the client connects)."""
    from tvrestore.runs.worker import WarmWorker

    workers_by_host: dict[str, int] = {}
    for address in client.scheduler_info()["workers"]:
        host = address.split("://")[-1].rsplit(":", 1)[0]
        workers_by_host[host] = workers_by_host.get(host, 0) + 1
    return WarmWorker(workers_by_host)


def run_batch_on_cluster(
    jobs: Sequence[FileJob],
    options: RestoreOptions,
    *,
    client=None,
    workers: int | None = None,
    scheduler: str | None = None,
    scheduler_timeout: float = DEFAULT_SCHEDULER_TIMEOUT,
    batch_size: int = DEFAULT_BATCH_SIZE,
    on_entry: Callable[[int, report.ReportEntry], None] | None = None,
    tile_options: RestoreOptions | None = None,
    volume_settings: VolumeSettings | None = None,
) -> list[report.ReportEntry]:
    """:func:`tvrestore.runs.batch.run_batch` with the restoring done by a Dask cluster's workers.

    Parameters and returns as :func:`~tvrestore.runs.batch.run_batch`, and the
    cluster: a ``distributed.Client``, or what :func:`connect` takes to make
    one (only if some output is missing). The inputs and outputs must be on
    a file system every worker sees at the same paths. Groups are cut so
    that every worker has work: a shape with fewer than ``batch_size``
    images per worker is split evenly among them. An image beyond the
    whole-image budget is restored in tiles on its worker, as
    :func:`~tvrestore.runs.batch.run_batch` does (``tile_options``), and
    a volume as a single volume is (``volume_settings``): volumes go to
    groups of their own, cut as a shape's are.

    Raises
    ------
    KeyboardInterrupt
        Passed on after the unfinished tasks are cancelled and every
        finished entry delivered.
    """
    if batch_size < 1:
        raise TVRestoreError(f"batch_size must be at least 1, got {batch_size!r}")
    entries: list[dict | None] = [None] * len(jobs)

    def deliver(index: int, entry: report.ReportEntry) -> None:
        entries[index] = entry
        if on_entry is not None:
            on_entry(index, entry)

    # Volumes under a key no solve shape is: their groups hold no 2-D image.
    by_shape: dict[tuple | str, list[int]] = {}
    # Entries known without a task, delivered once the cluster is reached:
    # a cluster that cannot be reached is then the run's one error.
    settled: list[tuple[int, report.ReportEntry]] = []
    for index, job in enumerate(jobs):
        if job.output.exists() and not job.overwrite:
            settled.append((index, report.entry(job, status=report.SKIPPED)))
            continue
        if job.volume:
            by_shape.setdefault("volumes", []).append(index)
            continue
        try:
            key = solve_shape(read_header(job.input).shape)
        except TVRestoreError as err:
            # The error a worker's read would give, without a task.
            settled.append((index, report.failed_entry(job, err)))
            continue
        by_shape.setdefault(key, []).append(index)

    # A local cluster's workers are processes of this machine: what killed
    # ones left (temporary files, unlocked claims) is tidied here, before
    # and once the cluster is closed (its workers gone, whether they ended
    # or were stopped mid-write by Ctrl-C), as run_batch does in process.
    # Not with a scheduler: a writer on another machine would look dead.
    local = client is None and scheduler is None
    directories = {job.output.parent for job in jobs} if local else set()
    remove_leftovers(directories)
    try:
        with contextlib.ExitStack() as stack:
            if by_shape and client is None:
                client = stack.enter_context(connect(workers, scheduler, scheduler_timeout))
            for index, entry in settled:
                deliver(index, entry)
            if by_shape:
                _run_groups(client, jobs, options, by_shape, batch_size, deliver, tile_options,
                            volume_settings)
    finally:
        remove_leftovers(directories)
    return entries


def _run_groups(client, jobs, options, by_shape, batch_size, deliver, tile_options,
                volume_settings) -> None:
    """Submit the groups of each shape; deliver their entries as they finish."""
    from distributed import as_completed

    workers = max(1, len(client.scheduler_info()["workers"]))
    tasks = {}
    for indices in by_shape.values():
        size = max(1, min(batch_size, math.ceil(len(indices) / workers)))
        for start in range(0, len(indices), size):
            group = indices[start: start + size]
            future = client.submit(restore_group, [jobs[i] for i in group], options, batch_size,
                                   tile_options, volume_settings, pure=False)
            tasks[future] = group
    finished = as_completed(tasks, loop=client.loop)  # a scheduler's client is no default
    try:
        for future in finished:
            group = tasks.pop(future)
            try:
                group_entries = future.result()
            except Exception as err:  # the task failed as a whole (e.g. killed too often)
                group_entries = [report.failed_entry(jobs[i], err) for i in group]
            for index, entry in zip(group, group_entries):
                deliver(index, entry)
    except BaseException:
        client.cancel(list(tasks))
        raise


def restore_group(jobs: list[FileJob], options: RestoreOptions, batch_size: int,
                  tile_options: RestoreOptions | None = None,
                  volume_settings: VolumeSettings | None = None) -> list[report.ReportEntry]:
    """A worker's task: :func:`~tvrestore.runs.batch.run_batch` on one group; its entries in order.

    The client submits only jobs whose output was absent, so an output that
    exists here was written by an earlier attempt of this task, on a worker
    that was lost. It is not written again; its image is restored in memory
    for its report entry. An output claimed by another live run
    (:mod:`tvrestore.runs.claims`; workers claim each output as any run does) is
    skipped as claimed, not restored.
    """
    from tvrestore.runs.batch import run_batch

    entries = run_batch(jobs, options, batch_size=batch_size, tile_options=tile_options,
                        volume_settings=volume_settings)
    return [
        _restored_without_writing(job, options, tile_options, volume_settings)
        if entry.skip_reason == report.OUTPUT_EXISTS
        else entry  # restored, failed, or claimed by another live run (which writes it)
        for job, entry in zip(jobs, entries)
    ]


def _restored_without_writing(job: FileJob, options: RestoreOptions,
                              tile_options: RestoreOptions | None = None,
                              volume_settings: VolumeSettings | None = None) -> report.ReportEntry:
    """The entry of restoring ``job`` again, its result written to a scratch file and dropped."""
    from tvrestore.runs.batch import restore_file

    settings = volume_settings or VolumeSettings()
    try:
        with tempfile.TemporaryDirectory(prefix="tvrestore-retry-") as scratch:
            again = replace(job, output=Path(scratch) / job.output.name)
            if job.volume:
                entry = restore_volume_file(again, options, plan_volume(
                    again, settings.axes, settings.spacing, options.noise))
            else:
                entry = restore_file(again, options, tile_options=tile_options)
    except Exception as err:
        return report.failed_entry(job, err)
    return replace(entry, output=str(job.output))
