"""Issue 20, item 2: the vectorial colour factor of the random-valued impulse weight, fitted on colour.

The random-valued auto weight is ``w = F 0.129 exp(5.2 rho) q^-0.15``
(:func:`tvrestore.tuning.impulses.impulse_weight`), ``q`` the misfit of a
pilot solve at ``w0`` (times the pilot's own colour factor). ``F`` is the
vectorial colour factor; this script fits it on CALIBRATION colour crops
only (never chelsea, coffee or rocket, which
``benchmarks/measure_impulse_colour.py`` holds out):

- astronaut: the centre square and its centre half and quarter, zoomed;
- immunohistochemistry, hubble_deep_field, retina: the centre square and
  its centre half, zoomed;
- colorwheel (a smooth synthetic image): the centre square;

each resized to 256x256, with random-valued impulses at 10 to 50 %
(seed 0, value by value as ``tvrestore.bench.degradations.impulse_noise``
does). Per case it caches the PSNR curve of the product's solve (detection,
then masked TV-L1, vectorial colour, Adam, in one batch) over 16 weights
0.2 to 3.2 (a factor 1.2 apart), and the pilot's misfit ``q`` with the
pilot at ``w0`` times each factor in ``PILOT_FACTORS`` (the pilot's factor
changes ``q``).

``--fit`` prints, per pilot factor, the final factor ``F`` of least worst
loss (then least mean loss; dB below the grid's best, the curve
interpolated in log weight) on the calibration cases, with its losses
there, against today's factor; then, to show how much the fit depends on
its choices, the factor of least mean loss and both criteria without the
synthetic colorwheel. ``--extra`` also fits ``F q^c exp(b rho)`` (least
worst loss): whether the pilot's misfit or the detected fraction explains
what a constant factor misses.

    python benchmarks/fit_impulse_colour_factor.py --cache DIR --fit [--extra]
"""

from __future__ import annotations

import argparse
import json
import os

import numpy as np
from skimage import data, transform, util
from skimage.metrics import peak_signal_noise_ratio

from tvrestore.bench.cases import centre_square
from tvrestore.bench.degradations import impulse_noise
from tvrestore.models.fidelities import L1
from tvrestore.solvers import engine
from tvrestore.tuning import impulses
from tvrestore.tuning.impulses import detect_impulses, impulse_weight, pilot_misfit

SIZE = 256
GRID = np.geomspace(0.2, 3.2, 16)
FRACTIONS = (0.1, 0.2, 0.3, 0.4, 0.5)
ZOOMS = {"astronaut": (1.0, 0.5, 0.25), "immunohistochemistry": (1.0, 0.5),
         "hubble_deep_field": (1.0, 0.5), "retina": (1.0, 0.5), "colorwheel": (1.0,)}
HELD_OUT = ("chelsea", "coffee", "rocket")
PILOT_FACTORS = (1.0, 1.6)
TODAY = impulses._VECTORIAL_COLOUR_FACTOR


def clean_colour(name: str, zoom: float) -> np.ndarray:
    assert name not in HELD_OUT, f"{name} is held out"
    image = util.img_as_float64(getattr(data, name)())[..., :3]
    square = centre_square(image)
    side = max(16, int(round(square.shape[0] * zoom)))
    start = (square.shape[0] - side) // 2
    crop = square[start:start + side, start:start + side]
    return np.clip(transform.resize(crop, (SIZE, SIZE), anti_aliasing=True), 0, 1)


def psnr(clean: np.ndarray, estimate: np.ndarray) -> float:
    return float(peak_signal_noise_ratio(clean, np.clip(estimate, 0, 1), data_range=1))


def solve(noisy: np.ndarray, missing: np.ndarray, weights) -> list[np.ndarray]:
    output = engine.solve(engine.Degradation(missing=missing), [noisy] * len(weights),
                          np.asarray(weights, float), fidelity=L1(), solver="adam", color="vectorial")
    return list(output.solution)


def measure(name: str, zoom: float, fraction: float) -> dict:
    clean = clean_colour(name, zoom)
    noisy, _ = impulse_noise(clean, "random-valued", fraction, seed=0)
    detection = detect_impulses(noisy)
    w0 = impulse_weight(detection, color="channelwise")
    pilots = solve(noisy, detection.missing, [w0 * f for f in PILOT_FACTORS])
    return dict(image=name, zoom=zoom, fraction=fraction, route=detection.route,
                detected=detection.fraction, w0=w0,
                q={str(f): pilot_misfit(noisy, u, detection.missing) for f, u in zip(PILOT_FACTORS, pilots)},
                curve=[psnr(clean, u) for u in solve(noisy, detection.missing, GRID)])


def loss(row: dict, weight: float) -> float:
    """dB below the grid's best, the curve interpolated in log weight."""
    scores = np.asarray(row["curve"])
    return float(scores.max() - np.interp(np.log(weight), np.log(GRID), scores))


