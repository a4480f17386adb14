"""Issue 20, item 2 (random-valued impulses): a hold-out risk for the TV-L1 weight, against the grid.

Not the product's measurement (that is ``benchmarks/measure_impulse.py``).
Per case (image, zoom, fraction; 256x256 grey, seed 0, as in
``measure_impulse_weight_rules.py``) it caches, as ``.npz`` in ``--cache``:
the clean and noisy images, the detected and the true impulses, a seeded
hold-out set ``H`` (``--hold`` of the values the detector kept, seed 1),
and two Adam solves of detection + masked TV-L1 at each of the 16 grid
weights 0.2 to 1.6: ``U`` with the detected values missing (the product's
solve, scored by PSNR against the clean image) and ``V`` with ``H``
missing too (its values on ``H`` predict data it did not see).

The scores below are computed from those arrays only (no clean image, no
true impulses); each picks the grid weight of least score, refined by a
parabola in log weight through the least and its two neighbours.

``--hold-out-risks``: the hold-out (cross-validation) risks of
:func:`hold_out_scores`; ``--planted`` and ``--planted-risks``: a risk
from impulses planted on kept values (:func:`planted_risk`); ``--fit``:
the rule refitted on all calibration cases, the extra images included,
with and without the pilot misfit ``q`` (:func:`fit_rule`).

    python benchmarks/measure_impulse_weight_risk.py --cache DIR --held-out --extra --no-hold-out-solves --planted
    python benchmarks/measure_impulse_weight_risk.py --cache DIR --held-out --hold-out-risks --planted-risks --fit
"""

from __future__ import annotations

import argparse
import os

import numpy as np

from measure_impulse import CALIBRATION, HELD_OUT, psnr
from measure_impulse_weight_rules import GRID, clean_zoom, loss, solve
from tvrestore.bench.degradations import impulse_noise
from tvrestore.tuning.impulses import detect_impulses, impulse_weight

HOLD = 0.1
PLANT = 0.05
CALIBRATION_CASES = [(n, z, f) for n in CALIBRATION for z in (1.0, 0.5, 0.25)
                     for f in (0.1, 0.2, 0.3, 0.4, 0.5)]
# More calibration images (skimage.data, none of them held out; cat is chelsea):
# textured (grass, gravel, text, retina) and smooth (horse, clock) scenes.
EXTRA = ("grass", "gravel", "text", "clock", "horse", "hubble_deep_field",
         "immunohistochemistry", "retina")
EXTRA_CASES = [(n, 1.0, f) for n in EXTRA for f in (0.1, 0.2, 0.3, 0.4, 0.5)]
# horse is binary: its impulses take the salt-and-pepper route.
PLANT_SKIP = ("horse",)
HELD_OUT_CASES = [(n, 1.0, f) for n in HELD_OUT for f in (0.2, 0.4)]


def case_arrays(cache: str, name: str, zoom: float, fraction: float, hold: float = HOLD,
                held_out_solves: bool = True) -> dict:
    """The case's arrays, from ``cache`` or solved (``V`` only with ``held_out_solves``)."""
    path = os.path.join(cache, f"{name}_{zoom}_{fraction}_{hold}.npz")
    if os.path.exists(path):
        return dict(np.load(path))
    clean = clean_zoom(name, zoom)
    noisy, hit = impulse_noise(clean, "random-valued", fraction, seed=0)
    detection = detect_impulses(noisy[..., None])
    missing = detection.missing[..., 0]
    rng = np.random.default_rng(1)
    held = ~missing & (rng.random(missing.shape) < hold)
    arrays = dict(clean=clean, noisy=noisy, hit=hit, missing=missing, held=held,
                  rule=impulse_weight(detection, color="channelwise"),
                  U=np.stack(solve(noisy, missing, GRID)).astype(np.float32))
    if held_out_solves:
        arrays["V"] = np.stack(solve(noisy, missing | held, GRID)).astype(np.float32)
    np.savez_compressed(path + ".tmp.npz", **arrays)
    os.replace(path + ".tmp.npz", path)
    return arrays


