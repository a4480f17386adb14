"""Iterations of the exact mode (pdhg) to a certified gap on every composed problem.

Every composition of the README (blur sigma 1.0, 2x2 binning, 20 % dead
pixels) and of ``tvrestore bench --task all``
(:data:`tvrestore.bench.tasks.TASK_CASES`), each noisy (the case's noise)
and clean (no noise), at a fixed weight and at the automatic one, solved by
``restore(..., solver="pdhg")`` to ``--gap`` with at most ``--max-iter``
iterations. Prints one row per run: iterations, the final certified gap,
the weight, the problem solved ("penalized" or "noise-free") and seconds.

    python benchmarks/measure_pdhg_composed.py [--size 96] [--images camera,moon]
        [--preconditioning diagonal|scalar] [--max-iter 4000]

Issue 23's target: every row certified to 1e-4 in at most 2000 iterations.
"""

from __future__ import annotations

import argparse
import time

import numpy as np

# name -> (psf spec or None, upscale, missing fraction, noise sigma)
README_CASES = {"readme deblur+upscale+inpaint": ("gaussian:1.0", 2, 0.2, 0.005)}


def cases():
    from tvrestore.bench.tasks import TASK_CASES

    return {**README_CASES, **TASK_CASES}


def degraded_case(image: str, spec, upscale: int, missing: float, noise: float, size: int, seed: int = 0):
    from skimage import data, transform

    from tvrestore.bench.cases import centre_square
    from tvrestore.bench.degradations import degrade, scene_shape
    from tvrestore.models.psf import parse_psf

    psf = None if spec is None else parse_psf(spec)
    source = getattr(data, image)()
    source = source.astype(np.float64) / (255.0 if source.dtype == np.uint8 else 1.0)
    if source.ndim == 3:
        source = source[..., :3].mean(axis=-1)
    square = centre_square(source)
    scene_hw = scene_shape((size, size), psf, upscale)
    scene = transform.resize(square, scene_hw, anti_aliasing=True)
    return degrade(np.clip(scene, 0, 1), psf=psf, upscale=upscale, missing_fraction=missing,
                   noise_sigma=noise, seed=seed), psf


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=96, help="side of the observed image")
    parser.add_argument("--images", default="camera,moon", help="skimage.data names")
    parser.add_argument("--fixed-weight", type=float, default=0.01)
    parser.add_argument("--gap", type=float, default=1e-4)
    parser.add_argument("--max-iter", type=int, default=4000)
    parser.add_argument("--cases", default=None, help="comma-separated case names (default: all)")
    parser.add_argument("--preconditioning", default="diagonal", choices=("diagonal", "scalar"))
    arguments = parser.parse_args()

    from tvrestore.api import restore

    if arguments.preconditioning == "scalar":
        # restore() has no option for it: the engine is wrapped, for comparison.
        import functools

        from tvrestore.solvers import engine

        engine.solve = functools.partial(engine.solve, preconditioning="scalar")

    chosen = cases()
    if arguments.cases:
        chosen = {name: chosen[name] for name in arguments.cases.split(",")}
    print("| case | image | data | weight | iterations | certified gap | problem | seconds |")
    print("|---|---|---|---|---|---|---|---|")
    worst = 0
    for name, (spec, upscale, missing, noise) in chosen.items():
        for image in arguments.images.split(","):
            for label, sigma in (("noisy", noise), ("clean", 0.0)):
                degraded, psf = degraded_case(image, spec, upscale, missing, sigma, arguments.size)
                observed = degraded.observed.astype(np.float32)
                for weight in (arguments.fixed_weight, "auto"):
                    clock = time.perf_counter()
                    _, result = restore(observed, psf=psf, mask=degraded.mask, upscale=upscale,
                                        weight=weight, solver="pdhg", gap=arguments.gap,
                                        max_iter=arguments.max_iter)
                    seconds = time.perf_counter() - clock
                    gap = result.certified_gap
                    certified = gap is not None and gap <= arguments.gap
                    worst = max(worst, result.iterations if certified else 10**9)
                    shown = "auto " if weight == "auto" else ""
                    print(f"| {name} | {image} | {label} | {shown}{result.weight:.3g} | "
                          f"{result.iterations} | {gap:.2e} | {result.problem} | {seconds:.1f} |",
                          flush=True)
    print(f"\nworst iterations to a certified {arguments.gap:g}: "
          + ("not certified" if worst >= 10**9 else str(worst)))


if __name__ == "__main__":
    main()
