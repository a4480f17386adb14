"""Adam on images with TV's gradient written out, against the gradient TensorFlow derives.

    PYTHONPATH=. python benchmarks/measure_tv_gradient.py [--repeats 5] [--sizes 512,2048]

For each case (camera at each size, grey; astronaut at 512, vectorial and
channelwise colour; sigma 25/255, seeded; weight 0.07) this one process
interleaves, in every repeat:

- a fixed 100-iteration Adam solve (stopping off, coarse-to-fine off) with
  the written gradient and with the derived one: ns per value and iteration;
- the default Adam solve (stopping on convergence, as a user runs it) with
  each gradient: seconds, iterations, and the relative gap
  ``(E(u) - E*) / E*`` against a float64 pdhg bound certified to 1e-6;
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


def noisy(name: str, size: int) -> np.ndarray:
    from skimage import data, transform

    image = getattr(data, name)().astype(np.float32) / 255.0
    side = min(image.shape[:2])
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    image = transform.resize(image[top:top + side, left:left + side], (size, size), anti_aliasing=True)
    rng = np.random.default_rng(0)
    return np.clip(image + rng.normal(0, 25 / 255, image.shape), 0, 1).astype(np.float32)


def energy(u: np.ndarray, f: np.ndarray, color: str) -> float:
    """E(u) = 1/2 |u - f|^2 + w TV(u), float64, isotropic."""
    from tvrestore.backend.tf import tf
    from tvrestore.models.tv import total_variation

    batch = u.astype(np.float64).reshape(1, *u.shape[:2], -1)
    tv = float(total_variation(tf.constant(batch), "isotropic", color)[0])
    return 0.5 * float(np.sum((u.astype(np.float64) - f) ** 2)) + WEIGHT * tv


def minimum_bound(f: np.ndarray, color: str) -> float:
    """A lower bound on min E from a float64 pdhg run certified to 1e-6."""
    from tvrestore.solvers import engine

    batch = f.astype(np.float64).reshape(1, *f.shape[:2], -1)
    run = engine.solve(engine.Degradation(), batch, np.array([WEIGHT]), solver="pdhg",
                       color=color, gap=1e-6, max_iter=20000, levels=0)
    return float(run.lower_bound[0])


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

    cases = [("camera", size, "vectorial") for size in map(int, arguments.sizes.split(","))]
    cases += [("astronaut", 512, "vectorial"), ("astronaut", 512, "channelwise")]
    print(f"weight {WEIGHT}, medians of {arguments.repeats} interleaved repeats; "
          f"load average {os.getloadavg()[0]:.1f} at start")
    for name, size, color in cases:
        f = noisy(name, size)
        bound = minimum_bound(f, color)
        gap = lambda u: (energy(u, f, color) - bound) / bound  # noqa: E731
        axis = -1 if f.ndim == 3 else None
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
            u = denoise_tv_chambolle(f, weight=WEIGHT, channel_axis=axis)
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
