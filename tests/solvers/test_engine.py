"""The general restoration engine against the float64 oracle (reference.solve_restoration).

Every forward model of the registry (blur, binning, mask, and their
compositions) is solved by both solvers and compared with the oracle's
certified minimizer over the same box: pdhg's certificate bounds its true
gap and its lower bound is below the oracle's energy; Adam lands within
1e-3 of pdhg's certified lower bound. Images are small (data 20x24) so
that the oracle stays quick.
"""

import numpy as np
import pytest

import reference as ref
from tvrestore.solvers.engine import Degradation, solve
from tvrestore.models.psf import parse_psf

DATA_HW = (20, 24)
WEIGHT = 0.01


def degradation(name, data_hw=DATA_HW, seed=0):
    psf = parse_psf("gaussian:1.0") if "blur" in name else None
    upscale = 2 if "upscale" in name else 1
    missing = np.random.default_rng(seed).random(data_hw) < 0.3 if "mask" in name else None
    return Degradation(psf=psf, upscale=upscale, missing=missing)


# Binning composed with a blur is left out of the oracle comparison: both
# the oracle and pdhg need tens of thousands of iterations for it at this
# size (about 70 s each); the Adam tests below still cover it.
CASES = ["blur", "upscale", "mask", "blur+mask"]


def scene_and_data(deg, channels=1, seed=1):
    """A piecewise-constant scene on the unknown's domain, degraded by ``deg``, plus noise."""
    rng = np.random.default_rng(seed)
    height, width = deg.unknown_hw(DATA_HW)
    yy, xx = np.mgrid[:height, :width]
    scene = np.where((yy - height / 2) ** 2 + (xx - width / 3) ** 2 < (height / 3) ** 2, 0.8, 0.2)
    scene = np.stack([scene * (1 - 0.2 * c) for c in range(channels)], axis=-1)
    model = oracle(deg)
    data = model.apply(scene) + 0.02 * rng.standard_normal((*DATA_HW, channels))
    # Values under the mask are garbage, which nothing may read.
    return scene, np.where(model.observed(data.shape) > 0, data, 5.0)


def oracle(deg):
    return ref.ForwardModel(deg.psf, deg.upscale, deg.missing)


def energy(deg, u, data, color="vectorial"):
    return ref.restoration_objective(np.float64(u), data, WEIGHT, oracle(deg), color=color)


@pytest.mark.parametrize("name", CASES)
def test_both_solvers_reach_the_oracle_minimum(name):
    deg = degradation(name)
    _, data = scene_and_data(deg)
    box = deg.box(data)
    best_u, best_gap = ref.solve_restoration(data, WEIGHT, oracle(deg), box=box, gap=1e-5)
    best = energy(deg, best_u, data)

    exact = solve(deg, [data], np.array([WEIGHT]), solver="pdhg", gap=1e-4)
    assert exact.converged[0]
    pdhg_energy = energy(deg, exact.solution[0], data)
    # Weak duality: the lower bound is below E* <= the oracle's energy, and
    # the certificate bounds the true gap (E* >= best / (1 + best_gap)).
    assert exact.lower_bound[0] <= best * (1 + 1e-7)
    assert (pdhg_energy - best) / best <= exact.certified_gap[0] <= 1e-4
    assert pdhg_energy >= best / (1 + best_gap) * (1 - 1e-6)

    adam = solve(deg, [data], np.array([WEIGHT]), solver="adam")
    assert adam.converged[0]
    adam_energy = energy(deg, adam.solution[0], data)
    assert adam_energy >= best / (1 + best_gap) * (1 - 1e-6)
    assert (adam_energy - exact.lower_bound[0]) / exact.lower_bound[0] <= 1e-3
    # Both iterates respect the box.
    for u in (exact.solution[0], adam.solution[0]):
        assert box[0] - 1e-6 <= u.min() and u.max() <= box[1] + 1e-6


@pytest.mark.parametrize("color", ["vectorial", "channelwise"])
def test_colour_reaches_the_oracle_minimum(color):
    deg = degradation("blur+mask")
    _, data = scene_and_data(deg, channels=3)
    best_u, _ = ref.solve_restoration(data, WEIGHT, oracle(deg), color=color, box=deg.box(data), gap=1e-5)
    best = energy(deg, best_u, data, color)
    adam = solve(deg, [data], np.array([WEIGHT]), color=color)
    assert (energy(deg, adam.solution[0], data, color) - best) / best <= 1e-3


def test_sum_and_mean_give_the_same_image():
    deg = degradation("blur+upscale+mask")
    _, data = scene_and_data(deg)
    runs = [solve(deg, [data], np.array([WEIGHT]), reduction=r) for r in ("sum", "mean")]
    np.testing.assert_allclose(runs[0].solution, runs[1].solution, rtol=0, atol=1e-3)
    assert runs[0].iterations == runs[1].iterations


