"""Tests of the test-side reference solver in ``reference.py``.

Two facts are used for tolerances that are proven rather than guessed:

* weak duality, :math:`D(p) \\le E^* \\le E(u)`, so a certified relative gap
  bounds the true relative error of the objective;
* strong convexity of :math:`E` (modulus 1), so
  :math:`\\|u - u^*\\|_2 \\le \\sqrt{2 (E(u) - E^*)} \\le \\sqrt{2\\,g\\,E(u)}`
  for a point ``u`` certified with relative gap ``g``.
"""

import numpy as np
import pytest
from skimage.restoration import denoise_tv_chambolle

import reference as ref

KINDS = [
    (tv, color) for tv in ref.TV_KINDS for color in ref.COLOR_MODES
]


def distance_bound(u, f, weight, tv, color, relative_gap):
    """Upper bound on ||u - u*||_2 for a point certified with this gap."""
    return np.sqrt(2.0 * relative_gap * ref.objective(u, f, weight, tv, color))


# --- gradient and divergence -------------------------------------------------


@pytest.mark.parametrize("shape", [(1, 1), (1, 7), (6, 1), (5, 8), (9, 4, 3), (2, 2, 1)])
def test_divergence_is_negative_adjoint_of_gradient(shape):
    rng = np.random.default_rng(1)
    u = rng.standard_normal(shape)
    p = rng.standard_normal((2,) + shape)
    lhs = np.sum(ref.gradient(u) * p)
    rhs = -np.sum(u * ref.divergence(p))
    assert lhs == pytest.approx(rhs, rel=1e-12, abs=1e-12)


def test_gradient_uses_forward_differences_and_neumann_boundary():
    u = np.array([[0.0, 1.0, 4.0], [2.0, 2.0, 7.0]])
    g = ref.gradient(u)
    np.testing.assert_array_equal(g[0], [[2.0, 1.0, 3.0], [0.0, 0.0, 0.0]])
    np.testing.assert_array_equal(g[1], [[1.0, 3.0, 0.0], [0.0, 5.0, 0.0]])
    colour = np.stack([u, -u], axis=-1)
    np.testing.assert_array_equal(ref.gradient(colour)[..., 1], -g)


def test_divergence_ignores_the_components_the_gradient_never_fills():
    p = np.zeros((2, 3, 4))
    p[0, -1] = 5.0
    p[1, :, -1] = 7.0
    np.testing.assert_array_equal(ref.divergence(p), 0.0)


# --- total variation and objective -------------------------------------------


@pytest.mark.parametrize("tv, color", KINDS)
@pytest.mark.parametrize("shape", [(4, 5), (4, 5, 3)])
def test_total_variation_of_constant_image_is_zero(tv, color, shape):
    assert ref.total_variation(np.full(shape, 0.3), tv, color) == 0.0


U0 = np.array([[0.0, 1.0], [3.0, 5.0]])  # dy = [[3, 4], [0, 0]], dx = [[1, 0], [2, 0]]
U1 = np.array([[1.0, 1.0], [1.0, 2.0]])  # dy = [[0, 1], [0, 0]], dx = [[0, 0], [1, 0]]


@pytest.mark.parametrize(
    "u, tv, color, expected",
    [
        (U0, "isotropic", "vectorial", np.sqrt(10) + 4 + 2),
        (U0, "anisotropic", "vectorial", 3 + 4 + 1 + 2),
        (U0, "isotropic", "channelwise", np.sqrt(10) + 4 + 2),
        (np.stack([U0, U1], -1), "isotropic", "vectorial", np.sqrt(10) + np.sqrt(17) + np.sqrt(5)),
        (np.stack([U0, U1], -1), "isotropic", "channelwise", np.sqrt(10) + 6 + 1 + 1),
        (np.stack([U0, U1], -1), "anisotropic", "vectorial", 3 + 1 + np.sqrt(17) + np.sqrt(5)),
        (np.stack([U0, U1], -1), "anisotropic", "channelwise", 10 + 1 + 1),
    ],
)
def test_total_variation_by_hand(u, tv, color, expected):
    assert ref.total_variation(u, tv, color) == pytest.approx(expected, rel=1e-15)


