"""Diagnose the 3-D auto weight through a PSF: the estimated risk curve against the truth.

    PYTHONPATH=. python benchmarks/diagnose_deblur_auto_3d.py [CASE ...] [--iterations N ...]
        [--whole]

CASE is an index into measure_volumes' DEBLUR_AUTO_CASES + DEBLUR_AUTO_HELD_OUT
(0 to 4; default 1, the case 0.38 dB below its best weight). For each
``--iterations`` count (default 150) it runs the search of
:func:`tvrestore.tuning.autoweight.choose_restoration_weight` on the case
and prints, per candidate weight, on the search's own crop:

- the estimated risk (generalized SURE, the search's score),
- the true value of what it estimates, ``||W m A (u - x)||^2 / n - sigma^2 spread``
  offset (``||W m A (u - x)||^2 / n``, with ``A x`` the noise-free data),
- the predicted error ``||m A (u - x)||^2 / n``,
- PSNR of the candidate's seen window against the clean scene,

and the noise estimate against the true 0.02. So: the noise estimate off
(sigma row), the risk estimate's minimum off (estimated against true
score), the score's minimum off the PSNR's (true score against PSNR), or
the candidates unconverged (the same rows at more iterations).

From the same solves it then gives the weight of least predicted-SURE
(W = I), GCV and the discrepancy principle, and, for sharpening filters
of several alphas scored on the whole crop, 4 values inside its faces and
a PSF radius inside them, the weight of least true score and of least
estimated score. The search itself runs the library's rule as it is on
PYTHONPATH (run it against the commit before the change to see the rule
it replaced; docs/volumes.md quotes both).
``--whole`` adds the PSNR of the whole volume restored (Adam, as ``restore``)
at every candidate weight: the crop's best weight against the whole's.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))

from measure_volumes import (  # noqa: E402
    DEBLUR_AUTO_CASES, DEBLUR_AUTO_HELD_OUT, blobs_physical, ellipsoid_phantom, psnr,
)

SIGMA = 0.02


def scene_case(volume: str, seed: int, spec: str, side: int = 64, sigma: float = SIGMA):
    """As measure_volumes.deblur_case, with the scene and the noise-free data too."""
    from scipy import signal

    from tvrestore.models.psf import parse_psf

    kernel = parse_psf(spec)
    radius = [(k - 1) // 2 for k in kernel.shape]
    shape = tuple(side + 2 * r for r in radius)
    scene = (blobs_physical(shape, (1.0, 1.0, 1.0), seed=seed) if volume == "blobs"
             else ellipsoid_phantom(shape=shape, seed=seed))
    blurred = signal.fftconvolve(scene, kernel, mode="valid")
    noisy = blurred + sigma * np.random.default_rng(seed + 100).standard_normal(blurred.shape)
    return scene, kernel, blurred, noisy.astype(np.float32), radius


def diagnose(case, iterations: int, whole: bool) -> None:
    from tvrestore import restore
    from tvrestore.backend.tf import tf
    from tvrestore.solvers.engine import Degradation
    from tvrestore.tuning import autoweight, noise

    volume, seed, spec = case
    scene, kernel, blurred, data, radius = scene_case(volume, seed, spec)
    unit = data[..., None]
    captured = {}
    original_solve, original_minimizer = autoweight.solve, noise.sure_minimizer

    def solve(degradation, observed, weights, **options):
        output = original_solve(degradation, observed, weights, **options)
        captured.update(degradation=degradation, observed=observed, weights=weights,
                        solution=output.solution)
        return output

    def minimizer(weights, risks):
        captured.update(candidates=np.array(weights), risks=np.array(risks))
        return original_minimizer(weights, risks)

    autoweight.solve, noise.sure_minimizer = solve, minimizer
    saved = autoweight.RESTORATION_ITERATIONS
    autoweight.RESTORATION_ITERATIONS = iterations
    try:
        weight, sigma, _ = autoweight.choose_restoration_weight(
            Degradation(psf=kernel), unit, "isotropic", "vectorial")
    finally:
        autoweight.solve, noise.sure_minimizer = original_solve, original_minimizer
        autoweight.RESTORATION_ITERATIONS = saved
    crop = captured["observed"][0]
    sides = crop.shape[:-1]
    starts = [(length - s) // 2 for length, s in zip(data.shape, sides)]
    clean_data = blurred[tuple(slice(a, a + s) for a, s in zip(starts, sides))][..., None]
    seen = tuple(slice(a + r, a + r + s) for a, r, s in zip(starts, radius, sides))
    inner = tuple(slice(r, r + s) for r, s in zip(radius, sides))
    operator = captured["degradation"].operator
    sharpen = autoweight._Sharpening(kernel, sides)
    candidates, risks = captured["candidates"], captured["risks"]
    print(f"{volume} seed {seed} {spec}: crop {sides}, iterations {iterations}, "
          f"sigma estimated {sigma:.5f} (true {SIGMA}), spread {sharpen.spread:.3f}; "
          f"chosen {weight:.4g}")
    rows = []
    for i, w in enumerate(candidates):
        u = captured["solution"][i]
        predicted = operator.apply(tf.constant(u[None])).numpy()[0].astype(np.float64)
        error = predicted - clean_data
        score = np.mean(sharpen.filter(error) ** 2)
        rows.append((w, risks[i], score, np.mean(error**2), psnr(scene[seen], u[inner][..., 0])))
    if whole:
        wholes = [psnr(scene[tuple(slice(r, r + 64) for r in radius)],
                       restore(data, psf=kernel, weight=float(w), axes="ZYX")[0]) for w in candidates]
    print("  weight     est.risk+s2*spread  true W-score  pred.err   crop PSNR" + ("  whole PSNR" if whole else ""))
    for j, (w, risk, score, predicted_error, crop_psnr) in enumerate(rows):
        print(f"  {w:.5f}   {risk + sigma**2 * sharpen.spread:.4e}        {score:.4e}   "
              f"{predicted_error:.3e}  {crop_psnr:.2f}" + (f"       {wholes[j]:.2f}" if whole else ""))
    scores = np.array([r[2] for r in rows])
    # Other rules from the same solves: predicted-SURE (W = I), GCV and the discrepancy principle.
    count = len(candidates)
    step = noise.SURE_PROBE_SCALE * sigma
    fitted = captured["degradation"].observed_mask(sides)
    fitted = fitted if fitted.ndim == crop.ndim else fitted[..., None]
    n = float(fitted.sum())
    probes = [(captured["observed"][count * (k + 1)] - crop) / step
              for k in range(len(captured["observed"]) // count - 1)]
    applied = [operator.apply(tf.constant(s[None])).numpy()[0].astype(np.float64)
               for s in captured["solution"]]
    residuals, divergences = [], []
    for i in range(count):
        residuals.append(np.sum((fitted * (applied[i] - crop)) ** 2) / n)
        divergences.append(np.mean([np.sum(p * fitted * (applied[count * (k + 1) + i] - applied[i])) / step
                                    for k, p in enumerate(probes)]) / n)
    residuals, divergences = np.array(residuals), np.array(divergences)
    predicted_sure = residuals - sigma**2 + 2 * sigma**2 * divergences
    gcv = residuals / (1 - divergences) ** 2
    log_w = np.log(candidates)
    discrepancy = float(np.exp(np.interp(np.log(sigma**2), np.log(residuals), log_w)))
    print(f"  residual/sigma^2 {np.round(residuals / sigma**2, 3)}, divergence/n {np.round(divergences, 4)}")
    print(f"  predicted-SURE least at {original_minimizer(candidates, predicted_sure):.4g} "
          f"(true pred.err least at {original_minimizer(candidates, np.array([r[3] for r in rows])):.4g}), "
          f"GCV least at {original_minimizer(candidates, gcv):.4g}, discrepancy at {discrepancy:.4g}")
    saved_alpha = autoweight.SHARPENING_ALPHA
    for alpha in (0.01, 3e-3, 1e-3, 3e-4):
        autoweight.SHARPENING_ALPHA = alpha
        other = autoweight._Sharpening(kernel, sides)
        autoweight.SHARPENING_ALPHA = saved_alpha
        filtered = [other.filter(applied[i] - clean_data) for i in range(count)]
        residual = [other.filter(fitted * (applied[i] - crop)) for i in range(count)]
        for margin in (0, 4, radius):
            margins = (margin,) * 3 if np.isscalar(margin) else margin
            inside = np.zeros(crop.shape)
            inside[tuple(slice(m, s - m) for m, s in zip(margins, sides))] = 1
            values = np.array([np.mean((inside * f) ** 2) for f in filtered])
            pairs = [fitted * other._apply(inside * other.filter(p), np.conj(other.response))
                     for p in probes]
            estimates = np.array([
                np.sum((inside * residual[i]) ** 2)
                + 2 * sigma**2 * np.mean([np.sum(pair * (applied[count * (k + 1) + i] - applied[i])) / step
                                           for k, pair in enumerate(pairs)])
                for i in range(count)]) / n
            print(f"  W-score, alpha {alpha:g}, margin {margins}: true least at "
                  f"{original_minimizer(candidates, values):.4g}, estimated least at "
                  f"{original_minimizer(candidates, estimates):.4g}")
    print(f"  weight of least estimated risk {original_minimizer(candidates, risks):.4g}, "
          f"of least true score {original_minimizer(candidates, scores):.4g}, "
          f"of best crop PSNR {original_minimizer(candidates, -np.array([r[4] for r in rows])):.4g}"
          + (f", of best whole PSNR {original_minimizer(candidates, -np.array(wholes)):.4g}"
             if whole else ""), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cases", nargs="*", type=int, default=[1])
    parser.add_argument("--iterations", nargs="*", type=int, default=[150])
    parser.add_argument("--whole", action="store_true")
    args = parser.parse_args()
    cases = DEBLUR_AUTO_CASES + DEBLUR_AUTO_HELD_OUT
    for index in args.cases:
        for iterations in args.iterations:
            diagnose(cases[index], iterations, args.whole)


if __name__ == "__main__":
    main()
