"""The ``tvrestore`` command, through click.testing.CliRunner (and a few real processes).

What a user relies on: where the output goes and that it is never written
over something without being asked; the JSON report and the comparison
table; that every error is one line naming the file or option, exit code 2,
with nothing left behind; and that ``--help`` answers at once without
loading TensorFlow.
"""

import os
import subprocess
import sys
import textwrap
import time

import numpy as np
import pytest
from skimage.metrics import peak_signal_noise_ratio

from cli_helpers import assert_one_line_error, console_script, listing, load_report
from sample_images import H, W, read_back
from tvrestore.runs.report import ENTRY_KEYS
from tvrestore.cli.app import main

WEIGHT = "0.1"

REPORT_KEYS = {
    "input", "output", "reference", "status", "error", "shape", "dtype", "task", "weight",
    "weight_auto", "noise_sigma", "reduction", "tv", "color", "iterations", "converged",
    "objective", "loss", "solve_seconds", "compile_seconds", "batch_size", "total_seconds",
    "psnr", "ssim", "compare",
}
COMPARE_KEYS = {"method", "weight", "psnr", "ssim", "objective", "seconds"}


@pytest.fixture
def noisy_png(make_pair, write_image):
    """A noisy 24x32 grey uint8 PNG and its clean version beside it."""
    clean, noisy = make_pair("uint8", "grey")
    write_image("clean.png", clean)
    return write_image("noisy.png", noisy)


def energy(u, f, weight, tv="isotropic", color="vectorial"):
    """E(u) = 1/2 sum (u - f)^2 + w TV(u), forward differences, Neumann boundary (numpy)."""
    u = np.asarray(u, np.float64).reshape(H, W, -1)
    f = np.asarray(f, np.float64).reshape(H, W, -1)
    dy, dx = np.zeros_like(u), np.zeros_like(u)
    dy[:-1] = u[1:] - u[:-1]
    dx[:, :-1] = u[:, 1:] - u[:, :-1]
    groups = [dy**2 + dx**2] if tv == "isotropic" else [dy**2, dx**2]
    if color == "vectorial":
        groups = [g.sum(axis=-1) for g in groups]
    return 0.5 * np.sum((u - f) ** 2) + weight * sum(np.sqrt(g).sum() for g in groups)


# --- a normal run ----------------------------------------------------------------


def test_default_output_is_beside_the_input_and_the_run_is_described(runner, noisy_png):
    result = runner.invoke(main, [str(noisy_png), "--weight", WEIGHT])

    assert result.exit_code == 0, result.output
    output = noisy_png.with_name("noisy_tv.png")
    assert listing(noisy_png.parent) == ["clean.png", "noisy.png", "noisy_tv.png"]
    assert output.read_bytes().startswith(b"\x89PNG")
    assert read_back(output).shape == (H, W)
    assert result.stderr == ""
    # Says what it did: where, the weight, the iterations and whether it converged.
    assert str(output) in result.stdout
    assert "weight 0.1" in result.stdout
    assert "iterations (converged)" in result.stdout


def test_default_output_name_uses_the_last_suffix_only(runner, make_pair, write_image):
    _, noisy = make_pair("uint16", "grey")
    path = write_image("scan.v2.tif", noisy)

    result = runner.invoke(main, [str(path), "--weight", WEIGHT])

    assert result.exit_code == 0, result.output
    assert (path.parent / "scan.v2_tv.tif").is_file()


def test_explicit_output_path(runner, noisy_png, tmp_path):
    (tmp_path / "out").mkdir()
    target = tmp_path / "out" / "result.tif"  # a chosen format, here TIFF

    result = runner.invoke(main, [str(noisy_png), "-o", str(target), "--weight", WEIGHT])

    assert result.exit_code == 0, result.output
    assert listing(tmp_path / "out") == ["result.tif"]
    assert not noisy_png.with_name("noisy_tv.png").exists()
    restored = read_back(target)
    assert restored.dtype == np.uint8 and restored.shape == (H, W)