@pytest.mark.parametrize("tv, color", KINDS)
def test_total_variation_orders_and_invariances(tv, color):
    rng = np.random.default_rng(2)
    u = rng.random((6, 7, 3))
    value = ref.total_variation(u, tv, color)
    assert ref.total_variation(u + 0.25, tv, color) == pytest.approx(value, rel=1e-13)
    assert ref.total_variation(-2.0 * u, tv, color) == pytest.approx(2.0 * value, rel=1e-13)
    # Euclidean norm <= l1 norm, and one norm over more components <= a sum of norms.
    assert ref.total_variation(u, "isotropic", color) <= ref.total_variation(u, "anisotropic", color)
    assert ref.total_variation(u, tv, "vectorial") <= ref.total_variation(u, tv, "channelwise")


def test_objective():
    rng = np.random.default_rng(3)
    f, u = rng.random((2, 5, 6))
    assert ref.objective(f, f, 0.2) == pytest.approx(0.2 * ref.total_variation(f))
    assert ref.objective(u, f, 0.0) == pytest.approx(0.5 * np.sum((u - f) ** 2))


def test_bad_option_is_rejected():
    f = np.zeros((4, 4))
    with pytest.raises(ValueError, match="tv must be"):
        ref.total_variation(f, tv="l1")
    with pytest.raises(ValueError, match="color must be"):
        ref.solve_exact(f, 0.1, color="rgb")
    with pytest.raises(ValueError, match="weight"):
        ref.solve_exact(f, 0.0)


# --- dual side ---------------------------------------------------------------


@pytest.mark.parametrize("tv, color", KINDS)
def test_weak_duality_for_random_feasible_fields(tv, color):
    rng = np.random.default_rng(4)
    f = ref.noisy_image("astronaut", 12)
    weight = 0.1
    for _ in range(5):
        p = ref.project_dual(rng.standard_normal((2,) + f.shape), weight, tv, color)
        assert np.all(ref._pointwise_norm(p, tv, color) <= weight * (1 + 1e-12))
        np.testing.assert_allclose(ref.project_dual(p, weight, tv, color), p, rtol=1e-15)
        u = f + 0.1 * rng.standard_normal(f.shape)
        assert ref.dual_objective(p, f) <= ref.objective(u, f, weight, tv, color)


# --- the exact solver ----------------------------------------------------------


@pytest.mark.parametrize(
    "name, tv, color, weight",
    [
        ("camera", "isotropic", "vectorial", 0.05),
        ("astronaut", "isotropic", "vectorial", 0.05),
        ("astronaut", "anisotropic", "channelwise", 0.1),
    ],
)
def test_certificate_bounds_the_true_relative_error(name, tv, color, weight):
    f = ref.noisy_image(name, 32)
    best, best_gap = ref.solve_exact(f, weight, tv, color, gap=1e-12)
    e_best = ref.objective(best, f, weight, tv, color)
    for target in (1e-2, 1e-4, 1e-6):
        u, certified = ref.solve_exact(f, weight, tv, color, gap=target)
        assert certified <= target
        true_error = (ref.objective(u, f, weight, tv, color) - e_best) / e_best
        assert true_error <= certified
        # The certificate is tight: within a factor 10 of the true error.
        assert certified <= 10 * max(true_error, best_gap)


def test_constant_image_is_its_own_solution():
    f = np.full((8, 9, 3), 0.4)
    u, certified = ref.solve_exact(f, 0.3)
    np.testing.assert_array_equal(u, f)
    assert certified == 0.0


def test_solver_gives_up_loudly():
    with pytest.raises(RuntimeError, match="relative gap"):
        ref.solve_exact(ref.noisy_image("camera", 32), 0.1, gap=1e-12, max_iter=20)


