r"""Calibrate tvrestore's automatic TV weight on scikit-image's bundled images.

``--weight auto`` estimates the noise level :math:`\hat\sigma` from the image
(:func:`tvrestore.tuning.noise.estimate_noise_sigma`) and maps it to a weight with

.. math::

    w = k \, \hat\sigma \, (\hat\sigma / \sigma_{\mathrm{ref}})^{p - 1},
    \qquad \sigma_{\mathrm{ref}} = 25/255,

one factor :math:`k` per TV norm (grey, vectorial colour, channelwise
colour; isotropic or anisotropic) and one exponent :math:`p` shared by all
(:func:`tvrestore.tuning.noise.auto_weight`). This script measures what the rule
should be and how well it does:

1. The estimator: :math:`\hat\sigma` against the true :math:`\sigma` on the
   full-size images, for noise added in float (unclipped) and as a saved
   8-bit file holds it (clipped to [0, 1], rounded to 1/255).
2. The PSNR curve of each image, noise level and norm over a log-spaced grid
   of weights around :math:`\hat\sigma` (10 weights, a factor
   :math:`2^{1/3}` apart), solved by tvrestore itself. A cubic spline in
   :math:`\log w` through the grid gives the PSNR at any weight in between.
3. The fit, on the *fit* images (photographs) only: for each exponent
   :math:`p` on a grid, each norm's :math:`k` minimizes the mean PSNR loss
   (best PSNR minus the PSNR at the rule's weight) over its images and
   noise levels; :math:`p` is the one with the least total. PSNR loss, not
   the distance in :math:`\log w`, is what the rule must keep small, and
   the curves are lopsided (textured images lose fast when over-smoothed,
   smooth ones when under-smoothed).
4. The check: the rule's weight is run for real on the fit images,
   *held-out* photographs and *stress* images (smooth, textured,
   synthetic), and the table prints its PSNR loss against the best grid
   weight.

The images are centre crops of ``--size`` pixels (default 256) at their
native pixel scale; the noisy inputs are 8-bit (``--float`` for unclipped
float). Every :func:`tvrestore.denoise_batch` call gets the same number of
images, so the solver compiles once per image shape.

Usage::

    python benchmarks/calibrate_auto_weight.py           # noise.py's values, ~10 min
    python benchmarks/calibrate_auto_weight.py --quick   # a smoke run, ~2 min
    python benchmarks/calibrate_auto_weight.py --check-only --size 512 \
        --images camera,astronaut                     # noise.py's rule at 512
    python benchmarks/calibrate_auto_weight.py --held-out  # "auto" on 24 unseen cases per mode
"""

from __future__ import annotations

import argparse
import json
import time
import zlib
from dataclasses import dataclass, field

import numpy as np
from scipy.interpolate import CubicSpline
from skimage import color as skcolor
from skimage import data, util

from tvrestore import denoise_batch

from tvrestore.tuning import noise

# Images named "name:grey" are the luminance of a colour image. The rule is
# fitted to photographs (and a stained-tissue micrograph of the same kind)
# and checked on held-out photographs; a held-out image's grey or colour twin
# is never fitted. The "stress" images are smooth (moon, cell, clock,
# retina), textured (brick, gravel, grass) or synthetic: their best weight
# sits far from a photograph's at the same noise level, and a rule that sees
# only the noise level cannot serve both; they are reported, not fitted.
SETS = {
    "grey": {
        "fit": ["camera", "astronaut:grey", "rocket:grey", "immunohistochemistry:grey"],
        "held-out": ["coins", "coffee:grey", "chelsea:grey", "stereo_motorcycle:grey"],
        "stress": ["moon", "cell", "clock", "brick", "gravel", "grass", "shepp_logan_phantom"],
    },
    "colour": {
        "fit": ["astronaut", "rocket", "immunohistochemistry"],
        "held-out": ["coffee", "chelsea", "stereo_motorcycle"],
        "stress": ["retina", "hubble_deep_field", "colorwheel"],
    },
}
QUICK_SETS = {
    "grey": {"fit": ["camera"], "held-out": ["coins"], "stress": ["moon"]},
    "colour": {"fit": ["astronaut"], "held-out": ["coffee"], "stress": []},
}
GROUPS = ("fit", "held-out", "stress", "checked")  # "checked": chosen by --images

