"""The Adam solver on problems with a closed-form answer."""

import numpy as np
import pytest

from tvrestore.backend.tf import tf
from tvrestore.models.problem import Problem
from tvrestore.solvers.adam import AdamSettings, AdamSolver


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


# A band of 8-pixel-wide rows is 20 rows plus halos of 5 (window 5, stencil 1)
# and one more row at this band size, so small images run in bands. Bands
# read 20 + 2 * 5 + 1 rows; the heights give the last band its most (31) and
# fewest (12) rows.
BAND_VALUES = 8 * 31


# Both heights for the colour case; each other variant at one height (the
# full product added two cases of about 10 s each and no new code path).
@pytest.mark.parametrize(
    "height, tv, color, channels",
    [(131, "isotropic", "vectorial", 3), (132, "isotropic", "vectorial", 3),
     (132, "anisotropic", "vectorial", 3), (131, "isotropic", "vectorial", 1)],
)
def test_bands_step_exactly_like_the_whole_array(height, tv, color, channels):
    rng = np.random.default_rng(1)
    observed = rng.uniform(0, 1, (2, height, 8, channels)).astype(np.float32)
    extents = np.array([[height, 8], [height - 23, 6]], np.float32)
    observed[1, height - 23 :] = 0
    observed[1, :, 6:] = 0
    objective = Problem(tv=tv, color=color)
    arguments = (observed, np.full(2, 1e-3, np.float32), observed, np.array([0.1, 0.3], np.float32), extents)
    whole = AdamSolver(objective.loss, AdamSettings())
    banded = AdamSolver(
        objective.loss, AdamSettings(), rows_of_data=objective.rows_of_data,
        band_values=BAND_VALUES * channels * 2,
    )
    assert banded.band_rows(observed.shape) == 20 and whole.band_rows(observed.shape) is None
    # Two windows and a plateau check. A grey pixel's step is the same
    # arithmetic on the same values in a band as in the whole array, so it
    # must agree bit for bit (a halo one row too thin differs by 2e-7 here);
    # colour sums channels, which XLA may order differently in a band.
    few = [solver.minimize(*arguments, max_iter=10) for solver in (whole, banded)]
    np.testing.assert_allclose(few[1].solution, few[0].solution, rtol=0, atol=0 if channels == 1 else 1e-6)
    # To the end, rounding differences may grow, but not the energy's.
    full = [solver.minimize(*arguments) for solver in (whole, banded)]
    energies = [objective.energy_value(out.solution, observed, np.array([0.1, 0.3])) for out in full]
    np.testing.assert_allclose(energies[1], energies[0], rtol=1e-5)
    assert np.all(full[1].solution[1, height - 23 :] == 0) and np.all(full[1].solution[1, :, 6:] == 0)


def test_a_volume_s_bands_of_planes_step_exactly_like_the_whole_volume():
    # A volume's TV has its gradient written out (tvrestore.models.tv); a
    # band of planes must still take the whole volume's steps, bit for bit.
    rng = np.random.default_rng(4)
    observed = rng.uniform(0, 1, (2, 131, 4, 5, 1)).astype(np.float32)
    extents = np.array([[131, 4, 5], [108, 3, 5]], np.float32)
    observed[1, 108:] = 0
    observed[1, :, 3:] = 0
    objective = Problem()
    arguments = (observed, np.full(2, 1e-3, np.float32), observed, np.array([0.1, 0.3], np.float32), extents)
    whole = AdamSolver(objective.loss, AdamSettings())
    banded = AdamSolver(objective.loss, AdamSettings(), rows_of_data=objective.rows_of_data,
                        band_values=2 * 4 * 5 * 31)
    assert banded.band_rows(observed.shape) == 20 and whole.band_rows(observed.shape) is None
    few = [solver.minimize(*arguments, max_iter=10) for solver in (whole, banded)]
    np.testing.assert_array_equal(few[1].solution, few[0].solution)
    np.testing.assert_allclose(few[1].history.values["loss"], few[0].history.values["loss"], rtol=1e-6)


def test_volumes_whose_budget_holds_under_four_halos_of_planes_are_stepped_whole():
    # Bands of four halos would overflow the cache budget there (issue 21
    # target 6: 256x128x128 cost 1.8x as much per voxel in bands of 20
    # planes). An image with as many values per row still runs in bands,
    # and a volume whose budget holds enough planes does.
    objective = Problem()
    solver = AdamSolver(objective.loss, AdamSettings(), rows_of_data=objective.rows_of_data,
                        band_values=2**18, whole_values=3 * 2**20)
    assert solver.band_rows((1, 256, 128, 128, 1)) is None
    assert solver.band_rows((1, 256, 128 * 128, 1)) == 20
    assert solver.band_rows((1, 1024, 64, 64, 1)) == 2**18 // 64**2 - 11


