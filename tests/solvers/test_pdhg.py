"""The exact mode: PDHG lands on the reference minimizer and its certificate is honest."""

import numpy as np
import pytest

import reference
from tvrestore.models.fidelities import KL, L1
from tvrestore.solvers.pdhg import solve_pdhg


@pytest.mark.parametrize("tv, color", [("isotropic", "vectorial"), ("anisotropic", "channelwise"),
                                       ("isotropic", "channelwise"), ("anisotropic", "vectorial")])
def test_certified_gap_bounds_the_true_gap(tv, color):
    rng = np.random.default_rng(1)
    observed = np.clip(0.5 + 0.2 * rng.standard_normal((2, 24, 20, 3)), 0, 1)
    weights = np.array([0.05, 0.2])
    out = solve_pdhg(observed, weights, tv=tv, color=color, gap=1e-4, dtype="float64")
    assert out.converged.all()
    for b in range(2):
        exact, _ = reference.solve_exact(observed[b], weights[b], tv, color, gap=1e-10)
        best = reference.objective(exact, observed[b], weights[b], tv, color)
        true_gap = (reference.objective(out.solution[b], observed[b], weights[b], tv, color) - best) / best
        assert -1e-9 <= true_gap <= out.certified_gap[b] <= 1e-4


def test_matches_skimage_chambolle_run_to_convergence():
    from skimage.restoration import denoise_tv_chambolle

    rng = np.random.default_rng(2)
    observed = np.clip(0.5 + 0.1 * rng.standard_normal((32, 32)), 0, 1)
    out = solve_pdhg(observed[None, ..., None], np.array([0.1]), gap=1e-8, dtype="float64")
    tight = denoise_tv_chambolle(observed, weight=0.1, eps=1e-12, max_num_iter=50000)
    assert np.max(np.abs(out.solution[0, ..., 0] - tight)) < 1e-3


@pytest.mark.parametrize("tv, color", [("isotropic", "vectorial"), ("anisotropic", "channelwise")])
def test_exact_mode_of_denoise_certifies_its_result(tv, color):
    from tvrestore import denoise

    rng = np.random.default_rng(3)
    noisy = np.clip(0.5 + 0.15 * rng.standard_normal((20, 26, 3)), 0, 1).astype(np.float32)
    restored, result = denoise(noisy, 0.1, tv=tv, color=color, solver="pdhg", gap=1e-5)
    assert result.solver == "pdhg" and result.converged
    exact, _ = reference.solve_exact(np.float64(noisy), 0.1, tv, color, gap=1e-10)
    best = reference.objective(exact, noisy, 0.1, tv, color)
    true_gap = (reference.objective(restored, noisy, 0.1, tv, color) - best) / best
    assert -1e-7 <= true_gap <= result.certified_gap <= 1e-5
    assert result.objective == pytest.approx(best * (1 + true_gap), rel=1e-9)


def test_exact_mode_with_zero_weight_returns_the_input_with_gap_zero():
    from tvrestore import denoise

    noisy = np.random.default_rng(4).random((8, 9)).astype(np.float32)
    restored, result = denoise(noisy, 0.0, solver="pdhg")
    assert np.array_equal(restored, noisy)
    assert result.certified_gap == 0.0 and result.iterations == 0


def test_certificate_is_never_below_the_true_gap_even_early():
    # Regression: an early dual point of a large weight has D(p) < 0, and
    # (E - D) / D came out negative, which stopped the solver at once as
    # "converged". Every certificate, at any iteration cap, bounds the gap.
    from skimage import data, transform

    clean = transform.resize(data.moon() / 255.0, (32, 32))  # dark: D(p) < 0 at first
    observed = clean + 25 / 255 * np.random.default_rng(0).standard_normal(clean.shape)
    observed = np.clip(observed, 0, 1)[None, ..., None]
    exact, _ = reference.solve_exact(observed[0], 0.3, gap=1e-8)
    best = reference.objective(exact, observed[0], 0.3)
    for max_iter in (10, 20, 40, 200):
        out = solve_pdhg(observed, np.array([0.3]), gap=1e-4, max_iter=max_iter, dtype="float64")
        true_gap = (reference.objective(out.solution[0], observed[0], 0.3) - best) / best
        assert true_gap - 1e-8 <= out.certified_gap[0], (max_iter, true_gap, out.certified_gap[0])
        assert out.converged[0] == (out.certified_gap[0] <= 1e-4)


def test_exact_mode_solves_mixed_sizes_in_one_call_each_certified():
    from tvrestore import denoise_batch
    from tvrestore.models.shapes import solve_shape

    rng = np.random.default_rng(6)
    images = [np.clip(0.5 + 0.15 * rng.standard_normal(shape), 0, 1).astype(np.float32)
              for shape in [(20, 26), (17, 30), (24, 19)]]
    assert len({solve_shape(image.shape) for image in images}) == 1
    weights = [0.05, 0.3, 0.1]
    pairs = denoise_batch(images, weights, solver="pdhg", gap=1e-5)
    assert len({(r.solve_seconds, r.compile_seconds) for _, r in pairs}) == 1  # one call
    for image, w, (restored, result) in zip(images, weights, pairs):
        assert restored.shape == image.shape and result.converged
        exact, _ = reference.solve_exact(np.float64(image), w, gap=1e-10)
        best = reference.objective(exact, image, w)
        true_gap = (reference.objective(restored, image, w) - best) / best
        assert -1e-7 <= true_gap <= result.certified_gap <= 1e-5
    # Each image reports its own iterations: the large weight needs the most.
    assert pairs[1][1].iterations == max(result.iterations for _, result in pairs)
    assert pairs[0][1].iterations < pairs[1][1].iterations


