"""--noise gaussian|poisson|impulse: options, counts in and out, both solvers, every path (issue 20)."""

import json
import warnings

import imageio.v3 as iio
import numpy as np
import pytest

import reference
from hostile_helpers import LimitedRunner, check_run, png
from tvrestore import TVRestoreError, TVRestoreWarning, denoise, denoise_batch, restore
from tvrestore.options import RestoreOptions
from tvrestore.tuning.counts import anscombe, estimate_gain_offset, inverse_anscombe


def _counts(peak, size=24, seed=3):
    """Poisson counts of a smooth scene with edges (camera, downsized), as float32 whole numbers."""
    clean = reference.noisy_image("camera", size=size, sigma=0.0)
    rng = np.random.default_rng(seed)
    return rng.poisson(peak * np.clip(clean, 0, 1)).astype(np.float32), clean


# --- options: one rule, before any solve -----------------------------------------------

@pytest.mark.parametrize("options, words", [
    ({"noise": "laplace"}, "noise must be one of"),
    ({"noise": "poisson", "gain": 0}, "gain must be"),
    ({"noise": "poisson", "gain": -2.0}, "gain must be"),
    ({"noise": "poisson", "gain": float("nan")}, "gain must be"),
    ({"noise": "poisson", "gain": True}, "gain must be"),
    ({"noise": "poisson", "offset": float("inf")}, "offset must be"),
    ({"noise": "poisson", "offset": "zero"}, "offset must be"),
    ({"gain": 2.0}, "give them with noise 'poisson'"),
    ({"noise": "impulse", "offset": "auto"}, "give them with noise 'poisson'"),
])
def test_bad_noise_options_are_one_error_in_the_options_and_the_api(options, words):
    with pytest.raises(TVRestoreError, match=words):
        RestoreOptions(**options)
    with pytest.raises(TVRestoreError, match=words):
        denoise(np.ones((8, 8), np.float32), 0.1, **options)


USAGE_ERRORS = [
    (["--noise", "laplace"], "--noise"),
    (["--noise", "poisson", "--gain", "0"], "gain must be"),
    (["--noise", "poisson", "--gain", "nan"], "gain must be"),
    (["--noise", "poisson", "--gain", "-1"], "gain must be"),
    (["--noise", "poisson", "--offset", "inf"], "offset must be"),
    (["--noise", "poisson", "--offset", "dark"], "--offset"),
    (["--gain", "2"], "noise 'poisson'"),
]


@pytest.mark.parametrize("path", ["single", "batch", "tiled"])
@pytest.mark.parametrize("args, words", USAGE_ERRORS, ids=[" ".join(a) for a, _ in USAGE_ERRORS])
def test_bad_noise_options_are_usage_errors_before_tensorflow_on_every_path(
        tmp_path, path, args, words):
    # LimitedRunner's address-space limit is below what TensorFlow maps:
    # the error must come before it loads.
    png(tmp_path, "in/a.png")
    target = {"single": ["in/a.png", "-o", "out.png"], "batch": ["in", "-o", "out"],
              "tiled": ["in/a.png", "-o", "out.png", "--tile", "16"]}[path]
    check_run(LimitedRunner(), tmp_path, [*target, *args], 2, [words])


# --- counts in, counts out ---------------------------------------------------------------

@pytest.mark.parametrize("dtype", [np.uint8, np.uint16, np.float32, np.float64])
def test_poisson_takes_pixels_as_counts_and_returns_the_input_dtype_in_counts(dtype):
    counts, _ = _counts(30)
    restored, result = denoise(counts.astype(dtype), 0.3, noise="poisson")
    assert restored.dtype == dtype
    assert (result.noise, result.gain, result.offset) == ("poisson", 1.0, 0.0)
    # In counts, not in [0, 1]: the mean count stays where it was (KL's
    # minimizer keeps it to within the smoothing's bias).
    assert restored.astype(np.float64).mean() == pytest.approx(counts.mean(), rel=0.05)
    if dtype in (np.float32, np.float64):
        assert not np.array_equal(restored, np.round(restored))  # not rounded
    else:
        assert np.array_equal(restored, np.round(restored))


def test_gain_and_offset_map_pixels_to_the_same_counts_and_back():
    counts, _ = _counts(30)
    plain, first = denoise(counts, 0.3, noise="poisson")
    pixels = (2.5 * counts + 100).astype(np.float32)
    calibrated, second = denoise(pixels, 0.3, noise="poisson", gain=2.5, offset=100)
    np.testing.assert_allclose(calibrated, 2.5 * plain + 100, rtol=1e-5, atol=1e-3)
    # E is reported in counts, whatever the pixels' units.
    assert second.objective == pytest.approx(first.objective, rel=1e-5)


def test_gaussian_is_todays_behaviour_bit_for_bit():
    noisy = reference.noisy_image("camera", size=24).astype(np.float32)
    old, old_result = denoise(noisy, 0.1)
    new, new_result = denoise(noisy, 0.1, noise="gaussian")
    assert np.array_equal(old, new)
    assert (new_result.noise, new_result.gain, new_result.offset) == ("gaussian", None, None)
    assert new_result.objective == old_result.objective


