"""Make the bundled sample pairs: clean images from skimage.data and noisy copies.

Each pair is ``<name>_clean.png`` and ``<name>_noisy.png``: the clean image
cropped and resized to 256x256, plus Gaussian noise of standard deviation
25/255, clipped to [0, 1] and saved as 8-bit, as a camera would. The seed is
fixed, so running this again gives the same files.

    python samples/make_samples.py
"""

from pathlib import Path

import imageio.v3 as iio
import numpy as np
from skimage import data, transform, util

SIZE = 256
SIGMA = 25 / 255
SEED = 2026
IMAGES = ("camera", "astronaut", "coins")


def clean_image(name: str) -> np.ndarray:
    """A centre square of a skimage image resized to SIZE x SIZE, floats in [0, 1]."""
    image = util.img_as_float64(getattr(data, name)())
    side = min(image.shape[:2])
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    square = image[top : top + side, left : left + side]
    return transform.resize(square, (SIZE, SIZE), anti_aliasing=True)


def to_uint8(image: np.ndarray) -> np.ndarray:
    return np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8)


def main() -> None:
    folder = Path(__file__).parent
    rng = np.random.default_rng(SEED)
    for name in IMAGES:
        clean = clean_image(name)
        noisy = clean + SIGMA * rng.standard_normal(clean.shape)
        iio.imwrite(folder / f"{name}_clean.png", to_uint8(clean))
        iio.imwrite(folder / f"{name}_noisy.png", to_uint8(noisy))
        print(f"{name}: {clean.shape} -> {name}_clean.png, {name}_noisy.png")


if __name__ == "__main__":
    main()
