"""Measure the core claims: reductions agree, iterations do not grow with size.

For each size, a grey camera image resized to size x size plus Gaussian noise
(sigma 25/255) is restored at weight 0.07 under both reductions, and both are
checked against the exact minimizer from tvrestore's certified PDHG solver.

    python benchmarks/measure_core.py --sizes 256 2048
"""

import argparse

import numpy as np
from skimage import data, transform, util

from tvrestore import denoise
from tvrestore.models.problem import Problem
from tvrestore.solvers.pdhg import solve_pdhg

WEIGHT = 0.07
SIGMA = 25 / 255


def psnr(clean, image):
    return 10 * np.log10(1 / np.mean((np.float64(clean) - image) ** 2))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[256, 2048])
    parser.add_argument("--gap", type=float, default=1e-5, help="certified gap of the exact reference")
    args = parser.parse_args()
    print(f"{'size':>6} {'reduction':>9} {'iters':>6} {'rel gap':>9} {'dPSNR dB':>9} "
          f"{'solve s':>8} {'max|sum-mean|':>13} {'loss_sum/(N loss_mean)':>22}")
    for size in args.sizes:
        clean = transform.resize(util.img_as_float64(data.camera()), (size, size), anti_aliasing=True)
        noisy = (clean + SIGMA * np.random.default_rng(0).standard_normal(clean.shape)).astype(np.float32)
        exact = solve_pdhg(noisy[None, ..., None], np.array([WEIGHT]), gap=args.gap)
        assert exact.converged[0], "reference did not reach its certificate"
        exact_image = exact.solution[0, ..., 0]
        exact_energy = Problem().energy_value(exact_image, noisy, WEIGHT)
        runs = {reduction: denoise(noisy, WEIGHT, reduction=reduction) for reduction in ("sum", "mean")}
        difference = np.max(np.abs(runs["sum"][0] - runs["mean"][0]))
        ratio = runs["sum"][1].loss / (noisy.size * runs["mean"][1].loss)
        for reduction, (image, result) in runs.items():
            gap = (result.objective - exact_energy) / exact_energy
            print(f"{size:>6} {reduction:>9} {result.iterations:>6} {gap:>9.2e} "
                  f"{psnr(clean, image) - psnr(clean, exact_image):>+9.4f} {result.solve_seconds:>8.3f} "
                  f"{difference:>13.2e} {ratio:>22.8f}")
        print(f"{'':>6} exact reference: certified gap {exact.certified_gap[0]:.1e}, "
              f"{exact.iterations[0]} PDHG iterations")


if __name__ == "__main__":
    main()
