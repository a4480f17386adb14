"""Issue 21, target 6: the cost per voxel of a 3-D solve against the cost per pixel of a 2-D solve.

    PYTHONPATH=. python benchmarks/measure_volume_cost.py [--repeats 5] [--iterations 100] [--large] [--whole]
        [--only 22] [--clock cpu] [--derived]

Each pair holds the same number of values (random data in [0, 1), grey,
weight 0.1): a 2-D image and one or two volumes of as many voxels. Every
array is solved by :func:`tvrestore.solvers.engine.solve` with a fixed
iteration count and stopping disabled (``tol`` 1e-30, ``gap`` 0 with one
certificate at the end, so the count is exact), coarse-to-fine off (``levels=0``, so a 2-D solve does the
same iterations on one grid as a volume), compiled and warmed first. The
repeats are interleaved (image, volume, image, volume, ...) in this one
process, so a change of machine load hits both sides; the best repeat of
each counts, and the ratio is

    (3-D solve seconds / voxels) / (2-D solve seconds / pixels)

at equal iterations, for Adam and pdhg (target: <= 1.5). ``solve_seconds``
is the solver's own clock (compilation apart).

Default pairs: 2^20 values (1024x1024 against 64x128x128 and 16x256x256,
all stepped whole by Adam) and 2^22 (2048x2048 against 64x256x256 and
256x128x128, which Adam steps in bands of rows, or of planes, where they
are tall enough); ``--large`` adds 2^24 (4096x4096 against 256x256x256).
``--whole`` makes Adam step every array whole (no bands of rows or of
planes), which separates the cost of a step from the cache's gain of bands.
``--only 22`` runs the pair of 2^22 values alone. ``--clock cpu`` times each
solve by the process's CPU seconds (all its threads) instead, less
sensitive to other processes on a loaded machine. ``--derived`` (Adam) also
solves the image and each volume with the gradient of TV that TensorFlow
derives, instead of the one :func:`tvrestore.models.tv.total_variation`
writes out, in the same interleaved repeats: the before and after of that
change in one run (ratios are to the image with the written gradient).
"""

from __future__ import annotations

import argparse
import functools
import os
import time

import numpy as np

SEED = 2026


def pairs(large: bool) -> list[tuple[tuple[int, ...], list[tuple[int, ...]]]]:
    chosen = [((1024, 1024), [(64, 128, 128), (16, 256, 256)]),
              ((2048, 2048), [(64, 256, 256), (256, 128, 128)])]
    if large:
        chosen.append(((4096, 4096), [(256, 256, 256)]))
    return chosen


def solve_seconds(solver: str, data: np.ndarray, iterations: int, clock: str = "solve",
                  derived: bool = False) -> float:
    from tvrestore.solvers import engine

    use_derived_gradient(derived)
    # pdhg: one certificate, at the end (gap 0 is never met), as Adam's
    # plateau checks are disabled by a tol nothing meets.
    cpu = time.process_time()
    run = engine.solve(engine.Degradation(), data, np.array([0.1], np.float32), solver=solver,
                       max_iter=iterations, tol=1e-30, gap=0.0, check_every=iterations, levels=0)
    assert int(run.iterations[0]) == iterations, (data.shape, run.iterations)
    return time.process_time() - cpu if clock == "cpu" else float(run.solve_seconds)


_ADAM = {}


def use_derived_gradient(derived: bool) -> None:
    """Make the engine's Adam solvers use TensorFlow's derived gradient of TV, or not.

    Each choice keeps solvers (and so compiled programs) of its own: the
    gradient is fixed when a solver's loop is traced.
    """
    from tvrestore.models import tv
    from tvrestore.solvers import engine

    if not _ADAM:
        _ADAM["written"] = (engine._adam, tv._written_total_variation)

        def derived_tv(images, kind, color, extents, layout, spacing):
            return tv._total_variation(images, kind, color, extents, layout, spacing)

        _ADAM["derived"] = (functools.lru_cache(maxsize=16)(engine._adam.__wrapped__), derived_tv)
    engine._adam, tv._written_total_variation = _ADAM["derived" if derived else "written"]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--iterations", type=int, default=100)
    parser.add_argument("--large", action="store_true")
    parser.add_argument("--solvers", default="adam,pdhg")
    parser.add_argument("--whole", action="store_true", help="Adam steps every array whole")
    parser.add_argument("--clock", choices=["solve", "cpu"], default="solve")
    parser.add_argument("--only", type=int, help="only the pair of 2^ONLY values")
    parser.add_argument("--derived", action="store_true",
                        help="Adam also solves each array with the derived gradient of TV")
    arguments = parser.parse_args()
    if arguments.whole:
        from tvrestore.solvers import engine

        # Read when the engine builds its first Adam solver, so before any solve.
        engine.WHOLE_VALUES = 2**62
    rng = np.random.default_rng(SEED)
    print(f"target 6: {arguments.iterations} iterations, best of {arguments.repeats} interleaved "
          f"repeats{', Adam stepping every array whole' if arguments.whole else ''}, "
          f"{arguments.clock} seconds; load average {os.getloadavg()[0]:.1f} at start")
    for solver in arguments.solvers.split(","):
        for image_shape, volume_shapes in pairs(arguments.large):
            if arguments.only and np.prod(image_shape) != 2**arguments.only:
                continue
            # (shape, derived gradient) per solve.
            both = [False, True] if arguments.derived and solver == "adam" else [False]
            runs = [(shape, derived) for shape in [image_shape, *volume_shapes] for derived in both]
            arrays = {shape: rng.random((1, *shape, 1), dtype=np.float32)
                      for shape in [image_shape, *volume_shapes]}
            for shape, derived in runs:  # compile and warm
                solve_seconds(solver, arrays[shape], 5, derived=derived)
            times = {run: [] for run in runs}
            for _ in range(arguments.repeats):
                for shape, derived in runs:
                    times[shape, derived].append(solve_seconds(
                        solver, arrays[shape], arguments.iterations, arguments.clock, derived))
            per = {run: min(times[run]) / (np.prod(run[0]) * arguments.iterations) * 1e9
                   for run in runs}
            reference = per[image_shape, False]
            image = "x".join(map(str, image_shape))
            line = [f"  {solver:4s} 2-D {image:9s} {reference:5.2f} ns/pixel/iter"]
            for shape, derived in runs[1:]:
                how = " derived gradient" if derived else ""
                line.append(f"{len(shape)}-D {'x'.join(map(str, shape))}{how} {per[shape, derived]:5.2f} ns "
                            f"(ratio {per[shape, derived] / reference:.2f})")
            print(";  ".join(line), flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at end; {time.strftime('%H:%M:%S')}")


if __name__ == "__main__":
    main()
