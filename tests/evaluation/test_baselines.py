"""The seeded degradations and scikit-image's per-task baselines (no TensorFlow)."""

import numpy as np
import pytest
from scipy.signal import convolve2d

from tvrestore.evaluation.baselines import restoration_baselines, task_name
from tvrestore.bench.tasks import band_psnr, make_task_case
from tvrestore.bench.degradations import degrade, scene_shape
from tvrestore.models.psf import parse_psf

MOTION = parse_psf("motion:5,30")  # asymmetric: catches a flipped kernel


def test_no_degradation_observes_the_scene():
    scene = np.random.default_rng(1).random((20, 24))

    degraded = degrade(scene)

    np.testing.assert_array_equal(degraded.observed, scene)
    np.testing.assert_array_equal(degraded.clean, scene)
    assert degraded.mask is None


def test_blur_is_the_valid_convolution_and_clean_is_the_window_it_covers():
    scene = np.random.default_rng(2).random((30, 34))
    ry, rx = (MOTION.shape[0] - 1) // 2, (MOTION.shape[1] - 1) // 2

    degraded = degrade(scene, psf=MOTION)

    # Direct summation, the definition: f[i, j] = sum_ab k[a, b] s[i + 2r - a, j + 2r - b].
    expected = np.zeros((30 - 2 * ry, 34 - 2 * rx))
    for a in range(MOTION.shape[0]):
        for b in range(MOTION.shape[1]):
            expected += MOTION[a, b] * scene[2 * ry - a:2 * ry - a + expected.shape[0],
                                             2 * rx - b:2 * rx - b + expected.shape[1]]
    np.testing.assert_allclose(degraded.observed, expected, atol=1e-12)
    np.testing.assert_allclose(degraded.observed, convolve2d(scene, MOTION, "valid"), atol=1e-12)
    np.testing.assert_array_equal(degraded.clean, scene[ry:30 - ry, rx:34 - rx])


def test_binning_averages_blocks_and_scene_shape_inverts_it():
    psf = parse_psf("gaussian:1.0")
    shape = scene_shape((7, 9), psf, upscale=3)
    scene = np.random.default_rng(3).random(shape + (3,))

    degraded = degrade(scene, psf=psf, upscale=3)

    assert degraded.observed.shape == (7, 9, 3)
    assert degraded.clean.shape == (21, 27, 3)
    fine = np.stack([convolve2d(scene[..., c], psf, "valid") for c in range(3)], -1)
    np.testing.assert_allclose(degraded.observed[2, 4], fine[6:9, 12:15].mean(axis=(0, 1)))


def test_noise_and_missing_pixels_are_seeded():
    scene = np.full((64, 64), 0.5)

    first = degrade(scene, missing_fraction=0.3, noise_sigma=0.1, seed=7)
    again = degrade(scene, missing_fraction=0.3, noise_sigma=0.1, seed=7)
    other = degrade(scene, missing_fraction=0.3, noise_sigma=0.1, seed=8)

    np.testing.assert_array_equal(first.observed, again.observed)
    assert not np.array_equal(first.mask, other.mask)
    assert 0.25 < first.mask.mean() < 0.35
    assert np.all(first.observed[first.mask] == 0)
    kept = first.observed[~first.mask] - 0.5
    assert abs(kept.std() - 0.1) < 0.01


@pytest.mark.parametrize("psf, upscale, missing, expected", [
    (None, 1, False, "denoise"),
    (MOTION, 1, False, "deblur"),
    (None, 1, True, "inpaint"),
    (None, 2, False, "upscale"),
    (MOTION, 2, True, "deblur+upscale+inpaint"),
])
def test_task_names_follow_the_forward_model(psf, upscale, missing, expected):
    mask = np.zeros((4, 4), bool) if missing else None

    assert task_name(psf, mask, upscale) == expected


@pytest.mark.parametrize("psf, upscale, missing", [
    (MOTION, 1, False), (None, 1, True), (None, 3, False), (MOTION, 2, True),
])
@pytest.mark.parametrize("channels", [(), (3,)])
def test_every_baseline_returns_the_output_shape_in_range(psf, upscale, missing, channels):
    rng = np.random.default_rng(4)
    observed = rng.random((20, 22) + channels)
    mask = rng.random((20, 22)) < 0.2 if missing else None

    baselines = restoration_baselines(psf=psf, mask=mask, upscale=upscale)

    assert baselines and len({b.method for b in baselines}) == len(baselines)
    for baseline in baselines:
        estimate = baseline.solve(observed)
        assert estimate.shape == (20 * upscale, 22 * upscale) + channels, baseline.method
        assert np.all((estimate >= 0) & (estimate <= 1)), baseline.method


