"""Where a 512x512 grey deblur iteration (Adam) goes: the blur by each method, and no blur, one run.

Usage: ``python benchmarks/profile_deblur_iteration.py``

The input of ``measure_restore.py --part speed`` (camera, gaussian:1.6);
200 iterations from the same start, compiled first, medians of five
interleaved solves. "no blur" fits the edge-padded data with the identity
on the same unknown, so the difference is the blur and its adjoint.
"""

import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).parent))
from measure_restore import TASK_WEIGHTS, degrade  # noqa: E402

from tvrestore.solvers import engine
from tvrestore.models.operators import Blur, Identity  # noqa: E402


def main() -> None:
    observed, _, psf, _, _ = degrade("camera", "deblur", size=512, scale=1.1)
    weight = np.array([TASK_WEIGHTS["deblur"]])
    data = observed[..., None]
    radius = psf.shape[0] // 2
    start = [np.pad(data, ((radius, radius), (radius, radius), (0, 0)), mode="edge")]

    def degradation_with(operator):
        class Fixed(engine.Degradation):
            def operator_in(self, layout):
                return operator

        return Fixed(psf=psf)

    variants = {
        "separable": (degradation_with(Blur(psf, "separable")), data),
        "direct": (degradation_with(Blur(psf, "direct")), data),
        "fft": (degradation_with(Blur(psf, "fft")), data),
        "no blur": (degradation_with(Identity()), start[0]),
    }
    options = dict(initial=start, max_iter=200, tol=1e-12)
    for degradation, fitted in variants.values():
        engine.solve(degradation, [fitted], weight, **options)  # compile
    seconds = {name: [] for name in variants}
    for _ in range(5):
        for name, (degradation, fitted) in variants.items():
            run = engine.solve(degradation, [fitted], weight, **options)
            seconds[name].append(run.solve_seconds / int(run.iterations[0]))
    base = np.median(seconds["separable"])
    for name in variants:
        median = np.median(seconds[name])
        print(f"{name}: {median * 1e3:.2f} ms/iteration, {median / base:.2f}x separable", flush=True)


if __name__ == "__main__":
    main()
