"""Noise estimate and the auto weight it sets."""

import math

import numpy as np
import pytest
from skimage import color, data, util

from tvrestore import denoise_batch

from tvrestore.tuning import noise
from tvrestore.tuning.noise import (auto_weight, censoring, estimate_noise_sigma, monte_carlo_sure,
                                    sure_minimizer)
from tvrestore.models.tv import COLOR_MODES, TV_KINDS


def noisy_version(clean, sigma, seed, eight_bit=False):
    """Clean plus Gaussian noise; clipped and rounded to 1/255 as a saved 8-bit file if asked."""
    noisy = clean + sigma * np.random.default_rng(seed).standard_normal(clean.shape)
    if eight_bit:
        noisy = np.round(np.clip(noisy, 0, 1) * 255) / 255
    return noisy


def centre_crop(name, size):
    """A bundled image ("name:grey" for its luminance), centre-cropped, as float64 (H, W, C)."""
    base, _, grey = name.partition(":")
    image = util.img_as_float64(getattr(data, base)())
    if grey:
        image = color.rgb2gray(image)
    image = image.reshape(image.shape[0], image.shape[1], -1)
    top, left = (image.shape[0] - size) // 2, (image.shape[1] - size) // 2
    return image[top : top + size, left : left + size]


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("sigma", [5 / 255, 15 / 255, 25 / 255, 50 / 255])
def test_estimate_is_close_on_a_flat_image(sigma, channels):
    # 64x64xC Haar details: the median's spread is under 2 %.
    noisy = noisy_version(np.full((128, 128, channels), 0.5), sigma, seed=0)
    assert estimate_noise_sigma(noisy) == pytest.approx(sigma, rel=0.05)


@pytest.mark.parametrize("sigma", [15 / 255, 25 / 255, 50 / 255])
@pytest.mark.parametrize("name", ["camera", "astronaut"])
def test_estimate_is_close_on_a_real_image(name, sigma):
    # Edges and texture put some of the image into the finest details; on
    # these photographs that adds at most a few percent (float, unclipped).
    clean = util.img_as_float64(getattr(data, name)())
    noisy = noisy_version(clean.reshape(*clean.shape[:2], -1), sigma, seed=1)
    assert estimate_noise_sigma(noisy) == pytest.approx(sigma, rel=0.08)


@pytest.mark.parametrize("sigma", [15 / 255, 25 / 255])
@pytest.mark.parametrize("name", ["grass", "gravel", "shepp_logan_phantom"])
def test_estimate_reads_past_texture_and_clipping(name, sigma):
    # Over all details, grass reads 19.6 for 15 (texture) and the phantom
    # 21.5 for 25 (8-bit clipping of its black background); the flat,
    # unclipped tiles read the noise itself.
    noisy = noisy_version(centre_crop(name, 256), sigma, seed=2, eight_bit=True)
    assert estimate_noise_sigma(noisy) == pytest.approx(sigma, rel=0.08)


def test_estimate_reads_the_noise_under_eight_bit_clipping():
    # At sigma 50 nearly every tile of the camera holds a value clipped to
    # 0 or 1. Leaving those tiles out kept the ones whose noise happened to
    # be small (it read 0.75 to 0.95 sigma); every tile now counts, its
    # details scaled by what clipping leaves at its clean value.
    clean = util.img_as_float64(data.camera())[..., None]
    sigma = 50 / 255
    estimate = estimate_noise_sigma(noisy_version(clean, sigma, seed=1, eight_bit=True))
    assert estimate == pytest.approx(sigma, rel=0.05)


