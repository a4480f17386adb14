"""Is the noise-free upscale's gap to bicubic the TV discretization's? (issue 23, item 1)

Solves the noise-free limit, min TV_eps(u) subject to the 2x2 block means
of u equal to the observed image, for two discretizations of isotropic TV:

- ``forward``: forward differences, Neumann boundary (tvrestore's);
- ``symmetric``: the mean of the four one-sided difference pairs (forward or
  backward in x, forward or backward in y), which has less grid bias.

TV_eps sums sqrt(dx^2 + dy^2 + eps^2) with eps = 1e-3 (in [0, 1] units), so
that L-BFGS applies. The constraint is exact: u is parametrized on the
affine set of images with the observed block means. The start is bicubic
made consistent with the block means. Scenes as in measure_noise_free.py,
in grey. numpy and scipy only; minutes per image.

    python benchmarks/measure_upscale_tv_discretizations.py [--images moon,text]
"""

from __future__ import annotations

import argparse
import os
import sys

import numpy as np
from scipy.optimize import minimize
from skimage import transform
from skimage.metrics import peak_signal_noise_ratio as psnr

sys.path.insert(0, os.path.dirname(__file__))
from measure_noise_free import HELD_OUT, low_resolution, scene  # noqa: E402

FACTOR = 2
EPS = 1e-3


def block_means(u: np.ndarray) -> np.ndarray:
    h, w = u.shape[0] // FACTOR, u.shape[1] // FACTOR
    return u.reshape(h, FACTOR, w, FACTOR).mean(axis=(1, 3))


def replicate(blocks: np.ndarray) -> np.ndarray:
    return np.repeat(np.repeat(blocks, FACTOR, 0), FACTOR, 1)


def without_block_means(v: np.ndarray) -> np.ndarray:
    """The orthogonal projection onto images whose block means are 0."""
    return v - replicate(block_means(v))


def one_sided_tv(u: np.ndarray, forward_x: bool, forward_y: bool):
    """Smoothed isotropic TV with one-sided differences, and its gradient."""
    dx, dy = np.zeros_like(u), np.zeros_like(u)
    # A forward difference sits on the left pixel of the pair, a backward one
    # on the right: the pairs are the same, the pairing into one norm is not.
    sx = np.s_[:, :-1] if forward_x else np.s_[:, 1:]
    sy = np.s_[:-1, :] if forward_y else np.s_[1:, :]
    dx[sx] = u[:, 1:] - u[:, :-1]
    dy[sy] = u[1:, :] - u[:-1, :]
    norm = np.sqrt(dx * dx + dy * dy + EPS * EPS)
    px, py = dx / norm, dy / norm
    grad = np.zeros_like(u)
    grad[:, :-1] -= px[sx]
    grad[:, 1:] += px[sx]
    grad[:-1, :] -= py[sy]
    grad[1:, :] += py[sy]
    return norm.sum(), grad


def tv(u: np.ndarray, variant: str):
    if variant == "forward":
        return one_sided_tv(u, True, True)
    parts = [one_sided_tv(u, fx, fy) for fx in (True, False) for fy in (True, False)]
    return sum(v for v, _ in parts) / 4, sum(g for _, g in parts) / 4


def noise_free_limit(observed: np.ndarray, start: np.ndarray, variant: str) -> np.ndarray:
    consistent = start - replicate(block_means(start)) + replicate(observed)

    def objective(flat):
        u = consistent + without_block_means(flat.reshape(consistent.shape))
        value, grad = tv(u, variant)
        return value, without_block_means(grad).ravel()

    result = minimize(objective, np.zeros(consistent.size), jac=True, method="L-BFGS-B",
                      options={"maxiter": 3000, "maxcor": 20})
    return consistent + without_block_means(result.x.reshape(consistent.shape))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=",".join(HELD_OUT))
    args = parser.parse_args()
    print(f"{'image':8} {'bicubic':>8} {'consistent':>10} {'forward':>8} {'symmetric':>9}")
    for name in args.images.split(","):
        clean = scene(name)
        clean = clean.mean(axis=-1) if clean.ndim == 3 else clean
        observed = low_resolution(clean).astype(np.float64) / 255
        bicubic = np.clip(transform.rescale(observed, FACTOR, order=3), 0, 1)
        consistent = bicubic - replicate(block_means(bicubic)) + replicate(observed)
        scores = [psnr(clean, np.clip(u, 0, 1), data_range=1) for u in (
            bicubic, consistent,
            noise_free_limit(observed, bicubic, "forward"),
            noise_free_limit(observed, bicubic, "symmetric"))]
        print(f"{name:8} " + " ".join(f"{s:>{w}.2f}" for s, w in zip(scores, (8, 10, 8, 9))),
              flush=True)


if __name__ == "__main__":
    main()