@pytest.mark.parametrize("solver", ["adam", "pdhg"])
def test_an_image_alone_equals_the_image_in_a_batch(solver):
    deg = degradation("blur+mask")
    _, data = scene_and_data(deg)
    _, other = scene_and_data(deg, seed=5)
    alone = solve(deg, [data], np.array([WEIGHT]), solver=solver)
    batch = solve(deg, [other, data], np.array([3 * WEIGHT, WEIGHT]), solver=solver)
    np.testing.assert_allclose(batch.solution[1], alone.solution[0], rtol=0, atol=1e-6)
    assert batch.iterations[1] == alone.iterations[0]


def test_the_mask_is_data_not_a_compiled_constant():
    _, data = scene_and_data(degradation("blur+mask"))
    solve(degradation("blur+mask", seed=0), [data], np.array([WEIGHT]))
    again = solve(degradation("blur+mask", seed=1), [data], np.array([WEIGHT]))
    assert again.compile_seconds == 0.0


def test_a_masked_pixel_value_changes_nothing():
    deg = degradation("mask")
    _, data = scene_and_data(deg)
    other = np.where(deg.missing[..., None], -3.0, data)
    runs = [solve(deg, [d], np.array([WEIGHT])) for d in (data, other)]
    # The box is taken from observed values only, so it is the same too.
    np.testing.assert_array_equal(runs[0].solution, runs[1].solution)


def test_no_ringing_at_the_borders():
    """A 'valid' blur of a larger scene is undone up to the frame: border rows are as good as inner ones."""
    deg = degradation("blur")
    scene, data = scene_and_data(deg)
    run = solve(deg, [data], np.array([0.002]))
    error = np.abs(deg.window(run.solution[0]) - deg.window(scene))
    border = np.concatenate([error[:3].ravel(), error[-3:].ravel(), error[:, :3].ravel(), error[:, -3:].ravel()])
    assert border.mean() <= 2 * error.mean() + 0.01


@pytest.mark.parametrize("solver", ["adam", "pdhg"])
def test_a_mask_per_value_ignores_each_channels_own_missing_values(solver):
    # Impulse noise hits channels one by one: a value missing in one
    # channel leaves the pixel's other channels fitted.
    rng = np.random.default_rng(4)
    deg = degradation("mask")
    _, data = scene_and_data(Degradation(), channels=3)
    per_value = np.zeros((*DATA_HW, 3), bool)
    per_value[..., 1] = deg.missing  # channel 1 only
    masked = Degradation(missing=per_value)
    garbage = data.copy()
    garbage[..., 1] = np.where(deg.missing, rng.random(DATA_HW) * 5, data[..., 1])
    options = dict(solver=solver, max_iter=None if solver == "adam" else 20000, gap=1e-5)
    first = solve(masked, [data], np.array([WEIGHT]), **options).solution[0]
    second = solve(masked, [garbage], np.array([WEIGHT]), **options).solution[0]
    # The missing values are not read (their fill starts from observed ones) ...
    np.testing.assert_allclose(first, second, atol=1e-6)
    # ... and the same mask on every channel is the (h, w) mask.
    whole = solve(deg, [data], np.array([WEIGHT]), **options).solution[0]
    every = Degradation(missing=np.repeat(deg.missing[..., None], 3, axis=2))
    np.testing.assert_allclose(solve(every, [data], np.array([WEIGHT]), **options).solution[0],
                               whole, atol=1e-6)
    # Channels 0 and 2 keep their data where channel 1 is missing: closer
    # to it than the whole-pixel mask, which must fill them.
    error = lambda u: np.abs(u - data)[deg.missing][:, [0, 2]].mean()  # noqa: E731
    assert error(first) < 0.5 * error(whole)


@pytest.mark.parametrize("color, channels", [("vectorial", 1), ("vectorial", 3), ("channelwise", 3)])
def test_a_batch_in_calls_of_one_image_equals_the_batch_in_one_call(monkeypatch, color, channels):
    """Denoising splits a batch into cache-sized calls; each image's solve is unchanged."""
    import tvrestore.solvers.engine as engine

    images = [scene_and_data(Degradation(), channels=channels, seed=seed)[1].astype(np.float32)
              for seed in (1, 2, 3)]
    weights = np.array([WEIGHT, 3 * WEIGHT, 10 * WEIGHT])
    one_call = solve(Degradation(), images, weights, color=color, levels=0)
    monkeypatch.setattr(engine, "_CALL_VALUES", 1)  # every call takes one image (one plane)
    calls = []
    minimize = engine._minimize
    monkeypatch.setattr(engine, "_minimize", lambda *a, **k: calls.append(1) or minimize(*a, **k))
    in_calls = solve(Degradation(), images, weights, color=color, levels=0)
    assert len(calls) == len(images) * (channels if color == "channelwise" else 1)
    np.testing.assert_allclose(in_calls.solution, one_call.solution, rtol=0, atol=1e-6)
    np.testing.assert_array_equal(in_calls.iterations, one_call.iterations)
    assert in_calls.history.values["objective"].shape == one_call.history.values["objective"].shape
    np.testing.assert_allclose(in_calls.history.values["objective"][-1],
                               one_call.history.values["objective"][-1], rtol=1e-5)
