"""TV's written gradient against the one TensorFlow derives from the same value."""

import numpy as np
import pytest

from tvrestore.backend.tf import tf
from tvrestore.models.tv import _total_variation, check_spacing, spatial_axes, total_variation

# (shape, layout, extents, spacing): volumes, grey images, colour held
# channel-last and colour held as the Adam solver holds it, (B, H, C, W).
CASES = {
    "volume": ((2, 5, 6, 7, 2), "hwc", [[5, 6, 7], [4, 5, 6]], None),
    "volume spaced": ((2, 5, 6, 7, 2), "hwc", [[5, 6, 7], [4, 5, 6]], (5.6, 1.0, 1.0)),
    "grey": ((2, 6, 7, 1), "hwc", [[6, 7], [5, 4]], None),
    "grey spaced": ((2, 6, 7, 1), "hwc", None, (2.5, 1.0)),
    "colour hwc": ((2, 6, 7, 3), "hwc", [[6, 7], [5, 4]], None),
    "colour hcw": ((2, 6, 3, 7), "hcw", [[6, 7], [5, 4]], None),
}


def _with_flat_blocks(shape, dtype, seed=3):
    u = np.random.default_rng(seed).random(shape).astype(dtype)
    u[0, 1:4, 2:5] = 0.25  # zero differences: the norm's kink
    u[1, :, :, 3:] = 0.5
    return tf.constant(u)


def _gradient(tv_of, u, weights):
    with tf.GradientTape() as tape:
        tape.watch(u)
        total = tf.reduce_sum(weights * tv_of(u))
    return tape.gradient(total, u)


@pytest.mark.parametrize("case", sorted(CASES))
@pytest.mark.parametrize("tv", ["isotropic", "anisotropic"])
@pytest.mark.parametrize("color", ["vectorial", "channelwise"])
def test_the_written_gradient_is_the_derived_one(case, tv, color):
    # total_variation writes its gradient out (for XLA's fusion); it must be
    # the gradient TensorFlow derives from the same value: to 1e-12 in
    # float64, to float32 rounding in float32, eager and compiled.
    shape, layout, extents, spacing = CASES[case]
    extents = None if extents is None else tf.constant(extents, tf.float32)
    steps = check_spacing(spacing, len(spatial_axes(len(shape), layout)))

    def derived_tv(x):
        return _total_variation(x, tv, color, extents, layout, steps)

    def written_tv(x):
        return total_variation(x, tv, color, extents, layout, spacing)

    for dtype, tolerance in ((np.float64, 1e-12), (np.float32, 2e-6)):
        u = _with_flat_blocks(shape, dtype)
        weights = tf.constant([0.1, 0.37], dtype)
        derived = _gradient(derived_tv, u, weights).numpy()
        written = _gradient(written_tv, u, weights).numpy()
        compiled = tf.function(lambda x: _gradient(written_tv, x, weights), jit_compile=True)(u).numpy()
        scale = np.abs(derived).max()
        assert scale > 0.1
        np.testing.assert_allclose(written, derived, rtol=0, atol=tolerance * scale)
        np.testing.assert_allclose(compiled, derived, rtol=0, atol=tolerance * scale)
        # The value is the same, bit for bit.
        assert np.array_equal(written_tv(u).numpy(), derived_tv(u).numpy())
