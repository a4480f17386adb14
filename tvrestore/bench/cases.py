r"""The benchmarks' test images: scikit-image's bundled images, cropped, resized, seeded noise.

A case is one of scikit-image's bundled images, grey or colour as shipped,
its centre square resized to ``size x size`` (``skimage.transform.resize``,
anti-aliased when shrinking; larger sizes are upscaled), plus Gaussian noise
of standard deviation :math:`\sigma` drawn from
``numpy.random.default_rng(seed)``. The noisy image is clipped to [0, 1],
as any camera or image file clips, but kept float32 rather than quantized
to 8 bits, so every method sees exactly the same input and the clean image
is not blurred by rounding.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from tvrestore.errors import TVRestoreError

__all__ = ["BUNDLED_IMAGES", "Case", "centre_square", "check_image", "clean_square", "make_case"]

# skimage.data images that ship with the package as grey or RGB.
BUNDLED_IMAGES = (
    "astronaut", "brick", "camera", "chelsea", "coffee", "coins", "grass", "gravel",
    "hubble_deep_field", "immunohistochemistry", "moon", "page", "retina", "rocket", "text",
)


def check_image(image: str) -> None:
    """Refuse an image name that is not one of ``BUNDLED_IMAGES``.

    Raises
    ------
    TVRestoreError
        Naming the image and the choices.
    """
    if image not in BUNDLED_IMAGES:
        raise TVRestoreError(f"unknown image {image!r}; choose from {', '.join(BUNDLED_IMAGES)}")


def centre_square(pixels: np.ndarray) -> np.ndarray:
    """The largest square of an ``(H, W[, C])`` image, centred (a view, not a copy)."""
    side = min(pixels.shape[:2])
    top, left = (pixels.shape[0] - side) // 2, (pixels.shape[1] - side) // 2
    return pixels[top : top + side, left : left + side]


def clean_square(image: str, size: int) -> np.ndarray:
    """A bundled image's centre square at ``size x size``, float64 in [0, 1].

    Parameters
    ----------
    image : str
        One of ``BUNDLED_IMAGES``.
    size : int
        Side of the result; the square is resized (anti-aliased) unless it
        already has this side.

    Raises
    ------
    TVRestoreError
        For an image name not in ``BUNDLED_IMAGES``.
    """
    check_image(image)
    from skimage import data, transform, util

    clean = centre_square(util.img_as_float64(getattr(data, image)()))
    if clean.shape[0] != size:
        clean = np.clip(transform.resize(clean, (size, size), anti_aliasing=True), 0, 1)
    return clean


@dataclass(frozen=True)
class Case:
    """One benchmark problem.

    Attributes
    ----------
    image : str
        The ``skimage.data`` name.
    size : int
        Side in pixels.
    sigma : float
        Noise standard deviation, intensity units (25/255 for "25").
    seed : int
    clean : np.ndarray, float64
        ``(size, size)`` grey or ``(size, size, 3)`` colour, in [0, 1].
    noisy : np.ndarray, float32
        ``clip(clean + sigma * noise, 0, 1)``.
    """

    image: str
    size: int
    sigma: float
    seed: int
    clean: np.ndarray
    noisy: np.ndarray

    @property
    def channel_axis(self) -> int | None:
        """skimage's ``channel_axis`` for this image."""
        return -1 if self.noisy.ndim == 3 else None

    def batch(self) -> np.ndarray:
        """The noisy image as a batch of one, ``(1, H, W, C)``."""
        return self.noisy.reshape(1, self.size, self.size, -1)


def make_case(image: str, size: int, sigma: float, seed: int = 0) -> Case:
    """A bundled image at ``size x size`` with seeded Gaussian noise.

    Parameters
    ----------
    image : str
        One of ``BUNDLED_IMAGES``.
    size : int
        Side of the square result.
    sigma : float
        Noise standard deviation in intensity units ([0, 1] scale).
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives the same
        noise at a given shape.

    Raises
    ------
    TVRestoreError
        For an image name not in ``BUNDLED_IMAGES``.
    """
    clean = clean_square(image, size)
    noise = np.random.default_rng(seed).standard_normal(clean.shape, dtype=np.float32)
    noisy = np.clip(clean + sigma * noise, 0, 1).astype(np.float32)
    return Case(image=image, size=size, sigma=sigma, seed=seed, clean=clean, noisy=noisy)
