"""The denoising problem (A = I, L2): its value and how each reduction scales it."""

import numpy as np
import pytest

import reference
from tvrestore.backend.tf import tf
from tvrestore.models.problem import Problem


@pytest.fixture(scope="module")
def problem():
    rng = np.random.default_rng(0)
    observed = rng.random((2, 7, 6, 3))
    images = observed + 0.1 * rng.standard_normal(observed.shape)
    return images, observed, np.array([0.05, 0.3])


@pytest.mark.parametrize("tv", ["isotropic", "anisotropic"])
@pytest.mark.parametrize("color", ["vectorial", "channelwise"])
def test_energy_matches_the_reference_definition(problem, tv, color):
    images, observed, weights = problem
    energy = Problem(tv=tv, color=color).energy(
        tf.constant(images), tf.constant(observed), tf.constant(weights)
    )
    expected = [reference.objective(images[b], observed[b], weights[b], tv, color) for b in range(2)]
    np.testing.assert_allclose(energy.numpy(), expected, rtol=1e-12)


def test_mean_loss_is_energy_over_value_count_and_sum_loss_is_energy(problem):
    images, observed, weights = problem
    args = [tf.constant(images), None, tf.constant(observed), tf.constant(weights)]
    for reduction, scale in (("sum", 1.0), ("mean", 1.0 / (7 * 6 * 3))):
        objective = Problem(reduction=reduction)
        assert objective.loss_scale((7, 6, 3)) == scale
        args[1] = tf.constant([scale, scale], tf.float64)
        energy = objective.energy(args[0], args[2], args[3]).numpy()
        np.testing.assert_allclose(objective.loss(*args).numpy(), scale * energy, rtol=1e-12)


def test_mean_loss_gradient_is_sum_loss_gradient_over_value_count(problem):
    images, observed, weights = problem
    gradients = {}
    for reduction in ("sum", "mean"):
        objective = Problem(reduction=reduction)
        scale = objective.loss_scale(images.shape[1:])
        variable = tf.Variable(images)
        with tf.GradientTape() as tape:
            total = tf.reduce_sum(
                objective.loss(variable, tf.constant([scale] * 2, tf.float64),
                               tf.constant(observed), tf.constant(weights))
            )
        gradients[reduction] = tape.gradient(total, variable).numpy()
    np.testing.assert_allclose(gradients["mean"] * images[0].size, gradients["sum"], rtol=1e-10)


def test_rejects_unknown_settings():
    with pytest.raises(ValueError, match="reduction"):
        Problem(reduction="median")


@pytest.mark.parametrize("tv", ["isotropic", "anisotropic"])
@pytest.mark.parametrize("color", ["vectorial", "channelwise"])
def test_zero_padding_with_extents_changes_neither_energy_nor_gradient(problem, tv, color):
    images, observed, weights = problem
    objective = Problem(tv=tv, color=color)
    padded_images, padded_observed = (np.zeros((2, 12, 9, 3)) for _ in range(2))
    padded_images[:, :7, :6] = images
    padded_observed[:, :7, :6] = observed
    extents = tf.constant([[7.0, 6.0], [7.0, 6.0]], tf.float64)

    def energy_and_gradient(u, f, *extra):
        u = tf.Variable(u)
        with tf.GradientTape() as tape:
            energy = objective.energy(u, tf.constant(f), tf.constant(weights), *extra)
            total = tf.reduce_sum(energy)
        return energy.numpy(), tape.gradient(total, u).numpy()

    energy, gradient = energy_and_gradient(images, observed)
    padded_energy, padded_gradient = energy_and_gradient(padded_images, padded_observed, extents)
    np.testing.assert_allclose(padded_energy, energy, rtol=1e-12)
    np.testing.assert_allclose(padded_gradient[:, :7, :6], gradient, rtol=1e-10, atol=1e-12)
    # The padding feels no force, so it stays at zero under any optimizer.
    assert not np.any(padded_gradient[:, 7:]) and not np.any(padded_gradient[:, :, 6:])


def test_energy_value_in_bands_of_rows_equals_the_whole_image_energy(monkeypatch):
    import tvrestore.models.problem

    rng = np.random.default_rng(5)
    observed = rng.random((2, 11, 6, 3))
    images = observed + 0.1 * rng.standard_normal(observed.shape)
    weights = np.array([0.05, 0.3])
    for tv, color in [("isotropic", "vectorial"), ("anisotropic", "channelwise")]:
        objective = Problem(tv=tv, color=color)
        whole = objective.energy_value(images, observed, weights)
        monkeypatch.setattr(tvrestore.models.problem, "_BAND_VALUES", 2 * 6 * 3 * 4)  # bands of 4 rows
        banded = objective.energy_value(images, observed, weights)
        single = objective.energy_value(images[1], observed[1], weights[1])
        monkeypatch.undo()
        np.testing.assert_allclose(banded, whole, rtol=1e-13)
        assert single == pytest.approx(whole[1], rel=1e-13)
        expected = [reference.objective(images[b], observed[b], weights[b], tv, color) for b in range(2)]
        np.testing.assert_allclose(whole, expected, rtol=1e-12)
