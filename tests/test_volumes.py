"""Volumes and time-lapses through denoise / restore: the exact 3-D minimizer, axes, spacing."""

import numpy as np
import pytest

import reference
from tvrestore import TVRestoreError, denoise, restore
from tvrestore.models.axes import Axes, default_axes, parse_spacing, relative_spacing


def noisy_volume(shape=(6, 10, 12), sigma=0.08, seed=0):
    clean = reference.smooth_blobs(shape, seed=seed)
    noisy = clean + sigma * np.random.default_rng(seed + 1).standard_normal(shape)
    return clean, noisy.astype(np.float32)


def psnr(clean, image):
    return 10 * np.log10(1 / np.mean((np.float64(clean) - image) ** 2))


@pytest.mark.parametrize("tv", ["anisotropic", "isotropic"])
@pytest.mark.parametrize("solver", ["pdhg", "adam"])
def test_a_volume_lands_on_the_exact_3d_minimizer_with_its_spacing(tv, solver):
    _, noisy = noisy_volume()
    spacing, weight = (5.6, 1.0, 1.0), 0.06
    exact, _ = reference.solve_exact_nd(noisy[..., None], weight, spacing, tv=tv, gap=1e-10)
    restored, result = denoise(noisy, weight, axes="ZYX", spacing=spacing, tv=tv, solver=solver)
    best = reference.objective_nd(exact, noisy[..., None], weight, spacing, tv)
    mine = reference.objective_nd(restored[..., None], noisy[..., None], weight, spacing, tv)
    assert restored.shape == noisy.shape and restored.dtype == noisy.dtype
    assert result.objective == pytest.approx(mine, rel=1e-5)
    assert result.spacing == spacing and result.axes == "ZYX"
    if solver == "pdhg":
        # The certificate holds against the float64 optimum.
        assert (mine - best) / best <= result.certified_gap <= 1e-4
    else:
        assert (mine - best) / best < 1e-3
    assert np.abs(restored - exact[..., 0]).max() < 0.01


def test_the_spacing_is_relative_and_changes_the_minimizer():
    _, noisy = noisy_volume()
    in_microns, _ = denoise(noisy, 0.06, axes="ZYX", spacing=(2.0, 0.357, 0.357), solver="pdhg")
    relative, _ = denoise(noisy, 0.06, axes="ZYX", spacing=(2.0 / 0.357, 1, 1), solver="pdhg")
    cubic, _ = denoise(noisy, 0.06, axes="ZYX", solver="pdhg")
    np.testing.assert_allclose(in_microns, relative, atol=1e-6)
    assert np.abs(in_microns - cubic).max() > 0.01


def test_sum_and_mean_give_one_volume_minimizer():
    _, noisy = noisy_volume()
    by_mean, mean_result = denoise(noisy, 0.06, axes="ZYX", spacing=(3, 1, 1), reduction="mean")
    by_sum, sum_result = denoise(noisy, 0.06, axes="ZYX", spacing=(3, 1, 1), reduction="sum")
    # The loss scale is a power of two for volumes: the same iterates, bit for bit.
    np.testing.assert_array_equal(by_mean, by_sum)
    assert mean_result.objective == pytest.approx(sum_result.objective, rel=1e-5)
    assert mean_result.loss == pytest.approx(mean_result.objective / noisy.size, rel=1e-6)


def test_a_colour_volume_couples_its_channels_and_equals_the_oracle():
    rng = np.random.default_rng(3)
    clean = np.stack([reference.smooth_blobs((5, 8, 9), seed=s) for s in range(3)], axis=-1)
    noisy = (clean + 0.08 * rng.standard_normal(clean.shape)).astype(np.float32)
    restored, result = denoise(noisy, 0.05, axes="ZYXC", spacing=(2, 1, 1), solver="pdhg")
    exact, _ = reference.solve_exact_nd(noisy, 0.05, (2, 1, 1), tv="isotropic", color="vectorial")
    assert restored.shape == noisy.shape
    assert np.abs(restored - exact).max() < 0.01


