"""Measure ``--noise impulse`` (issue 20, targets 3 and 4) on skimage.data crops.

Cases: each image's centre square, grey (luminance), resized to 256x256,
with seeded impulse noise (:func:`tvrestore.bench.degradations.impulse_noise`):
salt and pepper at 30, 50 and 70 %, random-valued at 20 and 40 %.

Held-out images are skimage.data images not in samples/ (moon, chelsea,
coffee, rocket, brick, page, cell); the calibration images (camera, astronaut, coins), on
which the random-valued weight rule was fitted, are printed apart with
``--calibration``.

Per case it prints PSNR (dB, [0, 1] units) of: the input; the best median
filter (3, 5 or 7); plain TV-L1 (no detection) at its best weight of a
grid; detection then masked TV-L1 at its best weight of the same grid
(on the salt-and-pepper route with the fill relaxed, as the product does);
``restore(noise="impulse")`` at its automatic weight (the product path,
Adam); and auto's distance to the grid's best and its gain over the
median. The detected fraction and the route are the ones the report
gives.

    python benchmarks/measure_impulse.py [--calibration] [--seed 0] [--json out.json] [--kinds random-valued]
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np
from skimage import color as skcolor, data, transform, util
from skimage.metrics import peak_signal_noise_ratio

from tvrestore.api import restore
from tvrestore.bench.cases import centre_square
from tvrestore.bench.degradations import impulse_noise
from tvrestore.evaluation.baselines import impulse_baselines
from tvrestore.models.fidelities import L1
from tvrestore.solvers import engine
from tvrestore.tuning.impulses import SALT_AND_PEPPER, detect_impulses, smooth_fill

HELD_OUT = ("moon", "chelsea", "coffee", "rocket", "brick", "page", "cell")
CALIBRATION = ("camera", "astronaut", "coins")
CASES = (("salt-and-pepper", 0.3), ("salt-and-pepper", 0.5), ("salt-and-pepper", 0.7),
         ("random-valued", 0.2), ("random-valued", 0.4))
# The grids the best weight is taken from, per route: the salt-and-pepper
# weights are flat below one pixel's threshold 1 / (2 + sqrt 2).
GRIDS = {"salt-and-pepper": np.append(np.geomspace(0.003, 0.3, 6), 0.4),
         "random-valued": np.geomspace(0.2, 1.6, 16)}
SIZE = 256


def clean_grey(name: str) -> np.ndarray:
    image = util.img_as_float64(getattr(data, name)())
    if image.ndim == 3:
        image = skcolor.rgb2gray(image[..., :3])
    return np.clip(transform.resize(centre_square(image), (SIZE, SIZE), anti_aliasing=True), 0, 1)


def psnr(clean: np.ndarray, estimate: np.ndarray) -> float:
    return float(peak_signal_noise_ratio(clean, np.clip(estimate, 0, 1), data_range=1))


def best_on_grid(noisy: np.ndarray, clean: np.ndarray, weights: np.ndarray,
                 missing: np.ndarray | None, fill: bool = False) -> tuple[float, float]:
    """(best PSNR, its weight) of TV-L1 over ``weights``, Adam, with ``missing`` masked.

    ``fill``: relax the fill with :func:`smooth_fill`, as the product does
    on the salt-and-pepper route (so the grid scores the product's method).
    """
    degradation = engine.Degradation(missing=missing)
    output = engine.solve(degradation, [noisy[..., None]] * len(weights), weights,
                          fidelity=L1(), solver="adam")
    solutions = [smooth_fill(u, missing) if fill else u for u in output.solution]
    scores = [psnr(clean, u[..., 0]) for u in solutions]
    best = int(np.argmax(scores))
    return scores[best], float(weights[best])


def measure(name: str, kind: str, fraction: float, seed: int) -> dict:
    clean = clean_grey(name)
    noisy, hit = impulse_noise(clean, kind, fraction, seed=seed)
    medians = {b.method: psnr(clean, b.solve(noisy)) for b in impulse_baselines()}
    median_method = max(medians, key=medians.get)
    detection = detect_impulses(noisy[..., None])
    grid = GRIDS[detection.route]
    plain, plain_weight = best_on_grid(noisy, clean, GRIDS["random-valued"], None)
    masked, masked_weight = best_on_grid(noisy, clean, grid, detection.missing,
                                         fill=detection.route == SALT_AND_PEPPER)
    start = time.perf_counter()
    restored, result = restore(noisy, noise="impulse")
    seconds = time.perf_counter() - start
    auto = psnr(clean, restored)
    found = detection.missing[..., 0]
    return dict(
        image=name, kind=kind, fraction=fraction, seed=seed, input=psnr(clean, noisy),
        median=medians[median_method], median_method=median_method,
        tv_l1=plain, tv_l1_weight=plain_weight, masked=masked, masked_weight=masked_weight,
        auto=auto, auto_weight=result.weight, auto_seconds=seconds,
        route=result.impulse_route, detected=result.impulse_fraction,
        precision=float((found & hit).sum() / max(found.sum(), 1)),
        recall=float((found & hit).sum() / max(hit.sum(), 1)),
    )


def table(rows: list[dict]) -> str:
    lines = ["| image | noise | input | best median | TV-L1 (best w) | detect + TV-L1 (best w) "
             "| auto (w) | auto - best | auto - median | detected | route | precision / recall |",
             "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|"]
    for r in rows:
        lines.append(
            f"| {r['image']} | {r['kind']} {r['fraction']:.0%} | {r['input']:.2f} "
            f"| {r['median']:.2f} ({r['median_method'].split()[1]}) "
            f"| {r['tv_l1']:.2f} ({r['tv_l1_weight']:.2f}) | {r['masked']:.2f} ({r['masked_weight']:.3g}) "
            f"| {r['auto']:.2f} ({r['auto_weight']:.3g}) | {r['auto'] - max(r['masked'], r['auto']):+.2f} "
            f"| {r['auto'] - r['median']:+.2f} | {r['detected']:.3f} | {r['route']} "
            f"| {r['precision']:.3f} / {r['recall']:.3f} |")
    return "\n".join(lines)


def summary(rows: list[dict]) -> str:
    lines = []
    for kind, target in (("salt-and-pepper", 6.0), ("random-valued", 1.0)):
        mine = [r for r in rows if r["kind"] == kind]
        if not mine:
            continue
        gains = [r["auto"] - r["median"] for r in mine]
        losses = [max(r["masked"], r["auto"]) - r["auto"] for r in mine]
        wins = [r["masked"] - r["tv_l1"] for r in mine]
        lines.append(
            f"{kind}: auto - best median {min(gains):+.2f} to {max(gains):+.2f} dB (target >= "
            f"{target:+.1f}); auto below the grid's best by at most {max(losses):.2f} dB; "
            f"detection + TV-L1 minus plain TV-L1 (each at its best) {min(wins):+.2f} to "
            f"{max(wins):+.2f} dB; routes {sorted({r['route'] for r in mine})}")
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--calibration", action="store_true",
                        help="also the calibration images (camera, astronaut, coins)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write the rows to this file")
    parser.add_argument("--kinds", default="salt-and-pepper,random-valued",
                        help="the noise kinds measured, comma-separated (default both)")
    args = parser.parse_args()
    images = HELD_OUT + (CALIBRATION if args.calibration else ())
    rows = []
    for name in images:
        for kind, fraction in CASES:
            if kind not in args.kinds.split(","):
                continue
            rows.append(measure(name, kind, fraction, args.seed))
            print(f"{name} {kind} {fraction:.0%}: auto {rows[-1]['auto']:.2f} dB, "
                  f"median {rows[-1]['median']:.2f} dB", flush=True)
    print()
    for label, names in (("held-out", HELD_OUT), ("calibration", CALIBRATION)):
        mine = [r for r in rows if r["image"] in names]
        if mine:
            print(f"\n{label} images, {SIZE}x{SIZE}, seed {args.seed}\n")
            print(table(mine))
            print()
            print(summary(mine))
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=1)


if __name__ == "__main__":
    main()
