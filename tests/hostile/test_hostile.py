"""The command line against hostile inputs, options and file systems (issue 10).

One corpus, generated here: each case builds its files in a fresh
directory and names the command line, the exit code and the words of the
one-line error it must give. Every case asserts the same promises:

- the exit code, and no traceback anywhere;
- exactly the expected number of ``Error: <file>: <problem>`` lines on
  stderr (one for a refused run, one per failed file of a batch);
- every file that existed before is byte-identical afterwards (links and
  FIFOs too), nothing but the expected outputs was created, and no hidden
  file (temporary file, claim marker) is left.

The io-level cases (pixels of MINISWHITE, palette, orientation, compressed
TIFFs; write errors injected by monkeypatching) are in test_hostile_io.py;
the real-process cases (signals, two concurrent runs) in test_processes.py.
"""

import contextlib
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest
import tifffile

from hostile_helpers import FAST, GREY, RNG, check_run, png
from sample_images import H, W, read_back
from tvrestore.cli.app import main


# --- the corpus: name -> builder(root) returning (args, code, words, outputs, error lines) ---

CASES = {}


def case(function):
    CASES[function.__name__] = function
    return function


def tiff(root, name, pixels, **options):
    path = Path(root, name)
    tifffile.imwrite(path, pixels, **options)
    return path


@case
def report_is_the_input(root):
    png(root, "a.png")
    return ["a.png", "-o", "b.png", "--report", "a.png", *FAST], 2, ["report", "a.png"], [], 1


@case
def report_is_the_output(root):
    png(root, "a.png")
    return ["a.png", "-o", "b.json", "--report", "b.json", *FAST], 2, ["b.json"], [], 1


@case
def report_is_the_reference(root):
    png(root, "a.png")
    png(root, "clean.png")
    return (["a.png", "--reference", "clean.png", "--report", "clean.png", *FAST], 2,
            ["report", "clean.png"], [], 1)


@case
def report_symlinked_to_the_input(root):
    png(root, "a.png")
    os.symlink("a.png", Path(root, "run.json"))
    return ["a.png", "--report", "run.json", *FAST], 2, ["report", "a.png"], [], 1


@case
def report_hard_linked_to_the_input(root):
    png(root, "a.png")
    os.link(Path(root, "a.png"), Path(root, "run.json"))
    return ["a.png", "--report", "run.json", *FAST], 2, ["report", "a.png"], [], 1


@case
def report_of_a_batch_is_an_input(root):
    png(root, "in/a.png")
    png(root, "in/b.png")
    return ["in", "-o", "out", "--report", "in/b.png", *FAST], 2, ["report", "b.png"], [], 1


@case
def output_hard_linked_to_the_input(root):
    png(root, "a.png")
    os.link(Path(root, "a.png"), Path(root, "b.png"))
    return ["a.png", "-o", "b.png", "--overwrite", *FAST], 2, ["b.png", "input"], [], 1


@case
def output_symlinked_to_the_input(root):
    png(root, "a.png")
    os.symlink("a.png", Path(root, "b.png"))
    return ["a.png", "-o", "b.png", "--overwrite", *FAST], 2, ["b.png", "input"], [], 1


@case
def output_exists(root):
    png(root, "a.png")
    png(root, "a_tv.png", GREY[::-1])
    return ["a.png", *FAST], 2, ["a_tv.png", "exists"], [], 1


@case
def output_is_a_directory(root):
    png(root, "a.png")
    Path(root, "b.png").mkdir()
    return ["a.png", "-o", "b.png", *FAST], 2, ["b.png", "directory"], [], 1


@case
def output_directory_missing(root):
    png(root, "a.png")
    return ["a.png", "-o", "nowhere/b.png", *FAST], 2, ["nowhere"], [], 1


@case
def output_dir_of_a_batch_is_a_file(root):
    png(root, "in/a.png")
    Path(root, "out").write_text("notes")
    return ["in", "-o", "out", *FAST], 2, ["out"], [], 1


@case
def empty_input_argument(root):
    png(root, "a.png")  # would be restored if "" meant the current directory
    return ["", *FAST], 2, ["''"], [], 1


@case
def empty_output_argument(root):
    png(root, "in/a.png")
    return ["in", "-o", "", *FAST], 2, ["--output"], [], 1


@case
def empty_report_argument(root):
    png(root, "a.png")
    return ["a.png", "--report", "", *FAST], 2, ["--report"], [], 1


@case
def missing_input(root):
    return ["gone.png", *FAST], 2, ["gone.png"], [], 1


