r"""Noise level from the image itself, and the weight it calls for.

The estimate is Donoho's robust one: Gaussian noise of standard deviation
:math:`\sigma` gives the finest diagonal wavelet coefficients a standard
deviation :math:`\sigma`, while a piecewise-smooth image leaves most of them
near 0, so

.. math::

    \hat\sigma = \operatorname{median}(|d|) / 0.6745,

with :math:`d` the orthonormal Haar diagonal detail
:math:`(a - b - c + e)/2` of each 2x2 block :math:`\begin{smallmatrix} a & b
\\ c & e\end{smallmatrix}` (0.6745 is the median of :math:`|N(0, 1)|`).

The weight rule :math:`w = k\,\hat\sigma` is linear in the noise level, as
the ROF model's optimal weight is; :math:`k` depends on the TV norm (a
vectorial norm over C channels sums C noise terms under one root) and was
calibrated on scikit-image's bundled images (see ``AUTO_WEIGHT_FACTORS``).
"""

from __future__ import annotations

import numpy as np

__all__ = ["AUTO_WEIGHT_FACTORS", "auto_weight", "estimate_noise_sigma"]

# Median of |N(0, 1)|: scales the median absolute coefficient to sigma.
_MAD_TO_SIGMA = 0.6745

# k in w = k * sigma_hat: the median over scikit-image's camera, coins, moon
# and brick (grey) and astronaut, coffee, chelsea (colour) at noise 15, 25
# and 50 / 255 of the PSNR-best weight divided by the estimated noise level
# (`python samples/calibrate_auto_weight.py`). Anisotropic TV sums |dx| + |dy|,
# which for isotropic noise gradients is 4/pi times sqrt(dx^2 + dy^2) on
# average, so its factors are the isotropic ones times pi/4.
_ISOTROPIC_FACTORS = {"grey": 0.79, "vectorial": 1.14, "channelwise": 0.71}
AUTO_WEIGHT_FACTORS: dict[tuple[str, str], float] = {
    **{("isotropic", mode): k for mode, k in _ISOTROPIC_FACTORS.items()},
    **{("anisotropic", mode): k * np.pi / 4 for mode, k in _ISOTROPIC_FACTORS.items()},
}


def estimate_noise_sigma(image: np.ndarray) -> float:
    """Estimate the standard deviation of additive white Gaussian noise.

    Parameters
    ----------
    image : np.ndarray, shape (H, W, C)
        In [0, 1] intensity units; C channels share one noise level.

    Returns
    -------
    float
        :math:`\\hat\\sigma` in the same units; 0 for images smaller than
        2x2.
    """
    height, width = (image.shape[0] // 2) * 2, (image.shape[1] // 2) * 2
    if height == 0 or width == 0:
        return 0.0
    blocks = np.asarray(image[:height, :width], np.float64)
    diagonal = (
        blocks[0::2, 0::2] - blocks[0::2, 1::2] - blocks[1::2, 0::2] + blocks[1::2, 1::2]
    ) / 2
    return float(np.median(np.abs(diagonal)) / _MAD_TO_SIGMA)


def auto_weight(sigma: float, channels: int, tv: str = "isotropic", color: str = "vectorial") -> float:
    """The TV weight for noise level ``sigma``: :math:`w = k\\,\\sigma`.

    Parameters
    ----------
    sigma : float
        Noise standard deviation in [0, 1] intensity units.
    channels : int
        Colour channels C (alpha excluded).
    tv, color : str
        The TV norm (see :mod:`tvrestore.tv`); a vectorial norm over
        several channels needs a larger weight than a grey one.
    """
    mode = color if channels > 1 else "grey"
    return AUTO_WEIGHT_FACTORS[(tv, mode)] * sigma
