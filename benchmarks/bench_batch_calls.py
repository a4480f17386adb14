"""A batch's marginal time per image: one engine call against cache-sized calls.

The engine solves a batch's images in calls of at most
``tvrestore.solvers.engine._CALL_VALUES`` values (1 MiB per float32 array);
before, one call took the whole batch, whose arrays then streamed from
memory at every step. This times, in one process, warm, interleaved, the
median of ``--repeat`` rounds:

- ``denoise_tv_chambolle`` at its defaults on one image;
- the engine on ``--count`` noisy 256x256 camera crops (sigma 25/255,
  weight 0.07), in one call of all (the old way: ``_CALL_VALUES`` set
  beyond the batch) and in cache-sized calls (the default);
- the same in groups of ``--group`` images (the command line's
  ``--batch-size``, default 8), as a folder is solved.

The marginal time per image is the batch's time over its images; "x
skimage speed" is chambolle's time per image over it.

    PYTHONPATH=. python benchmarks/bench_batch_calls.py --count 32 --repeat 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

import numpy as np
from skimage.restoration import denoise_tv_chambolle

from tvrestore.bench.cases import make_case
from tvrestore.solvers import engine
from tvrestore.solvers.engine import Degradation, solve

WEIGHT = 0.07


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=32)
    parser.add_argument("--group", type=int, default=8)
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()
    print(f"load average {os.getloadavg()}", flush=True)
    images = np.stack([make_case("camera", args.size, 25 / 255, seed).noisy
                       for seed in range(args.count)])[..., None].astype(np.float32)
    default_values = engine._CALL_VALUES

    def chambolle():
        start = time.perf_counter()
        denoise_tv_chambolle(images[0, ..., 0], WEIGHT)
        return time.perf_counter() - start

    def engine_run(call_values, group):
        def run():
            engine._CALL_VALUES = call_values
            try:
                return sum(solve(Degradation(), images[first:first + group],
                                 np.full(len(images[first:first + group]), WEIGHT),
                                 levels=0).solve_seconds
                           for first in range(0, len(images), group)) / len(images)
            finally:
                engine._CALL_VALUES = default_values
        return run

    runs = {"chambolle, one image": chambolle,
            f"one call of {args.count}": engine_run(images.size + 1, args.count),
            f"{args.count} in cache-sized calls": engine_run(default_values, args.count),
            f"groups of {args.group}, one call each": engine_run(images.size + 1, args.group),
            f"groups of {args.group}, cache-sized calls": engine_run(default_values, args.group)}
    for run in runs.values():  # compile and warm every shape
        run()
    times = {name: [] for name in runs}
    for _ in range(args.repeat):
        for name, run in runs.items():
            times[name].append(run())
    per_image = {name: statistics.median(values) for name, values in times.items()}
    reference = per_image["chambolle, one image"]
    for name, seconds in per_image.items():
        print(f"{name:40s} {1000 * seconds:7.1f} ms per image, x skimage speed "
              f"{reference / seconds:.2f}", flush=True)
    print(f"load average after {os.getloadavg()}", flush=True)


if __name__ == "__main__":
    main()