def test_a_time_lapse_is_restored_frame_by_frame_unless_given_a_step():
    _, frames = noisy_volume((4, 16, 18))
    together, result = denoise(frames, 0.05, axes="TYX")
    for index, frame in enumerate(frames):
        alone, _ = denoise(frame, 0.05)
        np.testing.assert_array_equal(together[index], alone)
    assert result.axes == "TYX" and result.spacing is None
    coupled, coupled_result = denoise(frames, 0.05, axes="TYX", spacing=(2, 1, 1))
    assert coupled_result.spacing == (2.0, 1.0, 1.0)
    assert np.abs(coupled - together).max() > 0.01
    # Two steps for a TYX time-lapse: frames, each with its own (dy, dx).
    _, frame_result = denoise(frames, 0.05, axes="TYX", spacing=(1, 1))
    assert frame_result.spacing == (1.0, 1.0)


def test_auto_weight_on_a_time_lapse_is_one_weight_for_every_frame():
    _, frames = noisy_volume((3, 32, 32))
    restored, result = denoise(frames, "auto", axes="TYX")
    middle, middle_result = denoise(frames[1], "auto")
    assert result.weight_auto and result.weight == middle_result.weight
    np.testing.assert_array_equal(restored[1], middle)


def test_axes_in_any_order_give_the_canonical_result_transposed():
    _, noisy = noisy_volume()
    canonical, _ = denoise(noisy, 0.06, axes="ZYX", spacing=(3, 1, 1), solver="pdhg")
    moved = np.transpose(noisy, (2, 0, 1))  # X, Z, Y
    restored, result = denoise(moved, 0.06, axes="XZY", spacing=(3, 1, 1), solver="pdhg")
    np.testing.assert_array_equal(restored, np.transpose(canonical, (2, 0, 1)))
    assert result.axes == "XZY"


def test_restore_of_a_volume_denoises_it_and_refuses_a_2d_psf_and_upscaling():
    _, noisy = noisy_volume()
    by_restore, _ = restore(noisy, weight=0.06, axes="ZYX", spacing=(3, 1, 1), solver="pdhg")
    by_denoise, _ = denoise(noisy, 0.06, axes="ZYX", spacing=(3, 1, 1), solver="pdhg")
    np.testing.assert_array_equal(by_restore, by_denoise)
    with pytest.raises(TVRestoreError, match=r"volume: the 2-D PSF \(9x9\) does not fit a volume"):
        restore(noisy, psf="gaussian:1", weight=0.06, axes="ZYX")
    with pytest.raises(TVRestoreError, match="upscaling takes 2-D images; axes ZYX"):
        restore(noisy, upscale=2, weight=0.06, axes="ZYX")
    with pytest.raises(TVRestoreError, match="separate frames"):
        restore(noisy, psf="gaussian:1,1,1", axes="TYX")


