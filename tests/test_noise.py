"""Noise estimate and the auto weight it sets."""

import numpy as np
import pytest
from skimage import data, transform, util

from tvrestore import denoise_batch
from tvrestore.noise import auto_weight, estimate_noise_sigma


@pytest.mark.parametrize("sigma", [5 / 255, 25 / 255, 50 / 255])
def test_estimate_is_close_on_a_flat_image(sigma):
    noisy = 0.5 + sigma * np.random.default_rng(0).standard_normal((128, 128, 1))
    assert estimate_noise_sigma(noisy) == pytest.approx(sigma, rel=0.05)


@pytest.mark.parametrize("sigma", [15 / 255, 25 / 255, 50 / 255])
def test_estimate_is_close_on_a_real_image(sigma):
    clean = util.img_as_float64(data.camera())[..., None]
    noisy = clean + sigma * np.random.default_rng(1).standard_normal(clean.shape)
    assert estimate_noise_sigma(noisy) == pytest.approx(sigma, rel=0.1)


def test_auto_weight_scales_with_sigma_and_rejects_unknown_modes():
    assert auto_weight(0.2, 1) == pytest.approx(2 * auto_weight(0.1, 1))
    assert auto_weight(0.1, 3, "isotropic", "vectorial") > auto_weight(0.1, 3, "isotropic", "channelwise")
    with pytest.raises(KeyError):
        auto_weight(0.1, 3, "isotropic", "rgb")


def psnr(clean, image):
    return 10 * np.log10(1 / np.mean((clean - np.float64(image)) ** 2))


# Images not used to fit the factors (samples/calibrate_auto_weight.py).
# The linear rule ignores image content: on smooth images (cell) the best
# weight is larger, on textured ones smaller, and it misses by more than
# 0.3 dB there. Per-image selection (e.g. Monte Carlo SURE) is the fix.
@pytest.mark.parametrize(
    "name",
    [
        "cat",
        pytest.param("cell", marks=pytest.mark.xfail(
            strict=True, reason="linear auto-weight rule loses 0.44 dB at sigma 25 on a smooth image")),
    ],
)
def test_auto_weight_is_within_0_3_db_of_the_best_grid_weight(name):
    clean = transform.resize(util.img_as_float64(getattr(data, name)()), (128, 128), anti_aliasing=True)
    grid = list(np.geomspace(0.01, 0.5, 16))
    for sigma in (15, 25, 50):
        noisy = np.clip(clean + sigma / 255 * np.random.default_rng(2).standard_normal(clean.shape), 0, 1)
        runs = denoise_batch([noisy.astype(np.float32)] * (len(grid) + 1), grid + ["auto"])
        scores = [psnr(clean, image) for image, _ in runs]
        assert runs[-1][1].weight_auto
        assert max(scores[:-1]) - scores[-1] <= 0.3, f"sigma {sigma}: {scores}"