def planted_arrays(cache: str, name: str, zoom: float, fraction: float, plant: float = PLANT) -> dict:
    """Solves of the noisy image with impulses planted on ``S``, ``plant`` of its kept values (seed 2).

    ``S`` gets uniform random values (the random-valued model), detection
    runs again on the planted image, and ``W`` holds its masked TV-L1 solves
    at each grid weight. The values on ``S`` were kept by the detector:
    mostly clean, so the error of ``W`` there is the error on an impulse,
    detected (a fill) or not (what L1 makes of it), at its real neighbours.
    """
    path = os.path.join(cache, f"planted_{name}_{zoom}_{fraction}_{plant}.npz")
    if os.path.exists(path):
        return dict(np.load(path))
    clean = clean_zoom(name, zoom)
    noisy, hit = impulse_noise(clean, "random-valued", fraction, seed=0)
    missing = detect_impulses(noisy[..., None]).missing[..., 0]
    rng = np.random.default_rng(2)
    planted = ~missing & (rng.random(missing.shape) < plant)
    dirty = np.where(planted, rng.random(missing.shape), noisy)
    again = detect_impulses(dirty[..., None]).missing[..., 0]
    arrays = dict(planted=planted, again=again,
                  W=np.stack(solve(dirty, again, GRID)).astype(np.float32))
    np.savez_compressed(path + ".tmp.npz", **arrays)
    os.replace(path + ".tmp.npz", path)
    return arrays


def planted_risk(a: dict, b: dict) -> np.ndarray:
    r"""Per grid weight, the planted-impulse estimate of the mean squared error.

    With :math:`S` the planted values, :math:`K` the values neither
    detection flagged (nor planted), :math:`\hat r = |S \cap M'| / |S|`
    the detector's recall on planted impulses and :math:`\hat p = \rho /
    \hat r` the impulses' fraction, :math:`R(w) = \hat p\,\overline{(W -
    f)^2}_S + (1 - \hat p)\,\overline{(W - f)^2}_K` with the top
    :math:`(\hat p - \rho) / (1 - \rho)` of :math:`K`'s squared errors
    dropped (the real impulses the detector missed).
    """
    f, rho = a["noisy"], a["missing"].mean()
    planted, again, W = b["planted"], b["again"], b["W"].astype(float)
    recall = max((planted & again).sum() / max(planted.sum(), 1), 1e-3)
    p = min(rho / recall, 0.95)
    kept = ~again & ~planted
    on_planted = ((W[:, planted] - f[planted]) ** 2).mean(1)
    on_kept = np.sort((W[:, kept] - f[kept]) ** 2, axis=1)
    undetected = min(max((p - rho) / (1 - rho), 0.0), 0.9)
    on_kept = on_kept[:, :max(1, int(round((1 - undetected) * on_kept.shape[1])))].mean(1)
    return p * on_planted + (1 - p) * on_kept


def pilot_misfit(a: dict, threshold: float = 0.01) -> float:
    """``q``: the fraction of kept values with ``|f - u| > threshold``, ``u`` the grid's solve nearest the rule."""
    nearest = int(np.argmin(np.abs(np.log(GRID / float(a["rule"])))))
    kept = ~a["missing"]
    return float((np.abs(a["noisy"] - a["U"][nearest])[kept] > threshold).mean())


def fit_rule(rows: list[dict], feature: bool) -> tuple[tuple[float, float, float], np.ndarray]:
    """``(a, b, c)`` of ``w = a exp(b rho) q^c`` with the least worst loss (then mean) on ``rows``.

    Each row holds ``curve`` (PSNR per grid weight), ``rho`` and ``q``;
    ``feature=False`` fits ``c = 0``. Returns the constants and their losses.
    """
    a, b, c = np.meshgrid(np.log(np.geomspace(0.02, 2.0, 100)), np.linspace(0, 8, 41),
                          np.linspace(-1.5, 1.0, 51) if feature else [0.0], indexing="ij")
    a, b, c = a.ravel(), b.ravel(), c.ravel()
    rho = np.array([r["rho"] for r in rows])
    q = np.log(np.maximum([r["q"] for r in rows], 1e-4))
    log_weight = a[:, None] + b[:, None] * rho[None] + c[:, None] * q[None]
    losses = np.stack([r["curve"].max() - np.interp(log_weight[:, j], np.log(GRID), r["curve"])
                       for j, r in enumerate(rows)], axis=1)
    best = int(np.argmin(losses.max(1) + 1e-3 * losses.mean(1)))
    return (float(np.exp(a[best])), float(b[best]), float(c[best])), losses[best]


def rule_losses(rows: list[dict], constants: tuple[float, float, float]) -> np.ndarray:
    a, b, c = constants
    return np.array([r["curve"].max() - np.interp(
        np.log(a) + b * r["rho"] + c * np.log(max(r["q"], 1e-4)), np.log(GRID), r["curve"])
        for r in rows])


