"""Impulse detection: which pixels are impulses, which route, and the detector against its definition."""

import numpy as np
import pytest
from skimage import data, transform, util

from tvrestore.bench.degradations import impulse_noise
from tvrestore.tuning.impulses import (
    RANDOM_VALUED, SALT_AND_PEPPER, centre_weighted_median_outliers, detect_impulses,
    extreme_pixels, impulse_weight, pilot_misfit, range_extremes, smooth_fill,
)


def _camera(size=96):
    image = util.img_as_float64(data.camera())
    return np.clip(transform.resize(image, (size, size), anti_aliasing=True), 0, 1)


def _precision_recall(found, truth):
    hits = (found & truth).sum()
    return hits / max(found.sum(), 1), hits / max(truth.sum(), 1)


@pytest.mark.parametrize("fraction", [0.3, 0.5, 0.7])
def test_salt_and_pepper_is_found_whole_and_takes_its_route(fraction):
    noisy, hit = impulse_noise(_camera(), "salt-and-pepper", fraction, seed=3)
    found = detect_impulses(noisy[..., None])
    precision, recall = _precision_recall(found.missing[..., 0], hit)
    assert found.route == SALT_AND_PEPPER
    # Clusters of one extreme are impulses too, not a saturated area.
    assert precision == 1.0 and recall == 1.0
    assert found.fraction == pytest.approx(hit.mean(), abs=1e-3)


@pytest.mark.parametrize("fraction, least_recall", [(0.2, 0.75), (0.4, 0.6)])
def test_random_valued_impulses_are_found_with_few_false_alarms(fraction, least_recall):
    # Measured at 96x96: precision 0.96 / 0.97, recall 0.80 / 0.70; the
    # undetected ones are those close to their neighbours' values.
    noisy, hit = impulse_noise(_camera(), "random-valued", fraction, seed=4)
    found = detect_impulses(noisy[..., None])
    precision, recall = _precision_recall(found.missing[..., 0], hit)
    assert found.route == RANDOM_VALUED
    assert precision >= 0.93 and recall >= least_recall
    assert found.fraction == pytest.approx(found.missing.mean())


def test_a_saturated_area_keeps_its_own_pixels():
    image = _camera(64)
    image[10:30, 10:40] = 1.0  # a blown-out highlight
    noisy, hit = impulse_noise(image, "salt-and-pepper", 0.1, seed=5)
    flagged = extreme_pixels(noisy[..., None], (0.0, 1.0))[..., 0]
    inside = (slice(11, 29), slice(11, 39))
    # Every pepper pixel in it is found; white pixels whose 5x5 window is
    # white throughout are kept (without the rule, all 504 would be missing).
    assert flagged[inside][noisy[inside] == 0].all()
    white = noisy[inside] == 1
    kept = white & ~flagged[inside]
    assert kept.sum() >= 0.25 * white.sum()
    window = np.lib.stride_tricks.sliding_window_view(np.pad(noisy, 2, mode="edge"), (5, 5))
    np.testing.assert_array_equal(kept, (window[inside] == 1).all(axis=(-2, -1)))
    # Outside the highlight, the rule changes nothing.
    outside = np.ones(hit.shape, bool)
    outside[9:31, 9:41] = False
    np.testing.assert_array_equal(flagged[outside], hit[outside])


def test_the_user_mask_stays_missing_and_is_not_counted():
    noisy, hit = impulse_noise(_camera(), "salt-and-pepper", 0.3, seed=6)
    user = np.zeros(hit.shape, bool)
    user[:20] = True
    found = detect_impulses(noisy[..., None], missing=user)
    assert found.missing[:20].all() and found.missing.shape == (96, 96, 1)
    assert found.fraction == pytest.approx((hit & ~user).mean(), abs=1e-3)


def test_extremes_are_the_dtypes_for_integers_and_the_datas_for_floats():
    unit = np.array([[0.2, 0.7], [0.4, 0.5]])
    assert range_extremes(unit, np.uint8) == (0.0, 1.0)
    assert range_extremes(unit, np.uint16) == (0.0, 1.0)
    assert range_extremes(unit, np.float32) == (0.2, 0.7)
    assert range_extremes(unit) == (0.2, 0.7)