@case
def symbolic_link_loop(root):
    os.symlink("loop.png", Path(root, "loop.png"))
    return ["loop.png", *FAST], 2, ["loop.png", "loop"], [], 1


@case
def broken_symbolic_link(root):
    os.symlink("gone.png", Path(root, "a.png"))
    return ["a.png", *FAST], 2, ["a.png", "broken"], [], 1


@case
def fifo(root):
    os.mkfifo(Path(root, "a.png"))
    return ["a.png", *FAST], 2, ["a.png", "regular"], [], 1


@case
def empty_file(root):
    Path(root, "a.png").write_bytes(b"")
    return ["a.png", *FAST], 2, ["a.png", "empty"], [], 1


@case
def truncated_png(root):
    data = png(root, "a.png").read_bytes()
    Path(root, "a.png").write_bytes(data[: len(data) // 2])
    return ["a.png", *FAST], 2, ["a.png"], [], 1


@case
def cmyk_tiff(root):
    tiff(root, "a.tif", RNG.integers(0, 256, (H, W, 4), dtype=np.uint8), photometric="separated")
    return ["a.tif", *FAST], 2, ["a.tif"], [], 1


@case
def cielab_tiff(root):
    tiff(root, "a.tif", RNG.integers(0, 256, (H, W, 3), dtype=np.uint8), photometric="cielab")
    return ["a.tif", *FAST], 2, ["a.tif"], [], 1


@case
def forged_giant_tiff_header(root):
    # A tiny file whose header declares 8192 x 8192 x 64 samples: refused from the header.
    path = tiff(root, "a.tif", np.zeros((4, 4, 64), np.uint8), photometric="minisblack",
                planarconfig="contig")
    with tifffile.TiffFile(path, mode="r+b") as forged:
        forged.pages[0].tags["ImageWidth"].overwrite(8192)
        forged.pages[0].tags["ImageLength"].overwrite(8192)
    return ["a.tif", *FAST], 2, ["a.tif", "absurd image size"], [], 1


@case
def float64_beyond_float32(root):
    tiff(root, "a.tif", np.full((H, W), 1e300))
    return ["a.tif", *FAST], 2, ["a.tif", "float32"], [], 1


@case
def float32_pixels_that_would_overflow_the_solver(root):
    # Within float32, but (u - f)**2 and Adam's squared gradients would not be.
    tiff(root, "a.tif", (RNG.random((H, W)) * 3e38).astype(np.float32))
    return ["a.tif", *FAST], 2, ["a.tif", "scale the image"], [], 1


@case
def float_nan_pixels(root):
    pixels = RNG.random((H, W)).astype(np.float32)
    pixels[3, 4] = np.nan
    tiff(root, "a.tif", pixels)
    return ["a.tif", *FAST], 2, ["a.tif", "NaN"], [], 1


@case
def constant_image_compared_at_its_auto_weight_of_zero(root):
    # No noise: the auto weight is 0, where skimage's methods divide by zero.
    png(root, "a.png", np.full((H, W), 128, np.uint8))
    return ["a.png", "--compare", "--max-iter", "20"], 0, [], ["a_tv.png"], 0


@case
def one_pixel_and_one_row_images(root):
    png(root, "in/one.png", np.full((1, 1), 7, np.uint8))
    png(root, "in/row.png", np.arange(W, dtype=np.uint8)[None])
    return (["in", "-o", "out", "--compare", "--reference", "in", *FAST], 0, [],
            ["out", "out/one.png", "out/row.png"], 0)


@case
def batch_goes_on_past_a_symbolic_link_loop(root):
    png(root, "in/a.png")
    os.symlink("loop.png", Path(root, "in/loop.png"))
    return ["in", "-o", "out", *FAST], 1, ["loop.png"], ["out", "out/a.png"], 1


@case
def batch_goes_on_past_bad_files(root):
    png(root, "in/a.png")
    Path(root, "in/empty.png").write_bytes(b"")
    os.mkfifo(Path(root, "in/fifo.png"))
    data = png(root, "in/sub/half.png").read_bytes()
    Path(root, "in/sub/half.png").write_bytes(data[:40])
    tiff(root, "in/huge.tif", np.full((H, W), 1e300))
    return (["in", "-o", "out", *FAST], 1, ["empty.png", "fifo.png", "half.png", "huge.tif"],
            ["out", "out/a.png"], 4)


def mask_png(root, name):
    return png(root, name, np.where(RNG.random((H, W)) < 0.1, 255, 0).astype(np.uint8))


def psf_npy(root, name):
    path = Path(root, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    np.save(path, np.full((3, 3), 1 / 9))
    return path


@case
def output_is_the_mask(root):
    png(root, "a.png")
    mask_png(root, "m.png")
    return (["a.png", "-o", "m.png", "--mask", "m.png", "--overwrite", *FAST], 2,
            ["m.png", "output", "the mask"], [], 1)


@case
def figure_is_the_psf_file(root):
    png(root, "a.png")
    png(root, "k.png", np.full((3, 3), 9, np.uint8))
    return (["a.png", "-o", "b.png", "--psf", "k.png", "--figure", "k.png", *FAST], 2,
            ["k.png", "figure", "the PSF"], [], 1)


@case
def report_is_a_hard_link_to_the_psf_file(root):
    png(root, "a.png")
    psf_npy(root, "k.npy")
    os.link(Path(root, "k.npy"), Path(root, "run.json"))
    return (["a.png", "-o", "b.png", "--psf", "k.npy", "--report", "run.json", *FAST], 2,
            ["run.json", "report", "the PSF"], [], 1)


@case
def batch_output_is_its_matched_mask(root):
    png(root, "in/a.png")
    mask_png(root, "masks/a.png")
    return (["in", "-o", "masks", "--mask-dir", "masks", "--overwrite", *FAST], 2,
            ["a.png", "output", "the mask"], [], 1)


@case
def batch_report_is_a_matched_psf(root):
    png(root, "in/a.png")
    png(root, "in/b.png")
    psf_npy(root, "psfs/a.npy")
    psf_npy(root, "psfs/b.npy")
    return (["in", "-o", "out", "--psf-dir", "psfs", "--report", "psfs/b.npy", *FAST], 2,
            ["b.npy", "report", "the PSF"], [], 1)


@pytest.mark.parametrize("name", CASES)
def test_hostile_case(runner, tmp_path, name):
    args, code, words, outputs, error_lines = CASES[name](tmp_path)
    check_run(runner, tmp_path, args, code, words, outputs, error_lines)


# --- option values: usage errors before any work, one file or a batch ------------------

BAD_OPTIONS = [
    ("--weight", "nan"), ("--weight", "inf"), ("--weight", "-1"), ("--weight", "1e300"),
    ("--weight", "1e7"), ("--weight", "heavy"), ("--weight", ""),
    ("--tol", "nan"), ("--tol", "inf"), ("--tol", "0"), ("--tol", "1"), ("--tol", "-1e-3"),
    ("--tol", "1e-50"),
    ("--gap", "nan"), ("--gap", "-inf"), ("--gap", "0"), ("--gap", "1e300"),
    ("--max-iter", "-1"), ("--max-iter", str(2**31)), ("--max-iter", str(10**30)),
    ("--max-iter", "1.5"), ("--batch-size", "0"), ("--reduction", "median"),
    ("--noise", "laplace"), ("--gain", "0"), ("--gain", "nan"), ("--gain", "-2"),
    ("--offset", "inf"), ("--axes", "QYX"), ("--axes", "YYX"), ("--spacing", "1,-2"),
    ("--spacing", "nan,1"), ("--poisson-route", "sqrt"),
]


@pytest.mark.parametrize("batch", [False, True], ids=["one-file", "batch"])
@pytest.mark.parametrize("option,value", BAD_OPTIONS)
def test_bad_option_value_is_a_usage_error_before_any_work(runner, tmp_path, batch, option,
                                                          value):
    png(tmp_path, "in/a.png")
    target = ["in", "-o", "out"] if batch else ["in/a.png"]
    # Nothing is written: no output, no OUT_DIR, no report.
    check_run(runner, tmp_path, [*target, "--report", "run.json", option, value], 2,
              [option if option != "--reduction" else "reduction"])


BAD_BENCH_OPTIONS = [
    ("--sigma", "nan"), ("--sigma", "inf"), ("--sigma", "1e300"), ("--size", str(10**11)),
    ("--sweep-sizes", "64,inf"), ("--exact-gap", "nan"), ("--reference-gap", "inf"),
    ("--bandwidth-mb", str(10**9)), ("--memory-size", str(10**6)), ("--weight", "nan"),
]


@pytest.mark.parametrize("option,value", BAD_BENCH_OPTIONS)
def test_bad_bench_option_value_is_a_usage_error_before_any_work(runner, tmp_path, option,
                                                                value):
    check_run(runner, tmp_path, ["bench", "--json", "bench.json", option, value], 2,
              [option if option != "--weight" else "weight"])


# --- strict JSON, file systems that refuse ---------------------------------------------


def test_identical_reference_gives_psnr_null_and_strict_json(runner, tmp_path):
    png(tmp_path, "a.png")
    png(tmp_path, "clean.png")
    # Zero iterations: the output is the input, which is the reference.
    result = check_run(runner, tmp_path, ["a.png", "--reference", "clean.png", "--report",
                                          "run.json", "--weight", "0.1", "--max-iter", "0"],
                       0, outputs=["a_tv.png", "run.json"])

    def refuse(constant):
        raise AssertionError(f"{constant} is not JSON")

    [entry] = json.loads((tmp_path / "run.json").read_text(), parse_constant=refuse)["results"]
    assert np.array_equal(read_back(tmp_path / "a_tv.png"), GREY)
    assert entry["psnr"] is None and entry["ssim"] == pytest.approx(1.0)
    assert "inf (identical to the reference)" in result.stdout


def test_batch_summary_counts_images_identical_to_their_reference_apart(runner, tmp_path):
    png(tmp_path, "in/a.png")
    png(tmp_path, "in/b.png", GREY[::-1])
    result = check_run(runner, tmp_path, ["in", "-o", "out", "--reference", "in", "--report",
                                          "run.json", "--weight", "0.1", "--max-iter", "0"],
                       0, outputs=["out", "out/a.png", "out/b.png", "run.json"])
    assert "2 images identical to their reference (PSNR inf)" in result.stdout
    assert "without" not in result.stdout
    entries = json.loads((tmp_path / "run.json").read_text())["results"]
    assert [entry["psnr"] for entry in entries] == [None, None]


@contextlib.contextmanager
def mounted_tmpfs(path, size="64k"):
    """A small tmpfs at `path` (root only): a disk that fills up, or refuses every write."""
    if os.geteuid() != 0 or shutil.which("mount") is None:
        pytest.skip("mounting a tmpfs needs root and mount(8)")
    path.mkdir(exist_ok=True)
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(path)],
                             capture_output=True, text=True)
    if mounted.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here: {mounted.stderr.strip()}")
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=True)


