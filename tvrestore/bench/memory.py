"""Peak memory of restoring one large image, measured in a fresh process.

:func:`peak_memory` runs this module as a child program,
``python -m tvrestore.bench.memory ARGUMENTS``, where ``ARGUMENTS`` is a JSON
object with ``image`` and ``reference`` (.npy files), ``weight`` and
``repeat``. The child prints one JSON line of what it measured
(:func:`measure_child`).

Why a child: a process's peak resident size only grows, so it must start
with nothing but Python, tvrestore and TensorFlow in it. The peak is
``VmHWM`` from ``/proc/self/status`` on Linux, ``ru_maxrss`` elsewhere. Not
``ru_maxrss`` on Linux, in the child or as the parent's
``RUSAGE_CHILDREN``: Linux carries the spawning process's resident size
into the child's ``ru_maxrss`` across ``exec``, so it would report the
parent's memory.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np

from tvrestore.bench.cases import make_case
from tvrestore.errors import TVRestoreError

__all__ = ["measure_child", "peak_memory", "peak_rss_bytes"]


def peak_memory(
    size: int = 4096,
    reference_size: int = 512,
    *,
    image: str = "camera",
    sigma: float = 25 / 255,
    weight: float = 0.07,
    seed: int = 0,
    repeat: int = 3,
) -> dict:
    """Peak memory of restoring one large grey image, in a fresh process.

    A child Python process (this module, see the module docstring) imports
    tvrestore, restores the image at ``reference_size`` (one warm-up and
    ``repeat`` timed runs), then ``repeat`` times at ``size`` (the first
    compiles; solve times exclude that). It reports the median solve times
    and its own peak resident set size. The images are made here and handed
    over as .npy files, so their making does not count.

    Returns
    -------
    dict
        ``size``, ``reference_size``, ``peak_rss_bytes``,
        ``baseline_rss_bytes`` (after importing tvrestore and TensorFlow),
        ``seconds`` and ``iterations`` at ``size``, the same as
        ``reference_seconds`` / ``reference_iterations`` at
        ``reference_size``, and ``time_per_pixel_ratio`` (per-pixel solve
        time at ``size`` over that at ``reference_size``).

    Raises
    ------
    TVRestoreError
        If the child process fails.
    """
    import tvrestore

    # The child imports the tvrestore this process runs, whatever the
    # current directory holds: it runs in the temporary folder, with this
    # package's parent first on its path.
    package_root = str(Path(tvrestore.__file__).resolve().parents[1])
    search_path = os.pathsep.join(filter(None, [package_root, os.environ.get("PYTHONPATH")]))
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for key, side in (("image", size), ("reference", reference_size)):
            paths[key] = str(Path(folder) / f"{key}.npy")
            np.save(paths[key], make_case(image, side, sigma, seed).noisy)
        arguments = {**paths, "weight": weight, "repeat": repeat}
        child = subprocess.run(
            [sys.executable, "-m", __name__, json.dumps(arguments)],
            capture_output=True, text=True, check=False, cwd=folder,
            env={**os.environ, "PYTHONPATH": search_path},
        )
    if child.returncode != 0:
        last = (child.stderr.strip().splitlines() or ["no output"])[-1]
        raise TVRestoreError(f"the memory measurement failed: {last}")
    measured = json.loads(child.stdout.strip().splitlines()[-1])
    per_pixel = measured["seconds"] / size**2
    reference_per_pixel = measured["reference_seconds"] / reference_size**2
    return {
        "image": image,
        "size": size,
        "reference_size": reference_size,
        **measured,
        "time_per_pixel_ratio": per_pixel / reference_per_pixel,
    }


def peak_rss_bytes() -> int:
    """This process's peak resident set size so far, in bytes (see the module docstring)."""
    try:
        with open("/proc/self/status", encoding="utf-8") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    import resource

    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    unit = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * unit


def measure_child(arguments: dict) -> dict:
    """The child's side of :func:`peak_memory`: restore, time, and read the peak.

    Parameters
    ----------
    arguments : dict
        ``image`` and ``reference`` (.npy paths of grey images), ``weight``
        and ``repeat``.

    Returns
    -------
    dict
        ``baseline_rss_bytes`` (after importing tvrestore and TensorFlow),
        ``peak_rss_bytes``, ``seconds``, ``compile_seconds`` and
        ``iterations`` at the image's size, ``reference_seconds`` and
        ``reference_iterations`` at the reference's.
    """
    from tvrestore.api import denoise

    baseline = peak_rss_bytes()
    small = np.load(arguments["reference"])
    runs = [denoise(small, arguments["weight"])[1] for _ in range(arguments["repeat"] + 1)]
    large = np.load(arguments["image"])
    results = [denoise(large, arguments["weight"])[1] for _ in range(arguments["repeat"])]
    return {
        "baseline_rss_bytes": baseline,
        "peak_rss_bytes": peak_rss_bytes(),
        "seconds": statistics.median(r.solve_seconds for r in results),
        "compile_seconds": results[0].compile_seconds,
        "iterations": results[0].iterations,
        "reference_seconds": statistics.median(r.solve_seconds for r in runs[1:]),
        "reference_iterations": runs[-1].iterations,
    }


if __name__ == "__main__":
    print(json.dumps(measure_child(json.loads(sys.argv[1]))))
