"""tvrestore bench: its tables are measurements of the right quantities.

Everything runs at 32x32 grey, so the suite compiles few programs.
"""

import json
import math

import numpy as np
import pytest
from click.testing import CliRunner

import reference
from tvrestore.bench.cases import make_case
from tvrestore.bench.denoise import (
    METHOD_ADAM,
    METHOD_CHAMBOLLE,
    METHOD_CHAMBOLLE_TO_GAP,
    METHOD_EXACT,
    chambolle_iterations_to_gap,
    gap_series,
)
from tvrestore.bench.formatting import format_or_dash
from tvrestore.bench.machine import bytes_per_iteration, iteration_cost
from tvrestore.bench.memory import peak_memory
from tvrestore.bench.reference import exact_reference
from tvrestore.bench.sweep import plain_loss
from tvrestore.backend.tf import tf
from tvrestore.cli.app import main
from tvrestore.errors import TVRestoreError
from tvrestore.evaluation.metrics import quality
from tvrestore.models.problem import Problem

WEIGHT = 0.07
SIGMA = 25 / 255


@pytest.fixture(scope="module")
def case():
    return make_case("camera", 32, SIGMA, seed=0)


@pytest.fixture(scope="module")
def exact(case):
    return exact_reference(case, WEIGHT, "channelwise", 1e-6, "float64")


def energy(case, solution):
    return Problem().energy_value(solution, case.noisy, WEIGHT)


def test_bench_command_reports_measured_values(tmp_path, case):
    path, plots = tmp_path / "bench.json", tmp_path / "plots"
    args = ["bench", "--images", "camera", "--size", "32", "--sigma", "25", "--repeat", "1",
            "--bandwidth-mb", "8", "--sweep", "resolution", "--sweep-sizes", "32",
            "--plain-iter", "50", "--json", str(path), "--plot", str(plots)]
    outcome = CliRunner().invoke(main, args)
    assert outcome.exit_code == 0, outcome.output
    report = json.loads(path.read_text())
    assert report["command"].startswith("tvrestore bench --images camera --size 32 --sigma 25 ")
    assert report["command"] in outcome.output
    assert report["machine"]["tensorflow"] == tf.__version__
    assert report["machine"]["tensorflow"] in outcome.output
    assert report["bandwidth"]["copy_gb_per_s"] > 0

    [result] = report["cases"]
    methods = {row["method"]: row for row in result["methods"]}
    assert list(methods) == [
        "tvrestore (adam)", "skimage chambolle", "skimage bregman",
        "tvrestore exact (pdhg)", "skimage chambolle (to gap)",
    ]
    noisy_psnr = quality(case.clean, case.noisy)[0]
    for row in methods.values():
        assert noisy_psnr < row["psnr"] < math.inf
        assert row["gap"] >= 0  # measured against a lower bound on the minimum
        assert row["seconds"] > 0 and len(row["seconds_runs"]) == 1
        chambolle_seconds = methods["skimage chambolle"]["seconds"]
        assert row["time_ratio"] == pytest.approx(row["seconds"] / chambolle_seconds)
    assert methods["tvrestore (adam)"]["gap"] <= 1e-3
    assert methods["tvrestore (adam)"]["compile_seconds"] >= 0
    pdhg = methods["tvrestore exact (pdhg)"]
    assert pdhg["certified_gap"] <= 1e-4 and pdhg["gap"] <= 1e-4 + 1e-6
    assert methods["skimage chambolle (to gap)"]["gap"] <= 1e-4
    # chambolle's defaults stop early; reaching 1e-4 takes it more iterations
    assert methods["skimage chambolle"]["gap"] > 1e-4
    assert result["adam_iteration_cost"]["floor_ratio"] > 0

    rows = report["sweep"]["rows"]
    assert [row["size"] for row in rows] == [32]
    for row in rows:
        assert row["exact"]["certified_gap"] <= 1e-5
        assert row["tvrestore"]["psnr"] == pytest.approx(row["exact"]["psnr"], abs=0.05)
        for plain in (row["plain_sum"], row["plain_mean"]):
            # 50 Keras-default steps of 1e-3 from the noisy image get nowhere near
            assert plain["iterations"] == 50 and plain["iterations_to_target"] is None
            assert plain["gap"] > 10 * row["tvrestore"]["gap"]
    assert report["memory"] is None
    assert "Resolution sweep" in outcome.output

    # --plot: the gap against time on the case, from the solvers' histories
    # and timed chambolle runs, and the sweep, as PNGs of the plots' sizes.
    import imageio.v3 as iio

    assert iio.imread(plots / "gap_vs_time.png").shape[:2] == (480, 720)
    assert iio.imread(plots / "resolution_sweep.png").shape[:2] == (420, 1080)
    series = report["series"]["methods"]
    assert set(series) == {METHOD_ADAM, METHOD_EXACT, METHOD_CHAMBOLLE}
    for method in (METHOD_ADAM, METHOD_EXACT):
        run = series[method]
        assert run["iterations"][-1] == methods[method]["iterations"]
        assert np.all(np.diff(run["seconds"]) > 0)
        # The curve ends at the time the table reports, measured in this run.
        assert run["seconds"][-1] == pytest.approx(methods[method]["seconds"], rel=1e-12)
        # The last check is the result the table scored (float32 history).
        assert run["gap"][-1] == pytest.approx(methods[method]["gap"], abs=1e-5)
        assert min(run["gap"]) >= -1e-6  # never below the exact minimum
    chambolle = series[METHOD_CHAMBOLLE]
    assert np.all(np.diff(chambolle["seconds"]) >= 0) and np.all(np.diff(chambolle["iterations"]) > 0)
    assert chambolle["iterations"][0] == 1
    assert chambolle["iterations"][-1] == methods[METHOD_CHAMBOLLE_TO_GAP]["iterations"]
    assert chambolle["gap"][-1] <= 1e-4