def remount_read_only(path):
    subprocess.run(["mount", "-o", "remount,ro", str(path)], check=True)


def test_full_disk_gives_one_line_per_file_and_no_partial_output(runner, tmp_path):
    # Noise compresses badly: each 192x256 PNG is about 50 KB, three do not fit in 64 KiB.
    count = 3
    for index in range(count):
        png(tmp_path, f"in/{index}.png",
            np.random.default_rng(index).integers(0, 256, (192, 256), dtype=np.uint8))
    with mounted_tmpfs(tmp_path / "out", size="64k"):
        result = runner.invoke(main, [str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                                      "--weight", "0.001", "--max-iter", "1"])
        assert result.exit_code == 1, (result.stdout, result.stderr)
        errors = result.stderr.splitlines()
        assert errors and all(line.startswith("Error: ") and "No space left on device" in line
                              for line in errors), result.stderr
        assert "Traceback" not in result.stderr
        written = sorted(os.listdir(tmp_path / "out"))
        # Every output there is whole; every other image has its one line.
        assert len(written) + len(errors) == count, (written, errors)
        for name in written:
            assert read_back(tmp_path / "out" / name).shape == (192, 256)
        assert all(f"out/{index}.png" in result.stderr for index in range(count)
                   if f"{index}.png" not in written)


