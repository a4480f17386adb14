"""Measure restoration beyond denoising (issue 11's targets) on skimage.data crops.

Degradations, each the 'valid' part of a larger scene (no periodic or zero
boundary), seeded:

deblur           Gaussian PSF sigma 1.6, noise 0.01
deblur+inpaint   the same blur and noise, 30 % dead pixels (value 0, masked)
deblur+upscale   Gaussian PSF sigma 1.0 on the fine grid, 2x2 binning, noise 0.005

Prints, per task and image: PSNR of weight="auto" against the best weight
of a grid, the scikit-image baseline, the 16-pixel border band against the
interior (deblur), Adam's energy above pdhg's certified lower bound, sum
against mean, iterations at 240 and 960 pixels, and the warm solve time of
a 512x512 deblur against unsupervised_wiener on the same input.

    python benchmarks/measure_restore.py [--quick] [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from scipy import signal
from skimage import color as skcolor, data, transform, util
from skimage.metrics import peak_signal_noise_ratio as psnr
from skimage.restoration import inpaint_biharmonic, unsupervised_wiener

from tvrestore.solvers import engine
from tvrestore.models.psf import parse_psf
from tvrestore.api import restore

IMAGES = ("camera", "astronaut", "coins", "chelsea")
TASKS = {
    "deblur": dict(psf="gaussian:1.6", upscale=1, dead=0.0, noise=0.01),
    "deblur+inpaint": dict(psf="gaussian:1.6", upscale=1, dead=0.3, noise=0.01),
    "deblur+upscale": dict(psf="gaussian:1.0", upscale=2, dead=0.0, noise=0.005),
}
GRID = np.geomspace(0.0001, 0.01, 15)
# A fixed weight per task near the auto weights of these images, for the
# solver and size measurements.
TASK_WEIGHTS = {"deblur": 0.0007, "deblur+inpaint": 0.0007, "deblur+upscale": 0.0003}
BORDER = 16


def grey(name: str, scale: float = 1.0) -> np.ndarray:
    image = util.img_as_float64(getattr(data, name)())
    if image.ndim == 3:
        image = skcolor.rgb2gray(image[..., :3])
    return transform.rescale(image, scale, anti_aliasing=True) if scale != 1 else image


def degrade(name: str, task: str, size: int = 240, seed: int = 0, scale: float = 1.0):
    """(data (h, w), clean window (size, size), psf, missing or None, upscale)."""
    spec = TASKS[task]
    psf = parse_psf(spec["psf"])
    radius = psf.shape[0] // 2
    image = grey(name, scale)
    side = size + 2 * radius
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    scene = image[top : top + side, left : left + side]
    blurred = signal.convolve2d(scene, psf, "valid")
    k = spec["upscale"]
    binned = blurred.reshape(size // k, k, size // k, k).mean(axis=(1, 3))
    rng = np.random.default_rng(seed)
    observed = binned + spec["noise"] * rng.standard_normal(binned.shape)
    missing = None
    if spec["dead"]:
        missing = rng.random(binned.shape) < spec["dead"]
        observed = np.where(missing, 0.0, observed)
    clean = scene[radius : radius + size, radius : radius + size]
    return observed.astype(np.float32), clean, psf, missing, k


def baseline(task: str, observed, psf, missing, k) -> float | np.ndarray:
    """scikit-image's answer to the task (the issue's baselines)."""
    if task == "deblur":
        return unsupervised_wiener(observed, psf, rng=0)[0]
    if task == "deblur+inpaint":
        return unsupervised_wiener(inpaint_biharmonic(observed, missing), psf, rng=0)[0]
    bicubic = transform.rescale(observed, k, order=3)
    return bicubic, unsupervised_wiener(bicubic, psf, rng=0)[0]


def run(name, task, weight, **options):
    observed, clean, psf, missing, k = degrade(name, task)
    restored, result = restore(observed, psf=psf, mask=missing, upscale=k, weight=weight, **options)
    return psnr(clean, np.clip(restored, 0, 1), data_range=1), result, restored


def measure_weights(images, quick):
    rows = []
    for task in TASKS:
        for name in images:
            observed, clean, psf, missing, k = degrade(name, task)
            auto_psnr, auto, restored = run(name, task, "auto")
            grid = GRID[::2] if quick else GRID
            grid_psnr = [run(name, task, float(w))[0] for w in grid]
            best = int(np.argmax(grid_psnr))
            base = baseline(task, observed, psf, missing, k)
            if isinstance(base, tuple):
                base_psnr = max(psnr(clean, np.clip(b, 0, 1), data_range=1) for b in base)
            else:
                base_psnr = psnr(clean, np.clip(base, 0, 1), data_range=1)
            row = dict(task=task, image=name, auto_weight=auto.weight, auto_psnr=auto_psnr,
                       noise_sigma=auto.noise_sigma, best_weight=float(grid[best]),
                       best_psnr=grid_psnr[best], skimage_psnr=base_psnr,
                       search_seconds=auto.weight_search_seconds, solve_seconds=auto.solve_seconds)
            if task == "deblur":
                error = (np.clip(restored, 0, 1) - clean) ** 2
                inner = np.zeros(error.shape, bool)
                inner[BORDER:-BORDER, BORDER:-BORDER] = True
                row["border_psnr"] = float(-10 * np.log10(error[~inner].mean()))
                row["interior_psnr"] = float(-10 * np.log10(error[inner].mean()))
                # The same band restored as the interior of a window 24 px
                # larger each way: what the frame costs, content apart.
                wide, wide_clean, *_ = degrade(name, task, size=288)
                wide_restored, _ = restore(wide, psf=psf, weight=auto.weight)
                wide_error = (np.clip(wide_restored, 0, 1) - wide_clean)[24:-24, 24:-24] ** 2
                row["same_band_inside_larger_window_psnr"] = float(
                    -10 * np.log10(wide_error[~inner].mean()))
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def measure_solvers(images):
    """Adam's energy against pdhg's certified lower bound, and sum against mean, at TASK_WEIGHTS."""
    rows = []
    for task in TASKS:
        weight = TASK_WEIGHTS[task]
        for name in images[:2]:
            observed, clean, psf, missing, k = degrade(name, task)
            degradation = engine.Degradation(psf=psf, upscale=k, missing=missing)
            data3 = observed[..., None]
            exact = engine.solve(degradation, [data3], np.array([weight]), solver="pdhg", gap=1e-4)
            runs = {r: engine.solve(degradation, [data3], np.array([weight]), reduction=r)
                    for r in ("sum", "mean")}
            adam = engine.energy(degradation, runs["mean"].solution[0], data3, weight)
            lower = float(exact.lower_bound[0])
            row = dict(task=task, image=name, weight=weight, pdhg_iterations=int(exact.iterations[0]),
                       pdhg_certified_gap=float(exact.certified_gap[0]),
                       adam_iterations=int(runs["mean"].iterations[0]),
                       adam_above_lower_bound=(adam - lower) / lower,
                       sum_mean_max_difference=float(np.abs(runs["sum"].solution - runs["mean"].solution).max()),
                       sum_mean_iterations=[int(runs[r].iterations[0]) for r in ("sum", "mean")])
            rows.append(row)
            print(json.dumps(row), flush=True)
    return rows


def measure_sizes():
    """Iterations at 240 and 960 pixels, camera rescaled 2x (1024 px), at TASK_WEIGHTS."""
    rows = []
    for task in TASKS:
        counts = {}
        for size in (240, 960):
            observed, clean, psf, missing, k = degrade("camera", task, size=size, scale=2.0)
            _, result = restore(observed, psf=psf, mask=missing, upscale=k, weight=TASK_WEIGHTS[task])
            counts[size] = result.iterations
        row = dict(task=task, iterations_240=counts[240], iterations_960=counts[960],
                   ratio=counts[960] / counts[240])
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def measure_speed(repeat=3):
    """Warm 512x512 deblur solve (Adam, deblur's TASK_WEIGHTS) against unsupervised_wiener, same run."""
    observed, clean, psf, missing, k = degrade("camera", "deblur", size=512, scale=1.1)
    degradation = engine.Degradation(psf=psf)
    data3 = observed[..., None]
    weight = np.array([TASK_WEIGHTS["deblur"]])
    engine.solve(degradation, [data3], weight)  # compile
    ours, theirs = [], []
    for _ in range(repeat):
        ours.append(engine.solve(degradation, [data3], weight).solve_seconds)
        start = time.perf_counter()
        unsupervised_wiener(observed, psf, rng=0)
        theirs.append(time.perf_counter() - start)
    row = dict(tvrestore_seconds=float(np.median(ours)), wiener_seconds=float(np.median(theirs)),
               ratio=float(np.median(ours) / np.median(theirs)))
    print(json.dumps(row), flush=True)
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="two images, every other grid weight")
    parser.add_argument("--part", choices=["weights", "solvers", "sizes", "speed", "all"], default="all")
    parser.add_argument("--json", help="write everything measured here")
    args = parser.parse_args()
    images = IMAGES[:2] if args.quick else IMAGES
    report = {}
    if args.part in ("weights", "all"):
        report["weights"] = measure_weights(images, args.quick)
    if args.part in ("solvers", "all"):
        report["solvers"] = measure_solvers(images)
    if args.part in ("sizes", "all"):
        report["sizes"] = measure_sizes()
    if args.part in ("speed", "all"):
        report["speed"] = measure_speed()
    if args.json:
        with open(args.json, "w") as out:
            json.dump(report, out, indent=2)


if __name__ == "__main__":
    main()
