r"""The machine a benchmark ran on: its CPU and versions, and its memory bandwidth.

Memory-bandwidth floor
----------------------
One Adam iteration, however well fused, must read the iterate :math:`u`,
the data :math:`f` and Adam's moments :math:`m, v`, and write back
:math:`u, m, v`: seven float32 arrays, ``ADAM_BYTES_PER_VALUE = 28`` bytes
per value (pixel times channel). The TV gradient's neighbour reads hit the
cache. At the copy bandwidth :math:`B` (bytes read plus bytes written per
second by a large numpy copy), an iteration over :math:`N` values takes at
least :math:`28 N / B` if it streams its arrays from memory. Images whose
working set fits in the CPU cache can beat this floor, and so can large
ones: the solver steps them in cache-sized bands of rows, a window of five
iterations per pass over memory (see :mod:`tvrestore.solvers.adam`).
"""

from __future__ import annotations

import os
import platform
import time

import numpy as np

__all__ = [
    "ADAM_BYTES_PER_VALUE",
    "bytes_per_iteration",
    "copy_bandwidth",
    "iteration_cost",
    "machine_info",
]

ADAM_BYTES_PER_VALUE = 28  # read u, f, m, v and write u, m, v, float32 each


def machine_info() -> dict:
    """The CPU, its cores and the versions that matter for the timings.

    Returns
    -------
    dict
        ``cpu`` (model name), ``cpu_count`` (logical CPUs of the machine),
        ``cpus_available`` (those this process may run on), ``platform``,
        ``python``, ``tensorflow``, ``numpy``, ``scikit_image``,
        ``tvrestore``.
    """
    import skimage

    import tvrestore
    from tvrestore.backend.tf import tf

    available = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_available": len(available) if available is not None else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
        "scikit_image": skimage.__version__,
        "tvrestore": tvrestore.__version__,
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def copy_bandwidth(megabytes: int = 256, repeat: int = 5) -> float:
    """Memory bandwidth of a large single-threaded numpy copy, in GB/s.

    Parameters
    ----------
    megabytes : int
        Size of the float32 array copied (MiB); far above the CPU cache's
        size, so the copy streams from and to main memory.
    repeat : int
        Copies timed; the fastest counts.

    Returns
    -------
    float
        (bytes read + bytes written) / seconds / 1e9 for the fastest copy.
    """
    source = np.ones(megabytes * 2**20 // 4, np.float32)
    target = np.zeros_like(source)  # touched, so the copy does not time page faults
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        np.copyto(target, source)
        seconds.append(time.perf_counter() - start)
    return 2 * source.nbytes / min(seconds) / 1e9


def bytes_per_iteration(values: int) -> int:
    """Bytes a fused Adam iteration must move for ``values`` pixel values.

    ``ADAM_BYTES_PER_VALUE`` per value: read u, f, m, v and write u, m, v,
    float32 each (see the module docstring).
    """
    return ADAM_BYTES_PER_VALUE * values


def iteration_cost(seconds: float, iterations: int, values: int, bandwidth_gb_s: float) -> dict:
    """Measured seconds per Adam iteration next to the memory-bandwidth floor.

    Parameters
    ----------
    seconds : float
        Solve time.
    iterations : int
        Iterations in that time.
    values : int
        Pixel values of the image (H * W * C).
    bandwidth_gb_s : float
        From :func:`copy_bandwidth`.

    Returns
    -------
    dict
        ``seconds_per_iteration``, ``floor_seconds_per_iteration``
        (:func:`bytes_per_iteration` over the bandwidth) and ``floor_ratio``
        (measured / floor).
    """
    measured = seconds / max(iterations, 1)
    floor = bytes_per_iteration(values) / (bandwidth_gb_s * 1e9)
    return {
        "seconds_per_iteration": measured,
        "floor_seconds_per_iteration": floor,
        "floor_ratio": measured / floor,
    }

