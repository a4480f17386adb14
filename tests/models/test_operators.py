"""The operator contract, over a registry of every operator and composition.

Each case is checked against the float64 oracle of ``reference.py``
(``ForwardModel``, written with scipy.signal and numpy apart from the
TensorFlow code), for adjointness, for its norm bound against power
iteration, and for giving an image the same energy and gradient alone and
in a zero-padded batch. Everything runs compiled by XLA.
"""

import subprocess
import sys
from dataclasses import dataclass

import numpy as np
import pytest

import reference as ref
from tvrestore.backend.tf import tf
from tvrestore.errors import TVRestoreError
from tvrestore.models.operators import Blur, Composite, Downsample, Identity, Mask, forward_model
from tvrestore.models.problem import Problem
from tvrestore.io.psf import load_psf
from tvrestore.models.psf import check_psf_fits, parse_psf, psf_radius

DATA_HW = (13, 17)  # odd and unequal, so that rows and columns cannot be confused
OTHER_DATA_HW = (19, 22)  # the larger image of the padded batch


@dataclass(frozen=True)
class Case:
    psf: str | None = None
    method: str = "auto"
    upscale: int = 1
    masked: bool = False

    def missing(self, data_hw, seed=0):
        return np.random.default_rng(seed).random(data_hw) < 0.3 if self.masked else None

    def operator(self, missing=None, layout="hwc"):
        """The TensorFlow operator; ``missing`` (H, W) or (B, H, W) when masked."""
        parts = []
        if self.psf is not None:
            parts.append(Blur(parse_psf(self.psf), self.method, layout=layout))
        if self.upscale > 1:
            parts.append(Downsample(self.upscale, layout=layout))
        if self.masked:
            parts.append(Mask(missing, layout=layout))
        if not parts:
            return Identity()
        return parts[0] if len(parts) == 1 else Composite(parts)

    def oracle(self, missing=None):
        psf = None if self.psf is None else parse_psf(self.psf)
        return ref.ForwardModel(psf, self.upscale, missing)


CASES = {
    "identity": Case(),
    "blur-gaussian-separable": Case("gaussian:1.2"),
    "blur-gaussian-direct": Case("gaussian:1.2", "direct"),
    "blur-gaussian-fft": Case("gaussian:1.2", "fft"),
    "blur-box": Case("box:3"),
    "blur-disk": Case("disk:2"),
    "blur-disk-fft": Case("disk:6"),
    "blur-motion": Case("motion:5,30"),
    "downsample-2": Case(upscale=2),
    "downsample-3": Case(upscale=3),
    "mask": Case(masked=True),
    "blur+downsample": Case("gaussian:1.0", upscale=2),
    "blur+mask": Case("disk:2", masked=True),
    "blur+downsample+mask": Case("motion:4,60", upscale=2, masked=True),
}


def compiled(function):
    return tf.function(function, jit_compile=True, autograph=False)


def inner(a, b):
    return float(np.sum(np.asarray(a, np.float64) * np.asarray(b, np.float64)))


def power_iteration(operator, shape, iterations=100):
    """An estimate of ||A||^2 from below, in float64 for its arithmetic."""
    step = compiled(lambda u: operator.adjoint(operator(u)))
    u = np.random.default_rng(1).standard_normal(shape)
    estimate = 0.0
    for _ in range(iterations):
        u /= np.linalg.norm(u)
        v = step(tf.constant(u, tf.float32)).numpy().astype(np.float64)
        estimate = inner(u, v)
        u = v
    return estimate


