"""--noise poisson without a blur: the Anscombe route, its auto weight, its inverse, every path (issue 20, target 1)."""

import json

import imageio.v3 as iio
import numpy as np
import pytest
from skimage import data, util
from skimage.restoration import denoise_tv_chambolle

import reference
from hostile_helpers import LimitedRunner, check_run, png
from tvrestore import TVRestoreError, denoise, denoise_batch, restore
from tvrestore.options import RestoreOptions
from tvrestore.tuning.counts import anscombe, anscombe_variance, inverse_anscombe


def _held_out(name, peak, side=64, seed=0):
    """Seeded counts of a grey centre crop of a scikit-image picture that samples/ does not use."""
    image = util.img_as_float64(getattr(data, name)())
    if image.ndim == 3:
        image = image[..., :3] @ np.array([0.2125, 0.7154, 0.0721])
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    clean = peak * image[top:top + side, left:left + side]
    return np.random.default_rng(seed).poisson(clean).astype(np.float32), clean


def _psnr(estimate, clean, peak):
    return 10 * np.log10(peak**2 / np.mean((np.asarray(estimate, np.float64) - clean) ** 2))


def _anscombe_chambolle(counts, weight, **converged):
    return inverse_anscombe(denoise_tv_chambolle(anscombe(counts), weight=weight, **converged))


# --- target 1: the auto weight against Anscombe + chambolle at its best, and our own best --

@pytest.mark.parametrize("name, peak", [("coffee", 5), ("coffee", 30), ("rocket", 100)])
def test_auto_is_within_0_3_db_of_anscombe_chambolle_and_of_its_own_best_weight(name, peak):
    # The KL route's auto weight (the default before) was 1.3, 1.1 and 0.5
    # dB below Anscombe + chambolle's best on these cases.
    counts, clean = _held_out(name, peak)
    restored, result = denoise(counts, "auto", noise="poisson")
    assert result.poisson_route == "anscombe" and result.weight_auto
    auto = _psnr(restored, clean, peak)
    chambolle = max(_psnr(_anscombe_chambolle(counts, w), clean, peak)
                    for w in np.geomspace(0.2, 3.0, 13))
    own = max(_psnr(denoise(counts, result.weight * f, noise="poisson",
                            poisson_route="anscombe")[0], clean, peak)
              for f in np.geomspace(0.5, 2.0, 7))
    assert auto >= chambolle - 0.3
    assert auto >= own - 0.3


# --- the route solves the Anscombe problem, exactly, with both solvers --------------------

@pytest.mark.parametrize("solver", ["adam", "pdhg"])
def test_the_anscombe_route_minimizes_l2_tv_on_the_anscombe_image(solver):
    counts, _ = _held_out("coffee", 30, side=32)
    weight = 0.8
    stabilized = anscombe(counts)
    optimum, _ = reference.solve_exact(stabilized, weight, gap=1e-10)
    best = reference.objective(optimum, stabilized, weight)
    restored, result = denoise(counts, weight, noise="poisson", poisson_route="anscombe",
                               solver=solver, gap=1e-5)
    assert result.poisson_route == "anscombe" and result.weight == pytest.approx(weight)
    # The objective is reported in the Anscombe image's units, at the weight given.
    assert result.objective == pytest.approx(best, rel=1e-3)
    if solver == "pdhg":
        assert result.certified_gap <= 1e-5
    # Back in counts through the exact unbiased inverse of the minimizer.
    np.testing.assert_allclose(restored, inverse_anscombe(optimum), atol=0.02 * counts.max())
    # scikit-image's chambolle, run to convergence, solves the same problem.
    np.testing.assert_allclose(restored, _anscombe_chambolle(counts, weight, eps=1e-7,
                                                             max_num_iter=5000),
                               atol=0.02 * counts.max())


def test_the_route_is_unbiased_at_low_counts_where_the_algebraic_inverse_is_not():
    # A flat scene of 2 photons per pixel: a large weight flattens the
    # Anscombe image to the mean of z, E[2 sqrt(y + 3/8)], which only the
    # exact unbiased inverse maps back to 2 (the algebraic z^2/4 - 3/8 to 1.7).
    lam = 2.0
    counts = np.random.default_rng(1).poisson(lam, (64, 64)).astype(np.float32)
    restored, _ = denoise(counts, 50.0, noise="poisson", poisson_route="anscombe")
    assert restored.mean() == pytest.approx(lam, rel=0.03)
    algebraic = np.mean(anscombe(counts)) ** 2 / 4 - 0.375
    assert abs(algebraic - lam) > 0.1 * lam


