"""3-D forward models: a volume's blur and mask, their contract, and the minimizer they define.

Each operator is checked against the float64 oracle of ``reference.py``
(``VolumeModel``: scipy.signal's N-D 'valid' convolution and a mask) for
its values, adjointness and norm bound; the engine's minimizer of a tiny
deblur+inpaint volume is checked against ``solve_volume_restoration``
(float64 Chambolle-Pock to a certified 1e-7), in both solvers.
"""

import numpy as np
import pytest

import reference as ref
from tvrestore.backend.tf import tf
from tvrestore.errors import TVRestoreError
from tvrestore.io.psf import load_psf
from tvrestore.models.operators import Blur, Composite, Mask
from tvrestore.models.psf import check_psf_fits, parse_psf
from tvrestore.solvers import engine

DATA_ZYX = (5, 7, 6)  # unequal, so that the axes cannot be confused


def _random_psf(shape, seed):
    """A positive PSF that is no outer product (so neither separable nor anisotropic by accident)."""
    kernel = np.random.default_rng(seed).random(shape) + 0.1
    return kernel / kernel.sum()


# One PSF per method the blur can take, and the Gaussian through the FFT
# too (a method forced on a kernel auto would not give it). The Gaussian
# forced "direct" is left out: "random-direct" runs the same code, and
# XLA's compile of the direct 5x5x3 convolution and its adjoint was the
# file's slowest test (9 to 20 s each on a loaded 2-core machine).
PSFS = {
    "gaussian-separable": (lambda: parse_psf("gaussian:0.8,0.6,0.5"), "auto", "separable"),
    "random-direct": (lambda: _random_psf((3, 5, 3), 1), "auto", "direct"),
    "random-fft": (lambda: _random_psf((3, 7, 7), 2), "auto", "fft"),  # 147 taps > 121
    "gaussian-fft": (lambda: parse_psf("gaussian:0.8,0.6,0.5"), "fft", "fft"),
}


def compiled(function):
    return tf.function(function, jit_compile=True, autograph=False)


def inner(a, b):
    return float(np.sum(np.asarray(a, np.float64) * np.asarray(b, np.float64)))