def test_quiet_single_file_prints_nothing_but_writes(runner, noisy_png):
    result = runner.invoke(main, [str(noisy_png), "--weight", WEIGHT, "--quiet"])

    assert result.exit_code == 0, result.output
    assert result.stdout == "" and result.stderr == ""
    assert read_back(noisy_png.with_name("noisy_tv.png")).shape == (H, W)


def test_restore_subcommand_and_options_before_the_input(runner, noisy_png, tmp_path):
    first, second = tmp_path / "a.png", tmp_path / "b.png"

    explicit = runner.invoke(main, ["restore", str(noisy_png), "-o", str(first), "--weight", WEIGHT])
    options_first = runner.invoke(main, ["--weight", WEIGHT, "-o", str(second), str(noisy_png)])

    assert explicit.exit_code == 0, explicit.output
    assert options_first.exit_code == 0, options_first.output
    assert "weight 0.1" in options_first.stdout
    np.testing.assert_array_equal(read_back(first), read_back(second))


def test_input_is_never_modified(runner, noisy_png, tmp_path):
    reference = noisy_png.with_name("clean.png")
    stamp = 1_000_000_000_000_000_000  # 2001, in ns: any rewrite would change it
    for path in (noisy_png, reference):
        os.utime(path, ns=(stamp, stamp))
    before = {path: path.read_bytes() for path in (noisy_png, reference)}

    result = runner.invoke(main, [
        str(noisy_png), "--weight", WEIGHT, "--reference", str(reference), "--compare",
        "--report", str(tmp_path / "run.json"),
    ])

    assert result.exit_code == 0, result.output
    for path, data in before.items():
        assert path.read_bytes() == data
        assert path.stat().st_mtime_ns == stamp


def test_default_weight_is_auto(runner, noisy_png, tmp_path):
    report = tmp_path / "run.json"

    result = runner.invoke(main, [str(noisy_png), "--report", str(report)])

    assert result.exit_code == 0, repr(result.exception)
    entry = load_report(report)
    assert entry["weight_auto"] is True and entry["weight"] > 0
    assert "auto" in result.stdout


# --- report ------------------------------------------------------------------------


def test_report_without_reference_or_compare(runner, noisy_png, tmp_path):
    report = tmp_path / "run.json"

    result = runner.invoke(main, [str(noisy_png), "--weight", WEIGHT, "--report", str(report)])

    assert result.exit_code == 0, result.output
    entry = load_report(report)
    assert REPORT_KEYS <= set(entry)
    assert list(entry) == list(ENTRY_KEYS)  # the same keys as every batch entry
    assert entry["status"] == "restored" and entry["error"] is None and entry["batch_size"] == 1
    assert entry["input"] == str(noisy_png)
    assert entry["output"] == str(noisy_png.with_name("noisy_tv.png"))
    assert entry["shape"] == [H, W] and entry["dtype"] == "uint8"
    assert entry["weight"] == 0.1 and entry["weight_auto"] is False
    assert (entry["reduction"], entry["tv"], entry["color"]) == ("mean", "isotropic", "vectorial")
    assert isinstance(entry["iterations"], int) and entry["iterations"] > 0
    assert entry["converged"] is True
    assert entry["objective"] > 0
    assert 0 <= entry["solve_seconds"] <= entry["total_seconds"]
    assert entry["psnr"] is None and entry["ssim"] is None and entry["compare"] is None


def test_report_objective_is_the_energy_of_the_written_output(runner, make_pair, write_image, tmp_path):
    # A float TIFF is written without rounding, so E can be recomputed exactly.
    _, noisy = make_pair("float32", "rgb")
    path = write_image("noisy.tif", noisy)
    report = tmp_path / "run.json"

    result = runner.invoke(main, [str(path), "--weight", WEIGHT, "--report", str(report)])

    assert result.exit_code == 0, result.output
    entry = load_report(report)
    restored = read_back(path.with_name("noisy_tv.tif"))
    assert entry["objective"] == pytest.approx(energy(restored, noisy, 0.1), rel=1e-6)
    # The mean loss is E divided by the number of values H * W * C.
    assert entry["loss"] == pytest.approx(entry["objective"] / (H * W * 3), rel=1e-9)