@pytest.mark.parametrize("tv", ref.TV_KINDS)
@pytest.mark.parametrize("n", [3, 8])
def test_vertical_step_edge_has_the_closed_form_solution(tv, n):
    """Columns constant along y: each row is a 1-D ROF problem for a step.

    For f = 0 on the n left columns and s on the n right ones, minimising
    n/2 a^2 + n/2 (s - b)^2 + w |b - a| gives a = w/n, b = s - w/n
    (when 2w/n < s), for both TV kinds.
    """
    weight, s = 0.3, 1.0
    f = np.zeros((5, 2 * n))
    f[:, n:] = s
    u, certified = ref.solve_exact(f, weight, tv, gap=1e-12)
    expected = np.where(f > 0, s - weight / n, weight / n)
    bound = distance_bound(u, f, weight, tv, "vectorial", certified)
    assert np.abs(u - expected).max() <= bound + 1e-12


def test_colour_step_edge_closed_form_vectorial_and_channelwise():
    """Colour step with jump s_c: vectorial shrinks the jump vector as a whole.

    Vectorial: a_c = w s_c / (n |s|); channelwise: a_c = w sign(s_c) / n.
    """
    weight, n = 0.2, 6
    jump = np.array([0.4, 0.1, -0.3])
    f = np.full((4, 2 * n, 3), 0.5)
    f[:, n:] += jump
    right = np.arange(2 * n)[None, :, None] >= n
    for color, shift in [
        ("vectorial", weight * jump / (n * np.linalg.norm(jump))),
        ("channelwise", weight * np.sign(jump) / n),
    ]:
        u, certified = ref.solve_exact(f, weight, "isotropic", color, gap=1e-12)
        expected = np.where(right, f - shift, f + shift)
        bound = distance_bound(u, f, weight, "isotropic", color, certified)
        assert np.abs(u - expected).max() <= bound + 1e-12


def test_isotropic_solution_commutes_with_transposition():
    f = ref.noisy_image("camera", 24)
    weight, tv = 0.08, "isotropic"
    u, g1 = ref.solve_exact(f, weight, tv, gap=1e-11)
    v, g2 = ref.solve_exact(f.T, weight, tv, gap=1e-11)
    bound = distance_bound(u, f, weight, tv, "vectorial", g1) + distance_bound(
        v, f.T, weight, tv, "vectorial", g2
    )
    assert np.abs(u.T - v).max() <= bound


def test_anisotropic_solution_commutes_with_flips_but_isotropic_does_not():
    f = ref.noisy_image("chelsea", 24)
    weight = 0.08
    for tv, color in [("anisotropic", "channelwise"), ("anisotropic", "vectorial")]:
        u, g1 = ref.solve_exact(f, weight, tv, color, gap=1e-11)
        v, g2 = ref.solve_exact(f[::-1, ::-1], weight, tv, color, gap=1e-11)
        bound = distance_bound(u, f, weight, tv, color, g1) + distance_bound(
            v, f[::-1, ::-1], weight, tv, color, g2
        )
        assert np.abs(u[::-1, ::-1] - v).max() <= bound
    # The forward-difference isotropic TV pairs dy and dx of different pixel
    # pairs once the image is flipped, so the solution changes.
    u, _ = ref.solve_exact(f, weight, gap=1e-11)
    v, _ = ref.solve_exact(f[::-1, ::-1], weight, gap=1e-11)
    assert np.abs(u[::-1, ::-1] - v).max() > 1e-3


@pytest.mark.parametrize("tv, color", KINDS)
def test_solution_beats_random_and_local_perturbations(tv, color):
    f = ref.noisy_image("coffee", 16)
    weight = 0.07
    u, certified = ref.solve_exact(f, weight, tv, color, gap=1e-12)
    energy = ref.objective(u, f, weight, tv, color)
    rng = np.random.default_rng(5)
    for eps in (1e-2, 1e-4):
        for _ in range(4):
            other = u + eps * rng.standard_normal(u.shape)
            assert energy < ref.objective(other, f, weight, tv, color)
    for index in [(0, 0, 0), (7, 8, 1), (15, 3, 2)]:
        for eps in (1e-3, -1e-3):
            other = u.copy()
            other[index] += eps
            assert energy < ref.objective(other, f, weight, tv, color)
    # TV ignores constants, so the optimal u keeps the mean of f.
    assert np.mean(u) == pytest.approx(np.mean(f), abs=1e-14)