def grey_rule(row: dict, pilot_factor: float) -> float:
    """0.129 exp(5.2 rho) q^-0.15: the weight before the colour factor."""
    found = impulses.ImpulseDetection(missing=np.zeros((1, 1, 1), bool), route=impulses.RANDOM_VALUED,
                                      fraction=row["detected"], extremes=(0.0, 1.0))
    return impulse_weight(found, color="channelwise", misfit=row["q"][str(pilot_factor)])


def fit(rows: list[dict], pilot_factor: float, worst: bool = True) -> float:
    """The factor of least worst loss, then least mean loss (``worst``), else of least mean loss."""
    best = None
    for factor in np.geomspace(0.5, 3.0, 181):
        losses = [loss(r, factor * grey_rule(r, pilot_factor)) for r in rows]
        key = (max(losses), float(np.mean(losses))) if worst else (float(np.mean(losses)),)
        if best is None or key < best[0]:
            best = (key, float(factor))
    return best[1]


def cached(path: str, cases: list[tuple[str, float, float]]) -> list[dict]:
    rows = json.load(open(path)) if os.path.exists(path) else []
    done = {(r["image"], r["zoom"], r["fraction"]) for r in rows}
    for case in cases:
        if case not in done:
            rows.append(measure(*case))
            print(case, flush=True)
            with open(path + ".tmp", "w") as out:
                json.dump(rows, out)
            os.replace(path + ".tmp", path)
    return [r for r in rows if (r["image"], r["zoom"], r["fraction"]) in set(cases)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--fit", action="store_true")
    parser.add_argument("--extra", action="store_true")
    parser.add_argument("--cache", default=".")
    args = parser.parse_args()
    cases = [(n, z, f) for n, zooms in ZOOMS.items() for z in zooms for f in FRACTIONS]
    rows = [r for r in cached(os.path.join(args.cache, "colour_calibration.json"), cases)
            if r["route"] == impulses.RANDOM_VALUED]
    if not args.fit:
        return
    print(f"{len(rows)} random-valued calibration cases; "
          f"today the pilot is at w0 x {impulses._VECTORIAL_COLOUR_FACTOR}")
    for pilot_factor in PILOT_FACTORS:
        factor = fit(rows, pilot_factor)
        print(f"\npilot at w0 x {pilot_factor}: fitted F = {factor:.3f} (today {TODAY})")
        print("| image | zoom | noise | q | best w / rule | today (loss) | fitted (loss) |")
        today, fitted = [], []
        for r in rows:
            rule = grey_rule(r, pilot_factor)
            best = GRID[int(np.argmax(r["curve"]))]
            today.append(loss(r, TODAY * rule))
            fitted.append(loss(r, factor * rule))
            print(f"| {r['image']} | {r['zoom']} | {r['fraction']:.0%} | {r['q'][str(pilot_factor)]:.3f} | "
                  f"{best / rule:.2f} | {TODAY * rule:.3f} ({today[-1]:.2f}) | "
                  f"{factor * rule:.3f} ({fitted[-1]:.2f}) |")
        for label, losses in ((f"F = {TODAY}", today), ("fitted", fitted)):
            print(f"{label}: worst {max(losses):.2f} dB, mean {np.mean(losses):.2f}, "
                  f"within 0.3 dB on {sum(x <= 0.3 for x in losses)} of {len(losses)}")
        # How much the fit depends on its criterion and on the synthetic colorwheel.
        natural = [r for r in rows if r["image"] != "colorwheel"]
        for label, subset, worst in (("least mean loss", rows, False),
                                     ("least worst loss without colorwheel", natural, True),
                                     ("least mean loss without colorwheel", natural, False)):
            other = fit(subset, pilot_factor, worst)
            lost = [loss(r, other * grey_rule(r, pilot_factor)) for r in subset]
            print(f"{label}: F = {other:.3f}, worst {max(lost):.2f} dB, mean {np.mean(lost):.2f}, "
                  f"within 0.3 dB on {sum(x <= 0.3 for x in lost)} of {len(lost)}")
    if args.extra:
        extra(rows)


def extra(rows: list[dict]) -> None:
    """Least worst loss of ``F rule q^c exp(b rho)``, the pilot at w0 x 1.6."""
    best = None
    for factor in np.geomspace(0.5, 3.0, 91):
        for c in np.linspace(-0.5, 0.5, 41):
            for b in np.linspace(-3, 3, 25):
                losses = [loss(r, factor * grey_rule(r, 1.6) * max(r["q"]["1.6"], 1e-3) ** c
                               * np.exp(b * r["detected"])) for r in rows]
                key = (max(losses), float(np.mean(losses)))
                if best is None or key < best[0]:
                    best = (key, factor, c, b, sum(x <= 0.3 for x in losses))
    (worst, mean), factor, c, b, within = best
    print(f"\nF q^c exp(b rho): F = {factor:.3f}, c = {c:.3f}, b = {b:.2f}: worst {worst:.2f} dB, "
          f"mean {mean:.2f}, within 0.3 dB on {within} of {len(rows)}")


if __name__ == "__main__":
    main()