def test_full_disk_single_file_is_one_line_and_leaves_nothing(runner, tmp_path):
    png(tmp_path, "a.png", RNG.integers(0, 256, (192, 256), dtype=np.uint8))
    with mounted_tmpfs(tmp_path / "out", size="16k"):
        check_run(runner, tmp_path, ["a.png", "-o", "out/a.png", "--weight", "0.001",
                                     "--max-iter", "1"], 2, ["out/a.png", "No space left"])


@pytest.mark.parametrize("batch", [False, True], ids=["one-file", "batch"])
def test_read_only_file_system_is_one_line(runner, tmp_path, batch):
    png(tmp_path, "in/a.png")
    with mounted_tmpfs(tmp_path / "out") as out:
        remount_read_only(out)
        if batch:
            check_run(runner, tmp_path, ["in", "-o", "out", *FAST], 1,
                      ["out/a.png", "Read-only file system"])
        else:
            check_run(runner, tmp_path, ["in/a.png", "-o", "out/a.png", *FAST], 2,
                      ["out/a.png", "Read-only file system"])


def test_os_error_escaping_the_library_is_one_line_naming_the_file(runner, tmp_path,
                                                                   monkeypatch):
    # What no check foresaw (here: listing a directory fails) still gives one line, exit 1.
    from tvrestore.runs import plan

    png(tmp_path, "in/a.png")

    def fail(root, pattern=None):
        raise PermissionError(13, "Permission denied", str(root))

    monkeypatch.setattr(plan, "list_images", fail)
    check_run(runner, tmp_path, ["in", "-o", "out", *FAST], 1, ["in: Permission denied"])