def blurred_volume(shape=(10, 14, 13), psf="gaussian:1,0.8,0.8", sigma=0.01, seed=3):
    """A scene larger than ``shape`` by the PSF's radius, its 'valid' blur, and the seen window."""
    from scipy import signal

    from tvrestore.models.psf import parse_psf

    kernel = parse_psf(psf)
    radius = [(side - 1) // 2 for side in kernel.shape]
    scene = reference.smooth_blobs(tuple(n + 2 * r for n, r in zip(shape, radius)), seed=seed)
    data = signal.convolve(scene, kernel, "valid")
    data = data + sigma * np.random.default_rng(seed).standard_normal(shape)
    clean = scene[tuple(slice(r, r + n) for r, n in zip(radius, shape))]
    return clean, data.astype(np.float32)


@pytest.mark.parametrize("solver", ["adam", "pdhg"])
def test_a_volume_is_deblurred_and_inpainted_in_3d_in_any_axis_order(solver):
    clean, data = blurred_volume()
    missing = np.random.default_rng(4).random(data.shape) < 0.2
    restored, result = restore(data, psf="gaussian:1,0.8,0.8", mask=missing, weight=0.003,
                               axes="ZYX", spacing=(2, 1, 1), solver=solver)
    assert restored.shape == data.shape and result.converged
    assert result.axes == "ZYX" and result.spacing == (2.0, 1.0, 1.0)
    # Deblurring recovers detail the blurred data lack, holes included.
    assert psnr(clean, restored) > psnr(clean, data) + 3
    moved, moved_result = restore(np.transpose(data, (2, 0, 1)), psf="gaussian:1,0.8,0.8",
                                  mask=np.transpose(missing, (2, 0, 1)), weight=0.003, axes="XZY",
                                  spacing=(2, 1, 1), solver=solver)  # PSF and steps: Z, Y, X
    np.testing.assert_array_equal(moved, np.transpose(restored, (2, 0, 1)))
    assert moved_result.axes == "XZY"


def test_auto_weight_deblurs_a_volume():
    clean, data = blurred_volume(sigma=0.02)
    restored, result = restore(data, psf="gaussian:1,0.8,0.8", axes="ZYX")
    assert result.weight_auto and 0.01 < result.noise_sigma < 0.04
    assert psnr(clean, restored) > psnr(clean, data) + 2


def test_default_axes_follow_the_last_axis():
    assert default_axes((30, 40)).letters == "YX"
    assert default_axes((30, 40, 3)).letters == "YXC"
    assert default_axes((30, 40, 4)).letters == "YXC"
    assert default_axes((30, 40, 25)).letters == "ZYX"
    assert default_axes((9, 30, 40, 3)).letters == "ZYXC"
    assert default_axes((9, 10, 30, 40)).letters == "TZYX"
    assert Axes("XZY").canonical == "ZYX"


@pytest.mark.parametrize("axes, spacing, message", [
    ("ZYX", (0, 1, 1), "positive"),
    ("ZYX", (-2, 1, 1), "positive"),
    ("ZYX", (float("nan"), 1, 1), "positive"),
    ("ZYX", (1, 1), "need 3"),
    ("ZYXC", None, "name 4 axes"),
    ("ZYQ", None, "unknown letter"),
    ("ZZX", None, "twice"),
    ("ZYC", None, "Y and X"),
])
def test_bad_axes_and_spacing_are_one_clear_error(axes, spacing, message):
    _, noisy = noisy_volume()
    before = noisy.copy()
    with pytest.raises(TVRestoreError, match=message):
        denoise(noisy, 0.06, axes=axes, spacing=spacing)
    np.testing.assert_array_equal(noisy, before)


def test_spacing_text_and_relative_steps():
    assert parse_spacing("2, 0.5,0.5") == (2.0, 0.5, 0.5)
    assert relative_spacing((2.0, 0.5, 0.5)) == (4.0, 1.0, 1.0)
    assert relative_spacing((0.3, 0.3)) is None
    with pytest.raises(TVRestoreError, match="not numbers"):
        parse_spacing("2,a,1")


def test_the_noise_of_a_volume_is_estimated_from_its_planes():
    from tvrestore.tuning.noise import estimate_volume_noise_sigma

    clean, noisy = noisy_volume((12, 40, 44), sigma=0.05)
    assert estimate_volume_noise_sigma(noisy[..., None]) == pytest.approx(0.05, rel=0.1)
    assert estimate_volume_noise_sigma(clean[..., None]) < 0.01


def test_auto_weight_in_3d_is_within_0_3_db_of_the_best_weight():
    clean, noisy = noisy_volume((16, 40, 40), sigma=0.08, seed=4)
    spacing = (3.0, 1.0, 1.0)
    scores = {w: psnr(clean, denoise(noisy, w, axes="ZYX", spacing=spacing, solver="pdhg")[0])
              for w in np.geomspace(0.02, 0.16, 7)}
    restored, result = denoise(noisy, "auto", axes="ZYX", spacing=spacing, solver="pdhg")
    assert result.weight_auto and result.noise_sigma == pytest.approx(0.08, rel=0.15)
    assert psnr(clean, restored) >= max(scores.values()) - 0.3
