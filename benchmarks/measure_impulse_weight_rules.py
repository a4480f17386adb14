"""Issue 20, item 2 (random-valued impulses): candidate automatic weights tried against the grid.

Not the product's measurement (that is ``benchmarks/measure_impulse.py``):
this script reproduces the experiments of docs/noise.md's "What was tried"
for the random-valued TV-L1 weight, on 256x256 grey crops, seed 0.

Per case (image, zoom, fraction) it caches the PSNR curve of detection +
masked TV-L1 (Adam) over the 16 weights 0.2 to 1.6 of measure_impulse.py,
and features of a pilot solve at today's rule ``0.267 exp(3.3 rho)``:
``q_t``, the fraction of kept (undetected) values with ``|f - u| > t``.
``zoom`` crops the centre ``zoom`` of the centre square before resizing to
256x256: zoom 0.25 makes the calibration images as smooth as the held-out
cell, whose best weight today's rule misses.

``--fit``: the rule ``w = a exp(b rho) q_t^c`` with the least worst loss
on the calibration cases (camera, astronaut, coins at zooms 1, 0.5, 0.25
and 10 to 50 %), then its loss on the held-out cases (zoom 1, 20 and 40 %).

``--two-phase``: a second detection pass: kept values whose pilot
misfit exceeds ``tau`` are flagged too, and the grid is solved again.

    python benchmarks/measure_impulse_weight_rules.py --fit [--cache DIR]
    python benchmarks/measure_impulse_weight_rules.py --two-phase --images camera
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
from skimage import color as skcolor, data, transform, util

from measure_impulse import CALIBRATION, GRIDS, HELD_OUT, SIZE, psnr
from tvrestore.bench.cases import centre_square
from tvrestore.bench.degradations import impulse_noise
from tvrestore.models.fidelities import L1
from tvrestore.solvers import engine
from tvrestore.tuning.impulses import detect_impulses, impulse_weight

GRID = GRIDS["random-valued"]
THRESHOLDS = (0.005, 0.01, 0.02, 0.05)


def clean_zoom(name: str, zoom: float) -> np.ndarray:
    image = util.img_as_float64(getattr(data, name)())
    if image.ndim == 3:
        image = skcolor.rgb2gray(image[..., :3])
    square = centre_square(image)
    side = max(16, int(round(square.shape[0] * zoom)))
    start = (square.shape[0] - side) // 2
    crop = square[start:start + side, start:start + side]
    return np.clip(transform.resize(crop, (SIZE, SIZE), anti_aliasing=True), 0, 1)


def solve(noisy: np.ndarray, missing: np.ndarray, weights) -> list[np.ndarray]:
    output = engine.solve(engine.Degradation(missing=missing[..., None]),
                          [noisy[..., None]] * len(weights), np.asarray(weights, float),
                          fidelity=L1(), solver="adam")
    return [u[..., 0] for u in output.solution]


def measure(name: str, zoom: float, fraction: float, taus=()) -> dict:
    clean = clean_zoom(name, zoom)
    noisy, hit = impulse_noise(clean, "random-valued", fraction, seed=0)
    detection = detect_impulses(noisy[..., None])
    missing = detection.missing[..., 0]
    rule = impulse_weight(detection, color="channelwise")
    pilot = solve(noisy, missing, [rule])[0]
    misfit = np.abs(noisy - pilot)
    row = dict(image=name, zoom=zoom, fraction=fraction, detected=float(missing.mean()), rule=rule,
               curve=[psnr(clean, u) for u in solve(noisy, missing, GRID)],
               **{f"q{t}": float((misfit[~missing] > t).mean()) for t in THRESHOLDS})
    for tau in taus:
        again = missing | (misfit > tau)
        row[f"two_phase_{tau}"] = dict(detected=float(again.mean()),
                                       curve=[psnr(clean, u) for u in solve(noisy, again, GRID)])
    return row


def loss(row: dict, weight: float, curve: str = "curve") -> float:
    """dB below the grid's best, the curve interpolated in log weight."""
    scores = np.asarray(row[curve])
    return float(scores.max() - np.interp(np.log(weight), np.log(GRID), scores))


def rule_weight(row: dict, a: float, b: float, c: float, feature: str) -> float:
    return a * np.exp(b * row["detected"]) * max(row[feature], 1e-3) ** c


def fit(rows: list[dict], feature: str) -> tuple[float, float, float]:
    """(a, b, c) of least worst loss (then least mean loss) on ``rows``."""
    best = None
    for a in np.geomspace(0.05, 1.0, 80):
        for b in np.linspace(0, 10, 51):
            for c in np.linspace(-1, 0.5, 31):
                losses = [loss(r, rule_weight(r, a, b, c, feature)) for r in rows]
                key = (max(losses), float(np.mean(losses)))
                if best is None or key < best[0]:
                    best = (key, (float(a), float(b), float(c)))
    return best[1]


def cached(path: str, cases: list[tuple[str, float, float]], taus=()) -> list[dict]:
    rows = json.load(open(path)) if os.path.exists(path) else []
    done = {(r["image"], r["zoom"], r["fraction"]) for r in rows}
    for case in cases:
        if case not in done:
            rows.append(measure(*case, taus=taus))
            print(case, flush=True)
            with open(path, "w") as out:
                json.dump(rows, out)
    return [r for r in rows if (r["image"], r["zoom"], r["fraction"]) in set(cases)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true")
    parser.add_argument("--feature", default="q0.01")
    parser.add_argument("--two-phase", action="store_true")
    parser.add_argument("--images", default=",".join(CALIBRATION))
    parser.add_argument("--cache", default=".")
    args = parser.parse_args()
    if args.two_phase:
        taus = (0.05, 0.1)
        cases = [(n, 1.0, f) for n in args.images.split(",") for f in (0.1, 0.2, 0.3, 0.4, 0.5)]
        for r in cached(os.path.join(args.cache, "two_phase.json"), cases, taus):
            print(f"{r['image']} {r['fraction']:.0%}: one pass {max(r['curve']):.2f} dB"
                  + "".join(f"; tau {t}: {max(r[f'two_phase_{t}']['curve']):.2f} dB at "
                            f"{GRID[int(np.argmax(r[f'two_phase_{t}']['curve']))]:.3f}" for t in taus))
    if args.fit:
        calibration = cached(os.path.join(args.cache, "calibration.json"),
                             [(n, z, f) for n in CALIBRATION for z in (1.0, 0.5, 0.25)
                              for f in (0.1, 0.2, 0.3, 0.4, 0.5)])
        held_out = cached(os.path.join(args.cache, "held_out.json"),
                          [(n, 1.0, f) for n in HELD_OUT for f in (0.2, 0.4)])
        a, b, c = fit(calibration, args.feature)
        print(f"w = {a:.4f} exp({b:.2f} rho) {args.feature}^{c:.2f}")
        for label, rows in (("calibration", calibration), ("held-out", held_out)):
            print(f"\n{label}: | image | zoom | noise | rule (loss) | fitted (loss) |")
            for r in rows:
                w = rule_weight(r, a, b, c, args.feature)
                print(f"| {r['image']} | {r['zoom']} | {r['fraction']:.0%} | {r['rule']:.3f} "
                      f"({loss(r, r['rule']):.2f}) | {w:.3f} ({loss(r, w):.2f}) |")


if __name__ == "__main__":
    main()