def test_the_anscombe_variance_is_the_numeric_variance_of_the_transform():
    from scipy.stats import poisson

    k = np.arange(2000)
    for lam in (0.3, 1.0, 2.0, 4.0, 30.0, 300.0):
        mean = np.sum(anscombe(k) * poisson.pmf(k, lam))
        variance = np.sum((anscombe(k) - mean) ** 2 * poisson.pmf(k, lam))
        assert anscombe_variance(np.array([lam]))[0] == pytest.approx(variance, rel=2e-3, abs=1e-4)
    samples = anscombe(np.random.default_rng(2).poisson(1.0, 200_000))
    assert anscombe_variance(np.array([1.0]))[0] == pytest.approx(samples.var(), rel=0.02)


# --- which route, and where it is said ---------------------------------------------------

def test_the_route_follows_the_weight_and_the_task_and_is_reported():
    counts, _ = _held_out("rocket", 30, side=32)
    _, auto = denoise(counts, "auto", noise="poisson")
    _, given = denoise(counts, 0.2, noise="poisson")
    _, blurred = restore(counts, psf="gaussian:1.0", weight=0.1, noise="poisson")
    _, gaussian = denoise(counts / counts.max(), 0.1)
    assert (auto.poisson_route, given.poisson_route, blurred.poisson_route) == (
        "anscombe", "kl", "kl")
    assert gaussian.poisson_route is None
    # The reported pair (route, weight) gives the same result again.
    again, repeat = denoise(counts, auto.weight, noise="poisson", poisson_route="anscombe")
    first, _ = denoise(counts, "auto", noise="poisson")
    np.testing.assert_array_equal(again, first)
    assert repeat.objective == pytest.approx(auto.objective, rel=1e-6)
    with pytest.raises(TVRestoreError, match="poisson_route 'anscombe' denoises"):
        restore(counts, psf="gaussian:1.0", noise="poisson", poisson_route="anscombe")
    with pytest.raises(TVRestoreError, match="poisson_route must be one of"):
        RestoreOptions(noise="poisson", poisson_route="vst")
    with pytest.raises(TVRestoreError, match="give it with noise 'poisson'"):
        denoise(counts, 0.1, poisson_route="kl")


def test_an_image_gives_the_same_anscombe_result_alone_and_in_a_mixed_batch():
    small, _ = _held_out("coffee", 30, side=24, seed=1)
    large, _ = _held_out("rocket", 30, side=32, seed=2)
    alone, alone_result = denoise(small, "auto", noise="poisson")
    [(batched, batched_result), (_, kl_result)] = denoise_batch(
        [small, large], ["auto", 0.2], noise="poisson")
    assert (batched_result.poisson_route, kl_result.poisson_route) == ("anscombe", "kl")
    assert batched_result.weight == pytest.approx(alone_result.weight)
    np.testing.assert_allclose(batched, alone, atol=1e-4 * small.max())


def test_cli_tiles_solve_every_tile_on_the_route_the_auto_weight_was_chosen_for(tmp_path, runner):
    from tvrestore.cli.app import main

    counts, _ = _held_out("coffee", 30, side=48)
    iio.imwrite(tmp_path / "a.tif", counts)
    done = runner.invoke(main, [str(tmp_path / "a.tif"), "-o", str(tmp_path / "tiled.tif"),
                                "--noise", "poisson", "--tile", "32", "--solver", "adam",
                                "--report", str(tmp_path / "tiled.json")])
    assert done.exit_code == 0, done.stderr
    [entry] = json.loads((tmp_path / "tiled.json").read_text())["results"]
    assert entry["poisson_route"] == "anscombe" and entry["weight_auto"]
    whole, _ = denoise(counts, entry["weight"], noise="poisson", poisson_route="anscombe")
    out = iio.imread(tmp_path / "tiled.tif")
    assert np.median(np.abs(out - whole)) <= 0.02 * whole.max()


@pytest.mark.parametrize("args, words", [
    (["--noise", "poisson", "--poisson-route", "anscombe", "--psf", "gaussian:1.0"],
     "--poisson-route anscombe denoises"),
    (["--poisson-route", "kl"], "give it with noise 'poisson'"),
    (["--noise", "poisson", "--poisson-route", "vst"], "--poisson-route"),
])
def test_bad_poisson_routes_are_usage_errors_before_tensorflow(tmp_path, args, words):
    # LimitedRunner's address-space limit is below what TensorFlow maps.
    png(tmp_path, "in/a.png")
    check_run(LimitedRunner(), tmp_path, ["in/a.png", "-o", "out.png", *args], 2, [words])