def test_reference_adds_psnr_and_ssim(runner, noisy_png, tmp_path):
    reference = noisy_png.with_name("clean.png")
    report = tmp_path / "run.json"

    result = runner.invoke(main, [str(noisy_png), "--weight", WEIGHT, "--reference", str(reference),
                                  "--report", str(report)])

    assert result.exit_code == 0, result.output
    entry = load_report(report)
    clean = read_back(reference) / 255.0
    restored = read_back(noisy_png.with_name("noisy_tv.png")) / 255.0
    noisy = read_back(noisy_png) / 255.0
    expected = peak_signal_noise_ratio(clean, restored, data_range=1.0)
    # tvrestore scales in float32: agreement to float32 rounding.
    assert entry["psnr"] == pytest.approx(expected, rel=1e-6)
    assert entry["psnr"] > peak_signal_noise_ratio(clean, noisy, data_range=1.0) + 6
    assert 0.5 < entry["ssim"] <= 1
    assert entry["compare"] is None
    assert f"PSNR {entry['psnr']:.2f} dB" in result.stdout
    assert f"SSIM {entry['ssim']:.4f}" in result.stdout


@pytest.mark.parametrize("batch", [False, True], ids=["single", "batch"])
def test_a_jpeg_output_is_scored_as_the_file_written(runner, make_pair, write_image, tmp_path,
                                                      batch):
    # JPEG is lossy: the result's PSNR is not the file's. Both are reported.
    clean, noisy = make_pair("uint8", "rgb", sigma=30)
    (tmp_path / "in").mkdir()
    (tmp_path / "clean").mkdir()
    # A batch writes each output in its input's format.
    source = write_image("in/noisy.jpg" if batch else "in/noisy.png", noisy)
    reference = write_image("clean/noisy.png", clean)
    output = tmp_path / "out" / "noisy.jpg" if batch else tmp_path / "noisy_tv.jpg"
    report = tmp_path / "run.json"
    arguments = ([str(source.parent), "-o", str(output.parent),
                  "--reference", str(reference.parent)] if batch
                 else [str(source), "-o", str(output), "--reference", str(reference)])

    result = runner.invoke(main, [*arguments, "--weight", WEIGHT, "--report", str(report)])

    assert result.exit_code == 0, result.output
    entry = load_report(report)
    assert entry["output"] == str(output)
    written = read_back(output) / 255.0
    expected = peak_signal_noise_ratio(read_back(reference) / 255.0, written, data_range=1.0)
    assert entry["file_psnr"] == pytest.approx(expected, rel=1e-6)
    assert entry["file_psnr"] != pytest.approx(entry["psnr"], abs=1e-3)
    assert 0 < entry["file_ssim"] <= 1
    assert f"{entry['file_psnr']:.2f} dB" in result.stdout


def test_a_lossless_output_has_no_file_score(runner, noisy_png, tmp_path):
    report = tmp_path / "run.json"
    result = runner.invoke(main, [str(noisy_png), "--weight", WEIGHT, "--reference",
                                  str(noisy_png.with_name("clean.png")), "--report", str(report)])
    assert result.exit_code == 0, result.output
    entry = load_report(report)
    assert entry["psnr"] is not None
    assert entry["file_psnr"] is None and entry["file_ssim"] is None
    assert "as written" not in result.stdout