def fit_table(cache: str) -> None:
    """The rules refitted on all calibration cases (extra images included), and their held-out losses."""
    def rows(cases):
        out = []
        for case in cases:
            a = case_arrays(cache, *case, held_out_solves=False)
            out.append(dict(case=case, curve=curve(a), rho=float(a["missing"].mean()),
                            q=pilot_misfit(a), rule=float(a["rule"])))
        return out
    calibration = rows([c for c in CALIBRATION_CASES + EXTRA_CASES if c[0] not in PLANT_SKIP])
    held_out = rows(HELD_OUT_CASES)
    today = [r["curve"].max() - np.interp(np.log(r["rule"]), np.log(GRID), r["curve"])
             for r in calibration + held_out]
    fitted = {}
    for label, feature in (("exp(b rho)", False), ("exp(b rho) q^c", True)):
        constants, _ = fit_rule(calibration, feature)
        fitted[label] = (constants, rule_losses(calibration, constants), rule_losses(held_out, constants))
    n = len(calibration)
    print(f"\nrules on {n} calibration and {len(held_out)} held-out cases (dB below the grid's best):")
    print(f"today's 0.267 exp(3.3 rho): calibration worst {max(today[:n]):.2f}, "
          f"{sum(x > 0.3 for x in today[:n])} > 0.3; held-out worst {max(today[n:]):.2f}, "
          f"{sum(x > 0.3 for x in today[n:])} > 0.3")
    for label, ((a, b, c), cal, held) in fitted.items():
        print(f"w = {a:.3f} exp({b:.2f} rho) q^{c:.2f}: calibration worst {cal.max():.2f}, "
              f"{(cal > 0.3).sum()} > 0.3; held-out worst {held.max():.2f}, {(held > 0.3).sum()} > 0.3")
    (a, b, c), _, held = fitted["exp(b rho) q^c"]
    print("| image | noise | rho | q | best | today (loss) | fitted (loss) |")
    for r, lost, old in zip(held_out, held, today[n:]):
        w = a * np.exp(b * r["rho"]) * max(r["q"], 1e-4) ** c
        print(f"| {r['case'][0]} | {r['case'][2]:.0%} | {r['rho']:.3f} | {r['q']:.3f} "
              f"| {GRID[int(np.argmax(r['curve']))]:.2f} | {r['rule']:.3f} ({old:.2f}) | {w:.3f} ({lost:.2f}) |")


def curve(a: dict) -> np.ndarray:
    """PSNR (dB) of ``U`` at each grid weight against the clean image."""
    return np.array([psnr(a["clean"], u) for u in a["U"]])


def refine(scores: np.ndarray) -> float:
    """The grid weight of least score, refined by a parabola in log weight (within one step)."""
    k = int(np.argmin(scores))
    if k in (0, len(GRID) - 1):
        return float(GRID[k])
    x = np.log(GRID[k - 1:k + 2])
    c = np.polyfit(x - x[1], scores[k - 1:k + 2], 2)
    if c[0] <= 0:
        return float(GRID[k])
    step = np.clip(-c[1] / (2 * c[0]), x[0] - x[1], x[2] - x[1])
    return float(np.exp(x[1] + step))


def hold_out_scores(a: dict) -> dict[str, np.ndarray]:
    """Per grid weight, hold-out risks from ``V`` on ``H`` (none needs a noise model).

    ``cv_l1``: mean ``|V - f|``; ``cv_trim80``: the mean of its least 80 %
    (the undetected impulses among ``H`` dropped); ``cv_trunc0.05``: mean
    ``min(|V - f|, 0.05)``; ``cv_tmse0.1``: mean ``min(|V - f|, 0.1)^2``;
    ``kept_ref``: mean ``(U - V_0)^2`` on ``H``, the product's solve against
    the hold-out prediction at the smallest weight (an estimate of the
    error on the kept values, undetected impulses included), and
    ``total_ref``: ``rho cv_tmse0.1 + (1 - rho) kept_ref``.
    """
    f, held, rho = a["noisy"], a["held"], a["missing"].mean()
    error = np.abs(a["V"][:, held].astype(float) - f[held])
    least = np.sort(error, axis=1)[:, :int(0.8 * error.shape[1])]
    kept = ((a["U"][:, held].astype(float) - a["V"][0, held]) ** 2).mean(1)
    fill = (np.minimum(error, 0.1) ** 2).mean(1)
    return {"cv_l1": error.mean(1), "cv_trim80": least.mean(1),
            "cv_trunc0.05": np.minimum(error, 0.05).mean(1), "cv_tmse0.1": fill,
            "kept_ref": kept, "total_ref": rho * fill + (1 - rho) * kept}