@pytest.mark.parametrize("channels", [1, 3], ids=["grey", "rgb"])
@pytest.mark.parametrize("name", list(CASES))
def test_operator_contract(name, channels):
    case = CASES[name]
    rng = np.random.default_rng(7)
    missing = case.missing(DATA_HW)
    operator, oracle = case.operator(missing), case.oracle(missing)
    unknown_hw = tuple(operator.input_shape(DATA_HW))
    assert unknown_hw == oracle.input_shape(DATA_HW)
    assert tuple(operator.output_shape(unknown_hw)) == DATA_HW
    u = rng.random((1, *unknown_hw, channels))
    y = rng.standard_normal((1, *DATA_HW, channels))
    forward, adjoint = compiled(operator), compiled(operator.adjoint)
    au = forward(tf.constant(u, tf.float32)).numpy()
    aty = adjoint(tf.constant(y, tf.float32)).numpy()

    # The TensorFlow operator is the float64 oracle's, to float32 rounding.
    np.testing.assert_allclose(au[0], oracle.apply(u[0]), rtol=0, atol=2e-6)
    np.testing.assert_allclose(aty[0], oracle.adjoint(y[0]), rtol=0, atol=2e-6)

    # Adjointness, to float32 rounding of the two sums.
    scale = np.linalg.norm(au) * np.linalg.norm(y)
    assert abs(inner(au, y) - inner(u, aty)) <= 1e-6 * scale

    # norm_sq bounds ||A||^2 from above, and not loosely: the bounds are
    # reached by a constant image as the image grows; on 13 x 17 data the
    # 13 x 13 disk's ||A||^2 is 0.62 of its bound, the lowest here.
    estimate = power_iteration(operator, (1, *unknown_hw, channels))
    assert estimate <= operator.norm_sq * (1 + 1e-5)
    assert operator.norm_sq <= 2 * estimate

    # The reach bounds the stencil: A* A of an impulse reaches at most
    # 2 reach rows and columns from it.
    impulse = np.zeros((1, *unknown_hw, channels))
    impulse[0, unknown_hw[0] // 2, unknown_hw[1] // 2] = 1.0
    response = compiled(lambda u: operator.adjoint(operator(u)))(tf.constant(impulse, tf.float32)).numpy()
    magnitude = np.abs(response[0]).sum(axis=-1)
    rows, columns = np.nonzero(magnitude > 1e-6 * magnitude.max())  # FFT rounding is not 0
    assert np.abs(rows - unknown_hw[0] // 2).max() <= 2 * operator.reach
    assert np.abs(columns - unknown_hw[1] // 2).max() <= 2 * operator.reach
    assert Problem(operator).stencil_rows == max(1, 2 * operator.reach)


@pytest.mark.parametrize("name", [name for name in CASES if name != "identity"])
def test_columns_innermost_layout_is_the_same_operator(name):
    """Built for (B, H, C, W) batches, each operator is the oracle's, transposed."""
    case = CASES[name]
    rng = np.random.default_rng(11)
    missing = case.missing(DATA_HW)
    operator, oracle = case.operator(missing, layout="hcw"), case.oracle(missing)
    unknown_hw = oracle.input_shape(DATA_HW)
    u = rng.random((1, *unknown_hw, 3))
    y = rng.standard_normal((1, *DATA_HW, 3))
    swap = lambda t: np.ascontiguousarray(np.swapaxes(t, 2, 3))  # noqa: E731
    au = swap(compiled(operator)(tf.constant(swap(u), tf.float32)).numpy())
    aty = swap(compiled(operator.adjoint)(tf.constant(swap(y), tf.float32)).numpy())
    np.testing.assert_allclose(au[0], oracle.apply(u[0]), rtol=0, atol=2e-6)
    np.testing.assert_allclose(aty[0], oracle.adjoint(y[0]), rtol=0, atol=2e-6)


def test_unknown_layout_is_refused():
    with pytest.raises(ValueError, match="layout"):
        Blur(parse_psf("gaussian:1.0"), layout="chw")


@pytest.mark.parametrize("channels", [1, 3], ids=["grey", "rgb"])
@pytest.mark.parametrize("name", list(CASES))
def test_image_alone_equals_image_in_a_padded_batch(name, channels):
    """Energy and gradient of E, alone and beside a larger image in one array.

    The padding around the small image holds garbage, so that the test
    fails if any term reads u outside the image's extent. The energy is
    also the float64 oracle's.
    """
    case = CASES[name]
    rng = np.random.default_rng(3)
    weight = 0.07
    small_missing, large_missing = case.missing(DATA_HW, 1), case.missing(OTHER_DATA_HW, 2)
    small_hw = tuple(case.operator(small_missing).input_shape(DATA_HW))
    large_hw = tuple(case.operator(large_missing).input_shape(OTHER_DATA_HW))
    small_u = rng.random((*small_hw, channels))
    small_f = rng.random((*DATA_HW, channels))
    large_u = rng.random((*large_hw, channels))
    large_f = rng.random((*OTHER_DATA_HW, channels))

    def energy_and_gradient(missing, u, f, extents):
        problem = Problem(case.operator(missing), reduction="sum")

        def run(u, f, weights, extents):
            with tf.GradientTape() as tape:
                tape.watch(u)
                energy = problem.energy(u, f, weights, extents)
                total = tf.reduce_sum(energy)
            return energy, tape.gradient(total, u)

        weights = tf.fill([len(u)], weight)
        extents = None if extents is None else tf.constant(extents, tf.float32)
        energy, gradient = compiled(run)(tf.constant(u, tf.float32), tf.constant(f, tf.float32), weights, extents)
        return energy.numpy(), gradient.numpy()

    alone_energy, alone_gradient = energy_and_gradient(small_missing, small_u[None], small_f[None], None)
    expected = ref.restoration_objective(small_u, small_f, weight, case.oracle(small_missing))
    assert alone_energy[0] == pytest.approx(expected, rel=2e-6)

    padded_u = rng.random((2, *large_hw, channels)) * 5 - 2  # garbage around the small image
    padded_u[0, : small_hw[0], : small_hw[1]] = small_u
    padded_u[1] = large_u
    padded_f = rng.random((2, *OTHER_DATA_HW, channels)) * 5 - 2
    padded_f[0, : DATA_HW[0], : DATA_HW[1]] = small_f
    padded_f[1] = large_f
    missing = None
    if case.masked:
        missing = np.ones((2, *OTHER_DATA_HW), bool)
        missing[0, : DATA_HW[0], : DATA_HW[1]] = small_missing
        missing[1] = large_missing
    batch_energy, batch_gradient = energy_and_gradient(
        missing, padded_u, padded_f, [small_hw, large_hw]
    )
    assert batch_energy[0] == pytest.approx(alone_energy[0], rel=2e-6)
    np.testing.assert_allclose(
        batch_gradient[0, : small_hw[0], : small_hw[1]], alone_gradient[0], rtol=0, atol=2e-5
    )
    np.testing.assert_array_equal(batch_gradient[0, small_hw[0] :], 0.0)
    np.testing.assert_array_equal(batch_gradient[0, :, small_hw[1] :], 0.0)
    large_alone, _ = energy_and_gradient(large_missing, large_u[None], large_f[None], None)
    assert batch_energy[1] == pytest.approx(large_alone[0], rel=2e-6)


@pytest.mark.parametrize("tv", ["isotropic", "anisotropic"])
@pytest.mark.parametrize("color", ["vectorial", "channelwise"])
def test_identity_problem_is_the_denoising_energy_and_padding_adds_nothing(tv, color):
    rng = np.random.default_rng(0)
    u = rng.random((2, 24, 32, 3))
    f = rng.random((2, 24, 32, 3))
    weights = np.array([0.05, 0.2])
    problem = Problem(Identity(), tv=tv, color=color, reduction="mean")
    energy = problem.energy(tf.constant(u), tf.constant(f), tf.constant(weights)).numpy()
    expected = [ref.objective(u[b], f[b], weights[b], tv, color) for b in range(2)]
    np.testing.assert_allclose(energy, expected, rtol=1e-12)
    # With extents, on zero padding, each image's energy is its own alone.
    padded_u, padded_f = np.zeros_like(u), np.zeros_like(f)
    padded_u[0, :20, :25], padded_f[0, :20, :25] = u[0, :20, :25], f[0, :20, :25]
    padded_u[1], padded_f[1] = u[1], f[1]
    extents = tf.constant([[20, 25], [24, 32]], tf.float64)
    padded = problem.energy(tf.constant(padded_u), tf.constant(padded_f), tf.constant(weights), extents)
    alone = ref.objective(u[0, :20, :25], f[0, :20, :25], weights[0], tv, color)
    np.testing.assert_allclose(padded.numpy(), [alone, expected[1]], rtol=1e-12)
    assert problem.loss_scale((24, 32, 3)) == 1 / (24 * 32 * 3)


def test_loss_scale_counts_the_unknowns_and_sum_and_mean_agree():
    operator = forward_model(parse_psf("gaussian:1"), upscale=2)
    unknown = (*operator.input_shape(DATA_HW), 3)
    assert unknown == (2 * 13 + 8, 2 * 17 + 8, 3)
    assert Problem(operator, reduction="mean").loss_scale(unknown) == 1 / np.prod(unknown)
    assert Problem(operator, reduction="sum").loss_scale(unknown) == 1.0
    with pytest.raises(ValueError, match="reduction"):
        Problem(operator, reduction="median")


def test_forward_model_composes_in_the_order_blur_bin_mask():
    psf = parse_psf("disk:2")
    missing = np.zeros(DATA_HW)
    assert isinstance(forward_model(), Identity)
    assert isinstance(forward_model(psf=psf), Blur)
    composite = forward_model(psf, 2, missing)
    assert [type(part) for part in composite.operators] == [Blur, Downsample, Mask]
    assert composite.reach == 2 + 1 * 1  # the blur's 2, then 1 binned row = 1 row of u
    with pytest.raises(ValueError, match="last"):
        Composite([Mask(missing), Downsample(2)])


def test_blur_methods_choose_by_measured_speed():
    assert Blur(parse_psf("gaussian:1.6")).method == "separable"
    assert Blur(parse_psf("disk:3")).method == "direct"
    assert Blur(parse_psf("disk:15")).method == "fft"  # 31 x 31
    assert Blur(np.ones((31, 31))).method == "separable"
    with pytest.raises(ValueError, match="outer product"):
        Blur(parse_psf("disk:3"), "separable")
    with pytest.raises(ValueError, match="odd"):
        Blur(np.ones((4, 3)))


# --- PSFs ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "spec, shape",
    [
        ("gaussian:1.6", (13, 13)),  # radius ceil(3.5 * 1.6) = 6
        ("gaussian:0.1", (3, 3)),  # at least radius 1
        ("box:3", (3, 3)),
        ("box:2", (3, 3)),
        ("disk:2", (5, 5)),
        ("motion:7,0", (1, 9)),
        ("motion:7,90", (9, 1)),
        ("motion:6,45", (7, 7)),
    ],
)
def test_parametric_psfs_are_normalised_centred_and_odd(spec, shape):
    kernel = parse_psf(spec)
    assert kernel.shape == shape and kernel.dtype == np.float64
    assert kernel.sum() == pytest.approx(1.0, abs=1e-12) and kernel.min() >= 0
    # Every PSF here is symmetric about its centre pixel, so the blur moves nothing.
    np.testing.assert_allclose(kernel, kernel[::-1, ::-1], atol=1e-12)
    assert psf_radius(kernel) == ((shape[0] - 1) // 2, (shape[1] - 1) // 2)


def test_psf_shapes_by_value():
    np.testing.assert_allclose(parse_psf("box:3"), np.full((3, 3), 1 / 9))
    np.testing.assert_allclose(parse_psf("box:2"), np.outer([1, 2, 1], [1, 2, 1]) / 16)
    gaussian = parse_psf("gaussian:1.6")
    offsets = np.arange(-6, 7)
    profile = np.exp(-(offsets**2) / (2 * 1.6**2))
    np.testing.assert_allclose(gaussian, np.outer(profile, profile) / profile.sum() ** 2)
    disk = parse_psf("disk:2")
    assert disk[2, 2] == disk.max() and disk[0, 0] == 0  # the corner lies outside the disc
    motion = parse_psf("motion:7,0")
    assert np.count_nonzero(motion) == 9 and motion[0, 4] == motion.max()


def test_psf_files(tmp_path, write_image):
    kernel = np.zeros((4, 5))
    kernel[1:3, 1:4] = 2.0
    np.save(tmp_path / "psf.npy", kernel)
    loaded = load_psf(str(tmp_path / "psf.npy"))
    assert loaded.shape == (5, 5)  # the even side gets a zero row at its end
    np.testing.assert_allclose(loaded[:4], kernel / kernel.sum())
    np.testing.assert_array_equal(loaded[4], 0)
    pixels = (parse_psf("disk:3") / parse_psf("disk:3").max() * 255).round().astype(np.uint8)
    for name in ("psf.png", "psf.tif"):
        from_image = load_psf(str(write_image(name, pixels)))
        np.testing.assert_allclose(from_image, pixels / pixels.sum(dtype=np.float64))


@pytest.mark.parametrize(
    "spec, message",
    [
        ("gauss:2", "expected gaussian"),
        ("gaussian:", "finite number"),
        ("gaussian:abc", "finite number"),
        ("gaussian:nan", "finite number"),
        ("gaussian:inf", "finite number"),
        ("gaussian:0", "must be > 0"),
        ("box:-3", "must be > 0"),
        ("disk:1,2", "1 finite number"),
        ("motion:5", "2 finite number"),
        ("motion:0,30", "must be > 0"),
        ("kernel.jpg", "expected gaussian"),
    ],
)
def test_bad_psf_specs_are_one_line_errors(spec, message):
    with pytest.raises(TVRestoreError, match=message) as caught:
        parse_psf(spec)
    assert "\n" not in str(caught.value) and spec in str(caught.value)


@pytest.mark.parametrize(
    "array, message",
    [
        (np.zeros((3, 3)), "sums to 0"),
        (np.array([[1.0, np.nan, 1.0]]), "NaN"),
        (np.array([[1.0, np.inf, 1.0]]), "NaN or infinite"),
        (np.array([[1.0, -0.5, 1.0]]), "negative"),
        (np.ones((3, 3, 3, 3)), "2-D or 3-D"),
        (np.ones(5), "2-D"),
        (np.array([["a", "b"]]), "real numbers"),
    ],
)
def test_bad_psf_files_are_one_line_errors_naming_the_file(tmp_path, array, message):
    path = tmp_path / "bad.npy"
    np.save(path, array)
    with pytest.raises(TVRestoreError, match=message) as caught:
        load_psf(str(path))
    assert "\n" not in str(caught.value) and str(path) in str(caught.value)


def test_missing_psf_file_is_an_error(tmp_path):
    with pytest.raises(TVRestoreError, match="cannot read"):
        load_psf(str(tmp_path / "absent.npy"))
    with pytest.raises(TVRestoreError, match="not found"):
        load_psf(str(tmp_path / "absent.png"))


def test_psf_larger_than_the_image_is_an_error():
    kernel = parse_psf("gaussian:3")  # 23 x 23
    check_psf_fits(kernel, (23, 23, 3), "photo.png")
    for shape in [(22, 40), (40, 22, 3)]:
        with pytest.raises(TVRestoreError, match=r"photo.png: the PSF \(23x23\) is larger"):
            check_psf_fits(kernel, shape, "photo.png")


def test_psf_module_does_not_import_tensorflow():
    code = "import sys, tvrestore.models.psf; print('tensorflow' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert result.stdout.strip() == "False"