def test_banded_window_returns_the_loss_of_its_result():
    # The plateau check's loss is summed over the bands' exact rows; it must
    # be the whole loss of the new iterate, with no row missed or counted twice.
    objective = Problem()
    height = 131
    observed = np.random.default_rng(2).uniform(0, 1, (2, height, 8, 1)).astype(np.float32)
    data = (tf.constant(observed), tf.constant([0.1, 0.3]), tf.constant([[height, 8], [120, 7]], tf.float32))
    scales = tf.constant([1.0, 1.0])
    solver = AdamSolver(
        objective.loss, AdamSettings(), rows_of_data=objective.rows_of_data, band_values=BAND_VALUES * 2
    )

    def five_gradient_steps(u, m, v, data):
        for _ in range(AdamSettings().window):
            with tf.GradientTape() as tape:
                tape.watch(u)
                total = tf.reduce_sum(objective.loss(u, scales, *data))
            u = u - 0.05 * tape.gradient(total, u)
        return u, m, v

    @tf.function(jit_compile=True)
    def window(u):
        rows = solver.band_rows(u.shape)
        return solver._in_bands(five_gradient_steps, rows, u, u, u, scales, data)

    u, _, _, losses = window(tf.constant(observed))
    whole = objective.loss(u, scales, *data)
    np.testing.assert_allclose(losses.numpy(), whole.numpy(), rtol=1e-5)
    assert not np.allclose(u.numpy(), observed)  # the steps did move it


def test_one_trace_serves_every_shape_stepped_whole():
    # Issue 19 item 8: a loop that needs no static size is traced once, at
    # its first call, with unknown sizes; further shapes only compile. Each
    # new shape is still timed as a compilation.
    traced_shapes = []

    def loss(u, loss_scales, target):
        traced_shapes.append(tuple(u.shape))
        return scaled_quadratic(u, loss_scales, target)

    solver = AdamSolver(loss, AdamSettings(), any_shape=True)
    for shape in [(2, 5, 6), (3, 7, 4), (1, 9, 9), (2, 4, 4)]:
        target = np.random.default_rng(len(traced_shapes)).uniform(-1, 1, shape).astype(np.float32)
        output = solver.minimize(np.zeros_like(target), np.ones(shape[0]), target, max_iter=10)
        assert output.compile_seconds > 0 and output.solution.shape == shape
        # The iterates of a program traced for this shape alone.
        alone = AdamSolver(scaled_quadratic, AdamSettings()).minimize(
            np.zeros_like(target), np.ones(shape[0]), target, max_iter=10)
        np.testing.assert_array_equal(output.solution, alone.solution)
    assert set(traced_shapes) == {(None, None, None)}


def _traced_program(graph):
    # The graph of the tf.function being traced, from a graph nested in it
    # (a while loop's body).
    while isinstance(getattr(graph, "outer_graph", None), type(graph)):
        graph = graph.outer_graph
    return graph


@pytest.mark.parametrize("channels", [1, 3])
def test_one_trace_serves_every_shape_in_bands(channels):
    # The bands' rows are computed from the shape inside the program, so
    # one trace in bands serves every banded shape, with the iterates of a
    # program traced for that shape alone; the colour axis stays static.
    objective = Problem(tv="isotropic", color="vectorial", layout="hwc")
    traces = []  # (program graph, channels) at each loss call of the generic solver

    def loss(u, *data):
        traces.append((_traced_program(tf.compat.v1.get_default_graph()), u.shape[3]))
        return objective.loss(u, *data)

    def solver(loss_fn, any_shape):
        return AdamSolver(loss_fn, AdamSettings(), rows_of_data=objective.rows_of_data,
                          band_values=BAND_VALUES * channels * 2, any_shape=any_shape,
                          kept_axes=(3,))

    generic = solver(loss, True)
    rng = np.random.default_rng(2)
    # Two shapes that differ in height and width are enough to show the one trace.
    for height, width in [(131, 8), (150, 6)]:
        observed = rng.uniform(0, 1, (2, height, width, channels)).astype(np.float32)
        extents = np.array([[height, width], [height - 9, width - 2]], np.float32)
        arguments = (observed, np.full(2, 1e-3, np.float32), observed,
                     np.array([0.1, 0.3], np.float32), extents)
        assert generic.band_rows(observed.shape) is not None
        ran = generic.minimize(*arguments, max_iter=10)
        alone = solver(objective.loss, False).minimize(*arguments, max_iter=10)
        assert ran.compile_seconds > 0
        np.testing.assert_array_equal(ran.solution, alone.solution)
    assert len({graph for graph, _ in traces}) == 1
    assert {kept for _, kept in traces} == {channels}