# (tv, mode) keys of noise.AUTO_WEIGHT_FACTORS, with the centre of each
# one's weight grid as a multiple of sigma_hat. The centres only need to
# bracket the optimum (a first wide run put it there); the table flags an
# optimum on the grid's edge.
GRID_CENTRES = {
    ("isotropic", "grey"): 0.8,
    ("anisotropic", "grey"): 0.7,
    ("isotropic", "vectorial"): 1.25,
    ("anisotropic", "vectorial"): 1.1,
    ("isotropic", "channelwise"): 0.8,
    ("anisotropic", "channelwise"): 0.7,
}
GRID_STEPS = np.arange(-5, 5)  # weights centre * 2**(step / 3), 0.31x to 2.5x
ESTIMATOR_SIGMAS = (0, 5, 10, 15, 25, 35, 50)
EXPONENTS = np.round(np.arange(0.8, 2.0001, 0.01), 2)
FACTORS = np.geomspace(0.1, 10, 1601)
BATCH = 30  # images per denoise_batch call


def load(name: str, size: int | None) -> np.ndarray | None:
    """A bundled image as float64 (H, W, C) in [0, 1], centre-cropped to size.

    None when the image is smaller than ``size``.
    """
    base, _, grey = name.partition(":")
    image = getattr(data, base)()
    if isinstance(image, tuple):  # stereo_motorcycle: (left, right, disparity)
        image = image[0]
    image = util.img_as_float64(image)
    if grey:
        image = skcolor.rgb2gray(image)
    image = image.reshape(image.shape[0], image.shape[1], -1)
    if size is None:
        return image
    height, width = image.shape[:2]
    if min(height, width) < size:
        return None
    top, left = (height - size) // 2, (width - size) // 2
    return image[top : top + size, left : left + size]


def add_noise(clean: np.ndarray, sigma: float, seed: int, as_float: bool) -> np.ndarray:
    """Clean plus Gaussian noise of std ``sigma``; 8-bit unless ``as_float``."""
    noisy = clean + sigma * np.random.default_rng(seed).standard_normal(clean.shape)
    if not as_float:
        noisy = np.round(np.clip(noisy, 0, 1) * 255) / 255
    return noisy.astype(np.float32)


def seed_of(name: str, sigma_255: int) -> int:
    return zlib.crc32(name.encode()) + sigma_255


def psnr(clean: np.ndarray, restored: np.ndarray) -> float:
    """PSNR in dB, data range 1, of the restored image clipped to [0, 1] (as saved)."""
    error = np.clip(restored.astype(np.float64), 0, 1) - clean
    return float(10 * np.log10(1 / np.mean(error * error)))


def solve(key, images: list[np.ndarray], weights: list) -> list[tuple[np.ndarray, float]]:
    """(restored, weight used) per image, BATCH images per call (the last padded).

    ``weights`` holds numbers or "auto"; grey keys run with the default
    colour mode, which is the same norm for one channel.
    """
    tv, mode = key
    color = "vectorial" if mode == "grey" else mode
    pairs = list(zip(images, weights))
    restored = []
    for start in range(0, len(pairs), BATCH):
        chunk = pairs[start : start + BATCH]
        padded = chunk + [chunk[-1]] * (BATCH - len(chunk))
        runs = denoise_batch([i for i, _ in padded], [w for _, w in padded], tv=tv, color=color)
        restored += [(image, result.weight) for image, result in runs[: len(chunk)]]
    return restored


@dataclass
class Case:
    """One image at one noise level under one norm, and its PSNR curve."""

    name: str
    group: str  # one of GROUPS
    sigma: float  # true, intensity units
    clean: np.ndarray
    noisy: np.ndarray
    sigma_hat: float = 0.0
    grid: np.ndarray = field(default_factory=lambda: np.zeros(0))
    scores: np.ndarray = field(default_factory=lambda: np.zeros(0))
    spline: CubicSpline | None = None
    _best: tuple[float, float] | None = None

    def psnr_at(self, weights: np.ndarray) -> np.ndarray:
        """Interpolated PSNR; weights beyond the grid count as its ends."""
        log_w = np.clip(np.log(weights), np.log(self.grid[0]), np.log(self.grid[-1]))
        return self.spline(log_w)

    def best(self) -> tuple[float, float]:
        """(weight, PSNR) of the interpolated optimum."""
        if self._best is None:
            fine = np.geomspace(self.grid[0], self.grid[-1], 1000)
            values = self.psnr_at(fine)
            self._best = float(fine[np.argmax(values)]), float(values.max())
        return self._best


