"""The Dask worker plugin of :mod:`tvrestore.cluster` (imports distributed, so apart)."""

from __future__ import annotations

import os

from distributed import WorkerPlugin

__all__ = ["THREADS_VARIABLE", "WarmWorker"]

# Read by tvrestore._tf: TensorFlow's intra- and inter-op thread pools, set
# before its runtime starts.
THREADS_VARIABLE = "TVRESTORE_THREADS"


class WarmWorker(WorkerPlugin):
    """A Dask worker plugin: TensorFlow imported at start, with the worker's share of threads.

    Parameters
    ----------
    threads_by_host : dict
        TensorFlow threads for the workers of each host (IP address), their
        share of its cores; hosts not listed get ``default_threads``.
    default_threads : int
    """

    name = "tvrestore-warm-worker"

    def __init__(self, threads_by_host: dict[str, int], default_threads: int) -> None:
        self.threads_by_host = threads_by_host
        self.default_threads = default_threads

    def setup(self, worker) -> None:
        host = worker.address.split("://")[-1].rsplit(":", 1)[0]
        threads = self.threads_by_host.get(host, self.default_threads)
        # Read by tvrestore._tf before TensorFlow's runtime starts; a worker
        # that imported it already keeps its pools.
        os.environ[THREADS_VARIABLE] = str(threads)
        import tvrestore._tf  # noqa: F401