def test_centre_weighted_median_detector_matches_its_definition():
    # Chen & Wu's test written out: medians of the 3x3 window with the
    # centre repeated 2k + 1 times, against s * MAD + delta_k.
    rng = np.random.default_rng(7)
    image = rng.random((12, 15, 2)).astype(np.float32)
    padded = np.pad(image, ((1, 1), (1, 1), (0, 0)), mode="reflect")
    windows = np.stack([padded[dy:dy + 12, dx:dx + 15] for dy in range(3) for dx in range(3)])
    median = np.median(windows, axis=0)
    mad = np.median(np.abs(windows - median), axis=0)
    expected = np.zeros(image.shape, bool)
    for k, delta in enumerate(np.array([40, 25, 10, 5]) / 255):
        weighted = np.median(np.concatenate([windows, np.repeat(image[None], 2 * k, 0)]), axis=0)
        expected |= np.abs(weighted - image) > 0.6 * mad + delta
    np.testing.assert_array_equal(centre_weighted_median_outliers(image), expected)


def test_colour_impulses_are_found_channel_by_channel():
    clean = np.clip(transform.resize(util.img_as_float64(data.astronaut())[100:356, 100:356],
                                     (96, 96), anti_aliasing=True), 0, 1)
    noisy, hit = impulse_noise(clean, "salt-and-pepper", 0.3, seed=9)
    found = detect_impulses(noisy)
    precision, recall = _precision_recall(found.missing, hit)
    # A pixel with one channel hit keeps its other two as data.
    assert found.missing.shape == clean.shape and precision >= 0.99 and recall >= 0.999
    assert found.fraction == pytest.approx(0.3, abs=0.02)


def test_the_weight_follows_the_route():
    noisy, _ = impulse_noise(_camera(), "salt-and-pepper", 0.5, seed=8)
    salt = detect_impulses(noisy[..., None])
    light, _ = impulse_noise(_camera(), "random-valued", 0.1, seed=8)
    heavy, _ = impulse_noise(_camera(), "random-valued", 0.4, seed=8)
    few, many = (detect_impulses(image[..., None]) for image in (light, heavy))
    # Clean pixels left: fitted exactly, below one pixel's TV-L1 threshold.
    assert impulse_weight(salt) < 1 / (2 + np.sqrt(2))
    # More undetected impulses need a larger weight; anisotropic TV a smaller one.
    assert impulse_weight(few) < impulse_weight(many)
    assert impulse_weight(many, "anisotropic") < impulse_weight(many)
    # Vectorial colour charges one channel's impulse less than grey TV does.
    colour = detect_impulses(np.repeat(heavy[..., None], 3, axis=2))
    assert impulse_weight(colour, color="vectorial") > impulse_weight(colour, color="channelwise")
    assert impulse_weight(colour, color="channelwise") == pytest.approx(impulse_weight(many))


def test_the_random_valued_weight_falls_with_the_pilots_misfit():
    heavy, _ = impulse_noise(_camera(), "random-valued", 0.3, seed=8)
    found = detect_impulses(heavy[..., None])
    smooth, textured = (impulse_weight(found, misfit=q) for q in (0.02, 0.4))
    # Many kept values off the pilot: texture, which a smaller weight keeps.
    assert smooth > textured
    assert smooth / textured == pytest.approx(20 ** 0.15)
    # A flat scene (nothing moved) is floored, not an infinite weight.
    assert impulse_weight(found, misfit=0.0) == impulse_weight(found, misfit=1e-3) < 2
    # Salt and pepper leaves clean data: the misfit changes nothing.
    salt = detect_impulses(impulse_noise(_camera(), "salt-and-pepper", 0.5, seed=8)[0][..., None])
    assert impulse_weight(salt, misfit=0.4) == impulse_weight(salt)