def rule(k: float, p: float, sigma_hat: np.ndarray | float) -> np.ndarray | float:
    """w = k sigma_hat (sigma_hat / sigma_ref)^(p - 1)."""
    sigma_hat = np.asarray(sigma_hat, np.float64)
    return k * sigma_hat * (sigma_hat / noise.AUTO_WEIGHT_REFERENCE_SIGMA) ** (p - 1)


def estimator_table(names: list[str], as_float: bool) -> None:
    """Step 1: sigma_hat on the full-size images, in 1/255 units."""
    kind = "float" if as_float else "8-bit"
    print(f"\n== Noise estimate sigma_hat * 255 on the full images, {kind} noise")
    print(f"{'image':>26} " + " ".join(f"{s:>6}" for s in ESTIMATOR_SIGMAS))
    errors = {s: [] for s in ESTIMATOR_SIGMAS}
    for name in names:
        clean = load(name, None)
        row = []
        for sigma_255 in ESTIMATOR_SIGMAS:
            noisy = add_noise(clean, sigma_255 / 255, seed_of(name, sigma_255), as_float)
            row.append(noise.estimate_noise_sigma(noisy) * 255)
            if sigma_255:
                errors[sigma_255].append(row[-1] / sigma_255 - 1)
        print(f"{name:>26} " + " ".join(f"{v:6.2f}" for v in row))
    for label, reduce in (("median", np.median), ("lowest", np.min), ("highest", np.max)):
        print(f"{label + ' error %':>26} {'':>6} "
              + " ".join(f"{100 * reduce(errors[s]):+6.1f}" for s in ESTIMATOR_SIGMAS[1:]))


def build_cases(key, sets, sigmas, size, as_float) -> list[Case]:
    cases = []
    for group in GROUPS:
        for name in sets.get(group, []):
            clean = load(name, size)
            if clean is None:
                print(f"   ({name} is smaller than {size} px: skipped)")
                continue
            if (clean.shape[2] == 1) != (key[1] == "grey"):
                raise SystemExit(f"{name} does not suit {key}")
            for sigma_255 in sigmas:
                noisy = add_noise(clean, sigma_255 / 255, seed_of(name, sigma_255), as_float)
                cases.append(Case(name, group, sigma_255 / 255, clean, noisy))
    return cases


def measure_curves(key, cases: list[Case]) -> None:
    """Step 2: PSNR over each case's weight grid, and its spline."""
    steps = GRID_STEPS
    images, weights = [], []
    for case in cases:
        case.sigma_hat = noise.estimate_noise_sigma(case.noisy)
        case.grid = GRID_CENTRES[key] * case.sigma_hat * 2.0 ** (steps / 3)
        images += [case.noisy] * len(case.grid)
        weights += list(case.grid)
    restored = solve(key, images, weights)
    for index, case in enumerate(cases):
        runs = restored[index * len(steps) : (index + 1) * len(steps)]
        case.scores = np.array([psnr(case.clean, u) for u, _ in runs])
        case.spline = CubicSpline(np.log(case.grid), case.scores)


def fit(all_cases: dict) -> tuple[dict, float]:
    """Step 3: shared p and per-key k minimizing the mean PSNR loss on the fit images."""
    best = None
    for p in EXPONENTS:
        total, factors = 0.0, {}
        for key, cases in all_cases.items():
            fitted = [c for c in cases if c.group == "fit"]
            losses = np.zeros(len(FACTORS))
            for case in fitted:
                _, top = case.best()
                losses += top - case.psnr_at(rule(FACTORS, p, case.sigma_hat))
            losses /= len(fitted)
            factors[key] = float(FACTORS[np.argmin(losses)])
            total += float(losses.min())
        if best is None or total < best[0]:
            best = (total, factors, float(p))
    return best[1], best[2]


