"""The solvers' history: the objective at their checks, in sum units, ending at the result.

Judged against the float64 oracle (tests/reference.py): every recorded
objective lies above the exact minimum E*, and pdhg's certificates bracket
E* from below at every check.
"""

import json

import numpy as np
import pytest

import reference
from tvrestore import denoise
from tvrestore.solvers.history import CAPACITY
from tvrestore.solvers.adam import AdamSettings, AdamSolver

WEIGHT = 0.1


@pytest.fixture(scope="module")
def noisy():
    rng = np.random.default_rng(4)
    clean = np.full((24, 32), 0.3)
    clean[6:16, 8:20] = 0.8
    return np.clip(clean + 0.1 * rng.standard_normal(clean.shape), 0, 1).astype(np.float32)


@pytest.fixture(scope="module")
def best(noisy):
    exact, _ = reference.solve_exact(noisy.astype(np.float64), WEIGHT, gap=1e-10)
    return reference.objective(exact, noisy.astype(np.float64), WEIGHT)


def checks(result):
    return (np.array([record["iteration"] for record in result.history]),
            np.array([record["objective"] for record in result.history]))


@pytest.mark.parametrize("reduction", ["mean", "sum"])
def test_adam_history_is_in_sum_units_and_ends_at_the_result(noisy, best, reduction):
    _, result = denoise(noisy, WEIGHT, reduction=reduction)
    iterations, objective = checks(result)
    window = AdamSettings().window
    # One entry per plateau check, the last at the final iterate.
    np.testing.assert_array_equal(iterations, np.arange(window, result.iterations + 1, window))
    assert all(record["certified_gap"] is None for record in result.history)
    np.testing.assert_allclose(objective[-1], result.objective, rtol=1e-5)
    # E in sum units under either reduction: never below the exact minimum
    # (float32 sums apart), and the run descends to it.
    assert objective.min() >= best * (1 - 1e-5)
    assert objective[0] > objective[-1]
    assert objective[-1] <= best * (1 + 1e-3)


def test_adam_history_alike_under_both_reductions(noisy):
    _, by_mean = denoise(noisy, WEIGHT, reduction="mean")
    _, by_sum = denoise(noisy, WEIGHT, reduction="sum")
    # Until the first plateau test can decide differently (rounding may tip
    # it), both take the same steps: the same E at the same checks.
    for mean_record, sum_record in zip(by_mean.history[:2], by_sum.history[:2]):
        assert mean_record["iteration"] == sum_record["iteration"]
        assert mean_record["objective"] == pytest.approx(sum_record["objective"], rel=1e-5)
    assert by_mean.history[-1]["objective"] == pytest.approx(
        by_sum.history[-1]["objective"], rel=1e-3)


def test_channelwise_history_sums_the_channels():
    rng = np.random.default_rng(5)
    colour = np.clip(0.5 + 0.1 * rng.standard_normal((24, 32, 3)), 0, 1).astype(np.float32)
    _, result = denoise(colour, WEIGHT, color="channelwise")
    iterations, objective = checks(result)
    assert iterations[-1] == result.iterations
    np.testing.assert_allclose(objective[-1], result.objective, rtol=1e-5)


def test_pdhg_history_certificates_are_consistent(noisy, best):
    f = noisy.astype(np.float64)
    _, result = denoise(noisy, WEIGHT, solver="pdhg", gap=1e-6)
    iterations, objective = checks(result)
    gaps = [record["certified_gap"] for record in result.history]
    # From the starting point u = f, whose E is w TV(f), to the result.
    assert iterations[0] == 0 and iterations[-1] == result.iterations
    assert np.all(np.diff(iterations) > 0)
    np.testing.assert_allclose(objective[0], reference.objective(f, f, WEIGHT), rtol=1e-6)
    np.testing.assert_allclose(objective[-1], result.objective, rtol=1e-6)
    assert gaps[-1] == pytest.approx(result.certified_gap, rel=1e-6)
    certified = [(e, g) for e, g in zip(objective, gaps) if g is not None]
    assert len(certified) >= len(gaps) - 1 and all(g >= 0 for _, g in certified)
    # Each certificate's dual value D = E / (1 + gap) is a lower bound on E*,
    # so it lies below the exact minimum and below every check's E.
    duals = np.array([e / (1 + g) for e, g in certified])
    assert duals.max() <= best * (1 + 1e-7)
    assert objective.min() >= best * (1 - 1e-7)
    for energy, gap in certified:
        assert (energy - best) / best <= gap * (1 + 1e-6) + 1e-9


def test_a_long_run_keeps_at_most_capacity_checks_and_its_last():
    def downhill(u, loss_scales):
        # Unbounded below: every window decreases it, so the run never stops early.
        return -loss_scales * u[:, 0, 0]

    window = AdamSettings().window
    max_iter = window * (CAPACITY + 100)  # one thinning
    output = AdamSolver(downhill, AdamSettings()).minimize(
        np.zeros((1, 1, 1), np.float32), np.ones(1), max_iter=max_iter
    )
    kept = output.history.iterations
    assert output.iterations[0] == max_iter and kept[-1] == max_iter
    assert len(kept) <= CAPACITY
    # Every other check of the first CAPACITY, then every other one on.
    assert np.all(np.diff(kept)[:-1] == 2 * window)
    loss = output.history.values["loss"][:, 0]
    np.testing.assert_allclose(loss[-1], -output.solution[0, 0, 0], rtol=1e-6)
    assert np.all(np.diff(loss) < 0)


def test_report_carries_the_history_as_strict_json(tmp_path, noisy):
    from tvrestore.runs.report import ReportEntry, write_report

    _, result = denoise(noisy, WEIGHT, solver="pdhg")
    entry = ReportEntry(input="a.png", shape=(24, 32), **result.to_dict())
    write_report(tmp_path / "run.json", [entry])
    text = (tmp_path / "run.json").read_text()
    loaded = json.loads(text, parse_constant=lambda name: pytest.fail(f"{name} in JSON"))
    history = loaded["results"][0]["history"]
    assert history[-1]["iteration"] == result.iterations
    assert history[-1]["objective"] == pytest.approx(result.objective)
    write_report(tmp_path / "run.csv", [entry])
    assert "history" not in (tmp_path / "run.csv").read_text().splitlines()[0].split(",")