def test_pure_denoising_has_no_restoration_baselines():
    assert restoration_baselines() == []


def test_biharmonic_fill_recovers_a_smooth_image_and_ignores_masked_values():
    yy, xx = np.mgrid[:32, :32] / 32
    smooth = 0.2 + 0.3 * yy + 0.2 * xx
    mask = np.random.default_rng(5).random((32, 32)) < 0.3
    observed = np.where(mask, 0.9, smooth)  # garbage under the mask

    [fill] = restoration_baselines(mask=mask)

    filled = fill.solve(observed)
    np.testing.assert_array_equal(filled[~mask], smooth[~mask])
    np.testing.assert_allclose(filled, smooth, atol=0.01)  # biharmonic: near-exact on a ramp
    np.testing.assert_array_equal(filled, fill.solve(np.where(mask, 0.0, smooth)))


def test_deconvolution_baselines_sharpen_a_blurred_image():
    degraded, psf, upscale = make_task_case("camera", "deblur", 64)
    # Compare in the interior, away from the periodic methods' ringing borders.
    inner = (slice(16, -16), slice(16, -16))
    observed = np.clip(degraded.observed, 0, 1)
    error_before = np.mean((observed - degraded.clean)[inner] ** 2)

    for baseline in restoration_baselines(psf=psf):
        estimate = baseline.solve(observed)
        assert np.mean((estimate - degraded.clean)[inner] ** 2) < error_before, baseline.method


def test_bench_cases_have_the_documented_shapes():
    for task, (size, factor) in {"deblur": (40, 1), "upscale": (40, 2),
                                 "deblur+inpaint": (40, 1)}.items():
        degraded, psf, upscale = make_task_case("astronaut", task, size)
        assert upscale == factor
        assert degraded.observed.shape == (size, size, 3)
        assert degraded.clean.shape == (size * factor, size * factor, 3)
        assert (degraded.mask is not None) == ("inpaint" in task)


def test_band_psnr_splits_the_frame_from_the_interior():
    clean = np.zeros((40, 40))
    estimate = clean.copy()
    estimate[:16] = 0.1  # error in the top band only

    border, interior = band_psnr(clean, estimate)

    assert interior == float("inf")
    assert border < 30


def test_median_baselines_are_the_windowed_medians_channel_by_channel():
    from tvrestore.evaluation.baselines import impulse_baselines

    image = np.random.default_rng(9).random((9, 11, 3))
    baselines = impulse_baselines()
    assert [b.method for b in baselines] == ["median 3x3", "median 5x5", "median 7x7"]
    for size, baseline in zip((3, 5, 7), baselines):
        result = baseline.solve(image)
        r = size // 2
        padded = np.pad(image, ((r, r), (r, r), (0, 0)), mode="reflect")
        expected = np.stack([[np.median(padded[i:i + size, j:j + size], axis=(0, 1))
                              for j in range(11)] for i in range(9)])
        np.testing.assert_allclose(result, expected)
        assert baseline.solve(image[..., 0]).shape == (9, 11)


def test_impulse_noise_hits_the_seeded_fraction_with_its_kind_of_values():
    from tvrestore.bench.degradations import impulse_noise

    clean = np.full((100, 100), 0.4)
    salt, hit = impulse_noise(clean, "salt-and-pepper", 0.3, seed=1)
    assert abs(hit.mean() - 0.3) < 0.02
    assert set(np.unique(salt[hit])) == {0.0, 1.0} and (salt[~hit] == np.float32(0.4)).all()
    again, _ = impulse_noise(clean, "salt-and-pepper", 0.3, seed=1)
    np.testing.assert_array_equal(salt, again)
    random, hit = impulse_noise(clean, "random-valued", 0.2, seed=1)
    assert abs(hit.mean() - 0.2) < 0.02 and len(np.unique(random[hit])) > 1000
    with pytest.raises(ValueError, match="unknown impulse kind"):
        impulse_noise(clean, "gaussian", 0.2)