def check(key, cases: list[Case], weights: list) -> list[float]:
    """Step 4: run the rule's weights; print and return the loss against the grid's best."""
    restored = solve(key, [c.noisy for c in cases], weights)
    print(f"\n== {key[0]} TV, {key[1]}: weights in 1/255 units, PSNR in dB "
          "(< or > marks a best weight on the grid's edge)")
    print(f"{'image':>26} {'set':>8} {'sigma':>5} {'s_hat':>6} {'w_grid':>7} {'w_opt':>7} "
          f"{'w_auto':>7} {'PSNR':>6} {'auto':>6} {'loss':>6}")
    losses = []
    for case, (image, weight) in zip(cases, restored):
        top = int(np.argmax(case.scores))
        edge = {0: "<", len(case.grid) - 1: ">"}.get(top, " ")
        auto = psnr(case.clean, image)
        losses.append(case.scores[top] - auto)
        print(f"{case.name:>26} {case.group:>8} {case.sigma * 255:5.0f} {case.sigma_hat * 255:6.2f} "
              f"{case.grid[top] * 255:6.2f}{edge} {case.best()[0] * 255:7.2f} {weight * 255:7.2f} "
              f"{case.scores[top]:6.2f} {auto:6.2f} {losses[-1]:+6.2f}")
    return losses


def write_curves(path: str, all_cases: dict) -> None:
    curves = {
        ":".join(key): [
            {"name": c.name, "group": c.group, "sigma": c.sigma, "sigma_hat": c.sigma_hat,
             "weights": c.grid.tolist(), "psnr": c.scores.tolist()}
            for c in cases
        ]
        for key, cases in all_cases.items()
    }
    with open(path, "w") as file:
        json.dump(curves, file, indent=1)


def summary(cases: list[Case], losses: list[float], sigmas: list[int]) -> None:
    for group in GROUPS:
        picked = [(c, l) for c, l in zip(cases, losses) if c.group == group]
        if not picked:
            continue
        worst = " ".join(
            f"{s}: {max(l for c, l in picked if round(c.sigma * 255) == s):+.2f}" for s in sigmas
        )
        within = sum(l <= 0.3 for _, l in picked)
        mean = np.mean([l for _, l in picked])
        print(f"   {group:>8}: worst loss by sigma {worst}; mean {mean:+.2f}; "
              f"within 0.3 dB {within}/{len(picked)}")


# --- the held-out set of issue 23 --------------------------------------------------
#
# 24 cases per colour mode that neither the rule's fit nor samples/ saw: 8 grey
# and 8 colour images (photographs, textures, line art), each at noise 10, 25
# and 50/255 (8-bit, seeded). Where the sets above take an image's centre,
# these take another window of it. A spec is "name[:grey][@top,left]": a
# window of --held-out-size pixels at (top, left), or the whole image
# without "@". Built images: "motorcycle_right" (the stereo pair's right
# view), "textures" (brick, gravel and grass as red, green and blue) and
# "logo" (its RGBA over white).
HELD_OUT = {
    "grey": ["text", "horse", "brick@256,0", "gravel@0,256", "grass@256,256",
             "motorcycle_right:grey@100,300", "cat:grey@0,0", "retina:grey@300,700"],
    "colour": ["cat@40,190", "coffee@0,0", "motorcycle_right@200,60", "retina@800,400",
               "hubble_deep_field@300,500", "colorwheel", "logo", "textures@128,128"],
}
HELD_OUT_SIGMAS = (10, 25, 50)
HELD_OUT_KEYS = {"grey": [("isotropic", "grey")],
                 "colour": [("isotropic", "vectorial"), ("isotropic", "channelwise")]}
# The best weight: the best PSNR over w0 * 2**(k/4), k = -8..8 (0.25x to 4x
# the rule's weight w0), a factor 2**(1/4) apart (off by at most 2**(1/8)
# from the optimum, which costs far less than 0.01 dB).
HELD_OUT_STEPS = np.arange(-8, 9) / 4


def load_spec(spec: str, size: int) -> np.ndarray:
    """A held-out image (see :data:`HELD_OUT`) as float64 (H, W, C) in [0, 1]."""
    name, _, window = spec.partition("@")
    base, _, grey = name.partition(":")
    if base == "motorcycle_right":
        image = util.img_as_float64(data.stereo_motorcycle()[1])
    elif base == "textures":
        image = np.stack([util.img_as_float64(getattr(data, n)()) for n in
                          ("brick", "gravel", "grass")], axis=-1)
    elif base == "logo":
        rgba = util.img_as_float64(data.logo())
        image = rgba[..., :3] * rgba[..., 3:] + (1 - rgba[..., 3:])
    else:
        image = util.img_as_float64(getattr(data, base)())
    if grey:
        image = skcolor.rgb2gray(image)
    image = image.reshape(image.shape[0], image.shape[1], -1)
    if window:
        top, left = (int(v) for v in window.split(","))
        image = image[top : top + size, left : left + size]
        if image.shape[:2] != (size, size):
            raise SystemExit(f"{spec}: the window leaves the image")
    return image