def test_estimate_reads_colour_whose_channels_sit_near_different_bounds():
    # Red near 1 and blue near 0 everywhere (a fundus photograph): at sigma
    # 50 every tile has some channel within 1.5 sigma of a bound. Leaving
    # out every colour tile with one channel near a bound left none, and
    # the fallback read 0.85 sigma; each channel of a tile has its own
    # clean value, and so its own scale.
    grey = util.img_as_float64(data.camera())[::2, ::2]
    clean = np.stack([0.8 + 0.15 * grey, 0.2 + 0.6 * grey, 0.03 + 0.25 * grey], axis=-1)
    sigma = 50 / 255
    estimate = estimate_noise_sigma(noisy_version(clean, sigma, seed=1, eight_bit=True))
    assert estimate == pytest.approx(sigma, rel=0.05)


@pytest.mark.parametrize("sigma_255", [10, 25, 50])
def test_estimate_reads_a_binary_image_past_its_clipping(sigma_255):
    # A silhouette is flat at 0 and 1, where an 8-bit file clips half the
    # noise: every tile is clipped and the Haar details read about half of
    # it (5.2 for 10). SURE given half the noise chose a third to half of
    # the best weight (1.1 to 1.3 dB lost); scaled by the median that
    # clipping leaves at a bound (0.359 sigma), they give the noise itself.
    clean = util.img_as_float64(data.horse())[..., None]
    noisy = noisy_version(clean, sigma_255 / 255, seed=3, eight_bit=True)
    assert estimate_noise_sigma(noisy) == pytest.approx(sigma_255 / 255, rel=0.08)


@pytest.mark.parametrize("name, sigma_255", [("shepp_logan_phantom", 50), ("hubble_deep_field", 15)])
def test_estimate_reads_images_mostly_at_a_bound(name, sigma_255):
    # The phantom's black background and the deep field's black sky put
    # most tiles within 1.5 sigma of 0. Leaving those out left few tiles,
    # themselves partly clipped, and read 0.875 and 0.89 sigma here (SURE
    # then lost 1.2 dB); every tile counts now, with the scale clipping
    # leaves at its clean value.
    clean = centre_crop(name, 256)
    noisy = noisy_version(clean, sigma_255 / 255, seed=2, eight_bit=True)
    assert estimate_noise_sigma(noisy) == pytest.approx(sigma_255 / 255, rel=0.05)


def test_clipped_haar_median_is_that_of_clipped_noise():
    # The table against the closed ends: |N(0, 1)| far from a bound, and at
    # the bound the median of |d| for four values max(n, 0), 0.359.
    distances = np.array([0.0, 1.0, 4.0])
    medians = noise._clipped_haar_median(distances)
    assert medians[2] == pytest.approx(0.6745, abs=0.003)
    assert medians[0] == pytest.approx(0.359, abs=0.003)
    assert medians[0] < medians[1] < medians[2]


def test_clipped_haar_table_is_its_monte_carlo():
    # The module keeps the table as a constant: computed again, it is equal.
    distances = np.linspace(-noise._CLIPPED_HAAR_BELOW, noise._CLIPPED_HAAR_RANGE,
                            len(noise._CLIPPED_HAAR_MEDIANS))
    normals = np.random.default_rng(0).standard_normal((4, 200_000))
    medians = []
    for distance in distances:
        a, b, c, e = np.maximum(distance + normals, 0.0)
        medians.append(np.median(np.abs(a - b - c + e)) / 2)
    np.testing.assert_array_equal(medians, noise._CLIPPED_HAAR_MEDIANS)


def test_estimate_of_tiny_images_is_zero():
    assert estimate_noise_sigma(np.zeros((1, 5, 1))) == 0.0


def test_auto_weight_is_the_calibrated_power_law():
    k = noise.AUTO_WEIGHT_FACTORS[("isotropic", "grey")]
    p = noise.AUTO_WEIGHT_EXPONENT
    reference = noise.AUTO_WEIGHT_REFERENCE_SIGMA
    assert auto_weight(reference, 1) == pytest.approx(k * reference)
    assert auto_weight(2 * reference, 1) / auto_weight(reference, 1) == pytest.approx(2**p)
    assert auto_weight(0.0, 1) == 0.0
    # The best weight grows faster than the noise (module docstring).
    assert 1.05 < p < 1.6


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("color", COLOR_MODES)
@pytest.mark.parametrize("tv", TV_KINDS)
def test_every_norm_has_an_auto_weight(tv, color, channels):
    assert 0 < auto_weight(25 / 255, channels, tv, color) < 1