def test_compare_prints_one_table_and_reports_each_method(runner, noisy_png, tmp_path):
    reference = noisy_png.with_name("clean.png")
    report = tmp_path / "run.json"

    result = runner.invoke(main, [str(noisy_png), "--weight", WEIGHT, "--reference", str(reference),
                                  "--compare", "--report", str(report)])

    assert result.exit_code == 0, result.output
    entry = load_report(report)
    rows = entry["compare"]
    assert [row["method"] for row in rows] == ["tvrestore (adam)", "skimage chambolle",
                                               "skimage bregman"]
    for row in rows:
        assert set(row) == COMPARE_KEYS
        assert isinstance(row["psnr"], float) and isinstance(row["ssim"], float)
        assert row["objective"] > 0 and row["seconds"] >= 0
    ours, chambolle = rows[0], rows[1]
    assert (ours["psnr"], ours["ssim"], ours["objective"]) == (
        entry["psnr"], entry["ssim"], entry["objective"])
    assert chambolle["weight"] == 0.1  # the same weight means the same thing in both
    # tvrestore reaches the minimizer: no worse than skimage's defaults.
    assert ours["objective"] <= chambolle["objective"] * (1 + 1e-6)

    # One table: one header, then one line per method with its numbers.
    lines = result.stdout.splitlines()
    headers = [i for i, line in enumerate(lines) if "method" in line]
    assert len(headers) == 1
    header = lines[headers[0]]
    for column in ("method", "weight", "PSNR", "SSIM", "objective E", "seconds"):
        assert column in header
    body = lines[headers[0] + 1:]
    assert len(body) == len(rows)
    for line, row in zip(body, rows):
        assert row["method"] in line
        assert f"{row['psnr']:.2f}" in line and f"{row['ssim']:.4f}" in line
        assert f"{row['objective']:.6f}" in line


def test_compare_without_reference_has_no_scores(runner, noisy_png, tmp_path):
    report = tmp_path / "run.json"

    result = runner.invoke(main, [str(noisy_png), "--weight", WEIGHT, "--compare",
                                  "--report", str(report)])

    assert result.exit_code == 0, result.output
    entry = load_report(report)
    assert entry["psnr"] is None and entry["ssim"] is None
    assert len(entry["compare"]) == 3
    assert all(row["psnr"] is None and row["ssim"] is None for row in entry["compare"])
    assert "skimage chambolle" in result.stdout and "skimage bregman" in result.stdout


def test_sum_and_mean_reductions_give_the_same_minimizer(runner, make_pair, write_image, tmp_path):
    # RGB, so that a naive mean (fidelity over H*W*C values, TV over H*W
    # pixels) would change the effective weight and show here.
    _, noisy = make_pair("float32", "rgb")
    path = write_image("noisy.tif", noisy)
    entries, outputs = {}, {}
    for reduction in ("sum", "mean"):
        output, report = tmp_path / f"{reduction}.tif", tmp_path / f"{reduction}.json"
        result = runner.invoke(main, [str(path), "--weight", WEIGHT, "--reduction", reduction,
                                      "-o", str(output), "--report", str(report)])
        assert result.exit_code == 0, result.output
        entries[reduction], outputs[reduction] = load_report(report), read_back(output)
        assert entries[reduction]["reduction"] == reduction
        assert entries[reduction]["converged"] is True

    values = H * W * 3
    summed, mean = entries["sum"], entries["mean"]
    # Same minimizer: same objective and image, to the solver's accuracy
    # (float32 Adam stopping at a step of 1e-4, measured 2e-5 and 4e-4).
    assert summed["objective"] == pytest.approx(mean["objective"], rel=1e-4)
    assert np.abs(outputs["sum"] - outputs["mean"]).max() < 2e-3
    # The loss is in the reduction's units: E under sum, E / (H W C) under mean.
    assert summed["loss"] == pytest.approx(summed["objective"], rel=1e-9)
    assert summed["loss"] == pytest.approx(values * mean["loss"], rel=1e-4)


