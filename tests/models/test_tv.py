"""Total variation: known values, the norms' definitions, and gradients."""

import numpy as np
import pytest

from tvrestore.backend.tf import tf
from tvrestore.models.tv import divergence, forward_differences, total_variation


def batch(array):
    array = np.asarray(array, np.float64)
    return tf.constant(array.reshape(1, array.shape[0], array.shape[1], -1))


@pytest.mark.parametrize("tv", ["isotropic", "anisotropic"])
@pytest.mark.parametrize("color", ["vectorial", "channelwise"])
def test_constant_image_has_zero_tv(tv, color):
    assert float(total_variation(batch(np.full((5, 7, 3), 0.3)), tv, color)[0]) == 0.0


def test_forward_differences_have_neumann_boundary():
    image = np.arange(12.0).reshape(3, 4)
    dy, dx = forward_differences(batch(image))
    np.testing.assert_array_equal(dy.numpy()[0, :, :, 0], [[4] * 4, [4] * 4, [0] * 4])
    np.testing.assert_array_equal(dx.numpy()[0, :, :, 0], [[1, 1, 1, 0]] * 3)


def test_known_values_on_a_2x2_image():
    # dy = [[3, 4], [0, 0]], dx = [[0, 0], [4, 0]] from [[0, 0], [3, 4]]... by hand:
    image = np.array([[0.0, 0.0], [3.0, 4.0]])
    # pixel (0,0): dy=3, dx=0; (0,1): dy=4, dx=0; (1,0): dy=0, dx=1; (1,1): 0.
    assert float(total_variation(batch(image), "isotropic")[0]) == pytest.approx(3 + 4 + 1)
    image = np.array([[0.0, 3.0], [4.0, 0.0]])
    # (0,0): dy=4, dx=3 -> 5 iso, 7 aniso; (0,1): dy=-3; (1,0): dx=-4.
    assert float(total_variation(batch(image), "isotropic")[0]) == pytest.approx(5 + 3 + 4)
    assert float(total_variation(batch(image), "anisotropic")[0]) == pytest.approx(7 + 3 + 4)


def test_colour_modes_match_their_definitions():
    rng = np.random.default_rng(1)
    image = rng.random((6, 5, 3))
    dy, dx = (d.numpy()[0] for d in forward_differences(batch(image)))
    expected = {
        ("isotropic", "vectorial"): np.sqrt((dy**2 + dx**2).sum(-1)).sum(),
        ("isotropic", "channelwise"): np.sqrt(dy**2 + dx**2).sum(),
        ("anisotropic", "vectorial"): (np.sqrt((dy**2).sum(-1)) + np.sqrt((dx**2).sum(-1))).sum(),
        ("anisotropic", "channelwise"): (np.abs(dy) + np.abs(dx)).sum(),
    }
    for (tv, color), value in expected.items():
        assert float(total_variation(batch(image), tv, color)[0]) == pytest.approx(value, rel=1e-12)
    # Coupling the channels under one norm can only lower the sum (triangle inequality).
    assert expected[("isotropic", "vectorial")] < expected[("isotropic", "channelwise")]


def test_one_channel_colour_modes_agree_and_batch_items_are_independent():
    rng = np.random.default_rng(2)
    images = tf.constant(rng.random((3, 8, 9, 1)))
    vectorial = total_variation(images, "isotropic", "vectorial").numpy()
    channelwise = total_variation(images, "isotropic", "channelwise").numpy()
    np.testing.assert_allclose(vectorial, channelwise, rtol=1e-12)
    alone = [float(total_variation(images[i : i + 1])[0]) for i in range(3)]
    np.testing.assert_allclose(vectorial, alone, rtol=1e-12)