def hold_out_table(cache: str, cases: list, hold: float) -> None:
    """Each hold-out risk's loss (dB below the grid's best) per case, then the worst and the misses."""
    losses = {}
    for case in cases:
        a = case_arrays(cache, *case, hold=hold)
        row = {"curve": list(curve(a))}
        losses[case] = {"rule": loss(row, float(a["rule"]))}
        losses[case].update({k: loss(row, refine(s)) for k, s in hold_out_scores(a).items()})
    names = list(next(iter(losses.values())))
    print("| image | zoom | noise | " + " | ".join(names) + " |")
    for (name, zoom, fraction), row in losses.items():
        print(f"| {name} | {zoom} | {fraction:.0%} | " + " | ".join(f"{row[k]:.2f}" for k in names) + " |")
    print("| worst | | | " + " | ".join(f"{max(r[k] for r in losses.values()):.2f}" for k in names) + " |")
    print("| > 0.3 dB | | | " + " | ".join(f"{sum(r[k] > 0.3 for r in losses.values())}" for k in names)
          + f" (of {len(losses)}) |")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cache", default=".")
    parser.add_argument("--held-out", action="store_true", help="also the held-out cases")
    parser.add_argument("--extra", action="store_true", help="also the extra calibration images")
    parser.add_argument("--no-hold-out-solves", action="store_true",
                        help="skip V (the hold-out solves) on the extra calibration images")
    parser.add_argument("--fit", action="store_true",
                        help="refit the rule (with and without q) on all calibration cases")
    parser.add_argument("--planted-risks", action="store_true",
                        help="print the planted-impulse risk's losses")
    parser.add_argument("--planted", action="store_true",
                        help="the planted-impulse solves (after the others)")
    parser.add_argument("--hold-out-risks", action="store_true",
                        help="print each hold-out risk's loss against the grid")
    parser.add_argument("--hold", type=float, default=HOLD)
    args = parser.parse_args()
    cases = ([(c, True) for c in HELD_OUT_CASES if args.held_out]
             + [(c, not args.no_hold_out_solves) for c in EXTRA_CASES if args.extra]
             + [(c, True) for c in CALIBRATION_CASES])
    for case, held_out_solves in cases:
        case_arrays(args.cache, *case, hold=args.hold, held_out_solves=held_out_solves)
        print(case, flush=True)
    if args.planted:
        for case in ([c for c in CALIBRATION_CASES if c[1] == 1.0] + (EXTRA_CASES if args.extra else [])
                     + (HELD_OUT_CASES if args.held_out else [])
                     + [c for c in CALIBRATION_CASES if c[1] != 1.0]):
            if case[0] in PLANT_SKIP:
                continue
            planted_arrays(args.cache, *case)
            print("planted", case, flush=True)
    if args.fit:
        fit_table(args.cache)
    if args.planted_risks:
        for label, chosen in (("calibration", [c for c in CALIBRATION_CASES + EXTRA_CASES
                                                if c[0] not in PLANT_SKIP]), ("held-out", HELD_OUT_CASES)):
            losses = []
            for case in chosen:
                a = case_arrays(args.cache, *case, held_out_solves=False)
                row = {"curve": list(curve(a))}
                losses.append((loss(row, refine(planted_risk(a, planted_arrays(args.cache, *case)))),
                               loss(row, float(a["rule"]))))
            planted, today = np.array(losses).T
            print(f"planted-impulse risk, {label} ({len(losses)} cases): worst {planted.max():.2f}, "
                  f"{(planted > 0.3).sum()} > 0.3, mean {planted.mean():.2f}; today's rule: worst "
                  f"{today.max():.2f}, {(today > 0.3).sum()} > 0.3, mean {today.mean():.2f}")
    if args.hold_out_risks:
        for label, chosen in (("calibration", CALIBRATION_CASES), ("held-out", HELD_OUT_CASES)):
            if label == "calibration" or args.held_out:
                print(f"\nhold-out risks, {label} cases (dB below the grid's best):")
                hold_out_table(args.cache, chosen, args.hold)


if __name__ == "__main__":
    main()