def test_counts_that_are_not_counts_are_warned_about_and_taken_as_zero():
    counts, _ = _counts(30)
    shifted = counts - 3  # a wrong offset: many negative counts
    with pytest.warns(TVRestoreWarning, match="below the offset"):
        restored, result = denoise(shifted, 0.3, noise="poisson")
    assert result.counts_clipped == pytest.approx(np.mean(shifted < 0))
    assert restored.min() >= 0
    with pytest.warns(TVRestoreWarning, match="not whole numbers"):
        denoise(counts + 0.25, 0.3, noise="poisson")
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        denoise(counts, 0.3, noise="poisson")  # whole counts: no warning
    with pytest.raises(TVRestoreError, match="bool"):
        denoise(counts > 10, 0.3, noise="poisson")


def test_the_input_is_not_modified():
    counts, _ = _counts(30, size=64)
    before = counts.copy()
    denoise(counts, 0.3, noise="poisson", gain="auto")
    assert np.array_equal(counts, before)


# --- the KL solve: exact, both solvers, both reductions ----------------------------------

@pytest.mark.parametrize("peak, weight", [(5, 0.5), (30, 0.2)])
def test_pdhg_certificate_bounds_the_true_gap_against_the_float64_oracle(peak, weight):
    counts, _ = _counts(peak)
    optimum, oracle_gap = reference.solve_kl_exact(counts, weight, gap=1e-9)
    # E* lies in [best / (1 + oracle_gap), best]: the true gap is at most
    # the one measured against the lower end.
    lowest = reference.kl_objective(optimum, counts, weight) / (1 + oracle_gap)
    restored, result = denoise(counts, weight, noise="poisson", solver="pdhg", gap=1e-4)
    assert result.converged and result.certified_gap <= 1e-4
    true_gap = (reference.kl_objective(restored, counts, weight) - lowest) / lowest
    assert true_gap <= result.certified_gap
    assert result.objective == pytest.approx(reference.kl_objective(restored, counts, weight),
                                             rel=1e-5)


def test_adam_lands_on_the_kl_minimizer_and_stays_positive_at_zero_counts():
    counts, _ = _counts(5)
    assert (counts == 0).mean() > 0.1  # many zero counts
    optimum, _ = reference.solve_kl_exact(counts, 0.5, gap=1e-9)
    best = reference.kl_objective(optimum, counts, 0.5)
    restored, result = denoise(counts, 0.5, noise="poisson", solver="adam")
    assert result.converged and np.isfinite(result.objective)
    assert restored.min() >= 0
    assert (reference.kl_objective(restored, counts, 0.5) - best) / best <= 2e-3
    assert np.max(np.abs(restored - optimum)) <= 0.05 * counts.max()


def test_sum_and_mean_reductions_give_the_same_kl_result():
    counts, _ = _counts(30)
    by_sum, summed = denoise(counts, 0.2, noise="poisson", reduction="sum")
    by_mean, averaged = denoise(counts, 0.2, noise="poisson", reduction="mean")
    # Adam stops on a plateau (tol) under either reduction, a little apart:
    # within 0.25% of the largest count (L2's test: 1e-3 on [0, 1] data).
    assert np.max(np.abs(by_sum - by_mean)) <= 2.5e-3 * counts.max()
    # Their objectives agree within Adam's tolerance (3e-4 per window).
    assert summed.objective == pytest.approx(averaged.objective, rel=1e-4)
    assert summed.loss == pytest.approx(counts.size * averaged.loss, rel=1e-4)


def test_an_image_gives_the_same_kl_result_alone_and_in_a_batch():
    small, _ = _counts(30, size=24, seed=1)
    large, _ = _counts(30, size=32, seed=2)
    alone, _ = denoise(small, 0.2, noise="poisson")
    [(batched, _), _] = denoise_batch([small, large], 0.2, noise="poisson")
    np.testing.assert_allclose(batched, alone, atol=1e-4 * small.max())


def test_deblurring_counts_works_in_counts_with_both_solvers():
    counts, _ = _counts(30, size=32)
    for solver in ("adam", "pdhg"):
        restored, result = restore(counts, psf="gaussian:1.0", weight=0.1, noise="poisson",
                                   solver=solver, gap=1e-3)
        assert result.converged and result.noise == "poisson"
        assert restored.dtype == np.float32 and restored.min() >= 0
        assert restored.mean() == pytest.approx(counts.mean(), rel=0.1)


# --- the calibration and the transform ---------------------------------------------------