def test_exact_mode_reports_a_certified_gap_that_bounds_adams(runner, make_pair, write_image,
                                                              tmp_path):
    _, noisy = make_pair("float32", "rgb")
    path = write_image("noisy.tif", noisy)
    entries, printed = {}, {}
    for solver in ("pdhg", "adam"):
        report = tmp_path / f"{solver}.json"
        result = runner.invoke(main, [str(path), "--weight", WEIGHT, "--solver", solver,
                                      "--gap", "1e-5", "-o", str(tmp_path / f"{solver}.tif"),
                                      "--report", str(report)])
        assert result.exit_code == 0, result.output
        entries[solver], printed[solver] = load_report(report), result.stdout
    exact, adam = entries["pdhg"], entries["adam"]
    assert exact["solver"] == "pdhg" and exact["converged"] is True
    assert 0 < exact["certified_gap"] <= 1e-5
    assert f"certified gap {exact['certified_gap']:.2g}" in printed["pdhg"]
    assert adam["solver"] == "adam" and adam["certified_gap"] is None
    # E* >= E_pdhg / (1 + gap), so Adam's objective cannot go below that.
    assert adam["objective"] >= exact["objective"] / (1 + exact["certified_gap"]) * (1 - 1e-9)
    assert (adam["objective"] - exact["objective"]) / exact["objective"] <= 1e-3


def test_tv_and_color_options_change_what_is_minimized(runner, make_pair, write_image, tmp_path):
    _, noisy = make_pair("float32", "rgb")
    path = write_image("noisy.tif", noisy)
    settings = {"default": ("isotropic", "vectorial"), "other": ("anisotropic", "channelwise")}
    restored = {}
    for name, (tv, color) in settings.items():
        output, report = tmp_path / f"{name}.tif", tmp_path / f"{name}.json"
        result = runner.invoke(main, [str(path), "--weight", WEIGHT, "--tv", tv, "--color", color,
                                      "-o", str(output), "--report", str(report)])
        assert result.exit_code == 0, result.output
        entry = load_report(report)
        assert (entry["tv"], entry["color"]) == (tv, color)
        assert f"{tv} {color} TV" in result.stdout
        restored[name] = read_back(output)
        assert entry["objective"] == pytest.approx(
            energy(restored[name], noisy, 0.1, tv, color), rel=1e-6)

    # Each run minimized its own energy: it beats the other run's output on it.
    for name, (tv, color) in settings.items():
        other = "other" if name == "default" else "default"
        assert energy(restored[name], noisy, 0.1, tv, color) < energy(
            restored[other], noisy, 0.1, tv, color)


# --- overwriting ---------------------------------------------------------------------


def test_existing_output_is_not_overwritten_without_overwrite(runner, noisy_png):
    output = noisy_png.with_name("noisy_tv.png")
    output.write_bytes(b"precious, not an image")
    before = listing(noisy_png.parent)

    result = runner.invoke(main, [str(noisy_png), "--weight", WEIGHT])

    assert_one_line_error(result, str(output), "exists", "--overwrite")
    assert output.read_bytes() == b"precious, not an image"
    assert listing(noisy_png.parent) == before


def test_overwrite_replaces_the_existing_output(runner, noisy_png):
    output = noisy_png.with_name("noisy_tv.png")
    output.write_bytes(b"old, not an image")

    result = runner.invoke(main, [str(noisy_png), "--weight", WEIGHT, "--overwrite"])

    assert result.exit_code == 0, result.output
    assert output.read_bytes().startswith(b"\x89PNG")
    assert read_back(output).shape == (H, W)
    assert listing(noisy_png.parent) == ["clean.png", "noisy.png", "noisy_tv.png"]


@pytest.mark.parametrize("spelling", ["same", "dotted"])
@pytest.mark.parametrize("overwrite", [[], ["--overwrite"]])
def test_output_equal_to_input_is_refused(runner, noisy_png, spelling, overwrite):
    target = noisy_png if spelling == "same" else noisy_png.parent / "." / "noisy.png"
    before = noisy_png.read_bytes()

    result = runner.invoke(main, [str(noisy_png), "-o", str(target), "--weight", WEIGHT, *overwrite])

    assert_one_line_error(result, "input")
    assert noisy_png.read_bytes() == before
    assert listing(noisy_png.parent) == ["clean.png", "noisy.png"]


# --- errors --------------------------------------------------------------------------


def _missing(tmp_path, noisy_png):
    return [str(tmp_path / "absent.png")], tmp_path / "absent.png", ["not found"]


