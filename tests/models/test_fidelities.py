"""Each fidelity's proximal maps and conjugate against numeric optimisation, value by value."""

import numpy as np
import pytest
from scipy import optimize

from tvrestore.backend.tf import tf
from tvrestore.models.fidelities import KL, L1, L2

# Tiny vectors (one image of 2x3 values), in float64.
RNG = np.random.default_rng(19)
POINTS = RNG.normal(0.4, 0.8, (1, 2, 3, 1))
OBSERVED = {"l2": RNG.random((1, 2, 3, 1)), "l1": RNG.random((1, 2, 3, 1)),
            # Counts, one of them zero (the log term's edge case).
            "kl": np.array([0.0, 1.0, 3.0, 7.0, 0.5, 12.0]).reshape(1, 2, 3, 1)}
FIDELITIES = [L2(), L1(), KL(), KL(background=0.7)]


def _scalar(fidelity, method, value, observed, *args):
    """``fidelity.method`` of one value, through the (B, H, W, C) interface."""
    shape = (1, 1, 1, 1)
    out = getattr(fidelity, method)(tf.constant(np.full(shape, value)), *args,
                                    tf.constant(np.full(shape, observed)))
    return float(np.asarray(out).ravel()[0])


def _phi(fidelity, z, f):
    return _scalar(fidelity, "value", z, f)


@pytest.mark.parametrize("fidelity", FIDELITIES, ids=lambda f: f"{f.name}{getattr(f, 'background', '')}")
@pytest.mark.parametrize("step", [0.05, 0.7, 3.0])
def test_prox_is_the_numeric_argmin(fidelity, step):
    observed = OBSERVED[fidelity.name]
    prox = fidelity.prox(tf.constant(POINTS), tf.constant(step, tf.float64), tf.constant(observed)).numpy()
    background = getattr(fidelity, "background", 0.0)
    for v, f, p in zip(POINTS.ravel(), observed.ravel(), prox.ravel()):
        # On the domain (z > -b for KL), bracketed wide around v.
        low = -background + 1e-12 if fidelity.name == "kl" else v - 10
        result = optimize.minimize_scalar(
            lambda z: step * _phi(fidelity, z, f) + 0.5 * (z - v) ** 2,
            bounds=(low, v + 10), method="bounded", options={"xatol": 1e-12},
        )
        assert p == pytest.approx(result.x, abs=1e-6), (v, f)
        # And no point nearby does better.
        best = step * _phi(fidelity, p, f) + 0.5 * (p - v) ** 2
        assert best <= result.fun + 1e-12


@pytest.mark.parametrize("fidelity", FIDELITIES, ids=lambda f: f"{f.name}{getattr(f, 'background', '')}")
def test_conjugate_is_the_numeric_supremum_and_its_prox_the_numeric_argmin(fidelity):
    observed = OBSERVED[fidelity.name]
    # Duals inside the conjugate's domain (|q| <= 1 for L1, q < 1 for KL).
    duals = np.tanh(POINTS) * 0.9
    conjugate_values = fidelity.conjugate_values(tf.constant(duals), tf.constant(observed)).numpy()
    background = getattr(fidelity, "background", 0.0)
    for q, f, value in zip(duals.ravel(), observed.ravel(), conjugate_values.ravel()):
        low = -background + 1e-12 if fidelity.name == "kl" else -200
        result = optimize.minimize_scalar(
            lambda z: _phi(fidelity, z, f) - q * z, bounds=(low, 200), method="bounded",
            options={"xatol": 1e-12},
        )
        assert value == pytest.approx(-result.fun, abs=1e-6), (q, f)
    step = 0.6
    moved = fidelity.conjugate_prox(tf.constant(POINTS), tf.constant(step, tf.float64),
                                    tf.constant(observed)).numpy()
    for v, f, p in zip(POINTS.ravel(), observed.ravel(), moved.ravel()):
        def objective(q):
            return step * _scalar(fidelity, "conjugate_values", q, f) + 0.5 * (q - v) ** 2
        high = 1 - 1e-12 if fidelity.name in ("kl", "l1") else v + 10
        low = -1 + 1e-12 if fidelity.name == "l1" else v - 10
        result = optimize.minimize_scalar(objective, bounds=(low, high), method="bounded",
                                          options={"xatol": 1e-12})
        assert p == pytest.approx(result.x, abs=1e-5), (v, f)


