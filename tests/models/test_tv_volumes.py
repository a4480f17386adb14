"""N-D total variation with voxel spacing against the float64 oracle of tests/reference.py."""

import numpy as np
import pytest

import reference
from tvrestore import TVRestoreError
from tvrestore.backend.tf import tf
from tvrestore.models.tv import divergence, forward_differences, gradient_norm_sq, total_variation

SPACINGS = [(1.0, 1.0, 1.0), (5.6, 1.0, 1.0), (2.0, 0.5, 1.5)]


def volume(shape=(5, 6, 7, 2), seed=0):
    return np.random.default_rng(seed).standard_normal(shape)


@pytest.mark.parametrize("spacing", SPACINGS)
@pytest.mark.parametrize("tv", ["isotropic", "anisotropic"])
@pytest.mark.parametrize("color", ["vectorial", "channelwise"])
def test_volume_tv_matches_the_float64_oracle(spacing, tv, color):
    u = volume()
    value = float(total_variation(tf.constant(u[None]), tv, color, spacing=spacing)[0])
    if color == "channelwise":
        expected = sum(reference.total_variation_nd(u[..., c:c + 1], spacing, tv) for c in range(2))
    else:
        expected = reference.total_variation_nd(u, spacing, tv, color)
    assert value == pytest.approx(expected, rel=1e-12)


@pytest.mark.parametrize("spacing", SPACINGS)
def test_volume_divergence_is_the_negative_adjoint_of_the_gradient(spacing):
    rng = np.random.default_rng(1)
    u = tf.constant(rng.standard_normal((2, 4, 6, 5, 3)))
    extents = tf.constant([[4, 6, 5], [3, 4, 2]], tf.float64)
    differences = forward_differences(u, extents, spacing=spacing)
    # Fields that are 0 wherever the differences are, as the dual field is.
    fields = [tf.where(d != 0, tf.constant(rng.standard_normal(u.shape)), 0.0) for d in differences]
    inner = sum(float(tf.reduce_sum(d * p)) for d, p in zip(differences, fields))
    assert inner == pytest.approx(-float(tf.reduce_sum(u * divergence(*fields, spacing=spacing))),
                                  rel=1e-12)
    # And against the oracle's gradient and divergence, with no extents.
    for tf_d, ref_d in zip(forward_differences(u, spacing=spacing),
                           reference.gradient_nd(u.numpy()[0], spacing)):
        np.testing.assert_allclose(tf_d.numpy()[0], ref_d, rtol=1e-13, atol=1e-15)
    p = rng.standard_normal((3, 4, 6, 5, 3))
    np.testing.assert_allclose(
        divergence(*(tf.constant(c[None]) for c in p), spacing=spacing).numpy()[0],
        reference.divergence_nd(p, spacing), rtol=1e-12, atol=1e-14)


def test_a_step_scales_its_axis_difference_only():
    # A volume that changes along z alone: TV / h_z, whatever h_y and h_x.
    u = np.broadcast_to(np.arange(4.0)[:, None, None, None], (4, 3, 3, 1))
    unit = float(total_variation(tf.constant(u[None]))[0])
    assert float(total_variation(tf.constant(u[None]), spacing=(4.0, 0.5, 3.0))[0]) == pytest.approx(unit / 4)


def test_an_image_with_unit_spacing_is_the_image_without_one():
    u = tf.constant(volume((9, 8, 3))[None], tf.float32)
    for tv in ("isotropic", "anisotropic"):
        assert total_variation(u, tv, spacing=(1, 1)).numpy() == total_variation(u, tv).numpy()
    assert total_variation(u, spacing=(2.0, 1.0)).numpy() != total_variation(u).numpy()


def test_the_gradient_norm_bound_holds_by_power_iteration():
    rng = np.random.default_rng(2)
    spacing = (3.0, 0.7, 1.0)
    u = tf.constant(rng.standard_normal((1, 6, 7, 8, 1)))
    for _ in range(200):
        u = -divergence(*forward_differences(u, spacing=spacing), spacing=spacing)
        u = u / tf.norm(u)
    estimate = -float(tf.reduce_sum(u * divergence(*forward_differences(u, spacing=spacing), spacing=spacing)))
    assert estimate <= gradient_norm_sq(3, spacing) + 1e-9
    assert estimate > 0.7 * gradient_norm_sq(3, spacing)


@pytest.mark.parametrize("spacing", [(0, 1, 1), (-1, 1, 1), (float("nan"), 1, 1), (1, 1)])
def test_a_bad_spacing_is_refused(spacing):
    with pytest.raises(TVRestoreError):
        total_variation(tf.constant(volume()[None]), spacing=spacing)