@pytest.mark.parametrize("fidelity", [L1(), KL(background=0.05)], ids=["l1", "kl"])
@pytest.mark.parametrize("model", ["denoise", "blur"])
def test_a_new_fidelity_reaches_the_exact_mode_with_an_honest_certificate(fidelity, model):
    # Writing a fidelity class is all a noise model needs: its proximal maps
    # drive both splittings and its conjugate bounds the gap from below.
    from tvrestore.models.operators import Blur
    from tvrestore.models.psf import parse_psf

    rng = np.random.default_rng(5)
    scene = np.kron(rng.random((3, 3)), np.ones((4, 4)))[None, ..., None] + 0.2
    observed = scene + 0.1 * rng.standard_normal(scene.shape)
    if fidelity.name == "kl":
        observed = rng.poisson(20 * scene) / 20.0
    options = dict(fidelity=fidelity, dtype="float64")
    if model == "blur":
        blur = Blur(parse_psf("box:3"))
        observed = observed[:, 1:-1, 1:-1]
        options.update(operator=blur, box=(0.0, 2.0), initial=np.pad(observed, [(0, 0), (1, 1), (1, 1), (0, 0)], "edge"))
    best = solve_pdhg(observed, np.array([0.05]), gap=1e-7, max_iter=200000, **options)
    assert best.converged[0] and best.lower_bound[0] <= best.history.values["objective"][-1, 0]
    for max_iter in (20, 100, 400):
        early = solve_pdhg(observed, np.array([0.05]), gap=1e-9, max_iter=max_iter, **options)
        energy = early.history.values["objective"][-1, 0]
        # The best run's E is at least E*, so this underestimates the true gap.
        best_energy = best.history.values["objective"][-1, 0]
        assert (energy - best_energy) / best_energy <= early.certified_gap[0] + 1e-9, max_iter
        assert early.lower_bound[0] <= best_energy * (1 + 1e-9)
    assert early.certified_gap[0] < 0.2  # a bound that says something, not infinity


@pytest.mark.parametrize("model", ["denoise", "mask", "blur+mask"])
def test_l1_certified_gap_bounds_the_true_gap_against_the_float64_oracle(model):
    # Impulse noise's fidelity in the exact mode, judged against the
    # independent oracle (tests/reference.py), with and without an operator.
    from tvrestore.models.operators import Blur
    from tvrestore.models.psf import parse_psf

    rng = np.random.default_rng(8)
    psf = parse_psf("box:3") if "blur" in model else None
    data_hw = (12, 12)
    missing = rng.random(data_hw) < 0.3 if "mask" in model else None
    oracle = reference.ForwardModel(psf=psf, missing=missing)
    scene = np.kron(rng.random((3, 3)), np.ones((5, 5)))[..., None] * 0.8 + 0.1
    unknown_hw = oracle.input_shape(data_hw)
    observed = oracle.apply(scene[: unknown_hw[0], : unknown_hw[1]])
    observed = np.where(rng.random(observed.shape) < 0.25, rng.random(observed.shape), observed)
    weight, box = 0.4, (0.0, 1.0)
    options = dict(fidelity=L1(), dtype="float64", gap=1e-9)
    if model != "denoise":
        options.update(box=box, missing=missing[None, ..., None].astype(np.float64),
                       initial=np.full((1, *unknown_hw, 1), 0.5),
                       operator=None if psf is None else Blur(psf))
    exact, exact_gap = reference.solve_restoration(observed, weight, oracle, box=box, gap=1e-5,
                                                   fidelity="l1")
    # E* lies in [best / (1 + exact_gap), best].
    best = reference.restoration_objective(exact, observed, weight, oracle, fidelity="l1")
    for max_iter in (20, 200, 2000):
        out = solve_pdhg(observed[None], np.array([weight]), max_iter=max_iter, **options)
        energy = reference.restoration_objective(out.solution[0], observed, weight, oracle,
                                                 fidelity="l1")
        # (E - best) / best is at most the true gap, so at most the certificate.
        assert (energy - best) / best <= out.certified_gap[0] + 1e-12, max_iter
        assert best / (1 + exact_gap) <= energy * (1 + 1e-12)
        assert out.lower_bound[0] <= best * (1 + 1e-12)
    # A bound that says something (measured at 2000: 0 denoising, 3e-3
    # masked, 7.5e-3 blurred and masked: constant steps, O(1/k)).
    assert out.certified_gap[0] < 0.02
