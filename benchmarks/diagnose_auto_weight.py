r"""Why does ``weight="auto"`` miss on an image? Noise estimate or risk estimate.

For each held-out case of ``benchmarks/calibrate_auto_weight.py`` named on
the command line (``spec@sigma``, e.g. ``colorwheel@50``) this prints, over
the 7 SURE candidates around the rule's weight for the *true* noise level:

- ``sure_hat``: the Monte Carlo SURE risk that ``"auto"`` reads, with
  :math:`\hat\sigma` (its probe step and noise variance);
- ``sure_true``: the same with the true :math:`\sigma`;
- ``sure_plain``: with :math:`\hat\sigma`, the data read as unclipped
  (``f = x + sigma n``, as before the censored reading);
- ``mse_map``: the true mean squared error of the search's fixed map
  (autoweight.ITERATIONS primal-dual iterations on the centre crop) against the clean crop,
  what SURE estimates;
- ``psnr_full``: the PSNR of the converged solution of the whole image
  (``denoise_batch``), what the held-out check scores.

and the weight each of the four picks (the same refinement,
:func:`tvrestore.tuning.noise.sure_minimizer`). ``sure_hat`` against
``sure_true`` is the noise estimate's share of a miss; ``sure_true``
against ``mse_map`` the risk estimate's (SURE's bias and variance,
8-bit clipping); ``mse_map`` against ``psnr_full`` the crop's and the
fixed map's.

Usage::

    python benchmarks/diagnose_auto_weight.py --mode vectorial colorwheel@50 logo@25
"""

from __future__ import annotations

import argparse

import numpy as np

from calibrate_auto_weight import (HELD_OUT, add_noise, load_spec, psnr, seed_of,
                                   solve)
from tvrestore.tuning import autoweight, noise


def sure_curve(crop_noisy, crop_clean, sigma, candidates, tv, color, clipped=True):
    """SURE risk and true MSE of the fixed map for every candidate (all solved)."""
    search = autoweight._search(crop_noisy, sigma, 1.0, clipped=clipped)
    search.candidates = np.asarray(candidates, np.float64)
    search.risks = np.full(len(candidates), np.inf)
    chosen = list(range(len(candidates)))
    observed = search.observed(chosen)
    shape = crop_noisy.shape
    solutions, _ = autoweight._solve_problems(
        autoweight.solve_shape(shape), len(observed), observed, search.weights(chosen), tv, color)
    window = tuple(slice(0, side) for side in shape[:-1])
    solutions = [s[window] for s in solutions]
    search.record(chosen, solutions)
    mse = np.array([np.mean((np.asarray(s, np.float64) - crop_clean) ** 2)
                    for s in solutions[: len(chosen)]])
    return search.risks.copy(), mse


def centre_crop(image, side=autoweight.CROP):
    window = tuple(slice(max(0, (n - side) // 2), max(0, (n - side) // 2) + side)
                   for n in image.shape[:-1])
    return image[window]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("cases", nargs="+", help="spec@sigma_255, spec as in HELD_OUT")
    parser.add_argument("--mode", default="grey", choices=("grey", "vectorial", "channelwise"))
    parser.add_argument("--size", type=int, default=256)
    parser.add_argument("--no-full", action="store_true", help="skip the whole-image solves")
    args = parser.parse_args()
    tv = "isotropic"
    color = "vectorial" if args.mode == "grey" else args.mode
    key = (tv, args.mode)
    factors = np.array(noise.SURE_CANDIDATE_FACTORS)
    for case in args.cases:
        spec, _, sigma_255 = case.rpartition("@")
        if spec not in HELD_OUT["grey"] + HELD_OUT["colour"]:
            raise SystemExit(f"{spec} is not a held-out spec")
        sigma = int(sigma_255) / 255
        clean = load_spec(spec, args.size)
        noisy = add_noise(clean, sigma, seed_of(spec, int(sigma_255)), False)
        sigma_hat = noise.estimate_noise_sigma(noisy)
        candidates = noise.auto_weight(sigma, noisy.shape[2], tv, color) * factors
        crop_noisy, crop_clean = centre_crop(noisy), centre_crop(clean)
        sure_hat, mse = sure_curve(crop_noisy, crop_clean, sigma_hat, candidates, tv, color)
        sure_true, _ = sure_curve(crop_noisy, crop_clean, sigma, candidates, tv, color)
        sure_plain, _ = sure_curve(crop_noisy, crop_clean, sigma_hat, candidates, tv, color,
                                   clipped=False)
        auto = autoweight.choose_weights([noisy], ["auto"], tv, color)[0][0].weight
        print(f"\n== {spec} at {sigma_255}/255 ({args.mode}): shape {noisy.shape}, "
              f"sigma_hat {sigma_hat * 255:.2f}, auto weight {auto * 255:.2f}/255")
        rows = {"sure_hat": sure_hat * 255**2, "sure_true": sure_true * 255**2,
                "sure_plain": sure_plain * 255**2, "mse_map": mse * 255**2}
        if not args.no_full:
            runs = solve(key, [noisy] * len(candidates), list(candidates))
            rows["psnr_full"] = np.array([psnr(clean, u) for u, _ in runs])
        print(f"{'weight*255':>10} " + " ".join(f"{w * 255:8.2f}" for w in candidates))
        for name, values in rows.items():
            pick = noise.sure_minimizer(candidates, -values if name == "psnr_full" else values)
            print(f"{name:>10} " + " ".join(f"{v:8.2f}" for v in values)
                  + f"   -> {pick * 255:6.2f}")


if __name__ == "__main__":
    main()
