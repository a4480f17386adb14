"""The tiled path (``--tile``, zarr, TIFFs over the budget) against hostile runs (issue 18).

Each case keeps the promises of the single-image path, asserted as in
test_hostile.py (its ``check_run``): the exit code, one ``Error:`` line
and no traceback, every pre-existing file byte-identical (a zarr store's
files too), and nothing created but the expected outputs, no hidden file.
The last test kills a real tiled write with SIGKILL and checks that the
next run removes what it left.
"""

from __future__ import annotations

import os
import select
import signal
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

zarr = pytest.importorskip("zarr")
tifffile = pytest.importorskip("tifffile")

from hostile_helpers import check_run  # noqa: E402

FAST = ["--weight", "0.1", "--max-iter", "20", "--solver", "adam"]
TILE = ["--tile", "16"]
RNG = np.random.default_rng(18)
GREY = RNG.integers(0, 256, (40, 48), dtype=np.uint8)


def big_tiff(root, name="big.tif", pixels=GREY):
    path = Path(root, name)
    tifffile.imwrite(path, pixels)
    return path


def zarr_store(root, name="in.zarr", pixels=GREY, chunks=(16, 16)):
    path = Path(root, name)
    stored = zarr.open_array(store=str(path), mode="w", shape=pixels.shape, chunks=chunks,
                             dtype=pixels.dtype)
    stored[:] = pixels
    return path


CASES = {}


def case(function):
    CASES[function.__name__] = function
    return function


# --- 1. nothing written is an input, through links and directories --------------------

@case
def report_is_the_tiled_input(root):
    big_tiff(root)
    return ["big.tif", *TILE, "--report", "big.tif", *FAST], 2, ["report", "big.tif"], []


@case
def tiled_output_is_the_input(root):
    big_tiff(root)
    return ["big.tif", *TILE, "-o", "big.tif", "--overwrite", *FAST], 2, ["big.tif"], []


@case
def zarr_output_is_the_input_store(root):
    zarr_store(root)
    return ["in.zarr", "-o", "in.zarr", "--overwrite", *FAST], 2, ["in.zarr"], []


@case
def tiled_output_is_a_hard_link_to_the_input(root):
    os.link(big_tiff(root), Path(root, "link.tif"))
    return ["big.tif", *TILE, "-o", "link.tif", "--overwrite", *FAST], 2, ["link.tif"], []


@case
def tiled_output_is_a_symbolic_link_to_the_input(root):
    big_tiff(root)
    Path(root, "link.tif").symlink_to("big.tif")
    return ["big.tif", *TILE, "-o", "link.tif", "--overwrite", *FAST], 2, ["link.tif"], []


@case
def tiled_report_is_a_hard_link_to_the_input(root):
    os.link(big_tiff(root), Path(root, "run.json"))
    return ["big.tif", *TILE, "--report", "run.json", *FAST], 2, ["run.json", "report"], []


@case
def zarr_output_inside_the_input_store(root):
    zarr_store(root)
    return ["in.zarr", "-o", "in.zarr/out.zarr", *FAST], 2, ["in.zarr/out.zarr"], []


@case
def zarr_output_inside_the_input_store_through_a_link(root):
    zarr_store(root)
    Path(root, "store").symlink_to("in.zarr")
    return ["in.zarr", "-o", "store/out.zarr", *FAST], 2, ["store/out.zarr", "inside"], []


@case
def zarr_report_inside_the_input_store(root):
    zarr_store(root)
    return ["in.zarr", "-o", "out.zarr", "--report", "in.zarr/run.json", *FAST], 2, \
        ["run.json", "report"], []


@case
def zarr_input_inside_the_output_store(root):
    zarr_store(root, "out.zarr")
    zarr_store(root, "out.zarr/in.zarr")
    return ["out.zarr/in.zarr", "-o", "out.zarr", "--overwrite", *FAST], 2, ["out.zarr"], []


@case
def zarr_output_is_a_directory_that_is_no_zarr(root):
    zarr_store(root)
    Path(root, "photos.zarr").mkdir()
    Path(root, "photos.zarr", "keep.txt").write_text("mine")
    return ["in.zarr", "-o", "photos.zarr", "--overwrite", *FAST], 2, ["photos.zarr"], []


# --- 2. one Error: line, not a traceback -----------------------------------------------

@case
def corrupt_zarr_chunk_with_the_auto_weight(root):
    store = zarr_store(root)
    chunk = next(path for path in sorted(store.rglob("*")) if path.is_file()
                 and path.name not in ("zarr.json", ".zarray", ".zattrs"))
    chunk.write_bytes(b"\xff" * 7)
    return ["in.zarr", "-o", "out.zarr", "--max-iter", "20"], 2, ["in.zarr"], []


