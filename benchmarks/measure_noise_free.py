"""Measure the noise-free limit (issue 23, item 1): ``--upscale 2`` on clean images.

Each of eight skimage.data images that samples/ does not use is cut to its
centre square, resized (anti-aliased) to 256x256, binned 2x2 and rounded
to 8 bits: a clean low-resolution image as a user has it. It is upscaled by
``restore(..., upscale=2)`` at the automatic weight (the CLI's default),
and scored against the 256x256 scene beside bicubic (``rescale`` order 3)
and pixel replication (``np.repeat``). PSNR in dB, [0, 1] units.

``--weight 0`` solves every image's noise-free limit (min TV(u) subject to
the block means), whatever its estimated noise.

    python benchmarks/measure_noise_free.py [--images moon,page] [--solver adam] [--weight 0]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from skimage import data, transform
from skimage.metrics import peak_signal_noise_ratio as psnr

from tvrestore.api import restore

HELD_OUT = ("moon", "page", "text", "clock", "brick", "chelsea", "coffee", "rocket")
SIDE = 256


def scene(name: str) -> np.ndarray:
    """The centre square of ``name``, resized to SIDE x SIDE, in [0, 1]."""
    image = getattr(data, name)().astype(np.float64) / 255.0
    if image.ndim == 3:
        image = image[..., :3]
    side = min(image.shape[:2])
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    square = image[top:top + side, left:left + side]
    shape = (SIDE, SIDE) + square.shape[2:]
    return np.clip(transform.resize(square, shape, anti_aliasing=side > SIDE), 0, 1)


def low_resolution(clean: np.ndarray, k: int = 2) -> np.ndarray:
    """2x2 binning, rounded to uint8."""
    planes = clean if clean.ndim == 3 else clean[..., None]
    h, w = planes.shape[0] // k, planes.shape[1] // k
    binned = planes.reshape(h, k, w, k, -1).mean(axis=(1, 3))
    binned = binned if clean.ndim == 3 else binned[..., 0]
    return np.round(binned * 255).astype(np.uint8)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default=",".join(HELD_OUT))
    parser.add_argument("--solver", default="adam", choices=("adam", "pdhg"))
    parser.add_argument("--weight", default="auto")
    args = parser.parse_args()
    print(f"{'image':10} {'repeat':>7} {'bicubic':>8} {'tvrestore':>9} {'-bicubic':>8} "
          f"{'weight':>8} {'problem':>22} {'iters':>6} {'seconds':>7}")
    differences = []
    for name in args.images.split(","):
        clean = scene(name)
        small = low_resolution(clean)
        unit = small.astype(np.float64) / 255.0
        channel_axis = -1 if unit.ndim == 3 else None
        bicubic = np.clip(transform.rescale(unit, 2, order=3, channel_axis=channel_axis), 0, 1)
        repeated = np.repeat(np.repeat(unit, 2, axis=0), 2, axis=1)
        start = time.perf_counter()
        weight = args.weight if args.weight == "auto" else float(args.weight)
        restored, result = restore(small, upscale=2, solver=args.solver, weight=weight)
        seconds = time.perf_counter() - start
        ours = restored.astype(np.float64) / 255.0
        scores = [psnr(clean, image, data_range=1.0) for image in (repeated, bicubic, ours)]
        differences.append(scores[2] - scores[1])
        problem = getattr(result, "problem", "-")
        print(f"{name:10} {scores[0]:7.2f} {scores[1]:8.2f} {scores[2]:9.2f} {scores[2] - scores[1]:+8.2f} "
              f"{result.weight:8.2g} {problem:>22} {result.iterations:6d} {seconds:7.1f}"
              + ("  == np.repeat" if np.array_equal(restored, np.repeat(np.repeat(small, 2, 0), 2, 1)) else ""))
    print(f"mean tvrestore - bicubic: {np.mean(differences):+.3f} dB "
          f"(min {np.min(differences):+.2f}, max {np.max(differences):+.2f})")


if __name__ == "__main__":
    main()
