"""restore() on clean data: the noise-free limit, not the initializer (issue 23, item 1)."""

import numpy as np

import reference
from tvrestore.api import restore
from tvrestore.solvers.engine import Degradation


def _cartoon(height=48, width=40):
    """Clean 8-bit shapes: their estimated noise, and so the automatic weight, is 0."""
    rows, columns = np.mgrid[:height, :width]
    image = 60 + 120 * ((rows - 20) ** 2 + (columns - 16) ** 2 < 144) + 50 * (columns + rows > 60)
    return image.astype(np.uint8)


def test_mask_on_clean_data_solves_min_tv_keeping_the_observed_pixels():
    clean = _cartoon()
    missing = np.random.default_rng(0).random(clean.shape) < 0.3
    restored, result = restore(clean, mask=missing)
    assert result.weight_auto and result.noise_sigma == 0
    assert result.problem == "noise-free" and result.weight == 0 and result.solver == "pdhg"
    assert result.converged and result.iterations > 0
    # Observed pixels kept, exactly after rounding to the input's 8 bits.
    assert np.array_equal(restored[~missing], clean[~missing])
    # TV below the initializer's fill (what the weight-0 solve returned), and
    # the reported objective is TV(u).
    unit = restored.astype(np.float64) / 255
    start = Degradation(missing=missing).initial(clean[..., None] / 255.0)[..., 0]
    solved_tv = reference.total_variation(unit)
    assert solved_tv < reference.total_variation(start) - 1.0
    assert abs(result.objective - solved_tv) < 0.01 * solved_tv


def test_upscale_on_clean_data_is_not_pixel_replication():
    clean = _cartoon()
    small = clean.reshape(24, 2, 20, 2).mean(axis=(1, 3)).round().astype(np.uint8)
    restored, result = restore(small, upscale=2)
    assert result.problem == "noise-free" and result.converged
    replicated = np.repeat(np.repeat(small, 2, 0), 2, 1)
    assert not np.array_equal(restored, replicated)
    unit = restored.astype(np.float64) / 255
    # The data kept (block means to the 8 bits' rounding), with less TV than replication.
    assert np.abs(unit.reshape(24, 2, 20, 2).mean(axis=(1, 3)) - small / 255).max() <= 1 / 255
    assert reference.total_variation(unit) < reference.total_variation(replicated / 255.0) - 1.0
    # Closer to the scene than replication.
    scene = clean / 255.0
    assert np.mean((unit - scene) ** 2) < np.mean((replicated / 255.0 - scene) ** 2)