def test_gradient_matches_finite_differences_away_from_kinks():
    rng = np.random.default_rng(3)
    image = tf.Variable(rng.random((1, 6, 6, 2)))
    with tf.GradientTape() as tape:
        value = total_variation(image)[0]
    gradient = tape.gradient(value, image).numpy()
    step = 1e-6
    for index in [(0, 2, 3, 0), (0, 5, 5, 1), (0, 0, 0, 1)]:
        bumped = image.numpy().copy()
        bumped[index] += step
        numeric = (float(total_variation(tf.constant(bumped))[0]) - float(value)) / step
        assert gradient[index] == pytest.approx(numeric, rel=1e-4)


def test_gradient_at_a_flat_image_is_the_zero_subgradient():
    image = tf.Variable(np.full((1, 4, 4, 1), 0.5, np.float32))
    with tf.GradientTape() as tape:
        value = total_variation(image)[0]
    gradient = tape.gradient(value, image).numpy()
    assert np.all(np.isfinite(gradient)) and np.all(gradient == 0)


def test_rejects_unknown_norms():
    with pytest.raises(ValueError, match="tv must be"):
        total_variation(batch(np.zeros((2, 2))), "huber")
    with pytest.raises(ValueError, match="color must be"):
        total_variation(batch(np.zeros((2, 2))), color="rgb")


def test_divergence_is_the_negative_adjoint_of_the_gradient():
    rng = np.random.default_rng(0)
    u = tf.constant(rng.standard_normal((2, 5, 7, 3)))
    py, px = (tf.constant(rng.standard_normal((2, 5, 7, 3))) for _ in range(2))
    dy, dx = forward_differences(u)
    inner = tf.reduce_sum(dy * py + dx * px)
    assert float(inner) == pytest.approx(-float(tf.reduce_sum(u * divergence(py, px))), rel=1e-12)


@pytest.mark.parametrize("channels", [1, 3])
@pytest.mark.parametrize("tv", ["isotropic", "anisotropic"])
@pytest.mark.parametrize("color", ["vectorial", "channelwise"])
def test_hcw_layout_gives_the_same_tv_and_gradient(channels, tv, color):
    # The Adam solver holds colour as (B, H, C, W); padded batch slots too.
    rng = np.random.default_rng(4)
    images = tf.constant(rng.random((2, 7, 9, channels)))
    extents = tf.constant([[7, 9], [5, 6]])
    hcw = tf.transpose(images, [0, 1, 3, 2])

    with tf.GradientTape(persistent=True) as tape:
        tape.watch([images, hcw])
        by_hwc = total_variation(images, tv, color, extents)
        by_hcw = total_variation(hcw, tv, color, extents, layout="hcw")

    np.testing.assert_allclose(by_hcw.numpy(), by_hwc.numpy(), rtol=1e-12)
    np.testing.assert_allclose(
        tf.transpose(tape.gradient(by_hcw, hcw), [0, 1, 3, 2]).numpy(),
        tape.gradient(by_hwc, images).numpy(), rtol=1e-12, atol=1e-15)


def test_rejects_an_unknown_layout():
    with pytest.raises(ValueError, match="layout"):
        total_variation(batch(np.zeros((3, 3))), layout="chw")


def test_hcw_differences_and_divergence_are_the_transposed_hwc_ones():
    rng = np.random.default_rng(5)
    images = tf.constant(rng.random((2, 6, 7, 3)))
    extents = tf.constant([[6, 7], [4, 5]])
    to_hcw = lambda t: tf.transpose(t, [0, 1, 3, 2])  # noqa: E731

    dy, dx = forward_differences(images, extents)
    hcw_dy, hcw_dx = forward_differences(to_hcw(images), extents, layout="hcw")
    np.testing.assert_array_equal(hcw_dy.numpy(), to_hcw(dy).numpy())
    np.testing.assert_array_equal(hcw_dx.numpy(), to_hcw(dx).numpy())
    np.testing.assert_array_equal(divergence(hcw_dy, hcw_dx, layout="hcw").numpy(),
                                  to_hcw(divergence(dy, dx)).numpy())