def test_grey_ignores_the_colour_mode_and_colour_modes_differ():
    grey = [auto_weight(0.1, 1, "isotropic", color) for color in COLOR_MODES]
    assert grey[0] == grey[1]
    # The vectorial TV of a pixel, one root over three channels, is smaller
    # than the channelwise sum of three roots: it needs the larger weight.
    vectorial = auto_weight(0.1, 3, "isotropic", "vectorial")
    assert vectorial > 1.2 * auto_weight(0.1, 3, "isotropic", "channelwise")


@pytest.mark.parametrize(
    "args, message",
    [
        ((0.1, 3, "isotropic", "rgb"), "no auto weight for tv='isotropic', color='rgb'"),
        ((0.1, 1, "total", "vectorial"), "no auto weight for tv='total'"),
        ((-0.1, 1), "sigma must be a finite number >= 0"),
        ((math.nan, 1), "sigma must be a finite number >= 0"),
        ((0.1, 0), "channels must be >= 1"),
    ],
)
def test_auto_weight_rejects_what_it_has_no_factor_for(args, message):
    with pytest.raises(ValueError, match=message.replace("(", r"\(")):
        auto_weight(*args)


def psnr(clean, image):
    error = np.clip(np.float64(image), 0, 1) - clean
    return 10 * np.log10(1 / np.mean(error * error))


# Images held out of the calibration of the rule, as 8-bit files: two
# photographs and two smooth images, where the rule alone misses by 0.9 to
# 3.3 dB and SURE has to find the weight. Clock at sigma 50 lost 0.37 dB
# here while SURE read its clipped values as Gaussian data; read as
# censored (noise.censoring) it is within 0.3 dB.
@pytest.mark.parametrize(
    "name",
    [
        "coffee:grey",
        "chelsea",
        "clock",
        "cell",
    ],
)
def test_auto_weight_is_within_0_3_db_of_the_best_grid_weight(name):
    clean = centre_crop(name, 128)
    images, weights = [], []
    for sigma in (15 / 255, 25 / 255, 50 / 255):
        noisy = noisy_version(clean, sigma, seed=2, eight_bit=True).astype(np.float32)
        grid = list(sigma * np.geomspace(0.25, 4, 13))  # a factor 2**(1/3) apart
        images += [noisy] * (len(grid) + 1)
        weights += grid + ["auto"]
    runs = denoise_batch(images, weights)
    scores = np.array([psnr(clean, image) for image, _ in runs]).reshape(3, -1)
    for (image, result), sigma_scores in zip(runs[13::14], scores):
        assert result.weight_auto
        rule = auto_weight(result.noise_sigma, clean.shape[2])
        assert 0.4 * rule * (1 - 1e-6) <= result.weight <= 2.5 * rule * (1 + 1e-6)
        loss = sigma_scores[:-1].max() - sigma_scores[-1]
        assert loss <= 0.3, sigma_scores


def test_monte_carlo_sure_estimates_the_true_error_of_a_linear_denoiser():
    # u(f) = a f has divergence a N exactly, so SURE must match the true MSE
    # up to the noise's sampling error.
    rng = np.random.default_rng(3)
    clean = rng.random((256, 256))
    sigma = 0.1
    noisy = clean + sigma * rng.standard_normal(clean.shape)
    probe = rng.standard_normal(clean.shape)
    for a in (0.3, 0.7, 1.0):
        step = 0.01
        estimate = monte_carlo_sure(noisy, a * noisy, a * (noisy + step * probe), probe, step, sigma)
        true_error = np.mean((a * noisy - clean) ** 2)
        assert estimate == pytest.approx(true_error, rel=0.03)