def _not_an_image(tmp_path, noisy_png):
    path = tmp_path / "notes.png"
    path.write_text("this is text, not a PNG\n")
    return [str(path)], path, ["not a readable image"]


def _truncated(tmp_path, noisy_png):
    path = tmp_path / "cut.png"
    data = noisy_png.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    return [str(path)], path, ["truncated"]


def _empty(tmp_path, noisy_png):
    path = tmp_path / "empty.png"
    path.write_bytes(b"")
    return [str(path)], path, ["empty"]


def _unsupported_type(tmp_path, noisy_png):
    path = tmp_path / "noisy.txt"
    path.write_bytes(noisy_png.read_bytes())
    return [str(path)], path, ["unsupported file type"]


def _wrong_shaped_reference(tmp_path, noisy_png):
    import imageio.v3 as iio

    path = tmp_path / "big_clean.png"
    iio.imwrite(path, np.zeros((H + 6, W), np.uint8))
    return [str(noisy_png), "--reference", str(path)], path, ["shape"]


def _missing_reference(tmp_path, noisy_png):
    path = tmp_path / "absent_clean.png"
    return [str(noisy_png), "--reference", str(path)], path, ["not found"]


def _missing_output_directory(tmp_path, noisy_png):
    path = tmp_path / "nowhere" / "out.png"
    return [str(noisy_png), "-o", str(path)], path, ["directory does not exist"]


def _format_cannot_store_dtype(tmp_path, noisy_png):
    import tifffile

    source = tmp_path / "float.tif"
    tifffile.imwrite(source, np.full((H, W), 0.5, np.float32))
    path = tmp_path / "float.png"
    return [str(source), "-o", str(path)], path, ["PNG", "float32", ".tif"]


FILE_ERRORS = [_missing, _not_an_image, _truncated, _empty, _unsupported_type,
               _wrong_shaped_reference, _missing_reference, _missing_output_directory,
               _format_cannot_store_dtype]


@pytest.mark.parametrize("case", FILE_ERRORS, ids=[f.__name__.lstrip("_") for f in FILE_ERRORS])
def test_file_error_is_one_line_naming_the_file(runner, noisy_png, tmp_path, case):
    args, named, words = case(tmp_path, noisy_png)
    before = listing(tmp_path)

    result = runner.invoke(main, [*args, "--weight", WEIGHT])

    assert_one_line_error(result, str(named), *words)
    assert listing(tmp_path) == before  # no output, no temporary file


BAD_OPTIONS = [
    (["--reduction", "foo"], "--reduction"),
    (["--tv", "foo"], "--tv"),
    (["--color", "foo"], "--color"),
    (["--weight", "-1"], "--weight"),
    (["--weight", "abc"], "--weight"),
    (["--weight", "nan"], "--weight"),
    (["--weight", "inf"], "--weight"),
    (["--max-iter", "-3"], "--max-iter"),
    (["--max-iter", "1.5"], "--max-iter"),
    (["--tol", "0"], "--tol"),
    (["--tol", "-1"], "--tol"),
    (["--tol", "abc"], "--tol"),
    (["--solver", "lbfgs"], "--solver"),
    (["--gap", "0"], "--gap"),
    (["--no-such-option"], "--no-such-option"),
]


@pytest.mark.parametrize("option, name", BAD_OPTIONS, ids=[" ".join(o) for o, _ in BAD_OPTIONS])
def test_bad_option_is_one_line_naming_the_option(runner, noisy_png, option, name):
    before = listing(noisy_png.parent)

    result = runner.invoke(main, [str(noisy_png), *option])

    assert_one_line_error(result, name, *option[1:])
    assert listing(noisy_png.parent) == before


def test_report_that_cannot_be_written_leaves_no_output(runner, noisy_png, tmp_path):
    before = listing(tmp_path)
    report = tmp_path / "nowhere" / "run.json"

    result = runner.invoke(main, [str(noisy_png), "--weight", WEIGHT, "--report", str(report)])

    assert_one_line_error(result, str(report))
    assert listing(tmp_path) == before


