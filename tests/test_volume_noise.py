"""Photon counts and impulses in volumes and time-lapses (docs/noise.md, docs/volumes.md).

A z step far larger than the pixel uncouples the planes (TV divides each
difference by its step), so a volume must then give what its planes give
as 2-D images, whose Poisson and L1 solves are checked against float64
oracles in tests/test_noise_models.py and tests/test_impulses.py.
"""

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner

import reference
from cli_helpers import load_report
from tvrestore import TVRestoreError, denoise, restore
from tvrestore.cli.app import main

# Relative z step: a z difference costs 1e-6 of an in-plane one.
UNCOUPLED = (1e6, 1.0, 1.0)


def counts_volume(shape=(4, 24, 26), peak=20.0, seed=0):
    clean = peak * (0.1 + 0.9 * reference.smooth_blobs(shape, seed=seed))
    return clean, np.random.default_rng(seed + 1).poisson(clean).astype(np.uint16)


def salt_and_pepper_volume(shape=(4, 24, 26), fraction=0.3, seed=0):
    clean = reference.smooth_blobs(shape, seed=seed)
    noisy = np.round(clean * 255).astype(np.uint8)
    rng = np.random.default_rng(seed + 1)
    hit = rng.random(shape) < fraction
    noisy[hit] = np.where(rng.random(int(hit.sum())) < 0.5, 0, 255)
    return clean, noisy


@pytest.mark.parametrize("route, weight", [("kl", 0.05), ("anscombe", 1.0)])
def test_uncoupled_planes_of_counts_give_each_plane_s_2d_poisson_solution(route, weight):
    _, counts = counts_volume()
    restored, result = denoise(counts, weight, axes="ZYX", spacing=UNCOUPLED, noise="poisson",
                               poisson_route=route, solver="pdhg", gap=1e-6)
    assert restored.dtype == np.uint16 and restored.shape == counts.shape
    assert result.noise == "poisson" and result.poisson_route == route
    for plane, solved in zip(counts, restored):
        alone, _ = denoise(plane, weight, noise="poisson", poisson_route=route, solver="pdhg",
                           gap=1e-6)
        # Counts rounded back to uint16: at most one count apart.
        assert np.abs(solved.astype(int) - alone.astype(int)).max() <= 1


def test_counts_in_3d_are_solved_in_counts_and_the_auto_weight_beats_the_noise():
    clean, counts = counts_volume(shape=(8, 32, 32))
    floats = counts.astype(np.float32)
    restored, result = denoise(floats, "auto", axes="ZYX", spacing=(2.0, 1.0, 1.0),
                               noise="poisson")
    assert restored.dtype == np.float32 and result.weight_auto and result.poisson_route == "anscombe"
    # In counts: the restored mean is the data's, and the error falls.
    assert abs(restored.mean() - floats.mean()) < 0.02 * floats.mean()
    assert np.mean((restored - clean) ** 2) < 0.5 * np.mean((floats - clean) ** 2)


def test_sum_and_mean_give_one_poisson_volume():
    _, counts = counts_volume()
    by_mean, _ = denoise(counts.astype(np.float32), 0.05, axes="ZYX", spacing=(3, 1, 1),
                         noise="poisson", poisson_route="kl", reduction="mean")
    by_sum, _ = denoise(counts.astype(np.float32), 0.05, axes="ZYX", spacing=(3, 1, 1),
                        noise="poisson", poisson_route="kl", reduction="sum")
    np.testing.assert_array_equal(by_mean, by_sum)


def test_poisson_deblurring_of_a_volume_keeps_the_counts_certified():
    _, counts = counts_volume(shape=(10, 20, 20))
    restored, result = restore(counts.astype(np.float32), psf="gaussian:0.8,0.7,0.7", weight=0.05,
                               axes="ZYX", noise="poisson", solver="pdhg", gap=1e-4)
    assert result.poisson_route == "kl" and result.certified_gap <= 1e-4
    assert restored.shape == counts.shape and restored.min() >= 0


