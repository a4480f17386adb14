"""Per-iteration cost of a colour against a grey deblur in the general engine, both solvers, one run.

Usage: ``python benchmarks/bench_engine_colour.py [--size 240] [--iterations 200]``

A random 0.3-0.6 image, gaussian:1.6, weight 0.005, a fixed number of
iterations (Adam's plateau test and pdhg's gap are turned off), compiled
first; medians of three interleaved solves. Prints ms per iteration and the
colour/grey ratio (3 would be proportional to the values).
"""

import argparse

import numpy as np

from tvrestore.solvers import engine
from tvrestore.models.psf import parse_psf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=240)
    parser.add_argument("--iterations", type=int, default=200)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    degradation = engine.Degradation(psf=parse_psf("gaussian:1.6"))
    images = {
        "grey": [rng.random((args.size, args.size, 1)).astype(np.float32) * 0.3 + 0.3],
        "colour": [rng.random((args.size, args.size, 3)).astype(np.float32) * 0.3 + 0.3],
    }
    weight = np.array([0.005])
    for solver in ("adam", "pdhg"):
        options = dict(solver=solver, max_iter=args.iterations, tol=1e-12, gap=0.0)
        for data in images.values():
            engine.solve(degradation, data, weight, **options)  # compile
        seconds = {name: [] for name in images}
        for _ in range(3):
            for name, data in images.items():
                run = engine.solve(degradation, data, weight, **options)
                seconds[name].append(run.solve_seconds / max(1, int(run.iterations[0])))
        grey, colour = np.median(seconds["grey"]), np.median(seconds["colour"])
        print(f"{solver}: grey {grey * 1e3:.2f} ms/it, colour {colour * 1e3:.2f} ms/it, "
              f"colour/grey {colour / grey:.2f}x", flush=True)


if __name__ == "__main__":
    main()