def test_error_in_a_real_process_is_exactly_one_line(noisy_png, tmp_path):
    # Outside CliRunner: TensorFlow's native start-up logging, sys.exit and
    # the console script are all real here.
    path = tmp_path / "cut.png"
    data = noisy_png.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    before = listing(tmp_path)

    done = subprocess.run([console_script(), str(path), "--weight", WEIGHT],
                          capture_output=True, text=True, timeout=120)

    assert done.returncode == 2
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1 and done.stderr.endswith("\n"), done.stderr
    assert done.stderr.startswith(f"Error: {path}: ") and "truncated" in done.stderr
    assert listing(tmp_path) == before


# --- help and start-up ---------------------------------------------------------------

RESTORE_OPTIONS = ["--output", "--weight", "--reduction", "--tv", "--color", "--max-iter",
                   "--tol", "--solver", "--gap", "--reference", "--compare", "--report", "--overwrite", "--glob",
                   "--batch-size", "--quiet"]


@pytest.mark.parametrize("flag", ["--help", "-h"])
def test_group_help(runner, flag):
    result = runner.invoke(main, [flag])

    assert result.exit_code == 0, result.output
    assert "Usage:" in result.stdout
    assert "restore" in result.stdout and "bench" in result.stdout
    # restore is the default command: its options are the top level's.
    for option in [*RESTORE_OPTIONS, "--gallery-assets", "--version"]:
        assert option in result.stdout, option


def test_no_arguments_prints_the_help_as_a_usage_error(runner):
    result = runner.invoke(main, [])

    assert result.exit_code == 2
    assert result.stdout.startswith("Usage:") and "Error" not in result.output


def test_restore_help_lists_every_option(runner):
    result = runner.invoke(main, ["restore", "--help"])

    assert result.exit_code == 0, result.output
    for option in RESTORE_OPTIONS:
        assert option in result.stdout, option
    assert "auto" in result.stdout and "sum" in result.stdout and "mean" in result.stdout


def test_python_m_tvrestore_help():
    done = subprocess.run([sys.executable, "-m", "tvrestore", "--help"],
                          capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert "Usage:" in done.stdout and "restore" in done.stdout


def test_cli_import_and_help_do_not_import_tensorflow():
    code = textwrap.dedent("""
        import sys
        import tvrestore.cli.app
        assert "tensorflow" not in sys.modules, "import tvrestore.cli.app"
        for args in (["--help"], ["restore", "--help"]):
            try:
                tvrestore.cli.app.main(args, prog_name="tvrestore")
            except SystemExit as exit:
                assert exit.code in (0, None), exit.code
        heavy = sorted({name.split(".")[0] for name in sys.modules} & {"tensorflow", "skimage"})
        assert not heavy, heavy
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)

    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("ok\n")


def test_help_answers_at_once():
    script = console_script()
    start = time.perf_counter()
    done = subprocess.run([script, "--help"], capture_output=True, text=True, timeout=60)
    seconds = time.perf_counter() - start

    assert done.returncode == 0, done.stderr
    assert "Usage: tvrestore" in done.stdout
    assert seconds < 2.0  # measured about 0.1 s; TensorFlow alone takes several


def test_a_plain_run_does_not_import_scipy_stats(noisy_png, tmp_path):
    # scikit-image's restoration and metrics modules pull in scipy.stats, about
    # half a second of start-up; only --compare and --reference need them.
    code = textwrap.dedent(f"""
        import sys
        import tvrestore.cli.app
        try:
            tvrestore.cli.app.main([{str(noisy_png)!r}, "--weight", "0.1", "-q",
                                "-o", {str(tmp_path / "out.png")!r}], prog_name="tvrestore")
        except SystemExit as exit:
            assert exit.code in (0, None), exit.code
        heavy = sorted({{"scipy.stats", "skimage.restoration", "skimage.metrics"}} & set(sys.modules))
        assert not heavy, heavy
        print("ok")
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)

    assert done.returncode == 0, done.stderr
    assert done.stdout.endswith("ok\n")
    assert (tmp_path / "out.png").exists()
