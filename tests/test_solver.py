"""The Adam solver on problems with a closed-form answer."""

import numpy as np
import pytest

from tvrestore._tf import tf
from tvrestore.solver import AdamSettings, AdamSolver


def scaled_quadratic(u, loss_scales, target):
    # s * 1/2 |u - target|^2 per item: minimizer `target` whatever s is.
    return loss_scales * 0.5 * tf.reduce_sum((u - target) ** 2, axis=[1, 2])


def l1_to_target(u, loss_scales, target):
    # A nonsmooth loss, like TV: minimizer `target`, gradient sign(u - target).
    return loss_scales * tf.reduce_sum(tf.abs(u - target), axis=[1, 2])


@pytest.fixture(scope="module")
def target():
    return np.random.default_rng(0).uniform(-1, 1, (3, 5, 4)).astype(np.float32)


@pytest.mark.parametrize("loss_fn", [scaled_quadratic, l1_to_target])
def test_reaches_the_closed_form_minimizer(loss_fn, target):
    solver = AdamSolver(loss_fn, AdamSettings())
    output = solver.minimize(np.zeros_like(target), np.ones(3), target)
    assert output.converged.all()
    # The final step size bounds how far a converged item can sit from the answer.
    assert np.max(np.abs(output.solution - target)) < 10 * AdamSettings().min_learning_rate


def test_loss_scale_with_matching_epsilon_scale_changes_nothing(target):
    solver = AdamSolver(scaled_quadratic, AdamSettings())
    unit = solver.minimize(np.zeros_like(target), np.ones(3), target)
    tiny = solver.minimize(np.zeros_like(target), np.full(3, 1e-7), target)
    np.testing.assert_allclose(unit.solution, tiny.solution, atol=1e-6)
    np.testing.assert_array_equal(unit.iterations, tiny.iterations)


def test_items_stop_on_their_own(target):
    # Item 0 starts at its answer: it plateaus at once and must stop early,
    # while the others keep going; no item is moved by another's schedule.
    start = np.zeros_like(target)
    start[0] = target[0]
    output = AdamSolver(scaled_quadratic, AdamSettings()).minimize(start, np.ones(3), target)
    assert output.converged.all()
    assert output.iterations[0] < output.iterations[1:].min()
    np.testing.assert_allclose(output.solution[0], target[0], atol=1e-3)


def test_max_iter_caps_and_reports(target):
    solver = AdamSolver(scaled_quadratic, AdamSettings())
    first = solver.minimize(np.zeros_like(target), np.ones(3), target, max_iter=7)
    again = solver.minimize(np.zeros_like(target), np.ones(3), target, max_iter=7)
    np.testing.assert_array_equal(first.iterations, 7)
    assert not first.converged.any()
    assert first.compile_seconds > 0 and again.compile_seconds == 0.0  # compiled once
    np.testing.assert_array_equal(first.solution, again.solution)


def test_tighter_tol_keeps_the_step_large_for_longer(target):
    # Far from the answer the loss falls by a few percent per window: a loose
    # tolerance calls that a plateau and shrinks the step too early.
    solver = AdamSolver(l1_to_target, AdamSettings())
    far = target + 5
    loose = solver.minimize(far, np.ones(3), target, tol=1e-1)
    tight = solver.minimize(far, np.ones(3), target, tol=1e-4)
    assert tight.iterations.min() > loose.iterations.max()
    assert np.abs(tight.solution - target).max() < 0.01 < np.abs(loose.solution - target).max()


@pytest.mark.parametrize(
    "settings",
    [
        {"learning_rate": 0.0},
        {"min_learning_rate": 1.0, "learning_rate": 0.1},
        {"decay": 1.0},
        {"window": 0},
    ],
)
def test_rejects_bad_settings(settings):
    with pytest.raises(ValueError):
        AdamSettings(**settings)
