"""--compare and --reference on volumes: scikit-image's chambolle in 3-D and plane by plane, N-D scores."""

import numpy as np
import pytest
from skimage.metrics import structural_similarity
from skimage.restoration import denoise_tv_chambolle

import reference
from tvrestore import denoise
from tvrestore.evaluation.compare import compare_volume
from tvrestore.evaluation.metrics import volume_quality

WEIGHT = 0.06


def volume(shape=(8, 24, 24), seed=5):
    clean = reference.smooth_blobs(shape, seed=seed)
    return clean, clean + 0.08 * np.random.default_rng(seed).standard_normal(shape)


def test_volume_psnr_and_ssim_are_n_dimensional():
    clean, noisy = volume()
    psnr, ssim = volume_quality(clean, noisy)
    clean32, noisy32 = (array.astype(np.float32).astype(np.float64) for array in (clean, noisy))
    assert psnr == pytest.approx(10 * np.log10(1 / np.mean((clean32 - noisy32) ** 2)), abs=1e-9)
    assert ssim == pytest.approx(structural_similarity(clean32, noisy32, data_range=1.0,
                                                       win_size=7), abs=1e-12)
    # Not the mean of the planes' 2-D SSIMs: the window spans Z too.
    planes = np.mean([structural_similarity(c, n, data_range=1.0, win_size=7)
                      for c, n in zip(clean32, noisy32)])
    assert abs(ssim - planes) > 1e-3
    # A thin axis narrows the window; colour is the mean of its channels' SSIMs.
    _, thin = volume_quality(clean[:5], noisy[:5])
    assert thin == pytest.approx(structural_similarity(clean32[:5], noisy32[:5], data_range=1.0,
                                                       win_size=5), abs=1e-12)
    colour = np.stack([clean] * 3, axis=-1), np.stack([noisy] * 3, axis=-1)
    assert volume_quality(*colour, channel_axis=-1)[1] == pytest.approx(ssim, abs=1e-6)


def test_compare_volume_runs_chambolle_in_3d_and_plane_by_plane_at_the_same_weight():
    clean, noisy = volume()
    restored, result = denoise(noisy, WEIGHT, axes="ZYX", spacing=(4, 1, 1), solver="pdhg",
                               gap=1e-6)
    solutions = {}
    rows = compare_volume(noisy, restored, result, clean, as_written=lambda unit: unit,
                          solutions=solutions)
    assert [row.method for row in rows] == [
        "tvrestore (pdhg)", "skimage chambolle 3-D", "skimage chambolle slice by slice"]
    assert all(row.weight == WEIGHT for row in rows)
    planes = np.stack([denoise_tv_chambolle(plane, weight=WEIGHT) for plane in noisy])
    np.testing.assert_allclose(solutions["skimage chambolle slice by slice"], planes,
                               rtol=0, atol=1e-12)
    np.testing.assert_allclose(solutions["skimage chambolle 3-D"],
                               denoise_tv_chambolle(noisy, weight=WEIGHT), rtol=0, atol=1e-12)
    for row, solution in zip(rows[1:], (solutions["skimage chambolle 3-D"], planes)):
        expected = 10 * np.log10(1 / np.mean((solution.astype(np.float32) - clean.astype(
            np.float32)).astype(np.float64) ** 2))
        assert row.psnr == pytest.approx(expected, abs=1e-4)
        # tvrestore minimizes E with the spacing: no other volume has a lower E.
        assert row.objective > rows[0].objective * (1 + 1e-6)


def test_a_time_lapse_of_frames_is_compared_plane_by_plane_only():
    clean, noisy = volume((3, 16, 16))
    restored, result = denoise(noisy, WEIGHT, axes="TYX", max_iter=50)
    solutions = {}
    rows = compare_volume(noisy, restored, result, clean, as_written=lambda unit: unit,
                          solutions=solutions)
    assert [row.method for row in rows] == ["tvrestore (adam)", "skimage chambolle slice by slice"]
    np.testing.assert_allclose(solutions["skimage chambolle slice by slice"],
                               np.stack([denoise_tv_chambolle(frame, weight=WEIGHT)
                                         for frame in noisy]), rtol=0, atol=1e-12)