def test_uncoupled_planes_with_impulses_give_each_plane_s_2d_restoration():
    _, noisy = salt_and_pepper_volume()
    restored, result = denoise(noisy, 0.03, axes="ZYX", spacing=UNCOUPLED, noise="impulse",
                               solver="pdhg", gap=1e-6)
    assert result.impulse_route == "salt-and-pepper"
    assert result.impulse_fraction == pytest.approx(np.mean((noisy == 0) | (noisy == 255)), abs=0.02)
    for plane, solved in zip(noisy, restored):
        alone, _ = denoise(plane, 0.03, noise="impulse", solver="pdhg", gap=1e-6)
        assert np.abs(solved.astype(int) - alone.astype(int)).max() <= 1


def test_salt_and_pepper_in_3d_with_the_auto_weight_restores_the_volume():
    clean, noisy = salt_and_pepper_volume(shape=(6, 32, 32), fraction=0.4)
    restored, result = denoise(noisy, "auto", axes="ZYX", noise="impulse")
    assert restored.dtype == np.uint8 and result.weight == pytest.approx(0.03)
    error = np.abs(restored / 255.0 - clean).mean()
    assert error < 0.1 * np.abs(noisy / 255.0 - clean).mean()


def test_a_time_lapse_with_impulses_is_restored_frame_by_frame():
    _, noisy = salt_and_pepper_volume(shape=(3, 20, 22))
    restored, result = denoise(noisy, 0.03, axes="TYX", noise="impulse")
    assert result.axes == "TYX"
    for frame, solved in zip(noisy, restored):
        np.testing.assert_array_equal(solved, denoise(frame, 0.03, noise="impulse")[0])


def test_a_uint16_stack_of_counts_through_the_cli_is_written_as_counts(tmp_path):
    clean, counts = counts_volume(shape=(6, 24, 24))
    source, reference = tmp_path / "counts.tif", tmp_path / "clean.tif"
    tifffile.imwrite(source, counts, imagej=True, metadata={"spacing": 2.0, "axes": "ZYX"})
    tifffile.imwrite(reference, np.round(clean).astype(np.uint16), imagej=True,
                     metadata={"spacing": 2.0, "axes": "ZYX"})
    before = source.read_bytes()
    out, report = tmp_path / "out.tif", tmp_path / "report.json"
    result = CliRunner().invoke(main, [str(source), "-o", str(out), "--noise", "poisson",
                                       "--weight", "0.05", "--poisson-route", "kl",
                                       "--reference", str(reference), "--report", str(report)])
    assert result.exit_code == 0, result.output
    written = tifffile.imread(out)
    assert written.dtype == np.uint16 and written.shape == counts.shape
    assert abs(float(written.mean()) - float(counts.mean())) < 0.05 * counts.mean()
    assert source.read_bytes() == before
    # Scored in counts, the reference's largest count as the range.
    truth = np.round(clean)
    expected = 10 * np.log10(1 / np.mean(((written - truth) / truth.max()) ** 2))
    entry = load_report(report)
    assert entry["psnr"] == pytest.approx(expected, abs=1e-3)
    refused = CliRunner().invoke(main, [str(source), "-o", str(tmp_path / "o2.tif"), "--noise",
                                        "poisson", "--compare"])
    assert refused.exit_code == 2 and "Gaussian denoisers" in refused.output


def test_gain_auto_reads_the_planes_of_a_volume():
    clean, counts = counts_volume(shape=(8, 48, 48), peak=40.0)
    pixels = (3.0 * counts + 100.0).astype(np.float32)
    _, result = denoise(pixels, 0.05, axes="ZYX", noise="poisson", gain="auto", offset="auto",
                        poisson_route="kl")
    assert result.gain == pytest.approx(3.0, rel=0.15)
    with pytest.raises(TVRestoreError, match="gain"):
        denoise(pixels, 0.05, axes="ZYX", noise="poisson", gain=0.0)
