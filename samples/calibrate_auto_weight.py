"""Calibrate and check the auto weight: w = k * sigma_hat against the PSNR-best weight.

For each image (resized to 256x256) and noise level, Gaussian noise is added
and clipped to [0, 1] as in a saved file; every weight of a log-spaced grid
is run in one batch. The table gives the best weight, k = best / sigma_hat,
and the PSNR the auto weight loses against the best grid weight.

    python samples/calibrate_auto_weight.py
"""

import numpy as np
from skimage import data, transform, util

from tvrestore import denoise, denoise_batch
from tvrestore.noise import estimate_noise_sigma

GRID = list(np.geomspace(0.01, 0.5, 20))
SETS = {
    "grey": ("camera", "coins", "moon", "brick", "text", "grass"),
    "vectorial": ("astronaut", "coffee", "chelsea", "rocket"),
    "channelwise": ("astronaut", "coffee"),
}
SIGMAS = (15, 25, 50)


def psnr(clean, image):
    return 10 * np.log10(1 / np.mean((clean - np.float64(image)) ** 2))


def main() -> None:
    print(f"{'mode':>11} {'image':>10} {'sigma':>5} {'sigma_hat':>9} {'best w':>7} {'k':>6} "
          f"{'auto w':>7} {'loss dB':>8}")
    for mode, names in SETS.items():
        color = "channelwise" if mode == "channelwise" else "vectorial"
        factors, losses = [], []
        for name in names:
            clean = transform.resize(util.img_as_float64(getattr(data, name)()), (256, 256),
                                     anti_aliasing=True)
            for sigma in SIGMAS:
                rng = np.random.default_rng(1)
                noisy = np.clip(clean + sigma / 255 * rng.standard_normal(clean.shape), 0, 1)
                noisy = noisy.astype(np.float32)
                scores = [psnr(clean, u) for u, _ in denoise_batch([noisy] * len(GRID), GRID, color=color)]
                best = int(np.argmax(scores))
                sigma_hat = estimate_noise_sigma(noisy.reshape(256, 256, -1))
                auto, result = denoise(noisy, "auto", color=color)
                loss = scores[best] - psnr(clean, auto)
                factors.append(GRID[best] / sigma_hat)
                losses.append(loss)
                print(f"{mode:>11} {name:>10} {sigma:>5} {sigma_hat * 255:>9.1f} {GRID[best]:>7.3f} "
                      f"{factors[-1]:>6.3f} {result.weight:>7.3f} {loss:>+8.3f}", flush=True)
        print(f"{mode:>11} median k {np.median(factors):.3f}; worst auto loss {max(losses):+.3f} dB\n")


if __name__ == "__main__":
    main()