def test_a_directory_that_cannot_be_listed_is_not_skipped_silently(runner, tmp_path,
                                                                   monkeypatch):
    # Root lists any directory, so the refusal is simulated where os.walk meets it.
    png(tmp_path, "in/a.png")
    png(tmp_path, "in/locked/b.png")
    scandir = os.scandir

    def refusing(path="."):
        if Path(path).name == "locked":
            raise PermissionError(13, "Permission denied", str(path))
        return scandir(path)

    monkeypatch.setattr(os, "scandir", refusing)
    check_run(runner, tmp_path, ["in", "-o", "out", *FAST], 2,
              ["in/locked: cannot list directory (Permission denied)"])


# --- claims: a second run never solves an image twice, nor fails because of the other ---


@contextlib.contextmanager
def claim_held_by_another_process(output):
    """A live process that holds `output`'s claim, as a concurrent run would."""
    code = textwrap.dedent(f"""
        import sys, time
        from tvrestore.runs.claims import Claims
        assert Claims().acquire({str(output)!r})
        print("held", flush=True)
        time.sleep(120)
    """)
    process = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert process.stdout.readline() == "held\n"
        yield process
    finally:
        process.kill()
        process.wait()


def test_image_claimed_by_another_run_is_skipped_not_solved(runner, tmp_path):
    png(tmp_path, "in/a.png")
    png(tmp_path, "in/b.png", GREY[::-1])
    (tmp_path / "out").mkdir()
    with claim_held_by_another_process(tmp_path / "out" / "a.png"):
        result = runner.invoke(main, [str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                                      "--report", str(tmp_path / "run.json"), *FAST])
        assert result.exit_code == 0, result.stderr
        entries = {Path(e["input"]).name: e
                   for e in json.loads((tmp_path / "run.json").read_text())["results"]}
        assert entries["a.png"]["status"] == "skipped"
        assert entries["a.png"]["skip_reason"] == "claimed by another run"
        assert entries["b.png"]["status"] == "restored"
        assert "a.png  skipped (claimed by another run)" in result.stdout
        assert sorted(os.listdir(tmp_path / "out")) == [".a.png.claim", "b.png"]

        single = runner.invoke(main, [str(tmp_path / "in" / "a.png"), "-o",
                                      str(tmp_path / "out" / "a.png"), *FAST])
        assert single.exit_code == 2
        assert single.stderr.count("\n") == 1 and "another tvrestore run" in single.stderr

    # The holder was killed (SIGKILL): its stale claim is taken over and removed.
    again = runner.invoke(main, [str(tmp_path / "in"), "-o", str(tmp_path / "out"), *FAST])
    assert again.exit_code == 0, again.stderr
    assert sorted(os.listdir(tmp_path / "out")) == ["a.png", "b.png"]


def test_stale_claims_are_removed_and_live_ones_kept(tmp_path):
    from tvrestore.runs.claims import Claims, remove_stale_claims

    stale = tmp_path / ".a.png.claim"
    stale.write_text("12345\n")
    (tmp_path / ".notes").write_text("a user's hidden file")
    ours = Claims()
    assert ours.acquire(tmp_path / "b.png")
    with claim_held_by_another_process(tmp_path / "c.png"):
        assert remove_stale_claims(tmp_path) == [stale]
        assert sorted(os.listdir(tmp_path)) == [".b.png.claim", ".c.png.claim", ".notes"]
        assert not Claims().acquire(tmp_path / "c.png")
    ours.release_all()
    assert sorted(os.listdir(tmp_path)) == [".c.png.claim", ".notes"]
    assert remove_stale_claims(tmp_path) == [tmp_path / ".c.png.claim"]


def test_claim_marker_planted_as_a_link_is_never_written_through(runner, tmp_path):
    png(tmp_path, "in/a.png")
    (tmp_path / "out").mkdir()
    os.symlink(tmp_path / "in" / "a.png", tmp_path / "out" / ".a.png.claim")
    before = (tmp_path / "in" / "a.png").read_bytes()
    result = runner.invoke(main, [str(tmp_path / "in"), "-o", str(tmp_path / "out"), *FAST])
    assert result.exit_code == 1 and result.stderr.count("\n") == 1, result.stderr
    assert "out/a.png" in result.stderr
    assert (tmp_path / "in" / "a.png").read_bytes() == before
