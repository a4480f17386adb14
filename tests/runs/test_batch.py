"""Batch runs over directories: tvrestore.runs.batch and ``tvrestore DIR... -o OUT``.

What a lab relies on: every image under the input lands at the mirrored
path with its own dtype and layout; a broken file is reported and the rest
go on; an image's result does not depend on the batch it was in; a re-run
rewrites nothing and an interrupted run finishes on the next one, with only
whole files on disk; inputs are never touched and outputs are never read
back as inputs; the report lists every input file.
"""

import csv
import dataclasses
import hashlib
import json
import os
import pickle
import signal
import subprocess
import time
from pathlib import Path

import numpy as np
import pytest
import tifffile
from skimage.metrics import peak_signal_noise_ratio

from sample_images import H, W, read_back
from cli_helpers import console_script, assert_one_line_error
from hostile_helpers import dead_pid
from tvrestore import io
from tvrestore.runs import batch
from tvrestore.runs.batch import run_batch
from tvrestore.options import RestoreOptions
from tvrestore.runs.plan import FileJob, plan_jobs
from tvrestore.runs.report import CompareRow, ReportEntry, summarise, write_report
from tvrestore.cli.app import main
from tvrestore.errors import TVRestoreError

WEIGHT = "0.1"


def tree_state(root):
    """Every file under root (hidden ones included): relative path -> (sha256, mtime_ns)."""
    return {
        path.relative_to(root).as_posix(): (hashlib.sha256(path.read_bytes()).hexdigest(),
                                            path.stat().st_mtime_ns)
        for path in sorted(Path(root).rglob("*")) if path.is_file()
    }


def hidden_files(root):
    return [path for path in Path(root).rglob(".*")]


def total_variation(image):
    unit = np.asarray(image, np.float64)
    return np.abs(np.diff(unit, axis=0)).sum() + np.abs(np.diff(unit, axis=1)).sum()


def load_results(path):
    report = json.loads(Path(path).read_text())
    assert set(report) == {"results"}
    return {Path(entry["input"]).name: entry for entry in report["results"]}


def run(runner, *args):
    return runner.invoke(main, [str(arg) for arg in args])


# --- a mixed directory -----------------------------------------------------------------

# name -> (dtype, layout); every noisy image gets its own seed.
MIXED = {
    "grey.png": ("uint8", "grey"),
    "rgb.png": ("uint8", "rgb"),
    "rgba.png": ("uint8", "rgba"),
    "deep.png": ("uint16", "grey"),
    "deep_rgb.tif": ("uint16", "rgb"),
    "float.tif": ("float32", "grey"),
    "sub/nested.png": ("uint8", "grey"),
    "sub/deeper/float_rgb.tif": ("float32", "rgb"),
}