def test_gap_series_times_grow_with_iterations_on_a_noisy_clock(case, exact, monkeypatch):
    # A loaded machine: every run of 2 iterations is hit by a burst of load
    # (the chambolle took 5.61 ms for 2 iterations, 1.54 ms for 3).
    # Each curve's times must still grow with its iterations.
    import types

    import skimage.restoration
    import tvrestore.bench.denoise as bench_denoise

    clock = [0.0]
    real = skimage.restoration.denoise_tv_chambolle

    def loaded_chambolle(image, *, max_num_iter, **options):
        clock[0] += 1e-5 * max_num_iter + (5e-3 if max_num_iter == 2 else 0.0)
        return real(image, max_num_iter=max_num_iter, **options)

    monkeypatch.setattr(skimage.restoration, "denoise_tv_chambolle", loaded_chambolle)
    monkeypatch.setattr(bench_denoise, "time", types.SimpleNamespace(perf_counter=lambda: clock[0]))
    ends = {METHOD_ADAM: 0.25, METHOD_EXACT: 0.5}
    series = gap_series(case, WEIGHT, exact, chambolle_iterations=20, points=6, repeat=3,
                        end_seconds=ends)

    chambolle = series[METHOD_CHAMBOLLE]
    assert chambolle["iterations"][:2] == [1, 2]
    measured = np.array(chambolle["seconds_measured"])
    assert measured[1] > measured[2]  # what the clock said
    assert chambolle["seconds"] == np.maximum.accumulate(measured).tolist()
    for method, run in series.items():
        assert np.all(np.diff(run["iterations"]) > 0), method
        assert np.all(np.diff(run["seconds"]) >= 0), method
    for method, end in ends.items():
        assert series[method]["seconds"][-1] == pytest.approx(end)
    assert series[METHOD_EXACT]["seconds"][0] == 0  # pdhg's starting point


def test_bench_rejects_an_unknown_image():
    outcome = CliRunner().invoke(main, ["bench", "--images", "lena"])
    assert outcome.exit_code == 2
    assert "unknown image 'lena'" in outcome.output


def test_make_case_is_seeded_noise_on_the_clean_image():
    grey = make_case("camera", 32, SIGMA, seed=3)
    again = make_case("camera", 32, SIGMA, seed=3)
    other = make_case("camera", 32, SIGMA, seed=4)
    colour = make_case("astronaut", 32, SIGMA)
    assert grey.noisy.shape == (32, 32) and colour.noisy.shape == (32, 32, 3)
    assert grey.noisy.dtype == np.float32 and 0 <= grey.noisy.min() and grey.noisy.max() <= 1
    np.testing.assert_array_equal(grey.noisy, again.noisy)
    assert not np.array_equal(grey.noisy, other.noisy)
    np.testing.assert_array_equal(grey.clean, other.clean)
    # away from the clipped ends the noise is what was asked for
    inside = (grey.clean > 0.25) & (grey.clean < 0.75)
    assert np.std((grey.noisy - grey.clean)[inside]) == pytest.approx(SIGMA, rel=0.25)
    with pytest.raises(TVRestoreError, match="unknown image"):
        make_case("lena", 32, SIGMA)


