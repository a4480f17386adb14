"""Random-valued impulses on colour images: the auto weight against a weight grid (issue 20, item 2).

``restore(noisy, noise="impulse")`` (vectorial colour TV, the default) on
256x256 colour crops of chelsea, coffee and rocket with random-valued
impulses at 20 and 40 % (seed 0), against the same call at each of 12
weights from 0.25 to 3.2 (a factor 1.26 apart). PSNR in dB, [0, 1] units.

``--factors`` scores the auto weight with each given vectorial colour
factor of the pilot rule (``tvrestore.tuning.impulses._VECTORIAL_PILOT_RULE_FACTOR``,
set in this process only; the pilot's own factor is left as it is), so a
before and an after come from one run against one grid. ``--color
channelwise`` measures channelwise colour TV instead (no factor: grey
channel by channel). ``--kind salt-and-pepper`` at 30, 50 and 70 %
checks the salt-and-pepper route (its weight has no colour factor).

    python benchmarks/measure_impulse_colour.py [--factors 1.6,1.25] [--color channelwise]
    python benchmarks/measure_impulse_colour.py --kind salt-and-pepper
"""

import argparse

import numpy as np
from skimage.metrics import peak_signal_noise_ratio

from tvrestore import restore
from tvrestore.bench.cases import clean_square
from tvrestore.bench.degradations import impulse_noise
from tvrestore.tuning import impulses

GRIDS = {"random-valued": np.geomspace(0.25, 3.2, 12),
         "salt-and-pepper": np.append(np.geomspace(0.003, 0.3, 6), 0.4)}
FRACTIONS = {"random-valued": (0.2, 0.4), "salt-and-pepper": (0.3, 0.5, 0.7)}


def psnr(clean: np.ndarray, estimate: np.ndarray) -> float:
    return float(peak_signal_noise_ratio(clean, np.clip(estimate, 0, 1), data_range=1))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factors", default=str(impulses._VECTORIAL_PILOT_RULE_FACTOR))
    parser.add_argument("--color", default="vectorial", choices=("vectorial", "channelwise"))
    parser.add_argument("--kind", default="random-valued", choices=tuple(GRIDS))
    args = parser.parse_args()
    factors = [float(f) for f in args.factors.split(",")]
    scaled = args.color == "vectorial" and args.kind == "random-valued"
    if not scaled:  # no colour factor on these routes: one auto weight
        factors = factors[:1]
    losses = {f: [] for f in factors}
    for name in ("chelsea", "coffee", "rocket"):
        clean = clean_square(name, 256)
        for fraction in FRACTIONS[args.kind]:
            noisy, _ = impulse_noise(clean, args.kind, fraction, seed=0)
            noisy = noisy.astype(np.float32)
            scores = {float(w): psnr(clean, restore(noisy, noise="impulse", weight=float(w),
                                                    color=args.color)[0])
                      for w in GRIDS[args.kind]}
            best = max(scores, key=scores.get)
            line = f"{name} {args.kind} {fraction:.0%}: best w {best:.3f} {scores[best]:.2f} dB"
            for factor in factors:
                impulses._VECTORIAL_PILOT_RULE_FACTOR = factor
                restored, result = restore(noisy, noise="impulse", color=args.color)
                auto = psnr(clean, restored)
                losses[factor].append(scores[best] - auto)
                label = f" factor {factor}" if scaled else ""
                line += (f";{label} auto w {result.weight:.3f} {auto:.2f} dB, auto - best "
                         f"{auto - scores[best]:+.2f}, auto / best w {result.weight / best:.2f}")
            print(line, flush=True)
    for factor, lost in losses.items():
        label = f"factor {factor}" if scaled else "auto"
        print(f"{label}: within 0.3 dB on {sum(x <= 0.3 for x in lost)} of {len(lost)}, "
              f"worst {max(lost):.2f} dB, sum {sum(lost):.2f} dB")


if __name__ == "__main__":
    main()
