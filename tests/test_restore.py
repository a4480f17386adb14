"""denoise / denoise_batch land on the exact minimizer, under every reduction.

The exact minimizer comes from tests/reference.py (a float64 dual solver with
a duality-gap certificate), never from "looks fine".
"""

import numpy as np
import pytest

import reference
from tvrestore import TVRestoreError, denoise, denoise_batch
from tvrestore.bench.cases import clean_square
from tvrestore.models.shapes import solve_shape


def clean_and_noisy(name="camera", size=96, sigma=25 / 255, seed=0):
    """The bench's clean square of a skimage image, and it plus unclipped Gaussian noise (float32)."""
    image = clean_square(name, size)
    noisy = image + sigma * np.random.default_rng(seed).standard_normal(image.shape)
    return image.astype(np.float32), noisy.astype(np.float32)


def psnr(clean, image):
    return 10 * np.log10(1 / np.mean((np.float64(clean) - image) ** 2))


def relative_gap(restored, noisy, weight, tv="isotropic", color="vectorial", exact=None):
    exact = reference.solve_exact(noisy, weight, tv, color)[0] if exact is None else exact
    best = reference.objective(exact, noisy, weight, tv, color)
    return (reference.objective(restored, noisy, weight, tv, color) - best) / best


@pytest.fixture(scope="module")
def grey_problem():
    clean, noisy = clean_and_noisy("camera", 128)
    exact, certificate = reference.solve_exact(noisy, 0.07, gap=1e-9)
    assert certificate <= 1e-9
    return clean, noisy, exact


def test_default_settings_land_on_the_exact_minimizer(grey_problem):
    clean, noisy, exact = grey_problem
    restored, result = denoise(noisy, 0.07)
    assert result.converged
    assert relative_gap(restored, noisy, 0.07, exact=exact) <= 1e-3
    assert abs(psnr(clean, restored) - psnr(clean, exact)) <= 0.02
    # The reported objective is E of the returned image, in sum units.
    assert result.objective == pytest.approx(reference.objective(restored, noisy, 0.07), rel=1e-6)


@pytest.mark.parametrize("tv", ["isotropic", "anisotropic"])
@pytest.mark.parametrize("color", ["vectorial", "channelwise"])
def test_colour_and_anisotropic_modes_land_on_their_minimizers(tv, color):
    _, noisy = clean_and_noisy("astronaut", 64)
    restored, result = denoise(noisy, 0.07, tv=tv, color=color)
    assert result.converged
    assert relative_gap(restored, noisy, 0.07, tv, color) <= 1e-3


def test_sum_and_mean_reductions_give_the_same_result(grey_problem):
    _, noisy, _ = grey_problem
    by_sum, summed = denoise(noisy, 0.07, reduction="sum")
    by_mean, averaged = denoise(noisy, 0.07, reduction="mean")
    assert np.max(np.abs(by_sum - by_mean)) <= 1e-3
    assert summed.objective == pytest.approx(averaged.objective, rel=1e-5)
    assert summed.loss == pytest.approx(noisy.size * averaged.loss, rel=1e-5)


def test_iterations_do_not_grow_with_resolution():
    counts = []
    for size in (64, 256):
        _, noisy = clean_and_noisy("camera", size)
        restored, result = denoise(noisy, 0.07)
        assert result.converged
        assert relative_gap(restored, noisy, 0.07) <= 1e-3
        counts.append(result.iterations)
    assert max(counts) <= 1.5 * min(counts)


def test_an_image_gives_the_same_result_alone_and_in_a_batch():
    _, first = clean_and_noisy("camera", 64, seed=1)
    _, second = clean_and_noisy("camera", 64, sigma=50 / 255, seed=2)
    alone, alone_result = denoise(first, 0.05)
    pairs = denoise_batch([second, first, second], [0.2, 0.05, "auto"])
    in_batch, batch_result = pairs[1]
    assert np.max(np.abs(alone - in_batch)) <= 1e-4
    assert alone_result.iterations == batch_result.iterations
    assert pairs[0][1].weight == 0.2 and pairs[2][1].weight_auto


@pytest.mark.parametrize(
    "image_shape, expected",
    [((24, 32), (32, 32, 1)), ((250, 256, 3), (256, 256, 3)), ((300, 1000, 4), (320, 1024, 3)),
     ((257, 2049, 2), (288, 2304, 1)), ((1, 17), (16, 32, 1)),
     (tuple(np.array([200, 300])), (208, 320, 1))],
)
def test_solve_shape_rounds_each_side_up_by_at_most_an_eighth(image_shape, expected):
    assert solve_shape(image_shape) == expected


def test_images_of_different_sizes_share_one_compiled_call_and_keep_their_results():
    _, large = clean_and_noisy("camera", 64, seed=3)
    small, odd = large[:50, :60], large[5:62, 3:52]
    assert solve_shape(small.shape) == solve_shape(odd.shape) == solve_shape(large.shape)
    pairs = denoise_batch([small, odd, large], 0.08)
    for image, (restored, result) in zip([small, odd, large], pairs):
        alone, alone_result = denoise(image, 0.08)
        assert restored.shape == image.shape
        assert np.max(np.abs(alone - restored)) <= 1e-4
        assert result.iterations == alone_result.iterations
        assert relative_gap(restored, image, 0.08) <= 1e-3
    # One call for the three: the same solve and compile time for each.
    assert len({(result.solve_seconds, result.compile_seconds) for _, result in pairs}) == 1