def held_out(size: int, keys_wanted: list | None, cases_wanted: set | None = None) -> None:
    """Every held-out case's loss against its best weight with tvrestore's "auto", and the worst.

    ``cases_wanted``: only these ``spec@sigma_255`` cases (e.g.
    ``retina@800,400@50``), of the keys whose images hold them.
    """
    from tvrestore.tuning import autoweight

    print(f"\n== Held-out set: {size} px windows (or whole line art), 8-bit noise at "
          f"{HELD_OUT_SIGMAS} / 255; loss = best grid PSNR - PSNR at the weight")
    for kind, keys in HELD_OUT_KEYS.items():
        for key in keys:
            if keys_wanted and key not in keys_wanted:
                continue
            tv, mode = key
            color = "vectorial" if mode == "grey" else mode
            cases = []
            for spec in HELD_OUT[kind]:
                clean = load_spec(spec, size)
                for sigma_255 in HELD_OUT_SIGMAS:
                    if cases_wanted and f"{spec}@{sigma_255}" not in cases_wanted:
                        continue
                    noisy = add_noise(clean, sigma_255 / 255, seed_of(spec, sigma_255), False)
                    cases.append((spec, sigma_255, clean, noisy))
            if not cases:
                continue
            rule_weights = [noise.auto_weight(noise.estimate_noise_sigma(n), n.shape[2], tv, color)
                            for _, _, _, n in cases]
            images, weights = [], []
            for (_, _, _, noisy), w0 in zip(cases, rule_weights):
                images += [noisy] * len(HELD_OUT_STEPS)
                weights += list(w0 * 2.0**HELD_OUT_STEPS)
            t = time.perf_counter()
            grid = solve(key, images, weights)
            grid_seconds = time.perf_counter() - t
            t = time.perf_counter()
            choices, _ = autoweight.choose_weights(
                [n for _, _, _, n in cases], ["auto"] * len(cases), tv, color)
            search_seconds = time.perf_counter() - t
            chosen = [c.weight for c in choices]
            runs = solve(key, [n for _, _, _, n in cases], chosen)
            print(f"\n-- {tv} TV, {mode}: weights in 1/255 units, PSNR in dB "
                  f"(< or > marks a best weight on the grid's edge); grid solved in "
                  f"{grid_seconds:.0f} s")
            print(f"{'image':>30} {'sigma':>5} {'w_rule':>7} {'w_best':>7} {'w_auto':>7} "
                  f"{'best':>6} {'loss':>6}")
            losses = []
            for index, (spec, sigma_255, clean, _) in enumerate(cases):
                scores = [psnr(clean, u) for u, _ in
                          grid[index * len(HELD_OUT_STEPS) : (index + 1) * len(HELD_OUT_STEPS)]]
                top = int(np.argmax(scores))
                edge = {0: "<", len(scores) - 1: ">"}.get(top, " ")
                losses.append(scores[top] - psnr(clean, runs[index][0]))
                print(f"{spec:>30} {sigma_255:5d} {rule_weights[index] * 255:7.2f} "
                      f"{weights[index * len(HELD_OUT_STEPS) + top] * 255:6.2f}{edge} "
                      f"{chosen[index] * 255:7.2f} {scores[top]:6.2f} {losses[-1]:+6.2f}")
            worst = int(np.argmax(losses))
            print(f"   worst loss {losses[worst]:+.2f} dB ({cases[worst][0]} at {cases[worst][1]}/255), "
                  f"mean {np.mean(losses):+.3f} dB, within 0.3 dB "
                  f"{sum(v <= 0.3 for v in losses)}/{len(losses)}; weight search "
                  f"{search_seconds:.1f} s for the {len(cases)} images")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true",
                        help="a few images at 128 px: checks that the script runs")
    parser.add_argument("--size", type=int,
                        help="crop side in pixels (default 256, 128 with --quick)")
    parser.add_argument("--sigmas", default="15,25,50", help="noise levels in 1/255 units")
    parser.add_argument("--float", dest="as_float", action="store_true",
                        help="unclipped float noise instead of 8-bit")
    parser.add_argument("--check-only", action="store_true",
                        help="check the rule in tvrestore.tuning.noise instead of fitting one")
    parser.add_argument("--images", help="comma-separated images to check instead of the sets")
    parser.add_argument("--cases", help="with --held-out: only these spec@sigma cases, "
                        "separated by ';', e.g. 'retina@800,400@50;colorwheel@50'")
    parser.add_argument("--keys", help="e.g. isotropic:grey,isotropic:vectorial (default all)")
    parser.add_argument("--curves", help="also write the PSNR curves to this JSON file")
    parser.add_argument("--held-out", action="store_true",
                        help="only the held-out set of 24 cases per colour mode: each case's "
                             "loss with tvrestore's auto weight, and the worst")
    parser.add_argument("--held-out-size", type=int, default=256,
                        help="window side of the held-out images (default 256)")
    args = parser.parse_args()
    if args.held_out:
        start = time.perf_counter()
        keys = [tuple(k.split(":")) for k in args.keys.split(",")] if args.keys else None
        cases = set(args.cases.split(";")) if args.cases else None
        held_out(args.held_out_size, keys, cases)
        print(f"\n{time.perf_counter() - start:.0f} s")
        return
    if args.images and not args.check_only:
        parser.error("--images needs --check-only (the rule is fitted on the fit sets)")
    size = args.size or (128 if args.quick else 256)
    sigmas = [int(s) for s in args.sigmas.split(",")]
    keys = [tuple(k.split(":")) for k in args.keys.split(",")] if args.keys else list(GRID_CENTRES)
    if unknown := [k for k in keys if k not in GRID_CENTRES]:
        parser.error(f"unknown keys {unknown}; known: {list(GRID_CENTRES)}")
    sets = QUICK_SETS if args.quick else SETS
    if args.images:
        chosen = args.images.split(",")
        grey = [n for n in chosen if load(n, None).shape[2] == 1]
        sets = {
            "grey": {"checked": grey},
            "colour": {"checked": [n for n in chosen if n not in grey]},
        }
    start = time.perf_counter()

    if not args.check_only:
        names = [n for kind in sets.values() for group in GROUPS for n in kind.get(group, [])]
        estimator_table(names, as_float=False)
        estimator_table(names, as_float=True)

    print(f"\n== PSNR curves: {size} px crops, sigma {sigmas} / 255, "
          f"{'float' if args.as_float else '8-bit'} noise")
    all_cases = {}
    for key in keys:
        kind = "grey" if key[1] == "grey" else "colour"
        all_cases[key] = build_cases(key, sets[kind], sigmas, size, args.as_float)
        t = time.perf_counter()
        measure_curves(key, all_cases[key])
        seconds = time.perf_counter() - t
        print(f"   {key}: {len(all_cases[key])} cases in {seconds:.0f} s", flush=True)
    if args.curves:
        write_curves(args.curves, all_cases)

    if args.check_only:
        # tvrestore's own "auto": the estimate and noise.auto_weight, end to end.
        weights = {key: ["auto"] * len(cases) for key, cases in all_cases.items()}
    else:
        factors, exponent = fit(all_cases)
        print(f"\n== Fitted on the fit images: p = {exponent:.2f}, "
              f"k = {', '.join(f'{k}: {v:.3f}' for k, v in factors.items())}")
        weights = {
            key: [float(rule(factors[key], exponent, c.sigma_hat)) for c in cases]
            for key, cases in all_cases.items()
        }
    for key, cases in all_cases.items():
        summary(cases, check(key, cases, weights[key]), sigmas)

    if not args.check_only:
        print("\nFor tvrestore/tuning/noise.py:")
        print(f"AUTO_WEIGHT_EXPONENT = {exponent:.2f}")
        print("AUTO_WEIGHT_FACTORS = {")
        for key, value in factors.items():
            print(f"    {key!r}: {value:.3f},")
        print("}")
    print(f"\n{time.perf_counter() - start:.0f} s")


if __name__ == "__main__":
    main()