def test_reference_lower_bound_brackets_the_true_minimum(case, exact):
    solution, _ = reference.solve_exact(case.noisy, WEIGHT, gap=1e-10)
    minimum = reference.objective(solution, case.noisy, WEIGHT)
    assert exact.lower_bound <= minimum <= exact.lower_bound * (1 + 1e-6)
    assert exact.gap(minimum) == pytest.approx((minimum - exact.lower_bound) / exact.lower_bound)


def test_chambolle_iterations_to_gap_is_the_least_count(case, exact):
    from skimage.restoration import denoise_tv_chambolle

    def gap_of(solution):
        return exact.gap(energy(case, solution))

    def gap_after(n):
        return gap_of(denoise_tv_chambolle(case.noisy, weight=WEIGHT, eps=0, max_num_iter=n))

    exact_count = chambolle_iterations_to_gap(case, WEIGHT, 1e-4, gap_of, resolution=0)
    assert gap_after(exact_count) <= 1e-4 < gap_after(exact_count - 1)
    count = chambolle_iterations_to_gap(case, WEIGHT, 1e-4, gap_of, resolution=0.05)
    assert gap_after(count) <= 1e-4 < gap_after(count - max(1, int(0.05 * count)))


def test_plain_mean_loss_is_the_sum_loss_over_the_value_count():
    rng = np.random.default_rng(0)
    images, observed = (tf.constant(rng.random((1, 5, 7, 3))) for _ in range(2))
    total = float(plain_loss(images, observed, 0.3, "sum"))
    mean = float(plain_loss(images, observed, 0.3, "mean"))
    assert mean == pytest.approx(total / (5 * 7 * 3), rel=1e-12)
    # the sum form is E itself, so the plain recipe minimizes tvrestore's objective
    weights = tf.constant([0.3], tf.float64)
    energy_value = Problem(reduction="sum").energy(images, observed, weights)
    assert total == pytest.approx(float(energy_value[0]), rel=1e-12)
    with pytest.raises(ValueError, match="reduction"):
        plain_loss(images, observed, 0.3, "max")


def test_iteration_floor_counts_seven_float32_arrays():
    assert bytes_per_iteration(512 * 512) == 7 * 4 * 512 * 512
    # 1000 values move 28 kB; at 0.028 GB/s that takes 1 ms; 10 ms measured is 10x
    cost = iteration_cost(1.0, 100, 1000, 0.028)
    assert cost["floor_seconds_per_iteration"] == pytest.approx(1e-3)
    assert cost["seconds_per_iteration"] == pytest.approx(1e-2)
    assert cost["floor_ratio"] == pytest.approx(10)


def test_peak_memory_is_the_child_process_high_water_mark(tmp_path, monkeypatch):
    # This process holds 2 GiB more than the child can need, which must not
    # show in the child's figure (Linux's ru_maxrss would carry it over).
    ballast = np.ones(2**28)
    # The child measures this process's tvrestore, not one the current
    # directory happens to hold.
    decoy = tmp_path / "tvrestore"
    decoy.mkdir()
    (decoy / "__init__.py").write_text("raise ImportError('the decoy was imported')\n")
    monkeypatch.chdir(tmp_path)
    # one size only: the child compiles once
    memory = peak_memory(32, 32, repeat=1)
    assert ballast.sum() == 2**28
    # A process that has loaded TensorFlow holds more than 100 MB; the same
    # number in KiB or MiB would fail this. Both are high-water marks: a
    # tiny restore need not raise the import's.
    assert 1e8 < memory["baseline_rss_bytes"] <= memory["peak_rss_bytes"] < 2e9
    assert memory["iterations"] == memory["reference_iterations"] > 0
    expected = memory["seconds"] / memory["reference_seconds"]
    assert memory["time_per_pixel_ratio"] == pytest.approx(expected)


def test_bench_plot_directory_must_be_makeable(tmp_path):
    outcome = CliRunner().invoke(main, ["bench", "--plot", str(tmp_path / "no" / "plots")])
    assert outcome.exit_code == 2 and "can be created" in outcome.output


def test_format_or_dash_keeps_columns_aligned_for_the_bench_and_the_cli():
    # The bench's specs ("8d", "8.3f" with a scale) and the CLI's (">8.4g",
    # ".6g") give a number or a dash of the same width.
    assert format_or_dash(None, "8d") == format_or_dash(None, ">8.4g") == " " * 7 + "-"
    assert len(format_or_dash(12, "8d")) == len(format_or_dash(0.07, ">8.4g")) == 8
    assert format_or_dash(0.0012345, "8.3f", 1e3) == "   1.234"
    assert format_or_dash(None, ".6g") == "-"
    assert format_or_dash(1 / 3, ".6g") == "0.333333"