@pytest.mark.parametrize("tv", ref.TV_KINDS)
def test_channelwise_colour_is_independent_grey_problems(tv):
    f = ref.noisy_image("astronaut", 24)
    weight = 0.06
    u, g = ref.solve_exact(f, weight, tv, "channelwise", gap=1e-11)
    bound = distance_bound(u, f, weight, tv, "channelwise", g)
    for c in range(3):
        v, gc = ref.solve_exact(f[..., c], weight, tv, gap=1e-11)
        total = bound + distance_bound(v, f[..., c], weight, tv, "vectorial", gc)
        assert np.abs(u[..., c] - v).max() <= total


@pytest.mark.parametrize("tv", ref.TV_KINDS)
def test_grey_image_repeated_in_three_channels(tv):
    """Vectorial TV of (g, g, g) is sqrt(3) TV(g); channelwise TV is 3 TV(g).

    So the vectorial solution is the grey solution at weight w / sqrt(3) in
    each channel, and the channelwise one the grey solution at weight w.
    """
    grey = ref.noisy_image("camera", 24)
    f = np.repeat(grey[..., None], 3, axis=-1)
    weight = 0.1
    for color, grey_weight in [("vectorial", weight / np.sqrt(3)), ("channelwise", weight)]:
        u, g = ref.solve_exact(f, weight, tv, color, gap=1e-11)
        v, gv = ref.solve_exact(grey, grey_weight, tv, gap=1e-11)
        bound = distance_bound(u, f, weight, tv, color, g) + distance_bound(
            v, grey, grey_weight, tv, "vectorial", gv
        )
        assert np.abs(u - v[..., None]).max() <= bound


@pytest.mark.parametrize("tv", ref.TV_KINDS)
def test_vectorial_and_channelwise_are_different_problems(tv):
    f = ref.noisy_image("chelsea", 24)
    weight = 0.08
    u_vec, g_vec = ref.solve_exact(f, weight, tv, "vectorial", gap=1e-10)
    u_ch, g_ch = ref.solve_exact(f, weight, tv, "channelwise", gap=1e-10)
    assert np.abs(u_vec - u_ch).max() > 1e-2
    # Each is (up to its certified gap) the better one under its own TV.
    e_vec = ref.objective(u_vec, f, weight, tv, "vectorial")
    e_ch = ref.objective(u_ch, f, weight, tv, "channelwise")
    assert e_vec < ref.objective(u_ch, f, weight, tv, "vectorial") * (1 - 1e-6)
    assert e_ch < ref.objective(u_vec, f, weight, tv, "channelwise") * (1 - 1e-6)
    # Coupling the channels costs less TV, so the vectorial result keeps more.
    assert e_vec < e_ch


# --- against scikit-image ------------------------------------------------------


def test_skimage_chambolle_weight_is_our_weight():
    """denoise_tv_chambolle(f, weight=w) solves the same grey isotropic problem.

    Chambolle's fixed-point iteration converges slowly, so it gets 20 000
    iterations (eps=0 never triggers its stopping rule); on this 32x32 image
    it lands within 2.2e-5 (max abs) of the certified solution, while the
    solutions for 0.5 w and 2 w are more than 1e-2 away.
    """
    f = ref.noisy_image("camera", 32)
    weight = 0.05
    u, g = ref.solve_exact(f, weight, gap=1e-12)
    theirs = denoise_tv_chambolle(f, weight=weight, eps=0.0, max_num_iter=20_000)
    distance = np.abs(theirs - u).max()
    assert distance < 5e-5 + distance_bound(u, f, weight, "isotropic", "vectorial", g)
    for other_weight in (0.5 * weight, 2.0 * weight):
        v, _ = ref.solve_exact(f, other_weight, gap=1e-8)
        assert np.abs(theirs - v).max() > 1e-2
    e_star = ref.objective(u, f, weight)
    assert (ref.objective(theirs, f, weight) - e_star) / e_star < 1e-7