# One channel through the blur alone, two through blur and mask: every
# blur sees both channel counts, and the mask its broadcast over channels,
# in half the cases of the full product.
@pytest.mark.parametrize("channels, masked", [(1, False), (2, True)], ids=["grey-blur", "2ch-blur+mask"])
@pytest.mark.parametrize("name", list(PSFS))
def test_volume_blur_and_mask_meet_the_operator_contract(name, channels, masked):
    make, method, chosen = PSFS[name]
    kernel = make()
    blur = Blur(kernel, method)
    assert blur.method == chosen and blur.reach == max((side - 1) // 2 for side in kernel.shape)
    missing = np.random.default_rng(3).random(DATA_ZYX) < 0.3 if masked else None
    operator = Composite([blur, Mask(missing[None, ..., None])]) if masked else blur
    oracle = ref.VolumeModel(kernel, missing)
    unknown = tuple(operator.input_shape(DATA_ZYX))
    assert unknown == oracle.input_shape(DATA_ZYX)
    assert tuple(operator.output_shape(unknown)) == DATA_ZYX
    rng = np.random.default_rng(7)
    u = rng.random((1, *unknown, channels))
    y = rng.standard_normal((1, *DATA_ZYX, channels))
    au = compiled(operator)(tf.constant(u, tf.float32)).numpy()
    aty = compiled(operator.adjoint)(tf.constant(y, tf.float32)).numpy()
    np.testing.assert_allclose(au[0], oracle.apply(u[0]), rtol=0, atol=2e-6)
    np.testing.assert_allclose(aty[0], oracle.adjoint(y[0]), rtol=0, atol=2e-6)
    assert abs(inner(au, y) - inner(u, aty)) <= 1e-6 * np.linalg.norm(au) * np.linalg.norm(y)
    # norm_sq bounds ||A||^2 (power iteration from below); for the Gaussian
    # alone within a factor 2 (on volumes this small, a 30 % mask or a
    # random 7-wide PSF lowers ||A||^2 to 0.37 to 0.45 of the bound).
    step = compiled(lambda v: operator.adjoint(operator(v)))
    v = np.random.default_rng(1).standard_normal((1, *unknown, channels))
    estimate = 0.0
    for _ in range(60):
        v /= np.linalg.norm(v)
        w = step(tf.constant(v, tf.float32)).numpy().astype(np.float64)
        estimate, v = inner(v, w), w
    assert estimate <= operator.norm_sq * (1 + 1e-5)
    assert masked or not name.startswith("gaussian") or operator.norm_sq <= 2 * estimate


def test_volume_blur_gradient_is_its_adjoint():
    kernel = _random_psf((3, 3, 5), 4)
    blur = Blur(kernel)
    u = tf.constant(np.random.default_rng(0).random((1, 7, 9, 8, 1)), tf.float32)
    g = tf.constant(np.random.default_rng(1).standard_normal((1, 5, 7, 4, 1)), tf.float32)
    with tf.GradientTape() as tape:
        tape.watch(u)
        value = tf.reduce_sum(blur(u) * g)
    np.testing.assert_allclose(tape.gradient(value, u).numpy(), blur.adjoint(g).numpy(), atol=1e-6)


def test_three_dimensional_gaussian_is_the_outer_product_of_its_profiles():
    kernel = parse_psf("gaussian:2,1,1")
    assert kernel.shape == (15, 9, 9) and np.isclose(kernel.sum(), 1.0)
    np.testing.assert_allclose(kernel, np.flip(kernel), atol=0)
    z, y, x = (kernel.sum(axis=axes) for axes in ((1, 2), (0, 2), (0, 1)))
    np.testing.assert_allclose(kernel, z[:, None, None] * y[None, :, None] * x[None, None, :], atol=1e-15)
    # Each profile is the 2-D spec's: gaussian:1's rows are the y and x profiles.
    np.testing.assert_allclose(y, parse_psf("gaussian:1").sum(axis=1), atol=1e-15)


@pytest.mark.parametrize("spec, message", [
    ("gaussian:1,2", "one sigma"),
    ("gaussian:1,2,3,4", "one sigma"),
    ("gaussian:1,0,1", "must be > 0"),
    ("gaussian:1,nan,1", "finite number"),
    ("gaussian:30,30,30", "at most"),
])
def test_bad_three_dimensional_specs_are_one_line_errors(spec, message):
    with pytest.raises(TVRestoreError, match=message) as caught:
        parse_psf(spec)
    assert "\n" not in str(caught.value) and spec in str(caught.value)


def test_three_dimensional_psf_files(tmp_path):
    import tifffile

    bead = np.zeros((5, 7, 7))
    bead[1:4, 2:5, 2:5] = np.random.default_rng(0).random((3, 3, 3))
    np.save(tmp_path / "bead.npy", bead)
    tifffile.imwrite(tmp_path / "bead.tif", np.round(bead * 1000).astype(np.uint16), imagej=True,
                     metadata={"axes": "ZYX"})
    from_npy = load_psf(str(tmp_path / "bead.npy"))
    np.testing.assert_allclose(from_npy, bead / bead.sum(), atol=1e-15)
    from_tiff = load_psf(str(tmp_path / "bead.tif"))
    rounded = np.round(bead * 1000)
    np.testing.assert_allclose(from_tiff, rounded / rounded.sum(), atol=1e-12)
    # An even side gets a zero plane at its end, as a 2-D PSF's rows do.
    np.save(tmp_path / "even.npy", np.ones((4, 3, 3)))
    assert load_psf(str(tmp_path / "even.npy")).shape == (5, 3, 3)


def test_psf_rank_must_match_the_data():
    check_psf_fits(parse_psf("gaussian:1,1,1"), (9, 9, 9), "stack.tif", 3)
    with pytest.raises(TVRestoreError, match=r"stack.tif: the 2-D PSF \(9x9\) does not fit a volume") as caught:
        check_psf_fits(parse_psf("gaussian:1"), (9, 20, 20, 1), "stack.tif", 3)
    assert "gaussian:SZ,SY,SX" in str(caught.value)
    with pytest.raises(TVRestoreError, match="the 3-D PSF box.npy .* does not fit a 2-D image"):
        check_psf_fits(parse_psf("gaussian:1,1,1"), (20, 20, 3), "photo.png", psf_name="box.npy")
    with pytest.raises(TVRestoreError, match=r"larger than the volume \(5x20x20\)"):
        check_psf_fits(parse_psf("gaussian:1,1,1"), (5, 20, 20), "stack.tif", 3)


@pytest.fixture(scope="module")
def tiny_deblur():
    """A 4x6x5 volume, blurred by a 5x5x5 Gaussian, 30 % missing, noise 0.02; steps (2, 1, 1)."""
    clean = ref.smooth_blobs((8, 10, 9), seed=2)[..., None]
    kernel = parse_psf("gaussian:0.5,0.4,0.4")
    missing = np.random.default_rng(5).random((4, 6, 5)) < 0.3
    model = ref.VolumeModel(kernel, missing)
    noise = 0.02 * np.random.default_rng(6).standard_normal((4, 6, 5, 1))
    data = (ref.VolumeModel(kernel).apply(clean) + noise).astype(np.float32)
    weight, spacing = 0.02, (2.0, 1.0, 1.0)
    oracle, oracle_gap = ref.solve_volume_restoration(data, weight, model, spacing,
                                                      box=(0.0, 1.0), gap=1e-6)
    best = ref.volume_restoration_objective(oracle, data, weight, model, spacing)
    degradation = engine.Degradation(psf=kernel, missing=missing)
    return degradation, data, weight, spacing, model, best, oracle_gap


def test_tiny_volume_deblur_energy_is_the_oracles(tiny_deblur):
    degradation, data, weight, spacing, model, *_ = tiny_deblur
    u = np.random.default_rng(8).random((*degradation.unknown_hw(data.shape[:3]), 1))
    ours = engine.energy(degradation, u, data, weight, spacing=spacing)
    np.testing.assert_allclose(ours, ref.volume_restoration_objective(u, data, weight, model, spacing),
                               rtol=1e-6)


def test_tiny_volume_deblur_pdhg_certificate_bounds_the_true_gap(tiny_deblur):
    degradation, data, weight, spacing, model, best, oracle_gap = tiny_deblur
    run = engine.solve(degradation, [data], np.array([weight]), solver="pdhg", gap=1e-5,
                       spacing=spacing)
    assert run.converged[0]
    u = run.solution[0]
    reached = ref.volume_restoration_objective(u, data, weight, model, spacing)
    true_gap = (reached - best) / best
    # E* >= best / (1 + oracle_gap): the certificate bounds the gap to the true minimum.
    assert true_gap - oracle_gap <= run.certified_gap[0] <= 1e-5
    assert run.lower_bound[0] <= best * (1 + 1e-6)
    # The box [0, 1] holds (the data lie in it).
    assert u.min() >= 0.0 and u.max() <= 1.0


@pytest.mark.parametrize("reduction", ["sum", "mean"])
def test_tiny_volume_deblur_adam_reaches_the_minimum(tiny_deblur, reduction):
    degradation, data, weight, spacing, model, best, _ = tiny_deblur
    run = engine.solve(degradation, [data], np.array([weight]), solver="adam", reduction=reduction,
                       spacing=spacing, tol=1e-6, max_iter=6000)
    reached = ref.volume_restoration_objective(run.solution[0], data, weight, model, spacing)
    assert (reached - best) / best <= 2e-3


def test_binning_a_volume_is_refused():
    with pytest.raises(ValueError, match="binning"):
        engine.solve(engine.Degradation(upscale=2), [np.zeros((4, 4, 4, 1), np.float32)],
                     np.array([0.1]))