def test_vectorial_colour_scales_both_random_valued_rules_and_leaves_salt_and_pepper_alone():
    heavy, _ = impulse_noise(_camera(), "random-valued", 0.3, seed=8)
    colour = detect_impulses(np.repeat(heavy[..., None], 3, axis=2))
    # The factors fitted on colour crops (docs/noise.md): 1.6 for the
    # pilot's weight w0 and for the weight from the pilot's misfit.
    for misfit in (None, 0.1):
        vectorial, grey = (impulse_weight(colour, color=c, misfit=misfit)
                           for c in ("vectorial", "channelwise"))
        assert vectorial / grey == pytest.approx(1.6)
    # Salt and pepper leaves clean values: the same weight in any colour TV.
    salt, _ = impulse_noise(np.repeat(_camera()[..., None], 3, axis=2), "salt-and-pepper", 0.5, seed=8)
    found = detect_impulses(salt)
    assert found.route == "salt-and-pepper"
    assert impulse_weight(found, color="vectorial", misfit=0.1) == impulse_weight(found, color="channelwise")


def test_the_pilot_misfit_counts_kept_values_moved_beyond_one_percent():
    unit = np.full((4, 5, 1), 0.5)
    pilot = unit.copy()
    pilot[0, :2] += 0.02     # two kept values moved
    pilot[1, 0] += 0.005     # within 0.01: fitted
    pilot[2, :] += 0.5       # missing: not data
    missing = np.zeros(unit.shape, bool)
    missing[2, :] = True
    assert pilot_misfit(unit, pilot, missing) == pytest.approx(2 / 15)
    assert pilot_misfit(unit, pilot, np.ones(unit.shape, bool)) == 0.0


def test_smooth_fill_is_jacobis_sweep_on_the_missing_values_only():
    rng = np.random.default_rng(9)
    unknown = rng.random((12, 10, 2)).astype(np.float32)
    missing = rng.random((12, 10, 2)) < 0.4
    before = unknown.copy()
    once = smooth_fill(unknown, missing, sweeps=1, share=1.0)
    np.testing.assert_array_equal(unknown, before)  # the input is not modified
    np.testing.assert_array_equal(once[~missing], unknown[~missing])
    padded = np.pad(unknown, ((1, 1), (1, 1), (0, 0)), mode="edge")
    mean = (padded[:-2, 1:-1] + padded[2:, 1:-1] + padded[1:-1, :-2] + padded[1:-1, 2:]) / 4
    np.testing.assert_allclose(once[missing], mean[missing], rtol=1e-6)
    # A mask per pixel (H, W) relaxes every channel.
    flat = smooth_fill(unknown, missing[..., 0], sweeps=1, share=1.0)
    np.testing.assert_allclose(flat[..., 1][missing[..., 0]], mean[..., 1][missing[..., 0]], rtol=1e-6)
    # By default the fill moves halfway.
    half = smooth_fill(unknown, missing, sweeps=1)
    np.testing.assert_allclose(half[missing], (unknown + mean)[missing] / 2, rtol=1e-6)


def test_smooth_fill_takes_a_staircase_toward_the_slope():
    # TV fills the holes of a ramp with steps; the harmonic fill is the ramp.
    ramp = np.tile(np.linspace(0, 1, 32, dtype=np.float32), (32, 1))[..., None]
    rows, columns = np.indices(ramp.shape[:2])
    checkerboard = ((rows + columns) % 2 == 1)[..., None]  # every hole between four data
    staircase = np.where(checkerboard, np.roll(ramp, 1, axis=1), ramp)
    relaxed = smooth_fill(staircase, checkerboard, share=1.0)
    assert np.abs(staircase - ramp)[:, 1:-1].max() > 0.03
    np.testing.assert_allclose(relaxed[1:-1, 1:-1], ramp[1:-1, 1:-1], atol=1e-6)
    # Holes next to holes move part of the way: half the error per sweep here.
    stripes = np.zeros(ramp.shape, bool)
    stripes[:, 1::2] = True
    staircase = np.where(stripes, np.roll(ramp, 1, axis=1), ramp)
    error = np.abs(smooth_fill(staircase, stripes, share=1.0) - ramp)[:, 1:-1].max()
    assert error == pytest.approx(np.abs(staircase - ramp)[:, 1:-1].max() / 4, rel=1e-3)
    # Halfway: the mean of the staircase's error and the sweeps'.
    error = np.abs(smooth_fill(staircase, stripes) - ramp)[:, 1:-1].max()
    assert error == pytest.approx(np.abs(staircase - ramp)[:, 1:-1].max() * 5 / 8, rel=1e-3)