def test_skimage_chambolle_per_channel_is_our_channelwise_isotropic():
    f = ref.noisy_image("astronaut", 16)
    weight = 0.05
    u, g = ref.solve_exact(f, weight, "isotropic", "channelwise", gap=1e-12)
    theirs = denoise_tv_chambolle(
        f, weight=weight, eps=0.0, max_num_iter=20_000, channel_axis=-1
    )
    assert np.abs(theirs - u).max() < 2e-5
    v, _ = ref.solve_exact(f, weight, "isotropic", "vectorial", gap=1e-10)
    assert np.abs(theirs - v).max() > 1e-2


# --- test images -----------------------------------------------------------------


def test_noisy_image_is_small_deterministic_and_in_range():
    grey = ref.noisy_image("camera", 20)
    colour = ref.noisy_image("coffee", 20, sigma=0.1, seed=3)
    assert grey.shape == (20, 20) and colour.shape == (20, 20, 3)
    assert grey.dtype == colour.dtype == np.float64
    for image in (grey, colour):
        assert image.min() >= 0.0 and image.max() <= 1.0
    np.testing.assert_array_equal(grey, ref.noisy_image("camera", 20))
    assert not np.array_equal(grey, ref.noisy_image("camera", 20, seed=1))
    with pytest.raises(ValueError, match="unknown image"):
        ref.noisy_image("lena")


# --- general forward models ------------------------------------------------------


def _models(data_hw):
    kernel = np.array([[0.0, 1.0, 0.0], [1.0, 4.0, 2.0], [0.0, 1.0, 1.0]]) / 10.0  # asymmetric
    missing = np.random.default_rng(4).random(data_hw) < 0.3
    return {
        "identity": ref.ForwardModel(),
        "blur": ref.ForwardModel(kernel),
        "bin": ref.ForwardModel(upscale=2),
        "blur+bin+mask": ref.ForwardModel(kernel, 2, missing),
    }


@pytest.mark.parametrize("name", ["identity", "blur", "bin", "blur+bin+mask"])
def test_forward_model_adjoint_and_norm_bound(name):
    data_hw = (5, 7)
    model = _models(data_hw)[name]
    rng = np.random.default_rng(2)
    u = rng.standard_normal(model.input_shape(data_hw) + (2,))
    y = rng.standard_normal(data_hw + (2,))
    au = model.apply(u)
    assert au.shape == y.shape
    assert np.sum(au * y) == pytest.approx(np.sum(u * model.adjoint(y)), rel=1e-12, abs=1e-12)
    assert np.sum(au * au) <= model.norm_sq * np.sum(u * u)


def test_forward_model_blur_is_a_convolution_not_a_correlation():
    kernel = np.zeros((3, 3))
    kernel[1, 2] = 1.0  # moves the image one column right
    u = np.arange(20.0).reshape(4, 5, 1)
    blurred = ref.ForwardModel(kernel).apply(u)
    np.testing.assert_array_equal(blurred[..., 0], u[1:3, 0:3, 0])


def test_restoration_oracle_with_identity_is_the_denoising_oracle():
    """A = I, a box wider than the solution: the same minimizer as solve_exact.

    E is 1-strongly convex for A = I, so each point is within sqrt(2 g E)
    of the minimizer.
    """
    f = ref.noisy_image("coffee", 10)
    weight = 0.08
    u, certified = ref.solve_restoration(f, weight, ref.ForwardModel(), box=(-1.0, 2.0), gap=1e-9)
    v, exact_gap = ref.solve_exact(f, weight, gap=1e-12)
    bound = distance_bound(u, f, weight, "isotropic", "vectorial", certified) + distance_bound(
        v, f, weight, "isotropic", "vectorial", exact_gap
    )
    assert certified <= 1e-9
    assert np.abs(u - v).max() <= bound


