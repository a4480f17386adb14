"""Adam on images with TV's gradient written out, against the gradient TensorFlow derives.

    PYTHONPATH=. python benchmarks/measure_tv_gradient.py [--repeats 5] [--sizes 512,2048]

For each case (camera at each size, grey; astronaut at 512, vectorial and
channelwise colour; sigma 25/255, seeded; weight 0.07) this one process
interleaves, in every repeat:

- a fixed 100-iteration Adam solve (stopping off, coarse-to-fine off) with
  the written gradient and with the derived one: ns per value and iteration;
- the default Adam solve (stopping on convergence, as a user runs it) with
  each gradient: seconds, iterations, and the relative gap
  ``(E(u) - E*) / E*`` against a float64 pdhg bound certified to 1e-6
  (the bench's cases and reference: :mod:`tvrestore.bench`);
- scikit-image's ``denoise_tv_chambolle`` at its defaults (``channel_axis``
  for colour): seconds and gap.

Medians of the repeats; every ratio is within this run. The derived
gradient is TensorFlow's own of the same TV value
(:func:`tvrestore.models.tv._total_variation`), swapped in as
``benchmarks/measure_volume_cost.py --derived`` does.
"""

from __future__ import annotations

import argparse
import os
import sys
import time

import numpy as np

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from measure_volume_cost import use_derived_gradient  # noqa: E402

WEIGHT = 0.07


def adam(f: np.ndarray, color: str, derived: bool, iterations: int | None):
    from tvrestore.solvers import engine

    use_derived_gradient(derived)
    batch = f.reshape(1, *f.shape[:2], -1)
    fixed = {} if iterations is None else dict(max_iter=iterations, tol=1e-30, levels=0)
    run = engine.solve(engine.Degradation(), batch, np.array([WEIGHT], np.float32),
                       solver="adam", color=color, **fixed)
    return run, np.asarray(run.solution[0]).reshape(f.shape)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", default="512,2048")
    arguments = parser.parse_args()
    from skimage.restoration import denoise_tv_chambolle

    from tvrestore.bench.cases import make_case
    from tvrestore.bench.reference import exact_reference
    from tvrestore.models.problem import Problem

    cases = [("camera", size, "vectorial") for size in map(int, arguments.sizes.split(","))]
    cases += [("astronaut", 512, "vectorial"), ("astronaut", 512, "channelwise")]
    print(f"weight {WEIGHT}, medians of {arguments.repeats} interleaved repeats; "
          f"load average {os.getloadavg()[0]:.1f} at start")
    for name, size, color in cases:
        case = make_case(name, size, 25 / 255)
        f = case.noisy
        reference = exact_reference(case, WEIGHT, color, 1e-6, "float64")
        problem = Problem(color=color)
        gap = lambda u: reference.gap(problem.energy_value(u, f, WEIGHT))  # noqa: E731
        for derived in (False, True):  # compile and warm
            adam(f, color, derived, 5)
            adam(f, color, derived, None)
        per_iteration = {False: [], True: []}
        default = {False: [], True: []}
        chambolle = []
        for _ in range(arguments.repeats):
            for derived in (False, True):
                run, _ = adam(f, color, derived, 100)
                per_iteration[derived].append(float(run.solve_seconds) / (f.size * 100) * 1e9)
                run, u = adam(f, color, derived, None)
                default[derived].append((float(run.solve_seconds), int(run.iterations[0]), gap(u)))
            start = time.perf_counter()
            u = denoise_tv_chambolle(f, weight=WEIGHT, channel_axis=case.channel_axis)
            chambolle.append((time.perf_counter() - start, gap(u)))
        seconds = np.median([c[0] for c in chambolle])
        kind = "grey" if f.ndim == 2 else color
        print(f"{name} {size} {kind}: chambolle {seconds:.4f} s, gap {chambolle[0][1]:.1e}")
        for derived in (False, True):
            solves = np.array(default[derived])
            print(f"  {'derived' if derived else 'written'}: {np.median(per_iteration[derived]):.2f} ns/value/iter; "
                  f"default solve {np.median(solves[:, 0]):.4f} s ({np.median(solves[:, 0]) / seconds:.2f}x chambolle), "
                  f"{int(np.median(solves[:, 1]))} iterations, gap {np.median(solves[:, 2]):.1e}", flush=True)
    print(f"load average {os.getloadavg()[0]:.1f} at end; {time.strftime('%H:%M:%S')}")


if __name__ == "__main__":
    main()
