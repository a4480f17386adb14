"""Photon counts (--noise poisson): the auto weight, the baselines and the costs, on held-out images.

Prints the tables of docs/noise.md (issue 20's targets 1, 2, 6 and 7):

1. denoising at peaks 5, 30, 100: tvrestore's auto weight (its default
   route for blur-free counts, "anscombe": L2 TV on the Anscombe image and
   the exact unbiased inverse) against the same route at its best weight on
   a grid, against the generalized Anscombe transform +
   ``denoise_tv_chambolle`` (scikit-image's defaults: at most 200
   iterations) + the exact unbiased inverse at its best weight, and the
   KL route at its auto weight (``poisson_route="kl"``, the route before);
   chambolle run to convergence at our best weight checks that both
   solve one problem;
2. Poisson + Gaussian blur sigma 1.6 ('valid' blur of a larger scene, no
   periodic boundary), peaks 30, 100, 300: TV-KL with the auto weight
   against ``richardson_lucy`` at its best iteration count;
3. one 512x512 Poisson solve against a Gaussian solve of the same image
   (Adam), and the auto weight's search against one solve;
4. usage errors (bad --gain, --offset, --noise): seconds to the error.

Images: 256x256 centre crops of scikit-image pictures that samples/ (camera,
astronaut, coins) do not use, in grey, scaled to [0, 1] and multiplied by
the peak; seeded Poisson noise. PSNR in counts, with the peak as the range.
``--calibrate`` runs table 1 on the samples' images instead, with a finer
grid around the rule, to fit the rule's factors (tvrestore.tuning.autoweight).

    PYTHONPATH=. python benchmarks/measure_noise_models.py [--tables 1,2,3,4] [--calibrate]
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time

import numpy as np
from skimage import color, data, transform, util
from skimage.restoration import denoise_tv_chambolle, richardson_lucy

from tvrestore import denoise, restore
from tvrestore.bench.degradations import degrade, scene_shape
from tvrestore.io.psf import load_psf
from tvrestore.tuning.counts import anscombe, inverse_anscombe

HELD_OUT = ("chelsea", "coffee", "rocket", "moon")
CALIBRATION = ("camera", "astronaut", "coins")
SIDE = 256
SEED = 20


def picture(name: str, shape=(SIDE, SIDE)) -> np.ndarray:
    """A grey centre crop of a scikit-image picture, in [0, 1]; resized up first if smaller than ``shape``."""
    image = util.img_as_float64(getattr(data, name)())
    if image.ndim == 3:
        image = color.rgb2gray(image[..., :3])
    if image.shape[0] < shape[0] or image.shape[1] < shape[1]:
        scale = max(shape[0] / image.shape[0], shape[1] / image.shape[1])
        image = np.clip(transform.rescale(image, scale, order=3), 0, 1)
    top, left = (image.shape[0] - shape[0]) // 2, (image.shape[1] - shape[1]) // 2
    return image[top:top + shape[0], left:left + shape[1]]


def psnr(estimate: np.ndarray, clean: np.ndarray, peak: float) -> float:
    error = np.mean((np.asarray(estimate, np.float64) - clean) ** 2)
    return float(10 * np.log10(peak**2 / error))


def grid_best(score, candidates) -> tuple[float, float]:
    """The best (value, candidate) of ``score`` over ``candidates``."""
    scores = [(score(candidate), candidate) for candidate in candidates]
    return max(scores)


def anscombe_chambolle(counts: np.ndarray, weight: float, **converged) -> np.ndarray:
    return inverse_anscombe(denoise_tv_chambolle(anscombe(counts), weight=weight, **converged))


def denoising_rows(names, peaks, factors, solver="adam"):
    rows = []
    for name in names:
        scene = picture(name)
        for peak in peaks:
            clean = peak * scene
            counts = np.random.default_rng(SEED).poisson(clean).astype(np.float32)
            start = time.perf_counter()
            auto, result = denoise(counts, "auto", noise="poisson", solver=solver)
            auto_seconds = time.perf_counter() - start
            auto_psnr = psnr(auto, clean, peak)
            route = result.poisson_route
            best_own, best_w = grid_best(
                lambda w: psnr(denoise(counts, w, noise="poisson", solver=solver,
                                       poisson_route=route)[0], clean, peak),
                [result.weight * f for f in factors])
            best_vst, best_vst_w = grid_best(
                lambda w: psnr(anscombe_chambolle(counts, w), clean, peak),
                np.geomspace(0.1, 3.0, 25))
            kl, kl_result = denoise(counts, "auto", noise="poisson", solver=solver,
                                    poisson_route="kl")
            converged = psnr(anscombe_chambolle(counts, best_w, eps=1e-6, max_num_iter=3000),
                             clean, peak) if route == "anscombe" else float("nan")
            rows.append(dict(image=name, peak=peak, input=psnr(counts, clean, peak), route=route,
                             auto_w=result.weight, auto=auto_psnr, best_w=best_w, best=best_own,
                             vst_w=best_vst_w, vst=best_vst, kl=psnr(kl, clean, peak),
                             kl_w=kl_result.weight, converged=converged,
                             search_s=result.weight_search_seconds, solve_s=result.solve_seconds,
                             seconds=auto_seconds))
            row = rows[-1]
            print(f"{name:8} {peak:4g} {row['input']:6.2f} | {route} auto W {row['auto_w']:.3g} "
                  f"{row['auto']:6.2f} | best W {row['best_w']:.3g} {row['best']:6.2f} "
                  f"({row['auto'] - row['best']:+.2f}) | Anscombe+chambolle W {row['vst_w']:.3g} "
                  f"{row['vst']:6.2f} ({row['auto'] - row['vst']:+.2f}) | chambolle converged at "
                  f"best W {row['converged']:6.2f} | KL auto w {row['kl_w']:.3g} {row['kl']:6.2f} "
                  f"| search {row['search_s']:.2f} s, solve {row['solve_s']:.2f} s", flush=True)
    return rows


def deblurring_rows(names, peaks, factors):
    psf = load_psf("gaussian:1.6")
    rows = []
    for name in names:
        scene = picture(name, scene_shape((SIDE, SIDE), psf))
        blurred = degrade(scene, psf=psf)
        for peak in peaks:
            clean = peak * blurred.clean
            counts = np.random.default_rng(SEED).poisson(peak * blurred.observed).astype(np.float32)
            auto, result = restore(counts, psf="gaussian:1.6", noise="poisson")
            auto_psnr = psnr(auto, clean, peak)
            best_kl = None
            if factors:
                best_kl, _ = grid_best(
                    lambda w: psnr(restore(counts, psf="gaussian:1.6", weight=w,
                                           noise="poisson")[0], clean, peak),
                    [result.weight * f for f in factors])
            best_rl, best_iterations = grid_best(
                lambda n: psnr(richardson_lucy(counts.astype(np.float64), psf, num_iter=n,
                                               clip=False), clean, peak),
                (2, 4, 6, 8, 10, 13, 16, 20, 25, 30, 40, 50, 65, 80, 100, 130, 160, 200))
            rows.append(dict(image=name, peak=peak, auto=auto_psnr, auto_w=result.weight,
                             best=best_kl, rl=best_rl, rl_iterations=best_iterations))
            grid = "" if best_kl is None else f" | best on grid {best_kl:6.2f}"
            print(f"{name:10} {peak:5g} | TV-KL auto w {result.weight:.3g} {auto_psnr:6.2f}{grid} | "
                  f"richardson_lucy ({best_iterations} it.) {best_rl:6.2f} | "
                  f"{auto_psnr - best_rl:+.2f} dB", flush=True)
    return rows


def timing_rows(repeats: int = 5):
    """Adam on 512x512 images: Poisson (counts at peak 30) against Gaussian (sigma 0.1), and the search.

    Every program is compiled first (a fixed-weight solve of each kind and one
    auto call per image); then the rounds interleave, so that the machine's
    load hits all alike, and each line is the median of ``repeats`` rounds.
    The search is measured against the solve of its own call (the solve at
    the weight it chose).
    """
    rng = np.random.default_rng(SEED)
    images = {}
    for name in HELD_OUT:
        scene = picture(name, (512, 512))
        images[name] = (rng.poisson(30 * scene).astype(np.float32),
                        (scene + 0.1 * rng.standard_normal(scene.shape)).astype(np.float32))
    for counts, noisy in images.values():  # compile first
        denoise(counts, 0.2, noise="poisson")
        denoise(noisy, 0.08)
        denoise(counts, "auto", noise="poisson")
    rounds = {name: [] for name in images}
    for _ in range(repeats):
        for name, (counts, noisy) in images.items():
            _, poisson = denoise(counts, 0.2, noise="poisson")
            _, gaussian = denoise(noisy, 0.08)
            _, auto = denoise(counts, "auto", noise="poisson")
            rounds[name].append((poisson.solve_seconds, gaussian.solve_seconds,
                                 auto.weight_search_seconds, auto.solve_seconds,
                                 poisson.iterations, gaussian.iterations))
    for name, values in rounds.items():
        p, g, search, solve, p_it, g_it = np.median(np.array(values), axis=0)
        print(f"{name} 512x512 Adam solve: poisson {p:.3f} s ({p_it:.0f} it.), gaussian {g:.3f} s "
              f"({g_it:.0f} it.): ratio {p / g:.2f} | auto weight search {search:.3f} s = "
              f"{search / solve:.2f} solves ({solve:.3f} s) (medians of {repeats}, interleaved)")


def usage_error_rows():
    from PIL import Image
    import tempfile
    from pathlib import Path

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory, "a.png")
        Image.fromarray(np.zeros((16, 16), np.uint8)).save(path)
        for args in (["--noise", "poisson", "--gain", "0"], ["--noise", "poisson", "--gain", "nan"],
                     ["--noise", "poisson", "--offset", "inf"], ["--noise", "laplace"],
                     ["--gain", "2"]):
            start = time.perf_counter()
            done = subprocess.run([sys.executable, "-m", "tvrestore", str(path), *args],
                                  capture_output=True, text=True)
            seconds = time.perf_counter() - start
            print(f"{' '.join(args):34} exit {done.returncode} in {seconds:.2f} s: "
                  f"{done.stderr.strip()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tables", default="1,2,3,4")
    parser.add_argument("--calibrate", action="store_true")
    parser.add_argument("--images")
    parser.add_argument("--solver", default="adam", choices=("adam", "pdhg"))
    parser.add_argument("--blur-grid", action="store_true",
                        help="also TV-KL's best weight on a grid through the blur (slow)")
    arguments = parser.parse_args()
    tables = set(arguments.tables.split(","))
    names = (arguments.images.split(",") if arguments.images
             else CALIBRATION if arguments.calibrate else HELD_OUT)
    factors = np.geomspace(0.35, 2.8, 13) if arguments.calibrate else np.geomspace(0.5, 2.0, 7)
    if "1" in tables:
        print("== 1. Poisson denoising (PSNR dB, counts; peak as range)")
        rows = denoising_rows(names, (5, 30, 100), factors, arguments.solver)
        gaps = np.array([[r["best"] - r["auto"], r["vst"] - r["auto"], r["kl"] - r["auto"]]
                         for r in rows])
        print(f"auto below own best: mean {gaps[:, 0].mean():.2f}, worst {gaps[:, 0].max():.2f} dB;"
              f" below Anscombe+chambolle's best: mean {gaps[:, 1].mean():.2f}, worst "
              f"{gaps[:, 1].max():.2f} dB; KL route's auto minus auto: mean "
              f"{gaps[:, 2].mean():+.2f}, best {gaps[:, 2].max():+.2f} dB")
        if arguments.calibrate:
            ratios = np.array([r["best_w"] / r["auto_w"] for r in rows])
            print(f"best / auto weight: geometric mean {np.exp(np.log(ratios).mean()):.3f}, "
                  f"range {ratios.min():.2f}..{ratios.max():.2f}")
    if "2" in tables:
        print("== 2. Poisson + Gaussian blur sigma 1.6, 'valid' (PSNR dB)")
        rows = deblurring_rows(names, (30, 100, 300),
                               np.geomspace(0.35, 2.8, 7) if arguments.blur_grid else None)
        for peak in (30, 100, 300):
            gains = [r["auto"] - r["rl"] for r in rows if r["peak"] == peak]
            print(f"peak {peak}: TV-KL auto - richardson_lucy best: mean {np.mean(gains):+.2f}, "
                  f"worst {np.min(gains):+.2f} dB")
        if arguments.blur_grid:
            ratios = [r["best"] - r["auto"] for r in rows]
            print(f"auto below best on grid: mean {np.mean(ratios):.2f}, worst {np.max(ratios):.2f} dB")
    if "3" in tables:
        print("== 3. Costs")
        timing_rows()
    if "4" in tables:
        print("== 4. Usage errors")
        usage_error_rows()


if __name__ == "__main__":
    main()
