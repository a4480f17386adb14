"""--noise impulse end to end: detection, the route, composition with the other tasks, every path (issue 20)."""

import json

import imageio.v3 as iio
import numpy as np
import pytest
from skimage import data, transform

from tvrestore import denoise_batch, restore
from tvrestore.bench.degradations import impulse_noise
from tvrestore.errors import TVRestoreError
from tvrestore.evaluation.baselines import impulse_baselines


def _psnr(clean, estimate):
    return 10 * np.log10(1 / np.mean((np.clip(estimate, 0, 1) - clean) ** 2))


@pytest.fixture(scope="module")
def clean():
    return np.clip(transform.resize(data.camera() / 255.0, (64, 64), anti_aliasing=True), 0, 1)


def _best_median(clean, noisy):
    return max(_psnr(clean, baseline.solve(noisy)) for baseline in impulse_baselines())


@pytest.mark.parametrize("kind, fraction, route, margin", [
    ("salt-and-pepper", 0.5, "salt-and-pepper", 4.0),
    ("random-valued", 0.3, "random-valued", 1.0),
])
def test_impulses_are_detected_reported_and_beat_the_median_filter(clean, kind, fraction, route,
                                                                   margin):
    noisy, hit = impulse_noise(clean, kind, fraction, seed=2)
    restored, result = restore(noisy, noise="impulse")
    assert result.noise == "impulse" and result.impulse_route == route and result.weight_auto
    if kind == "salt-and-pepper":
        assert result.impulse_fraction == pytest.approx(hit.mean(), abs=0.01)
    else:
        assert 0.6 * fraction <= result.impulse_fraction <= fraction
    assert restored.shape == noisy.shape and restored.dtype == noisy.dtype
    assert _psnr(clean, restored) >= _best_median(clean, noisy) + margin


def test_the_random_valued_weight_comes_from_a_pilot_solve(clean):
    from tvrestore.models.fidelities import L1
    from tvrestore.solvers import engine
    from tvrestore.tuning.impulses import detect_impulses, impulse_weight, pilot_misfit

    noisy, _ = impulse_noise(clean, "random-valued", 0.3, seed=4)
    _, result = restore(noisy, noise="impulse")
    found = detect_impulses(noisy[..., None])
    first = impulse_weight(found, color="channelwise")
    pilot = engine.solve(engine.Degradation(missing=found.missing), [noisy[..., None]],
                         np.array([first]), fidelity=L1()).solution[0]
    misfit = pilot_misfit(noisy[..., None], pilot, found.missing)
    # The rule in the detected fraction alone is the pilot's weight; the
    # pilot's misfit on the kept values then sets the weight.
    assert 0 < misfit < 1 and result.weight_auto
    assert result.weight == pytest.approx(impulse_weight(found, misfit=misfit), rel=1e-3)
    assert abs(result.weight - first) > 0.01


def test_the_salt_and_pepper_fill_moves_off_tvs_staircases(clean):
    from tvrestore.models.fidelities import L1
    from tvrestore.solvers import engine
    from tvrestore.tuning.impulses import detect_impulses

    noisy, hit = impulse_noise(clean, "salt-and-pepper", 0.5, seed=5)
    restored, result = restore(noisy, noise="impulse")
    missing = detect_impulses(noisy[..., None]).missing
    masked_tv = engine.solve(engine.Degradation(missing=missing), [noisy[..., None]],
                             np.array([result.weight]), fidelity=L1()).solution[0, ..., 0]
    # The data are kept as TV fits them; the fill is closer to the scene.
    np.testing.assert_allclose(restored[~hit], masked_tv[~hit], atol=1e-4)
    assert _psnr(clean, restored) > _psnr(clean, masked_tv) + 0.2
    # The exact mode returns its certified minimizer as it is.
    exact, _ = restore(noisy, noise="impulse", solver="pdhg", max_iter=200)
    assert np.abs(exact - restored)[hit].max() > 1e-3


def test_integers_and_the_gaussian_model_differ_where_they_should(clean):
    noisy, _ = impulse_noise(clean, "salt-and-pepper", 0.3, seed=3)
    pixels = np.round(noisy * 255).astype(np.uint8)
    impulse, result = restore(pixels, noise="impulse")
    gaussian, _ = restore(pixels)
    assert impulse.dtype == np.uint8 and result.impulse_route == "salt-and-pepper"
    # Squares drag every neighbourhood toward the impulses; the model does not.
    assert _psnr(clean, impulse / 255) > _psnr(clean, gaussian / 255) + 8


def test_a_user_mask_joins_the_detected_impulses(clean):
    noisy, hit = impulse_noise(clean, "salt-and-pepper", 0.3, seed=4)
    mask = np.zeros(clean.shape, bool)
    mask[20:30, 20:40] = True
    garbage = noisy.copy()
    garbage[mask] = 0.37  # not an extreme: only the user's mask hides it
    restored, result = restore(garbage, mask=mask, noise="impulse", weight=0.03)
    assert result.impulse_fraction == pytest.approx((hit & ~mask).mean(), abs=0.01)
    # The values under the mask are not data: another garbage, the same result.
    garbage[mask] = 0.91
    again, _ = restore(garbage, mask=mask, noise="impulse", weight=0.03)
    np.testing.assert_allclose(restored, again, atol=1e-5)
    assert _psnr(clean, restored) > 25


