r"""The auto weight's fixed map against its iteration count, on ``tests/tuning/test_noise.py``'s cases.

For each image (128-pixel centre crop, 8-bit noise at 15, 25 and 50/255,
seed 2, as the test), the loss of ``weight="auto"`` against the best of
the test's grid of weights (a factor 2^(1/3) apart), with the search's
map (:data:`tvrestore.tuning.autoweight.ITERATIONS`) set to each count
given. With ``--curve IMAGE@SIGMA``, also the PSNR of the map itself after
each count, and of 2000 iterations, over the grid's weights: how far the
map is from converged at each weight.

Usage::

    PYTHONPATH=. python benchmarks/measure_auto_weight_iterations.py --iterations 60,90,120 \
        --images cell,clock --curve cell@50
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "tuning"))
from test_noise import centre_crop, noisy_version, psnr  # noqa: E402

from tvrestore import denoise_batch  # noqa: E402
from tvrestore.models.shapes import solve_shape, zero_padded  # noqa: E402
from tvrestore.solvers.pdhg import solve_pdhg  # noqa: E402
from tvrestore.tuning import autoweight  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--iterations", default="60,90,120")
    parser.add_argument("--images", default="cell,clock")
    parser.add_argument("--curve", help="IMAGE@SIGMA_255: the map's PSNR over the grid")
    args = parser.parse_args()
    counts = [int(x) for x in args.iterations.split(",")]
    for name in args.images.split(","):
        clean = centre_crop(name, 128)
        for sigma in (15 / 255, 25 / 255, 50 / 255):
            noisy = noisy_version(clean, sigma, seed=2, eight_bit=True).astype(np.float32)
            grid = list(sigma * np.geomspace(0.25, 4, 13))
            best = max(psnr(clean, image) for image, _ in denoise_batch([noisy] * 13, grid))
            row = []
            for count in counts:
                autoweight.ITERATIONS = count
                (image, result), = denoise_batch([noisy], ["auto"])
                row.append(f"{count}: w/sigma {result.weight / sigma:.2f}, "
                           f"loss {best - psnr(clean, image):.3f} dB")
            print(f"{name} {sigma * 255:.0f}/255  " + " | ".join(row), flush=True)
    if args.curve:
        name, level = args.curve.split("@")
        sigma = float(level) / 255
        clean = centre_crop(name, 128)
        noisy = noisy_version(clean, sigma, seed=2, eight_bit=True).astype(np.float32)
        weights = sigma * np.geomspace(0.25, 4, 13)[4:12]
        print("weight x 255: " + " ".join(f"{w * 255:6.1f}" for w in weights))
        for count in [*counts, 2000]:
            padded, extents = zero_padded([noisy] * len(weights), solve_shape(noisy.shape))
            output = solve_pdhg(padded, weights, tv="isotropic", color="vectorial", gap=0.0,
                                max_iter=count, check_every=count, extents=extents)
            scores = [psnr(clean, s[: clean.shape[0], : clean.shape[1]]) for s in output.solution]
            print(f"map PSNR, {count:4d} it: " + " ".join(f"{p:6.3f}" for p in scores))


if __name__ == "__main__":
    main()