@case
def empty_zarr(root):
    zarr_store(root, pixels=np.zeros((0, 256), np.uint8))
    return ["in.zarr", "-o", "out.zarr", *FAST], 2, ["in.zarr", "empty"], []


@case
def halo_beyond_the_tile(root):
    big_tiff(root)
    return ["big.tif", *TILE, "--halo", "100000", *FAST], 2, ["--halo", "100000"], []


@case
def tiled_float_tiff_holding_nan(root):
    pixels = GREY.astype(np.float32) / 255
    pixels[35, 40] = np.nan  # in the last band: the bands before it are written, then removed
    big_tiff(root, "nan.tif", pixels)
    return ["nan.tif", *TILE, *FAST], 2, ["nan.tif", "NaN"], []


@case
def tiled_readme_example_with_the_auto_weight(root):
    # `tvrestore huge.tif --tile 2048`: the auto weight's summary has its noise sigma.
    big_tiff(root)
    return ["big.tif", *TILE, "--max-iter", "20", "--solver", "adam"], 0, [], ["big_tv.tif"]


@pytest.mark.parametrize("name", CASES)
def test_hostile_tiled_case(runner, tmp_path, name):
    args, code, words, outputs = CASES[name](tmp_path)
    check_run(runner, tmp_path, args, code, words, outputs)


def test_tiled_auto_weight_summary_names_the_noise_sigma(runner, tmp_path):
    big_tiff(tmp_path)
    result = check_run(runner, tmp_path, ["big.tif", *TILE, "--max-iter", "20", "--solver", "adam"],
                       0, outputs=["big_tv.tif"])
    assert "(auto, noise sigma " in result.stdout


# --- 3. a tiled write killed outright: the next run removes its temporary --------------

def test_the_tidy_up_removes_dead_writers_directories_and_nothing_it_could_follow(tmp_path):
    from hostile_helpers import dead_pid
    from tvrestore.runs.claims import remove_leftovers

    dead = dead_pid()
    store = tmp_path / f".a.zarr.tmp-{dead}-0123456789abcdef"  # a killed zarr write
    (store / "c").mkdir(parents=True)
    (store / "c" / "0").write_bytes(b"chunk")
    live = tmp_path / f".b.zarr.tmp-{os.getppid()}-0123456789abcdef"  # a live run's
    live.mkdir()
    kept = tmp_path / "kept"
    kept.mkdir()
    (kept / "mine.txt").write_text("mine")
    # Named like a dead writer's store, but a link: removing it must not reach kept/.
    (tmp_path / f".c.zarr.tmp-{dead}-0123456789abcdef").symlink_to(kept)

    remove_leftovers([tmp_path])

    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [live.name, "kept", f".c.zarr.tmp-{dead}-0123456789abcdef"])
    assert (kept / "mine.txt").read_text() == "mine"


KILLED_WRITER = """
import sys
from tvrestore.runs import tiles

# Stop for good once the first band is in the temporary: the parent kills us here.
bands = tiles._bands


def stalled(array, scheduler):
    for band in bands(array, scheduler):
        yield band
        print("band written", flush=True)
        sys.stdin.read()


tiles._bands = stalled
from tvrestore.cli.app import main

main(sys.argv[1:])
"""


@pytest.mark.parametrize("name", ["big.tif", "in.zarr"])
def test_a_tiled_write_killed_by_sigkill_is_tidied_by_the_next_run(tmp_path, name):
    source = big_tiff(tmp_path, name) if name.endswith(".tif") else zarr_store(tmp_path, name)
    args = [str(source), "-o", str(tmp_path / f"out{source.suffix}"), *TILE, "--halo", "8", *FAST]
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(Path(__file__).resolve().parents[2]), os.environ.get("PYTHONPATH", "")])}
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, *args], env=env,
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        # Waits on the writer's own word that a band is in its temporary (at most 120 s).
        ready, _, _ = select.select([writer.stdout], [], [], 120)
        assert ready, "the writer wrote no band within 120 s"
        assert writer.stdout.readline() == "band written\n"
        left = [path.name for path in tmp_path.iterdir() if path.name.startswith(".")]
        assert left and all(f".tmp-{writer.pid}-" in entry for entry in left), left
    finally:
        writer.send_signal(signal.SIGKILL)
        writer.wait()
    assert writer.returncode == -signal.SIGKILL
    assert [path.name for path in tmp_path.iterdir() if path.name.startswith(".")]

    rerun = subprocess.run([sys.executable, "-m", "tvrestore", *args], env=env,
                           capture_output=True, text=True, timeout=300)
    assert rerun.returncode == 0, rerun.stderr
    assert sorted(path.name for path in tmp_path.iterdir()) == sorted(
        [name, f"out{source.suffix}"])
