"""Random-valued impulses on colour images: the auto weight against a weight grid (issue 20, item 2).

``restore(noisy, noise="impulse")`` (vectorial colour TV, the default) on
256x256 colour crops of chelsea, coffee and rocket with random-valued
impulses at 20 and 40 % (seed 0), against the same call at each of 12
weights from 0.25 to 3.2 (a factor 1.26 apart). PSNR in dB, [0, 1] units.

    python benchmarks/measure_impulse_colour.py
"""

import numpy as np
from skimage.metrics import peak_signal_noise_ratio

from tvrestore import restore
from tvrestore.bench.cases import clean_square
from tvrestore.bench.degradations import impulse_noise

GRID = np.geomspace(0.25, 3.2, 12)


def psnr(clean: np.ndarray, estimate: np.ndarray) -> float:
    return float(peak_signal_noise_ratio(clean, np.clip(estimate, 0, 1), data_range=1))


def main() -> None:
    for name in ("chelsea", "coffee", "rocket"):
        clean = clean_square(name, 256)
        for fraction in (0.2, 0.4):
            noisy, _ = impulse_noise(clean, "random-valued", fraction, seed=0)
            noisy = noisy.astype(np.float32)
            restored, result = restore(noisy, noise="impulse")
            auto = psnr(clean, restored)
            scores = {float(w): psnr(clean, restore(noisy, noise="impulse", weight=float(w))[0])
                      for w in GRID}
            best = max(scores, key=scores.get)
            print(f"{name} random-valued {fraction:.0%}: auto w {result.weight:.3f} {auto:.2f} dB; "
                  f"best w {best:.3f} {scores[best]:.2f} dB; auto - best {auto - scores[best]:+.2f}",
                  flush=True)


if __name__ == "__main__":
    main()