def test_impulses_compose_with_a_blur_and_an_upscale():
    from tvrestore.bench.degradations import degrade
    from tvrestore.models.psf import parse_psf

    psf = parse_psf("gaussian:1.0")
    scene = np.clip(transform.resize(data.camera() / 255.0, (68, 68), anti_aliasing=True), 0, 1)
    degraded = degrade(scene, psf=psf)
    noisy, _ = impulse_noise(np.clip(degraded.observed, 0, 1), "salt-and-pepper", 0.3, seed=5)
    restored, result = restore(noisy, psf=psf, noise="impulse")
    assert result.impulse_route == "salt-and-pepper" and result.impulse_fraction > 0.25
    assert _psnr(degraded.clean, restored) > _psnr(degraded.clean, noisy) + 10
    upscaled, result = restore(noisy, upscale=2, noise="impulse", weight=0.03)
    assert upscaled.shape == (2 * noisy.shape[0], 2 * noisy.shape[1]) and np.isfinite(upscaled).all()


def test_a_batch_gives_each_image_its_own_detection(clean):
    light, _ = impulse_noise(clean, "salt-and-pepper", 0.2, seed=6)
    heavy, _ = impulse_noise(clean[:40, :50], "salt-and-pepper", 0.6, seed=7)
    pairs = denoise_batch([light, heavy], noise="impulse")
    for image, (restored, result) in zip([light, heavy], pairs):
        alone, alone_result = restore(image, noise="impulse")
        np.testing.assert_array_equal(restored, alone)
        assert result.impulse_fraction == alone_result.impulse_fraction
    assert pairs[0][1].impulse_fraction < 0.25 < 0.55 < pairs[1][1].impulse_fraction


def test_bad_impulse_options_are_errors(clean):
    with pytest.raises(TVRestoreError, match="gain and offset describe photon counts"):
        restore(clean, noise="impulse", gain=2.0)
    with pytest.raises(TVRestoreError, match="the mask has shape"):
        restore(clean, noise="impulse", mask=np.zeros((3, 3)))
    with pytest.raises(TVRestoreError, match="noise must be one of"):
        restore(clean, noise="impulses")
    with pytest.raises(TVRestoreError, match="weights for"):
        denoise_batch([clean, clean], [0.1], noise="impulse")


def test_cli_reports_the_detected_fraction_and_compares_with_the_median(clean, tmp_path, runner):
    from tvrestore.cli.app import main

    noisy, hit = impulse_noise(clean, "salt-and-pepper", 0.4, seed=8)
    iio.imwrite(tmp_path / "sp.png", np.round(noisy * 255).astype(np.uint8))
    iio.imwrite(tmp_path / "clean.png", np.round(clean * 255).astype(np.uint8))
    result = runner.invoke(main, [str(tmp_path / "sp.png"), "--noise", "impulse", "--reference",
                                  str(tmp_path / "clean.png"), "--compare", "--report",
                                  str(tmp_path / "r.json")])
    assert result.exit_code == 0, result.stderr
    assert "detected as impulses (salt-and-pepper)" in result.stdout
    entry = json.loads((tmp_path / "r.json").read_text())["results"][0]
    assert entry["noise"] == "impulse" and entry["impulse_route"] == "salt-and-pepper"
    assert entry["impulse_fraction"] == pytest.approx(hit.mean(), abs=0.01)
    methods = {row["method"]: row["psnr"] for row in entry["compare"]}
    assert set(methods) == {"tvrestore (adam)", "median 3x3", "median 5x5", "median 7x7"}
    assert methods["tvrestore (adam)"] > max(methods[m] for m in methods if "median" in m) + 4

    # A usage error, before any work.
    result = runner.invoke(main, [str(tmp_path / "sp.png"), "--noise", "impulse", "--gain", "2"])
    assert result.exit_code == 2 and "photon counts" in result.stderr


def test_cli_batch_and_tiles_take_impulse_noise(clean, tmp_path, runner):
    import tifffile

    from tvrestore.cli.app import main

    folder = tmp_path / "in"
    folder.mkdir()
    for seed, fraction in ((1, 0.2), (2, 0.5)):
        noisy, _ = impulse_noise(clean, "salt-and-pepper", fraction, seed=seed)
        iio.imwrite(folder / f"sp{seed}.png", np.round(noisy * 255).astype(np.uint8))
    (folder / "broken.png").write_bytes(b"not an image")
    result = runner.invoke(main, [str(folder), "-o", str(tmp_path / "out"), "--noise", "impulse",
                                  "--report", str(tmp_path / "batch.json")])
    assert result.exit_code == 1  # the broken file; the others go on
    entries = {e["input"].rsplit("/", 1)[-1]: e
               for e in json.loads((tmp_path / "batch.json").read_text())["results"]}
    assert entries["sp1.png"]["impulse_fraction"] == pytest.approx(0.2, abs=0.02)
    assert entries["sp2.png"]["impulse_fraction"] == pytest.approx(0.5, abs=0.02)
    assert entries["broken.png"]["status"] == "failed"

    noisy, _ = impulse_noise(clean, "salt-and-pepper", 0.3, seed=9)
    tifffile.imwrite(tmp_path / "big.tif", np.round(noisy * 255).astype(np.uint8))
    result = runner.invoke(main, [str(tmp_path / "big.tif"), "--tile", "32", "--noise", "impulse",
                                  "--solver", "adam", "--report", str(tmp_path / "tiles.json")])
    assert result.exit_code == 0, result.stderr
    entry = json.loads((tmp_path / "tiles.json").read_text())["results"][0]
    assert entry["tile"] == [32, 32] and entry["impulse_route"] == "salt-and-pepper"
    assert entry["impulse_fraction"] == pytest.approx(0.3, abs=0.03)
    whole, _ = restore(np.round(noisy * 255).astype(np.uint8), noise="impulse")
    tiled = tifffile.imread(tmp_path / "big_tv.tif")
    assert _psnr(clean, tiled / 255) > _psnr(clean, whole / 255) - 0.5