@pytest.mark.parametrize("fidelity", FIDELITIES, ids=lambda f: f"{f.name}{getattr(f, 'background', '')}")
def test_fenchel_young_and_the_gradient(fidelity):
    # F(z) + F*(q) >= <q, z> for all z, q, with equality at q = grad F(z): the
    # certificate's lower bound rests on the first, its dual candidate on the second.
    observed = tf.constant(OBSERVED[fidelity.name])
    z = tf.constant(np.abs(POINTS) + 0.1)
    q = fidelity.gradient(z, observed)
    at_gradient = fidelity(z, observed) + fidelity.conjugate(q, observed)
    np.testing.assert_allclose(at_gradient.numpy(), tf.reduce_sum(q * z).numpy(), rtol=1e-9, atol=1e-9)
    other = tf.constant(np.tanh(POINTS[:, ::-1]) * 0.5)
    assert (fidelity(z, observed) + fidelity.conjugate(other, observed)).numpy() >= \
        tf.reduce_sum(other * z).numpy() - 1e-12


def test_values_that_are_not_fitted_are_ignored_by_every_map():
    fitted = tf.constant(np.array([1.0, 0.0, 1.0, 0.0, 1.0, 1.0]).reshape(1, 2, 3, 1))
    observed = tf.constant(OBSERVED["l1"])
    points = tf.constant(POINTS)
    for fidelity in (L2(), L1()):
        np.testing.assert_allclose(
            fidelity(points, observed, fitted).numpy(),
            tf.reduce_sum(fitted * fidelity.value(points, observed)).numpy())
        prox = fidelity.prox(points, tf.constant(0.5, tf.float64), observed, fitted).numpy()
        assert np.array_equal(prox[fitted.numpy() == 0], POINTS[fitted.numpy() == 0])
        moved = fidelity.conjugate_prox(points, tf.constant(0.5, tf.float64), observed, fitted).numpy()
        assert np.all(moved[fitted.numpy() == 0] == 0)


def test_l2_value_and_maps_in_closed_form():
    observed = OBSERVED["l2"]
    l2 = L2()
    assert l2(tf.constant(POINTS), tf.constant(observed)).numpy()[0] == pytest.approx(
        0.5 * np.sum((POINTS - observed) ** 2), rel=1e-12)
    assert l2.strong_convexity == 1.0 and L1().strong_convexity == 0.0
    assert l2.loss_scale(7 * 6 * 3, "mean") == 1 / (7 * 6 * 3) and l2.loss_scale(5, "sum") == 1.0


@pytest.mark.parametrize("fidelity", FIDELITIES, ids=lambda f: f"{f.name}{getattr(f, 'background', '')}")
def test_the_exact_modes_steps_are_the_maps_after_a_step(fidelity):
    # L2 writes them in its own order of operations; every fidelity's must
    # still be prox(v + tau d) and prox*(q + sigma d).
    observed = tf.constant(OBSERVED[fidelity.name])
    values, direction = tf.constant(POINTS), tf.constant(np.cos(7 * POINTS))
    step = tf.constant(0.3, tf.float64)
    np.testing.assert_allclose(
        fidelity.prox_of_step(values, direction, step, observed).numpy(),
        fidelity.prox(values + step * direction, step, observed).numpy(), rtol=1e-12, atol=1e-12)
    np.testing.assert_allclose(
        fidelity.conjugate_prox_of_step(values, direction, step, observed).numpy(),
        fidelity.conjugate_prox(values + step * direction, step, observed).numpy(),
        rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("fidelity", FIDELITIES, ids=lambda f: f"{f.name}{getattr(f, 'background', '')}")
def test_dual_scale_is_the_largest_that_keeps_the_conjugate_finite(fidelity):
    # The exact mode's denoising bound -F*(theta div p) needs theta q in F*'s
    # domain; theta is at most 1 (theta p stays feasible) and no larger than needed.
    observed = tf.constant(OBSERVED[fidelity.name])
    duals = tf.constant(POINTS * 3.0)  # some values well outside KL's and L1's domains
    theta = fidelity.dual_scale(duals, observed).numpy()
    assert theta.shape == (1, 1, 1, 1) and 0 < theta.item() <= 1
    assert np.isfinite(fidelity.conjugate(duals * theta, observed).numpy()).all()
    if theta.item() < 1:
        beyond = fidelity.conjugate(duals * min(1.0, theta.item() * 1.01), observed).numpy()
        assert not np.isfinite(beyond).all()
    inside = tf.constant(np.full((1, 2, 3, 1), 0.5))
    assert fidelity.dual_scale(inside, observed).numpy().item() == 1.0