def test_gain_and_offset_are_estimated_from_the_mean_variance_line():
    rng = np.random.default_rng(5)
    ramp = np.tile(np.linspace(2, 60, 256), (256, 1))
    gain, offset, read_noise = 3.0, 100.0, 2.0
    pixels = gain * rng.poisson(ramp) + offset + read_noise * rng.standard_normal(ramp.shape)
    estimated_gain, effective_offset = estimate_gain_offset(pixels)
    assert estimated_gain == pytest.approx(gain, rel=0.05)
    # The read noise is folded into the counts: offset - sigma_r^2 / gain.
    assert effective_offset == pytest.approx(offset - read_noise**2 / gain, abs=1.5)
    given_offset = estimate_gain_offset(pixels, "auto", offset)
    assert given_offset[0] == pytest.approx(gain, rel=0.05) and given_offset[1] == offset
    with pytest.raises(TVRestoreError, match="cannot estimate the gain"):
        estimate_gain_offset(np.full((64, 64), 7.0) + rng.standard_normal((64, 64)) * 0.0)


def test_the_inverse_anscombe_is_unbiased():
    # E[2 sqrt(y + 3/8)] for y ~ Poisson(lambda), summed exactly, maps back to lambda.
    from scipy.stats import poisson

    k = np.arange(400)
    for lam in (0.2, 1.0, 5.0, 40.0):
        expected = float(np.sum(anscombe(k) * poisson.pmf(k, lam)))
        assert inverse_anscombe(np.array([expected]))[0] == pytest.approx(lam, rel=0.01, abs=0.01)


# --- every path of the command line ------------------------------------------------------

def _tif(root, name, pixels):
    path = root / name
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, pixels)
    return path


def test_cli_batch_and_tiles_restore_counts_in_the_input_dtype(tmp_path, runner):
    from tvrestore.cli.app import main

    counts, _ = _counts(30, size=32)
    _tif(tmp_path, "in/a.tif", counts.astype(np.uint16))
    _tif(tmp_path, "in/b.tif", (2 * counts + 10).astype(np.float32))
    result = runner.invoke(main, [str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                                  "--noise", "poisson", "--weight", "0.2",
                                  "--report", str(tmp_path / "run.json")])
    assert result.exit_code == 0, result.stderr
    assert iio.imread(tmp_path / "out/a.tif").dtype == np.uint16
    assert iio.imread(tmp_path / "out/b.tif").dtype == np.float32
    entries = json.loads((tmp_path / "run.json").read_text())["results"]
    assert {entry["noise"] for entry in entries} == {"poisson"}

    tiled = runner.invoke(main, [str(tmp_path / "in/b.tif"), "-o", str(tmp_path / "tiled.tif"),
                                 "--noise", "poisson", "--gain", "2", "--offset", "10",
                                 "--weight", "0.2", "--tile", "16", "--solver", "adam",
                                 "--report", str(tmp_path / "tiled.json")])
    assert tiled.exit_code == 0, tiled.stderr
    whole, _ = denoise((2 * counts + 10).astype(np.float32), 0.2, noise="poisson", gain=2,
                       offset=10)
    out = iio.imread(tmp_path / "tiled.tif")
    assert out.dtype == np.float32
    # Tiles approximate the whole solve (halo 16 of 16-pixel tiles: close).
    assert np.median(np.abs(out - whole)) <= 0.05 * whole.max()
    [entry] = json.loads((tmp_path / "tiled.json").read_text())["results"]
    assert (entry["noise"], entry["gain"], entry["offset"]) == ("poisson", 2.0, 10.0)


def test_compare_under_poisson_scores_in_counts_against_the_counts_baselines(tmp_path, runner):
    from tvrestore.cli.app import main

    counts, clean = _counts(30, size=32)
    _tif(tmp_path, "a.tif", (2 * counts + 10).astype(np.float32))
    _tif(tmp_path, "clean.tif", (2 * 30 * clean + 10).astype(np.float32))
    result = runner.invoke(main, [str(tmp_path / "a.tif"), "-o", str(tmp_path / "out.tif"),
                                  "--noise", "poisson", "--gain", "2", "--offset", "10",
                                  "--weight", "0.2", "--psf", "gaussian:1.0",
                                  "--reference", str(tmp_path / "clean.tif"), "--compare",
                                  "--report", str(tmp_path / "run.json")])
    assert result.exit_code == 0, result.stderr
    [entry] = json.loads((tmp_path / "run.json").read_text())["results"]
    methods = [row["method"] for row in entry["compare"]]
    assert methods[0] == "tvrestore (adam, poisson)"
    assert "Anscombe + skimage chambolle" in methods
    assert any(method.startswith("skimage richardson_lucy") for method in methods)
    # PSNR in counts, the reference's largest count as the range: the same
    # number whatever the gain and offset.
    restored = (iio.imread(tmp_path / "out.tif").astype(np.float64) - 10) / 2
    peak = 30 * clean.max()
    expected = 10 * np.log10(peak**2 / np.mean((restored - 30 * clean) ** 2))
    assert entry["psnr"] == pytest.approx(expected, abs=0.05)
    assert entry["compare"][0]["psnr"] == pytest.approx(entry["psnr"], abs=1e-6)