def test_vectorial_tv_beats_channelwise_skimage_at_their_best_weights():
    from skimage.restoration import denoise_tv_chambolle

    clean, noisy = clean_and_noisy("astronaut", 96)
    weights = np.geomspace(0.04, 0.25, 9)
    ours = max(psnr(clean, u) for u, _ in denoise_batch([noisy] * len(weights), list(weights)))
    theirs = max(
        psnr(clean, denoise_tv_chambolle(noisy.astype(np.float64), weight=w, channel_axis=-1))
        for w in weights
    )
    assert ours > theirs + 0.1


def test_more_weight_means_a_smoother_result_and_zero_weight_changes_nothing():
    _, noisy = clean_and_noisy("camera", 64)
    light, _ = denoise(noisy, 0.02)
    heavy, _ = denoise(noisy, 0.2)
    assert reference.total_variation(heavy) < reference.total_variation(light)
    unchanged, result = denoise(noisy, 0.0)
    assert np.max(np.abs(unchanged - noisy)) <= 1e-4 and result.converged


def test_iteration_cap_is_reported_as_not_converged():
    _, noisy = clean_and_noisy("camera", 64)
    _, result = denoise(noisy, 0.07, max_iter=5)
    assert result.iterations == 5 and not result.converged


@pytest.mark.parametrize(
    "image, message",
    [
        (np.zeros(5), "shape"),
        # (4, 4, 5) is a Z stack now (tests/test_volumes.py); six axes are too many.
        (np.zeros((2,) * 6), "shape"),
        (np.zeros((0, 4)), "empty"),
        (np.full((4, 4), np.nan), "NaN"),
        (np.zeros((4, 4), np.int32), "int32"),
        ([[0.0, 1.0]], "numpy array"),
    ],
)
def test_bad_arrays_raise_a_clear_error(image, message):
    with pytest.raises(TVRestoreError, match=message):
        denoise(image, 0.1)


@pytest.mark.parametrize(
    "options, message",
    [
        ({"weight": -1.0}, "weight"),
        ({"weight": "strong"}, "weight"),
        ({"weight": [0.1]}, "weight"),  # one image takes one weight
        ({"reduction": "median"}, "reduction"),
        ({"tv": "huber"}, "tv"),
        ({"color": "rgb"}, "color"),
        ({"max_iter": -1}, "max_iter"),
        ({"tol": 0.0}, "tol"),
        ({"solver": "lbfgs"}, "solver"),
        ({"solver": "pdhg", "gap": -1e-4}, "gap"),
    ],
)
def test_bad_options_raise_a_clear_error(options, message):
    weight = options.pop("weight", 0.1)
    with pytest.raises(TVRestoreError, match=message):
        denoise(np.zeros((4, 4), np.float32), weight, **options)


def test_large_images_are_solved_in_bands_and_small_ones_whole():
    # The banded solve is exact (tests/test_solver.py); this checks that
    # restore turns it on where an image outgrows the cache, and only there.
    from tvrestore.solvers.engine import _adam
    from tvrestore.models.fidelities import L2
    from tvrestore.models.operators import Identity

    solver = _adam(Identity(), L2(), "isotropic", "vectorial", "hwc", denoising=True, masked=False)
    assert solver.band_rows((1, 512, 512, 1)) is None
    # Bands read 64 rows (1 MiB): their own, 5 of halo each side and 1 more.
    assert solver.band_rows((1, 4096, 4096, 1)) == 64 - 2 * 5 - 1


@pytest.mark.parametrize("dtype", [np.float32, np.uint8])
def test_denoise_leaves_the_callers_array_as_it_was(dtype):
    # float32 input is read through a read-only view, not copied: nothing
    # on the way (auto weight, padding, report) may write to it.
    image = (np.random.default_rng(3).uniform(0, 1, (40, 37)) * (255 if dtype == np.uint8 else 1)).astype(dtype)
    before = image.copy()
    restored, _ = denoise(image, "auto")
    np.testing.assert_array_equal(image, before)
    assert image.flags.writeable and restored.flags.writeable and restored.dtype == dtype


def test_channelwise_colour_is_each_channel_restored_as_grey():
    # Channelwise TV is a sum of grey TVs: tvrestore solves the planes as grey
    # images (in cache-sized calls), so each channel is exactly its grey result.
    rng = np.random.default_rng(11)
    colour = np.clip(0.5 + 0.2 * rng.standard_normal((24, 32, 3)), 0, 1).astype(np.float32)

    restored, result = denoise(colour, 0.1, color="channelwise")

    for c in range(3):
        grey, grey_result = denoise(colour[..., c], 0.1)
        np.testing.assert_array_equal(restored[..., c], grey)
        assert grey_result.iterations <= result.iterations
    assert result.objective == pytest.approx(
        sum(denoise(colour[..., c], 0.1)[1].objective for c in range(3)), rel=1e-6)


def test_the_public_api_is_at_the_top_level_and_lazy():
    # denoise, denoise_batch and restore beside each other, as __all__ says;
    # importing tvrestore alone loads no TensorFlow (checked in fresh processes).
    import subprocess
    import sys

    import tvrestore
    from tvrestore import api

    assert {"denoise", "denoise_batch", "restore"} <= set(tvrestore.__all__)
    assert tvrestore.restore is api.restore and tvrestore.denoise is api.denoise
    probe = "import sys, tvrestore; tvrestore.restore; print('tensorflow' in sys.modules)"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True,
                            check=True).stdout.split()
    # Reaching tvrestore.restore imports the API, and with it TensorFlow: lazily, on use.
    assert loaded == ["True"]
    quiet = subprocess.run([sys.executable, "-c", "import sys, tvrestore; "
                            "print('tensorflow' in sys.modules)"],
                           capture_output=True, text=True, check=True).stdout.split()
    assert quiet == ["False"]