@pytest.fixture
def mixed_dir(tmp_path, make_pair, write_image):
    """tmp_path/in with the MIXED images, a truncated PNG and a text file; clean ones in tmp_path/clean."""
    (tmp_path / "in" / "sub" / "deeper").mkdir(parents=True)
    (tmp_path / "clean" / "sub" / "deeper").mkdir(parents=True)
    for seed, (name, (dtype, layout)) in enumerate(MIXED.items()):
        clean, noisy = make_pair(dtype, layout, seed=seed)
        write_image(f"in/{name}", noisy)
        write_image(f"clean/{name}", clean)
    data = (tmp_path / "in" / "grey.png").read_bytes()
    (tmp_path / "in" / "sub" / "broken.png").write_bytes(data[: len(data) // 2])
    (tmp_path / "in" / "notes.txt").write_text("not an image, not listed\n")
    return tmp_path / "in"


def test_mixed_directory_mirrors_every_image_and_reports_the_broken_one(runner, mixed_dir, tmp_path):
    out, report = tmp_path / "out", tmp_path / "run.json"
    inputs_before = tree_state(mixed_dir)

    result = run(runner, mixed_dir, "-o", out, "--weight", WEIGHT, "--report", report)

    assert result.exit_code == 1, (result.output, result.exception)
    broken = mixed_dir / "sub" / "broken.png"
    # The broken file: one error line naming it, no output, in the report.
    assert result.stderr.startswith(f"Error: {broken}: corrupt or truncated image")
    assert result.stderr.count("\n") == 1
    entries = load_results(report)
    assert set(entries) == {Path(name).name for name in MIXED} | {"broken.png"}
    failed = entries["broken.png"]
    assert failed["status"] == "failed" and failed["output"] is None
    assert failed["error"].startswith(f"{broken}: ") and "truncated" in failed["error"]
    assert not (out / "sub" / "broken.png").exists()

    for name, (dtype, layout) in MIXED.items():
        noisy, restored = read_back(mixed_dir / name), read_back(out / name)
        entry = entries[Path(name).name]
        assert entry["status"] == "restored" and entry["error"] is None
        assert entry["output"] == str(out / name) and entry["converged"] is True
        assert restored.dtype == noisy.dtype == np.dtype(dtype), name
        assert restored.shape == noisy.shape, name
        assert entry["shape"] == list(noisy.shape) and entry["dtype"] == dtype
        colour = slice(0, 3) if layout == "rgba" else slice(None)
        scale = 1.0 if dtype == "float32" else np.iinfo(dtype).max
        assert total_variation(restored[..., colour] / scale) < 0.5 * total_variation(
            noisy[..., colour] / scale), name
        if layout == "rgba":
            np.testing.assert_array_equal(restored[..., 3], noisy[..., 3])
    # Images of one shape were restored together.
    assert entries["grey.png"]["batch_size"] == 4  # grey, deep, float, nested
    # The run wrote outputs only: inputs byte-identical and untouched, no temporary files.
    assert tree_state(mixed_dir) == inputs_before
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == sorted(
        MIXED)
    assert hidden_files(out) == []
    assert "9 images: 8 restored, 0 skipped, 1 failed" in result.stdout


def test_an_image_gives_the_same_output_in_a_batch_and_alone(runner, make_pair, write_image, tmp_path):
    # Float TIFFs are written unrounded; weight auto is estimated per image.
    (tmp_path / "in").mkdir()
    for seed in range(3):
        write_image(f"in/{seed}.tif", make_pair("float32", "grey", seed=seed, sigma=0.05 + 0.03 * seed)[1])
    batch_report, alone_report = tmp_path / "batch.json", tmp_path / "alone.json"

    batch = run(runner, tmp_path / "in", "-o", tmp_path / "out", "--report", batch_report)
    alone = run(runner, tmp_path / "in" / "1.tif", "-o", tmp_path / "alone.tif",
                "--report", alone_report)

    assert batch.exit_code == 0, batch.output
    assert alone.exit_code == 0, alone.output
    in_batch, by_itself = load_results(batch_report)["1.tif"], load_results(alone_report)["1.tif"]
    assert in_batch["batch_size"] == 3 and by_itself["batch_size"] == 1
    assert in_batch["weight_auto"] and in_batch["weight"] == pytest.approx(by_itself["weight"], rel=1e-6)
    difference = np.abs(read_back(tmp_path / "out" / "1.tif") - read_back(tmp_path / "alone.tif"))
    assert difference.max() <= 1e-4
    # The three images differ, so equality above is not a batch of copies.
    weights = {entry["weight"] for entry in load_results(batch_report).values()}
    assert len(weights) == 3


def test_an_image_that_fails_to_restore_fails_alone(tmp_path, make_pair, write_image, monkeypatch):
    (tmp_path / "in").mkdir()
    for seed in range(3):
        write_image(f"in/{seed}.png", make_pair("uint8", "grey", seed=seed)[1])
    poisoned = read_back(tmp_path / "in" / "1.png")
    message = "result contains NaN or infinite values"  # as from a diverged solve

    def failing(solve, images_of):
        def wrapped(images, *args, **kwargs):
            if any(np.array_equal(image, poisoned) for image in images_of(images)):
                raise TVRestoreError(message)
            return solve(images, *args, **kwargs)
        return wrapped

    monkeypatch.setattr(batch, "denoise_images", failing(batch.denoise_images, list))
    delivered = []

    entries = run_batch(plan_jobs([tmp_path / "in"], tmp_path / "out"), RestoreOptions(weight=0.1),
                        on_entry=lambda index, entry: delivered.append(index))

    assert [entry.status for entry in entries] == ["restored", "failed", "restored"]
    assert entries[1].error == f"{tmp_path / 'in' / '1.png'}: {message}"
    assert entries[1].output is None
    assert sorted(os.listdir(tmp_path / "out")) == ["0.png", "2.png"]
    assert sorted(delivered) == [0, 1, 2]


# --- resume and interruption --------------------------------------------------------------


def test_second_run_rewrites_nothing_and_overwrite_rewrites_all(runner, mixed_dir, tmp_path):
    (mixed_dir / "sub" / "broken.png").unlink()
    out, report = tmp_path / "out", tmp_path / "run.json"
    first = run(runner, mixed_dir, "-o", out, "--weight", WEIGHT)
    assert first.exit_code == 0, first.output
    written = tree_state(out)

    again = run(runner, mixed_dir, "-o", out, "--weight", WEIGHT, "--report", report)

    assert again.exit_code == 0, again.output
    assert tree_state(out) == written
    entries = load_results(report)
    assert len(entries) == len(MIXED)
    assert {entry["status"] for entry in entries.values()} == {"skipped"}
    assert all(entry["error"] is None and entry["iterations"] is None for entry in entries.values())
    assert f"{len(MIXED)} images: 0 restored, {len(MIXED)} skipped, 0 failed" in again.stdout

    forced = run(runner, mixed_dir, "-o", out, "--weight", WEIGHT, "--overwrite")

    assert forced.exit_code == 0, forced.output
    rewritten = tree_state(out)
    assert rewritten.keys() == written.keys()
    assert all(rewritten[name][1] != written[name][1] for name in written)


def test_leftover_temporary_files_of_a_killed_run_are_removed(runner, make_pair, write_image, tmp_path):
    # What SIGKILL leaves behind while an output is being encoded.
    (tmp_path / "in").mkdir()
    (tmp_path / "out").mkdir()
    write_image("in/a.png", make_pair("uint8", "grey")[1])
    leftover = tmp_path / "out" / f".a.png.tmp-{dead_pid()}-0123456789abcdef.png"
    leftover.write_bytes(b"\x89PNG half")
    unrelated = tmp_path / "out" / ".notes"
    unrelated.write_text("a user's hidden file")

    result = run(runner, tmp_path / "in", "-o", tmp_path / "out", "--weight", WEIGHT)

    assert result.exit_code == 0, result.output
    assert not leftover.exists() and unrelated.exists()
    assert read_back(tmp_path / "out" / "a.png").shape == (H, W)


INTERRUPTS = {
    "ctrl-c": signal.SIGINT,
    "kill": signal.SIGTERM,
}
# The shell's convention: 128 + the signal's number.
INTERRUPTED_EXIT = {"ctrl-c": 130, "kill": 143}


@pytest.mark.parametrize("name", INTERRUPTS)
def test_interrupted_run_leaves_whole_files_and_the_next_run_finishes(tmp_path, make_pair, write_image, name):
    count = 40
    (tmp_path / "in").mkdir()
    for index in range(count):
        write_image(f"in/{index:02d}.png", make_pair("uint8", "grey", seed=index)[1])
    out, report = tmp_path / "out", tmp_path / "run.json"
    # A tight tolerance keeps each image busy long enough to interrupt the run part-way.
    command = [console_script(), str(tmp_path / "in"), "-o", str(out), "--weight", WEIGHT,
               "--batch-size", "2", "--tol", "1e-9", "--max-iter", "3000", "--quiet"]

    # As in a terminal: Ctrl-C reaches Python even if the test runner ignores it.
    process = subprocess.Popen(command + ["--report", str(report)], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    deadline = time.monotonic() + 120
    while not (out.is_dir() and any(out.glob("*.png"))) and time.monotonic() < deadline:
        assert process.poll() is None, process.communicate()
        time.sleep(0.01)
    process.send_signal(INTERRUPTS[name])
    _, stderr = process.communicate(timeout=120)

    assert process.returncode == INTERRUPTED_EXIT[name] and stderr.endswith("Aborted!\n"), stderr
    finished = sorted(path.name for path in out.glob("*.png"))
    assert 0 < len(finished) < count
    assert hidden_files(out) == []
    for path in out.iterdir():
        assert read_back(path).shape == (H, W)
    # The report of the interrupted run lists exactly what it finished.
    entries = load_results(report)
    assert sorted(entries) == finished
    assert {entry["status"] for entry in entries.values()} == {"restored"}

    done = subprocess.run(command + ["--report", str(report)], capture_output=True, text=True,
                          timeout=300)

    assert done.returncode == 0, done.stderr
    entries = load_results(report)
    assert len(entries) == count
    assert sorted(name for name, e in entries.items() if e["status"] == "skipped") == finished
    assert hidden_files(out) == []
    for index in range(count):
        assert read_back(out / f"{index:02d}.png").shape == (H, W)


# --- what is an input, where outputs go ---------------------------------------------------


def test_out_dir_inside_the_input_directory_is_never_read_back(runner, mixed_dir, tmp_path):
    (mixed_dir / "sub" / "broken.png").unlink()
    out, report = mixed_dir / "restored", tmp_path / "run.json"
    first = run(runner, mixed_dir, "-o", out, "--weight", WEIGHT)
    assert first.exit_code == 0, first.output

    again = run(runner, mixed_dir, "-o", out, "--weight", WEIGHT, "--report", report)

    assert again.exit_code == 0, again.output
    entries = json.loads(report.read_text())["results"]
    assert sorted(Path(e["input"]).relative_to(mixed_dir).as_posix() for e in entries) == sorted(MIXED)
    assert not (out / "restored").exists()


def test_without_out_dir_outputs_go_beside_the_inputs_and_are_not_taken_as_inputs(
        runner, make_pair, write_image, tmp_path):
    (tmp_path / "in").mkdir()
    write_image("in/a.png", make_pair("uint8", "grey", seed=1)[1])
    write_image("in/b_tv.png", make_pair("uint8", "grey", seed=2)[1])  # a user's file, no b.png
    first = run(runner, tmp_path / "in", "--weight", WEIGHT)
    assert first.exit_code == 0, first.output
    assert sorted(os.listdir(tmp_path / "in")) == ["a.png", "a_tv.png", "b_tv.png", "b_tv_tv.png"]
    report = tmp_path / "run.json"

    again = run(runner, tmp_path / "in", "--weight", WEIGHT, "--report", report)

    assert again.exit_code == 0, again.output
    entries = load_results(report)
    assert sorted(entries) == ["a.png", "b_tv.png"]
    assert {entry["status"] for entry in entries.values()} == {"skipped"}


def test_glob_narrows_directories_and_named_files_go_to_out_dir(runner, mixed_dir, tmp_path):
    out, report = tmp_path / "out", tmp_path / "run.json"
    extra = tmp_path / "extra.png"
    extra.write_bytes((mixed_dir / "grey.png").read_bytes())

    result = run(runner, mixed_dir, extra, "-o", out, "--glob", "*.TIF", "--weight", WEIGHT,
                 "--report", report)

    assert result.exit_code == 0, result.output  # the broken PNG is not selected
    assert sorted(load_results(report)) == ["deep_rgb.tif", "extra.png", "float.tif", "float_rgb.tif"]
    assert sorted(p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()) == [
        "deep_rgb.tif", "extra.png", "float.tif", "sub/deeper/float_rgb.tif"]


def test_plan_jobs_mirrors_dedupes_and_matches_references(tmp_path):
    for name in ("in/a.png", "in/sub/b.jpg", "in/sub/c.tif", "ref/a.png", "ref/sub/b.png",
                 "ref/sub/c.png", "ref/sub/c.bmp"):
        (tmp_path / name).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / name).write_bytes(b"")
    jobs = plan_jobs([tmp_path / "in", tmp_path / "in" / "a.png"], tmp_path / "out",
                     reference_dir=tmp_path / "ref")

    assert jobs == [
        FileJob(tmp_path / "in/a.png", tmp_path / "out/a.png", tmp_path / "ref/a.png"),
        # Another extension is accepted when it is the only one ...
        FileJob(tmp_path / "in/sub/b.jpg", tmp_path / "out/sub/b.jpg", tmp_path / "ref/sub/b.png"),
        # ... and not when it is ambiguous.
        FileJob(tmp_path / "in/sub/c.tif", tmp_path / "out/sub/c.tif", None),
    ]


USAGE_ERRORS = {
    "missing input": (lambda d, t: [d, t / "absent"], ["absent", "no such file"]),
    "out dir is a file": (lambda d, t: [d, "-o", d / "grey.png"], ["grey.png", "is a file"]),
    "out dir named like a file": (lambda d, t: [d, "-o", t / "out.png"], ["out.png", "directory"]),
    "nothing found": (lambda d, t: [d / "sub" / "deeper", "--glob", "*.bmp"], ["no image files",
                                                                               "*.bmp"]),
    "two inputs, one output": (lambda d, t: [d / "grey.png", d / "sub" / "nested.png",
                                             t / "nested.png", "-o", t / "o"], ["both"]),
    "output onto an input": (lambda d, t: [d, "-o", d], ["replace the input"]),
    "reference dir missing": (lambda d, t: [d, "-o", t / "o", "--reference", t / "none"],
                              ["none", "reference directory"]),
    "bad batch size": (lambda d, t: [d, "--batch-size", "0"], ["--batch-size"]),
}


@pytest.mark.parametrize("case", USAGE_ERRORS)
def test_usage_error_is_one_line_exit_2_before_any_work(runner, mixed_dir, tmp_path, case):
    make_args, words = USAGE_ERRORS[case]
    (tmp_path / "nested.png").write_bytes((mixed_dir / "grey.png").read_bytes())
    before = tree_state(tmp_path)

    result = run(runner, *make_args(mixed_dir, tmp_path), "--weight", WEIGHT)

    assert_one_line_error(result, *words)
    assert tree_state(tmp_path) == before


# --- scores, reports, console ------------------------------------------------------------


def test_reference_dir_scores_each_image_and_prints_the_mean(runner, mixed_dir, tmp_path):
    (mixed_dir / "sub" / "broken.png").unlink()
    clean_dir = mixed_dir.parent / "clean"
    (clean_dir / "rgba.png").unlink()  # an image without a reference: no score, no error
    # A wrong-shaped reference fails its image only.
    tifffile.imwrite(clean_dir / "float.tif", np.zeros((H + 2, W), np.float32))
    report = tmp_path / "run.json"

    result = run(runner, mixed_dir, "-o", tmp_path / "out", "--weight", WEIGHT,
                 "--reference", clean_dir, "--report", report)

    assert result.exit_code == 1, result.output
    entries = load_results(report)
    assert entries["float.tif"]["status"] == "failed"
    assert "float.tif" in entries["float.tif"]["error"] and "shape" in entries["float.tif"]["error"]
    assert result.stderr.count("\n") == 1 and "float.tif" in result.stderr
    assert entries["rgba.png"]["status"] == "restored" and entries["rgba.png"]["psnr"] is None
    scored = [entry for entry in entries.values() if entry["psnr"] is not None]
    assert len(scored) == len(MIXED) - 2
    grey = entries["grey.png"]
    expected = peak_signal_noise_ratio(read_back(clean_dir / "grey.png") / 255,
                                       read_back(tmp_path / "out" / "grey.png") / 255, data_range=1)
    assert grey["psnr"] == pytest.approx(expected, rel=1e-6)
    assert grey["reference"] == str(clean_dir / "grey.png")
    mean = np.mean([entry["psnr"] for entry in scored])
    assert f"mean PSNR {mean:.2f} dB" in result.stdout
    assert f"over {len(scored)} images with a reference (1 without)" in result.stdout


def test_compare_in_a_batch_reports_each_image_and_prints_method_means(runner, mixed_dir, tmp_path):
    (mixed_dir / "sub" / "broken.png").unlink()
    report = tmp_path / "run.csv"

    result = run(runner, mixed_dir, "-o", tmp_path / "out", "--weight", WEIGHT, "--compare",
                 "--glob", "*.png", "--reference", mixed_dir.parent / "clean", "--report", report)

    assert result.exit_code == 0, result.output
    with open(report, newline="") as file:
        rows = list(csv.DictReader(file))
    assert sorted(Path(row["input"]).name for row in rows) == ["deep.png", "grey.png", "nested.png",
                                                              "rgb.png", "rgba.png"]
    for row in rows:
        assert float(row["tvrestore_adam_objective"]) <= float(
            row["skimage_chambolle_objective"]) * (1 + 1e-6)
        assert float(row["skimage_chambolle_weight"]) == 0.1
        assert row["tvrestore_adam_psnr"] == row["psnr"]
        # tvrestore's seconds are its share of the compiled call.
        assert float(row["tvrestore_adam_seconds"]) == pytest.approx(
            float(row["solve_seconds"]) / int(row["batch_size"]))
    lines = result.stdout.splitlines()
    header = next(i for i, line in enumerate(lines) if "method" in line)
    for line, method in zip(lines[header + 1:], ["tvrestore_adam", "skimage_chambolle",
                                                  "skimage_bregman"]):
        mean = np.mean([float(row[f"{method}_psnr"]) for row in rows])
        assert line.split()[-4:-2] == [str(len(rows)), f"{mean:.2f}"], line


def test_csv_report_has_one_row_per_input_file(runner, mixed_dir, tmp_path):
    report = tmp_path / "run.csv"

    result = run(runner, mixed_dir, "-o", tmp_path / "out", "--weight", WEIGHT, "--report", report,
                 "--quiet")

    assert result.exit_code == 1
    with open(report, newline="") as file:
        rows = {Path(row["input"]).name: row for row in csv.DictReader(file)}
    assert len(rows) == len(MIXED) + 1
    assert rows["broken.png"]["status"] == "failed" and rows["broken.png"]["output"] == ""
    assert "truncated" in rows["broken.png"]["error"]
    assert rows["rgb.png"]["shape"] == f"{H}x{W}x3" and rows["rgb.png"]["dtype"] == "uint8"
    assert float(rows["rgb.png"]["objective"]) > 0 and rows["rgb.png"]["converged"] == "True"
    # --quiet: the summary only on stdout, the failed file on stderr.
    assert result.stdout.count("\n") == 1 and result.stdout.startswith(f"{len(MIXED) + 1} images:")
    assert result.stderr.count("\n") == 1 and "broken.png" in result.stderr


def test_per_image_lines_without_quiet(runner, mixed_dir, tmp_path):
    (mixed_dir / "sub" / "broken.png").unlink()

    result = run(runner, mixed_dir / "sub", "-o", tmp_path / "out", "--weight", WEIGHT)

    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert len(lines) == 3 and lines[-1].startswith("2 images: 2 restored")
    assert lines[0].startswith(f"{mixed_dir / 'sub' / 'deeper' / 'float_rgb.tif'} -> ")
    assert "iterations" in lines[0] and result.stderr == ""


# The keys of a written entry, in the order every report so far has had them.
WRITTEN_KEYS = [
    "input", "output", "reference", "status", "error", "skip_reason", "shape", "dtype", "task",
    "psf", "mask", "upscale", "weight", "weight_auto", "noise_sigma", "reduction", "tv", "color",
    "solver", "iterations", "converged", "objective", "loss", "certified_gap", "solve_seconds",
    "compile_seconds", "compile_cached", "weight_search_seconds", "history", "batch_size", "tile",
    "halo", "read_seconds", "write_seconds", "tensorflow_seconds", "total_seconds", "psnr", "ssim",
    "file_psnr", "file_ssim",
    "compare", "noise", "gain", "offset", "counts_clipped", "impulse_fraction", "impulse_route",
    "problem", "axes", "spacing", "poisson_route",
]


def test_a_report_entry_is_typed_frozen_and_written_with_the_same_keys(tmp_path):
    row = CompareRow(method="skimage chambolle", weight=0.1, psnr=30.0, ssim=0.9,
                     objective=None, seconds=0.5)
    entry = ReportEntry(input="a.png", output="a_tv.png", status="restored", shape=(4, 6, 3),
                        tile=(32, 32), halo=16, weight=0.1, psnr=float("inf"),
                        history=({"iteration": 10, "objective": 1.5},), compare=(row,))
    with pytest.raises(dataclasses.FrozenInstanceError):
        entry.weight = 0.2
    # Entries come back from Dask workers pickled.
    assert pickle.loads(pickle.dumps(entry)) == entry
    # RestoreResult's fields are an entry's (batch passes them along as they are).
    from tvrestore.options import RestoreResult
    assert {field.name for field in dataclasses.fields(RestoreResult)} <= set(WRITTEN_KEYS)

    write_report(tmp_path / "run.json", [entry])
    [written] = json.loads((tmp_path / "run.json").read_text())["results"]
    assert list(written) == WRITTEN_KEYS
    assert (written["shape"], written["tile"], written["psnr"]) == ([4, 6, 3], [32, 32], None)
    assert written["history"] == [{"iteration": 10, "objective": 1.5}]
    assert written["compare"] == [{"method": "skimage chambolle", "weight": 0.1, "psnr": 30.0,
                                   "ssim": 0.9, "objective": None, "seconds": 0.5}]
    write_report(tmp_path / "run.csv", [entry])
    [header, cells] = (tmp_path / "run.csv").read_text().splitlines()
    columns = [key for key in WRITTEN_KEYS if key not in ("history", "compare")]
    assert header.split(",") == columns + [f"skimage_chambolle_{key}" for key in
                                           ("weight", "psnr", "ssim", "objective", "seconds")]
    assert cells.split(",")[columns.index("shape")] == "4x6x3"


def test_summarise_and_write_report_with_no_scores(tmp_path):
    entries = [ReportEntry(input=f"{status}.png", status=status) for status in ("skipped", "failed")]

    summary = summarise(entries, wall_seconds=2.0)

    assert (summary.restored, summary.skipped, summary.failed) == (0, 1, 1)
    assert summary.psnr is None and summary.seconds_per_image is None and summary.compare == []
    with pytest.raises(TVRestoreError, match="directory does not exist"):
        write_report(tmp_path / "nowhere" / "run.csv", [])


def test_remove_temporaries_keeps_everything_else(tmp_path):
    dead = dead_pid()
    names = [f".a.png.tmp-{dead}-0123456789abcdef.png", f".a.png.tmp-{dead}-0123456789abcdef.tif",
             "a.png", f".b.tif.tmp-{dead}-0123456789abcdeg.tif", f".x.tmp-{dead}-0123456789abcdef",
             f".c.png.tmp-{os.getppid()}-0123456789abcdef.png"]  # a live run's
    for name in names:
        (tmp_path / name).write_text("x")

    removed = io.remove_temporaries(tmp_path)

    assert sorted(path.name for path in removed) == [f".a.png.tmp-{dead}-0123456789abcdef.png",
                                                     f".x.tmp-{dead}-0123456789abcdef"]
    assert sorted(os.listdir(tmp_path)) == sorted(set(names) - {path.name for path in removed})
