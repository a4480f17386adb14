"""Measure issue 21's volume targets on seeded synthetic volumes (nothing is downloaded).

    PYTHONPATH=. python benchmarks/measure_volumes.py [anisotropic] [isotropic] [cost] [usage] [deblur]
        [deblur-auto] [deblur-auto-held-out] [deblur-auto-fresh]

anisotropic (target 1)
    A smooth-edged blob object defined in physical units, sampled with a z
    step 5.6 times the pixel (24 x 128 x 128), Gaussian noise: PSNR of 3-D
    TV with the spacing, 3-D TV without it, and slice-by-slice 2-D TV, each
    at its best weight (exact solves, pdhg to a certified gap of 1e-4, a
    weight grid refined around its best point), and of our auto weight with
    the spacing read back from an ImageJ file.
isotropic (targets 2 and 4)
    An ellipsoid phantom of sharp edges (CT-like), 128 x 128 x 128,
    Gaussian noise: Adam's result against the exact 3-D minimizer (pdhg in
    float64 to a certified gap of 1e-6) at one weight, and the auto weight
    against the best weight.
cost (target 6)
    Seconds per value and iteration of a 3-D solve against a 2-D solve of
    as many values, same iterations (Adam and pdhg, stopping disabled),
    interleaved, best of three, solve time only (compilation apart).
usage (target 7)
    Wall time of command lines refused as usage errors (bad spacing, axes
    that do not fit), against ``tvrestore --help``.
deblur (issue item 3)
    Blobs (64^3 voxels seen, the scene 7 planes and 4 rows and columns
    larger each side) blurred by ``gaussian:2,1,1`` ('valid' part), noise
    sigma 0.02: PSNR on the seen window of 3-D TV deblurring (Adam, best of
    a weight grid, and auto), of slice-by-slice 2-D TV deblurring with the
    PSF's in-plane profile (``gaussian:1``, best of the same grid), and of
    scikit-image's 3-D Richardson-Lucy with the true PSF (best iteration
    count) and Wiener filter (best balance).
deblur-auto (issue item 3: the auto weight in 3-D, through a PSF)
    The 3-D auto weight (generalized SURE, tvrestore.tuning.autoweight)
    against the best weight of a grid refined around its best point (Adam
    deblurring, PSNR on the seen window), on 64^3 voxels seen, noise sigma
    0.02, for the three cases the search was developed on: seeded blobs
    through ``gaussian:2,1,1`` and ``gaussian:1.2,0.8,0.8``, and the
    ellipsoid phantom through ``gaussian:2,1,1``. Target: within 0.3 dB.
deblur-auto-held-out
    The same on two more cases: blobs of another seed through the
    isotropic ``gaussian:1.5,1.5,1.5``, and the phantom of another seed
    through ``gaussian:3,1.3,1.3``. Held out when the rule was built; seen
    when its filter's alpha and faces' band were chosen (docs/volumes.md).
deblur-auto-fresh
    Three cases chosen after the faces' band was (blobs and phantom of new
    seeds through ``gaussian:2.5,1.2,1.2``, ``gaussian:1.2,1.2,1.2`` and
    ``gaussian:1,0.6,0.6``): held out from every choice of the search.

Every ratio is measured in one run; on a loaded machine say so.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SEED = 2026


def psnr(clean, image):
    return float(10 * np.log10(1.0 / np.mean((np.float64(clean) - image) ** 2)))


def blobs_physical(shape, spacing, seed=SEED, blobs=14):
    """Ellipsoids of constant intensity with edges about one pixel wide, sampled at ``spacing``."""
    rng = np.random.default_rng(seed)
    grids = np.meshgrid(*(np.arange(n) * step for n, step in zip(shape, spacing)), indexing="ij")
    extent = [n * step for n, step in zip(shape, spacing)]
    volume = np.full(shape, 0.15)
    for _ in range(blobs):
        centre = [rng.uniform(0.15, 0.85) * e for e in extent]
        radii = [rng.uniform(0.08, 0.25) * min(extent) for _ in extent]
        distance = np.sqrt(sum(((g - c) / r) ** 2 for g, c, r in zip(grids, centre, radii)))
        # A logistic edge 1 pixel (x) wide in physical units.
        volume += rng.uniform(0.1, 0.3) / (1.0 + np.exp((distance - 1.0) * min(radii) / 0.5))
    return np.clip(volume, 0.0, 1.0)


def microscope_stack(shape=(24, 128, 128), z_step=5.6, seed=SEED):
    """Blobs on a 1-pixel grid, blurred by a PSF 3x longer in z than across, sampled every ``z_step`` in z.

    A widefield-like model: the axial blur (sigma 3 pixels against 1)
    spreads each object over the planes it crosses, as in a real stack.
    """
    from scipy import ndimage

    fine_depth = int(np.ceil((shape[0] - 1) * z_step)) + 2
    fine = blobs_physical((fine_depth, *shape[1:]), (1.0, 1.0, 1.0), seed=seed)
    blurred = ndimage.gaussian_filter(fine, sigma=(3.0, 1.0, 1.0), mode="nearest")
    planes = np.arange(shape[0]) * z_step
    below = np.floor(planes).astype(int)
    fraction = (planes - below)[:, None, None]
    return (1 - fraction) * blurred[below] + fraction * blurred[below + 1]


def ellipsoid_phantom(side=128, seed=SEED, count=12, shape=None):
    """A CT-like phantom: nested sharp ellipsoids of constant attenuation.

    ``shape`` (default ``side`` cubed): each axis spans [-1, 1] in its own count of voxels.
    """
    rng = np.random.default_rng(seed)
    shape = (side,) * 3 if shape is None else shape
    z, y, x = np.meshgrid(*(np.linspace(-1, 1, n) for n in shape), indexing="ij")
    volume = np.where((z / 0.9) ** 2 + (y / 0.8) ** 2 + (x / 0.7) ** 2 <= 1, 0.5, 0.0)
    for _ in range(count):
        c = rng.uniform(-0.45, 0.45, 3)
        r = rng.uniform(0.08, 0.3, 3)
        inside = ((z - c[0]) / r[0]) ** 2 + ((y - c[1]) / r[1]) ** 2 + ((x - c[2]) / r[2]) ** 2 <= 1
        volume = np.where(inside, rng.uniform(0.1, 0.9), volume)
    return volume


def best_weight(solve, clean, weights):
    """The weight of highest PSNR on a grid, refined once around it; (weight, psnr, table)."""
    table = {}

    def score(weight):
        if weight not in table:
            table[weight] = psnr(clean, solve(weight))
        return table[weight]

    for weight in weights:
        score(weight)
    for _ in range(2):
        ordered = sorted(table)
        best = max(table, key=table.get)
        i = ordered.index(best)
        for neighbour in ordered[max(0, i - 1): i + 2]:
            if neighbour != best:
                score(float(np.sqrt(best * neighbour)))
    best = max(table, key=table.get)
    return best, table[best], table


def anisotropic() -> None:
    for name, clean in (("sharp blobs sampled at the z step", blobs_physical((24, 128, 128), (5.6, 1.0, 1.0))),
                        ("blobs through an axial PSF (microscope model)", microscope_stack())):
        print(f"-- {name}")
        _anisotropic(clean)


def _anisotropic(clean) -> None:
    from tvrestore import denoise
    from tvrestore.io.volumes import read_volume, read_volume_header, solve_spacing
    from tvrestore.models.axes import Axes

    import tifffile

    spacing = (5.6, 1.0, 1.0)
    sigma = 0.05
    noisy = (clean + sigma * np.random.default_rng(SEED + 1).standard_normal(clean.shape)).astype(np.float32)
    grid = list(np.geomspace(0.01, 0.12, 6))
    print(f"target 1: {clean.shape} volume, z step 5.6x the pixel, noise sigma {sigma}; "
          f"noisy PSNR {psnr(clean, noisy):.2f} dB")
    methods = {
        "3-D TV with spacing": lambda w: denoise(noisy, w, axes="ZYX", spacing=spacing, solver="pdhg")[0],
        "3-D TV without spacing": lambda w: denoise(noisy, w, axes="ZYX", solver="pdhg")[0],
        "2-D TV slice by slice": lambda w: denoise(noisy, w, axes="TYX", solver="pdhg")[0],
    }
    scores = {}
    for name, solve in methods.items():
        start = time.perf_counter()
        weight, value, table = best_weight(solve, clean, grid)
        scores[name] = value
        print(f"  {name:26s} best weight {weight:.4f}: {value:.2f} dB "
              f"({len(table)} solves, {time.perf_counter() - start:.0f} s)")
    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory, "stack.tif")
        # Written as a microscope would: 0.1 um pixels, 0.56 um z step.
        tifffile.imwrite(path, (np.clip(noisy, 0, 1) * 65535).astype(np.uint16), imagej=True,
                         resolution=(10.0, 10.0), metadata={"spacing": 0.56, "unit": "micron",
                                                            "axes": "ZYX"})
        pixels, header = read_volume(path)
        steps, note = solve_spacing(read_volume_header(path), Axes("ZYX"))
        restored, result = denoise(pixels, "auto", axes="ZYX", spacing=steps)
    auto = psnr(clean, restored.astype(np.float64) / 65535)
    better = max(scores["3-D TV without spacing"], scores["2-D TV slice by slice"])
    print(f"  auto weight, spacing {steps} read from the ImageJ file: weight {result.weight:.4f}, "
          f"{auto:.2f} dB")
    print(f"  target 1 (>= +2.0 dB over the better other): with spacing at best "
          f"{scores['3-D TV with spacing'] - better:+.2f} dB, auto {auto - better:+.2f} dB")


def isotropic() -> None:
    from tvrestore import denoise
    from tvrestore.solvers.pdhg import solve_pdhg

    clean = ellipsoid_phantom(128)
    sigma = 0.1
    noisy = (clean + sigma * np.random.default_rng(SEED + 2).standard_normal(clean.shape)).astype(np.float32)
    print(f"target 2: ellipsoid phantom {clean.shape}, noise sigma {sigma}; noisy PSNR "
          f"{psnr(clean, noisy):.2f} dB")
    weight = 0.08
    start = time.perf_counter()
    exact = solve_pdhg(noisy[None, ..., None], np.array([weight]), gap=1e-6, dtype="float64",
                       max_iter=20000)
    exact_psnr = psnr(clean, exact.solution[0, ..., 0])
    print(f"  exact (pdhg float64, certified gap {float(exact.certified_gap[0]):.1e}, "
          f"{time.perf_counter() - start:.0f} s): {exact_psnr:.3f} dB at weight {weight}")
    for solver in ("adam", "pdhg"):
        restored, result = denoise(noisy, weight, axes="ZYX", solver=solver)
        print(f"  {solver}: {psnr(clean, restored):.3f} dB ({psnr(clean, restored) - exact_psnr:+.3f} "
              f"against exact), {result.iterations} iterations, solve {result.solve_seconds:.1f} s")
    weight_best, best, table = best_weight(
        lambda w: denoise(noisy, w, axes="ZYX", solver="pdhg")[0], clean,
        list(np.geomspace(0.04, 0.16, 5)))
    restored, result = denoise(noisy, "auto", axes="ZYX")
    auto = psnr(clean, restored)
    print(f"  best weight {weight_best:.4f}: {best:.3f} dB; auto weight {result.weight:.4f} "
          f"(noise {result.noise_sigma:.4f}, search {result.weight_search_seconds:.1f} s): "
          f"{auto:.3f} dB ({auto - best:+.3f} against best; target 2/4: within 0.3 dB)")


def cost() -> None:
    from tvrestore import denoise

    rng = np.random.default_rng(SEED)
    cases = [("2-D 512x512", rng.random((512, 512)).astype(np.float32), "YX"),
             ("3-D 64x64x64", rng.random((64, 64, 64)).astype(np.float32), "ZYX"),
             ("2-D 1024x2048", rng.random((1024, 2048)).astype(np.float32), "YX"),
             ("3-D 128x128x128", rng.random((128, 128, 128)).astype(np.float32), "ZYX")]
    iterations = 100
    print(f"target 6: solve seconds per value and iteration, {iterations} iterations, best of 3")
    for solver in ("adam", "pdhg"):
        times = {name: [] for name, _, _ in cases}
        for _ in range(3):
            for name, image, axes in cases:
                _, result = denoise(image, 0.1, axes=axes, solver=solver, max_iter=iterations,
                                    tol=1e-30, gap=1e-30)
                assert result.iterations == iterations, (name, result.iterations)
                times[name].append(result.solve_seconds / (image.size * iterations))
        per = {name: min(values) * 1e9 for name, values in times.items()}
        for name in per:
            print(f"  {solver} {name:16s} {per[name]:.2f} ns per value and iteration")
        print(f"  {solver} ratio 3-D / 2-D: {per['3-D 64x64x64'] / per['2-D 512x512']:.2f} at 2^18 "
              f"values, {per['3-D 128x128x128'] / per['2-D 1024x2048']:.2f} at 2^21 (target <= 1.5)")


def usage() -> None:
    import tifffile

    with tempfile.TemporaryDirectory() as directory:
        path = Path(directory, "stack.tif")
        tifffile.imwrite(path, np.zeros((4, 16, 16), np.uint16), imagej=True,
                         metadata={"axes": "ZYX"})
        runs = {"--help": ["--help"],
                "2-D: a missing input (baseline)": [str(Path(directory, "missing.png"))],
                "--spacing 0,1,1": [str(path), "--spacing", "0,1,1"],
                "--spacing 2,1 (wrong count)": [str(path), "--spacing", "2,1"],
                "--axes ZYXC (does not fit)": [str(path), "--axes", "ZYXC"]}
        print("target 7: wall seconds of refused command lines (best of 5), and --help")
        for name, args in runs.items():
            times = []
            for _ in range(5):
                start = time.perf_counter()
                done = subprocess.run([sys.executable, "-m", "tvrestore", *args],
                                      capture_output=True, text=True)
                times.append(time.perf_counter() - start)
            code = done.returncode
            print(f"  {name:32s} exit {code}, {min(times):.2f} s (median {np.median(times):.2f} s)")


def deblur() -> None:
    from scipy import signal
    from skimage import restoration

    from tvrestore import restore
    from tvrestore.models.psf import parse_psf

    kernel = parse_psf("gaussian:2,1,1")
    radius = [(side - 1) // 2 for side in kernel.shape]
    scene = blobs_physical(tuple(64 + 2 * r for r in radius), (1.0, 1.0, 1.0))
    clean = scene[tuple(slice(r, r + 64) for r in radius)]
    noisy = signal.fftconvolve(scene, kernel, mode="valid")
    noisy = noisy + 0.02 * np.random.default_rng(SEED).standard_normal(noisy.shape)
    data = noisy.astype(np.float32)
    print(f"deblur 64^3, gaussian:2,1,1 (15x9x9), noise 0.02: blurred+noisy {psnr(clean, data):.2f} dB")
    grid = [0.001, 0.002, 0.004, 0.008, 0.016]

    def ours(weight):
        return restore(data, psf=kernel, weight=weight, axes="ZYX")[0]

    def slices(weight):
        return np.stack([restore(plane, psf="gaussian:1", weight=weight)[0] for plane in data])

    for name, solve in (("3-D TV deblur (adam)", ours), ("2-D TV deblur, slice by slice", slices)):
        weight, score, table = best_weight(solve, clean, grid)
        shown = ", ".join(f"{w:.4g}: {v:.2f}" for w, v in sorted(table.items()))
        print(f"  {name:34s} best weight {weight:.4g}: {score:.2f} dB   ({shown})")
    restored, result = restore(data, psf=kernel, weight="auto", axes="ZYX")
    print(f"  {'3-D TV deblur, auto weight':34s} weight {result.weight:.4g}: "
          f"{psnr(clean, restored):.2f} dB, {result.iterations} iterations")
    # Richardson-Lucy and Wiener work on the 'same' grid: score the window they see.
    rl = {n: psnr(clean, restoration.richardson_lucy(noisy.clip(0), kernel, num_iter=n, clip=False))
          for n in (1, 2, 3, 5, 10, 20)}
    best = max(rl, key=rl.get)
    print(f"  {'Richardson-Lucy 3-D (skimage)':34s} best {best} iterations: {rl[best]:.2f} dB   "
          + ", ".join(f"{n}: {v:.2f}" for n, v in rl.items()))
    wiener = {b: psnr(clean, restoration.wiener(noisy, kernel, balance=b, clip=False))
              for b in (0.003, 0.01, 0.03, 0.1, 0.3)}
    best = max(wiener, key=wiener.get)
    print(f"  {'Wiener 3-D (skimage)':34s} best balance {best}: {wiener[best]:.2f} dB   "
          + ", ".join(f"{b}: {v:.2f}" for b, v in wiener.items()))


# (volume, seed, PSF): the cases the 3-D auto weight through a PSF was developed on, and two it was not.
DEBLUR_AUTO_CASES = (("blobs", SEED, "gaussian:2,1,1"), ("blobs", SEED, "gaussian:1.2,0.8,0.8"),
                     ("phantom", SEED, "gaussian:2,1,1"))
DEBLUR_AUTO_HELD_OUT = (("blobs", SEED + 11, "gaussian:1.5,1.5,1.5"),
                        ("phantom", SEED + 12, "gaussian:3,1.3,1.3"))
# Chosen after the search's last change (the faces left out), never looked at before it.
DEBLUR_AUTO_FRESH = (("blobs", SEED + 21, "gaussian:2.5,1.2,1.2"),
                     ("phantom", SEED + 22, "gaussian:1.2,1.2,1.2"),
                     ("blobs", SEED + 23, "gaussian:1,0.6,0.6"))


def deblur_case(volume: str, seed: int, spec: str, side: int = 64, sigma: float = 0.02):
    """(clean window, kernel, data): a ``side``^3 window of a scene blurred by ``spec`` ('valid'), noisy."""
    from scipy import signal

    from tvrestore.models.psf import parse_psf

    kernel = parse_psf(spec)
    radius = [(k - 1) // 2 for k in kernel.shape]
    shape = tuple(side + 2 * r for r in radius)
    scene = (blobs_physical(shape, (1.0, 1.0, 1.0), seed=seed) if volume == "blobs"
             else ellipsoid_phantom(shape=shape, seed=seed))
    clean = scene[tuple(slice(r, r + side) for r in radius)]
    blurred = signal.fftconvolve(scene, kernel, mode="valid")
    noisy = blurred + sigma * np.random.default_rng(seed + 100).standard_normal(blurred.shape)
    return clean, kernel, noisy.astype(np.float32)


def _deblur_auto(cases) -> None:
    from tvrestore import restore

    worst = 0.0
    for volume, seed, spec in cases:
        clean, kernel, data = deblur_case(volume, seed, spec)
        start = time.perf_counter()
        restored, result = restore(data, psf=kernel, weight="auto", axes="ZYX")
        auto_seconds = time.perf_counter() - start
        auto = psnr(clean, restored)
        grid = list(result.weight * np.geomspace(0.25, 4.0, 5))
        weight, best, table = best_weight(
            lambda w: restore(data, psf=kernel, weight=w, axes="ZYX")[0], clean, grid)
        worst = max(worst, best - auto)
        shown = ", ".join(f"{w:.4g}: {v:.2f}" for w, v in sorted(table.items()))
        print(f"  {volume} (seed {seed}) through {spec}: blurred+noisy {psnr(clean, data):.2f} dB; "
              f"auto {result.weight:.4g} -> {auto:.2f} dB (noise {result.noise_sigma:.4f}, "
              f"search {result.weight_search_seconds:.0f} s, all {auto_seconds:.0f} s); best "
              f"{weight:.4g} -> {best:.2f} dB; auto {auto - best:+.2f} dB against best\n"
              f"    ({shown})", flush=True)
    print(f"  worst: {-worst:+.2f} dB against best (target: within 0.3 dB)")


def deblur_auto() -> None:
    print("3-D auto weight through a PSF, 64^3 seen, noise 0.02: the cases it was developed on")
    _deblur_auto(DEBLUR_AUTO_CASES)


def deblur_auto_held_out() -> None:
    print("3-D auto weight through a PSF, 64^3 seen, noise 0.02: the two once held-out cases")
    _deblur_auto(DEBLUR_AUTO_HELD_OUT)


def deblur_auto_fresh() -> None:
    print("3-D auto weight through a PSF, 64^3, noise 0.02: three cases never seen by the search's design")
    _deblur_auto(DEBLUR_AUTO_FRESH)


if __name__ == "__main__":
    chosen = sys.argv[1:] or ["anisotropic", "isotropic", "cost", "usage", "deblur", "deblur-auto",
                              "deblur-auto-held-out", "deblur-auto-fresh"]
    for part in chosen:
        globals()[part.replace("-", "_")]()
