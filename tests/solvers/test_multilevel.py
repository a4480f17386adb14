"""Coarse-to-fine Adam (tvrestore.solvers.multilevel) against the float64 oracle.

The engine chooses the levels by the array's size (none below 1024 px a
side); these tests force them on small images, so that the oracle stays
quick, and check what the full-size solve promises: the same minimizer to
the same gap, the same result alone and in a batch, under both reductions.
"""

import numpy as np
import pytest

import reference
from tvrestore.models.shapes import zero_padded
from tvrestore.solvers import multilevel
from tvrestore.solvers.engine import Degradation, solve

WEIGHT = 0.07


def relative_gap(restored, noisy, color="vectorial"):
    exact, certificate = reference.solve_exact(noisy, WEIGHT, color=color, gap=1e-8)
    assert certificate <= 1e-8
    best = reference.objective(exact, noisy, WEIGHT, color=color)
    return (reference.objective(restored, noisy, WEIGHT, color=color) - best) / best


def test_restriction_is_the_block_mean_with_the_edge_repeated_and_prolongation_is_exact_on_ramps():
    rows, columns = np.mgrid[:7, :9].astype(np.float32)
    ramp = (0.1 * rows + 0.03 * columns)[None, ..., None]
    padded, extents = zero_padded([ramp[0]], (8, 10, 1))
    coarse, coarse_extents = multilevel.restrict(padded, extents)
    assert coarse.shape == (1, 4, 5, 1)
    np.testing.assert_array_equal(coarse_extents, [[4, 5]])
    # A 2x2 block's mean, and the last (odd) row and column repeated.
    assert coarse[0, 0, 0, 0] == pytest.approx(ramp[0, :2, :2].mean())
    assert coarse[0, 3, 4, 0] == pytest.approx(ramp[0, 6, 8, 0])
    fine = multilevel.prolong(coarse, coarse_extents, padded.shape, extents)
    # Bilinear interpolation reproduces a linear function away from the edges,
    # and nothing is written beyond the extent.
    np.testing.assert_allclose(fine[0, 1:5, 1:7], padded[0, 1:5, 1:7], atol=1e-6)
    assert not fine[0, 7:].any() and not fine[0, :, 9:].any()


def test_levels_stop_at_about_64_pixels_and_start_at_1024():
    assert multilevel.level_count((1, 512, 512, 1)) == 0
    assert multilevel.level_count((1, 1024, 1024, 1)) == 4
    assert multilevel.level_count((1, 2048, 1536, 3)) == 4


def test_coarse_levels_solve_the_same_objective_at_half_the_weight_per_level():
    calls = []

    def record(data, weights, extents, start, schedule):
        calls.append((data.shape, float(weights[0]), schedule))
        return type("Output", (), {"solution": data, "solve_seconds": 1.0, "compile_seconds": 0.5})

    observed = np.zeros((1, 96, 80, 1), np.float32)
    schedules = multilevel.schedules(2, multilevel.WARM, 3e-4)
    start, seconds, compile_seconds = multilevel.warm_start(
        record, observed, np.array([WEIGHT]), np.array([[96, 80]]), schedules)
    assert [call[0] for call in calls] == [(1, 24, 20, 1), (1, 48, 40, 1)]
    assert [call[1] for call in calls] == pytest.approx([WEIGHT / 4, WEIGHT / 2])
    assert start.shape == observed.shape and (seconds, compile_seconds) == (2.0, 1.0)
    # The full size keeps the caller's stopping rule; the coarse ones stop early.
    assert schedules[0].tol == 3e-4 and schedules[0].settings.min_learning_rate == 1e-4
    assert all(s.tol >= multilevel.COARSE_TOL for s in schedules[1:])


@pytest.mark.parametrize("color,channels", [("vectorial", 1), ("vectorial", 3), ("channelwise", 3)])
def test_coarse_to_fine_lands_on_the_oracle_minimizer(color, channels):
    name = "camera" if channels == 1 else "astronaut"
    noisy = reference.noisy_image(name, 128).astype(np.float32).reshape(128, 128, channels)
    cold = solve(Degradation(), [noisy], np.array([WEIGHT]), color=color, levels=0)
    warm = solve(Degradation(), [noisy], np.array([WEIGHT]), color=color, levels=1)
    assert warm.converged.all()
    cold_gap = relative_gap(cold.solution[0], noisy, color)
    warm_gap = relative_gap(warm.solution[0], noisy, color)
    assert warm_gap <= max(1e-3, 1.5 * cold_gap)
    # Not the cold solve under another name: a different path to the minimizer.
    assert not np.array_equal(warm.solution, cold.solution)


def test_coarse_to_fine_gives_an_image_the_same_result_alone_and_in_a_batch_and_under_both_reductions():
    noisy = reference.noisy_image("camera", 96).astype(np.float32)[..., None]
    other = reference.noisy_image("camera", 80, seed=3).astype(np.float32)[..., None]
    padded, extents = zero_padded([noisy, other], (96, 96, 1))
    weights = np.array([WEIGHT, 0.05])
    batch = solve(Degradation(), padded, weights, extents=extents, levels=2)
    alone = solve(Degradation(), padded[:1], weights[:1], extents=extents[:1], levels=2)
    np.testing.assert_array_equal(batch.solution[0], alone.solution[0])
    summed = solve(Degradation(), [noisy], weights[:1], levels=2, reduction="sum")
    averaged = solve(Degradation(), [noisy], weights[:1], levels=2, reduction="mean")
    np.testing.assert_array_equal(summed.solution, averaged.solution)
