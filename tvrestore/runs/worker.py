"""The Dask worker plugin of :mod:`tvrestore.runs.cluster` (imports distributed, so apart)."""

from __future__ import annotations

import importlib
import os
import signal
import threading

from distributed import WorkerPlugin

__all__ = ["THREADS_VARIABLE", "WarmWorker"]

# Read by tvrestore.backend.tf: TensorFlow's intra- and inter-op thread pools, set
# before its runtime starts.
THREADS_VARIABLE = "TVRESTORE_THREADS"


class WarmWorker(WorkerPlugin):
    """A Dask worker plugin: TensorFlow imported at start, with the worker's share of threads.

    A worker's share is its host's cores divided by the workers on that
    host: the solver's arithmetic is parallel inside TensorFlow, so more
    threads than cores would only make the workers of one host compete.

    Parameters
    ----------
    workers_by_host : dict
        Worker processes per host (IP address); a host not listed counts one.
    """

    name = "tvrestore-warm-worker"

    def __init__(self, workers_by_host: dict[str, int]) -> None:
        self.workers_by_host = workers_by_host

    def setup(self, worker) -> None:
        _silence_on_interrupt()
        host = worker.address.split("://")[-1].rsplit(":", 1)[0]
        threads = max(1, (os.cpu_count() or 1) // self.workers_by_host.get(host, 1))
        # Read by tvrestore.backend.tf before TensorFlow's runtime starts; a worker
        # that imported it already keeps its pools.
        os.environ[THREADS_VARIABLE] = str(threads)
        # Imported for its side effect: TensorFlow starts now, not in the first task.
        importlib.import_module("tvrestore.backend.tf")


def _silence_on_interrupt() -> None:
    """On SIGINT, point this process's stderr at /dev/null, then interrupt it as before.

    The worker processes of a local cluster share the terminal's process
    group, so Ctrl-C reaches them as it reaches the client. The client
    reports the interrupt in one line and stops the cluster; a worker's own
    KeyboardInterrupt would add a traceback of Dask's event loop to the
    terminal. The worker still stops at once, as before, only silently. A
    worker whose loop is not in its main thread (no signal handlers there)
    is left as it is.
    """
    if threading.current_thread() is not threading.main_thread():
        return
    previous = signal.getsignal(signal.SIGINT)
    if previous == signal.SIG_IGN:  # an interrupt does nothing here: nothing to silence
        return

    def silenced(signum, frame):
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        if callable(previous):
            previous(signum, frame)
        else:  # the default action (or one set outside Python): end as SIGINT would
            signal.signal(signal.SIGINT, signal.SIG_DFL)
            os.kill(os.getpid(), signal.SIGINT)

    signal.signal(signal.SIGINT, silenced)