def test_restoration_oracle_certificate_bounds_the_true_error():
    data_hw = (8, 8)
    model = _models(data_hw)["blur+bin+mask"]
    clean = ref.noisy_image("camera", model.input_shape(data_hw)[0], sigma=0.0)[..., None]
    f = model.apply(clean) + 0.02 * np.random.default_rng(1).standard_normal(data_hw + (1,))
    weight = 0.02
    best, best_gap = ref.solve_restoration(f, weight, model, gap=1e-10)
    e_best = ref.restoration_objective(best, f, weight, model)
    assert best.min() >= 0.0 and best.max() <= 1.0
    for target in (1e-2, 1e-4):
        u, certified = ref.solve_restoration(f, weight, model, gap=target)
        assert certified <= target
        true_error = (ref.restoration_objective(u, f, weight, model) - e_best) / e_best
        assert true_error <= certified + best_gap


@pytest.mark.parametrize("name", ["blur", "bin", "blur+bin+mask"])
def test_constant_data_give_the_constant_image(name):
    """For f = c everywhere, u = c has E = 0, and only a constant has TV 0.

    A normalised blur and the binning keep constants, so u = c is the
    unique minimizer (E(u) = 0 forces TV(u) = 0 and then A u = f).
    """
    data_hw = (6, 6)
    model = _models(data_hw)[name]
    f = np.full(data_hw + (3,), 0.3)
    u, certified = ref.solve_restoration(f, 0.1, model, gap=1e-8, absolute=True)
    assert ref.restoration_objective(u, f, 0.1, model) <= certified <= 1e-8
    np.testing.assert_allclose(u, 0.3, atol=1e-3)


def test_data_under_the_mask_are_ignored():
    data_hw = (6, 6)
    model = _models(data_hw)["blur+bin+mask"]
    rng = np.random.default_rng(0)
    f = rng.random(data_hw + (1,))
    other = f.copy()
    other[model.missing] = rng.random(int(model.missing.sum()))[:, None] + 5.0
    u = rng.random(model.input_shape(data_hw) + (1,))
    assert ref.restoration_objective(u, f, 0.1, model) == ref.restoration_objective(u, other, 0.1, model)
    a, _ = ref.solve_restoration(f, 0.05, model, gap=1e-6)
    b, _ = ref.solve_restoration(other, 0.05, model, gap=1e-6)
    np.testing.assert_array_equal(a, b)


def test_l1_restoration_oracle_certificate_bounds_the_true_error():
    data_hw = (8, 8)
    model = _models(data_hw)["blur+bin+mask"]
    clean = ref.noisy_image("camera", model.input_shape(data_hw)[0], sigma=0.0)[..., None]
    f = model.apply(clean)
    hit = np.random.default_rng(2).random(f.shape) < 0.2
    f = np.where(hit, np.random.default_rng(3).random(f.shape), f)
    weight = 0.05
    # L1 has no strong convexity: O(1/k), so a looser best than for L2.
    best, best_gap = ref.solve_restoration(f, weight, model, gap=1e-6, fidelity="l1")
    e_best = ref.restoration_objective(best, f, weight, model, fidelity="l1")
    for target in (1e-2, 1e-3):
        u, certified = ref.solve_restoration(f, weight, model, gap=target, fidelity="l1")
        assert certified <= target
        true_error = (ref.restoration_objective(u, f, weight, model, fidelity="l1") - e_best) / e_best
        assert true_error <= certified + best_gap


@pytest.mark.parametrize("weight", [0.25, 0.33])
def test_l1_oracle_keeps_or_removes_a_spike_at_the_closed_form_threshold(weight):
    """One spike of height h on a constant: TV-L1 keeps it below w = 1 / (2 + sqrt 2).

    Lowering the spike by t costs t in the L1 term and saves w t (2 + sqrt 2)
    of isotropic TV (the pixel's own difference norm sqrt 2 t, its upper and
    left neighbours' t each): E is linear in t, so the spike stays whole
    (w < 0.2929) or goes whole (w above).
    """
    f = np.full((7, 7, 1), 0.2)
    f[3, 3] = 0.9
    u, _ = ref.solve_restoration(f, weight, ref.ForwardModel(), gap=1e-10, absolute=True,
                                 fidelity="l1")
    expected = f if weight < 1 / (2 + np.sqrt(2)) else np.full_like(f, 0.2)
    np.testing.assert_allclose(u, expected, atol=1e-4)