def test_monte_carlo_sure_takes_a_variance_per_value():
    # Noise of unequal variance (none at all on half the values, as on
    # clipped flat background): with the per-value variance SURE matches the
    # true error of a linear denoiser; with sigma^2 everywhere it does not.
    rng = np.random.default_rng(4)
    clean = rng.random((256, 256))
    sigma = 0.1
    variance = np.where(np.arange(256)[:, None] < 128, 0.0, sigma**2) * np.ones(clean.shape)
    noisy = clean + np.sqrt(variance) * rng.standard_normal(clean.shape)
    probe = rng.choice([-1.0, 1.0], clean.shape)
    step = 0.01
    for a in (0.9, 1.0):
        true_error = np.mean((a * noisy - clean) ** 2)
        args = (noisy, a * noisy, a * (noisy + step * probe), probe, step, sigma)
        assert monte_carlo_sure(*args, variance) == pytest.approx(true_error, rel=0.03)
        assert monte_carlo_sure(*args) != pytest.approx(true_error, rel=0.2)


def test_sure_minimizer_refines_between_grid_points_and_keeps_grid_ends():
    weights = np.geomspace(0.01, 1.0, 7)
    target = 0.05
    risks = (np.log(weights) - np.log(target)) ** 2
    assert sure_minimizer(weights, risks) == pytest.approx(target, rel=1e-9)
    assert sure_minimizer(weights, -np.log(weights)) == weights[-1]


def test_auto_weight_is_not_fooled_by_noise_drawn_like_its_probe():
    # Regression: a Gaussian probe drawn from default_rng(0) equalled noise a
    # user drew the same way, and SURE then chose the smallest weight.
    clean = centre_crop("camera", 128)
    noisy = (clean + 25 / 255 * np.random.default_rng(0).standard_normal(clean.shape)).astype(np.float32)
    grid = list(25 / 255 * np.geomspace(0.25, 4, 13))
    runs = denoise_batch([noisy] * (len(grid) + 1), grid + ["auto"])
    scores = [psnr(clean, image) for image, _ in runs]
    assert max(scores[:-1]) - scores[-1] <= 0.3, scores


def test_monte_carlo_sure_reads_clipped_data_as_censored():
    # Data clipped to [0, 1] from a clean ramp that sits at and near 0 for
    # half the image: read as censored (the clean value under each clipped
    # value from the local mean), SURE matches the true error of a linear
    # denoiser; read as unclipped Gaussian data it is off by up to 3x.
    clean = np.clip(np.linspace(-0.2, 0.4, 96), 0, 1)[None, :, None] * np.ones((96, 1, 1))
    sigma, step = 0.15, 0.01
    for a in (0.3, 0.6, 0.9):
        censored, plain, true = [], [], []
        for seed in range(5):
            rng = np.random.default_rng(seed)
            noisy = np.clip(clean + sigma * rng.standard_normal(clean.shape), 0, 1)
            probe = rng.choice([-1.0, 1.0], clean.shape)
            args = (noisy, a * noisy + (1 - a) * 0.2, a * (noisy + step * probe) + (1 - a) * 0.2,
                    probe, step, sigma)
            censored.append(monte_carlo_sure(*args, censored=censoring(noisy, sigma)))
            plain.append(monte_carlo_sure(*args))
            true.append(np.mean((args[1] - clean) ** 2))
        assert np.mean(censored) == pytest.approx(np.mean(true), rel=0.05)
        assert np.mean(plain) != pytest.approx(np.mean(true), rel=0.2)


def test_censoring_is_none_without_values_at_a_bound_or_with_values_beyond():
    assert censoring(np.full((16, 16, 1), 0.5), 0.1) is None
    # Float noise, not clipped: a value at 0 is no censored one.
    assert censoring(np.array([0.0, -0.1, 0.5, 1.2]).reshape(2, 2, 1), 0.1) is None
    assert censoring(np.array([0.0, 0.1, 0.5, 1.0]).reshape(2, 2, 1), 0.1) is not None
