"""Real processes (``python -m tvrestore``): two runs at once, SIGTERM and SIGKILL, re-runs.

What a user relies on when runs are interrupted or overlap:

- two batch runs into one OUT_DIR split the work through claims
  (:mod:`tvrestore.runs.claims`): each image is restored by exactly one of
  them, as their two reports show, and every output is whole;
- SIGTERM while an output is being written leaves nothing (the temporary
  file and the claim are removed) and exits 143;
- SIGKILL leaves a temporary file and a claim marker, which the next run
  removes before it finishes the work; nothing else is ever left.

The runs that are interrupted are real processes; the re-runs after them
go through CliRunner, the same command in this process, to save a
TensorFlow start-up each.

Ctrl-C and SIGTERM of a batch between writes are in test_batch.py
(test_interrupted_run_leaves_whole_files_and_the_next_run_finishes).
"""

import json
import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest

from sample_images import H, W, read_back
from tvrestore.cli.app import main

# Tight tolerance and batches of two: each image keeps the solver busy a while.
SLOW = ["--weight", "0.1", "--batch-size", "2", "--tol", "1e-9", "--max-iter", "400", "--quiet"]
COMMAND = [sys.executable, "-m", "tvrestore"]


def make_inputs(directory, count):
    directory.mkdir()
    for index in range(count):
        pixels = np.random.default_rng(index).integers(0, 256, (H, W), dtype=np.uint8)
        iio.imwrite(directory / f"{index:02d}.png", pixels)


def images(directory):
    return sorted(path.name for path in Path(directory).glob("[!.]*.png"))


def hidden(directory):
    return sorted(path.name for path in Path(directory).rglob(".*"))


def results(report):
    return {Path(entry["input"]).name: entry
            for entry in json.loads(Path(report).read_text())["results"]}


def wait_for(condition, process, seconds=120):
    deadline = time.monotonic() + seconds
    while not condition():
        assert process.poll() is None, process.communicate()
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.005)


def test_two_concurrent_runs_into_one_out_dir_restore_each_image_once(tmp_path):
    count = 12
    make_inputs(tmp_path / "in", count)
    inputs = {path.name: path.read_bytes() for path in (tmp_path / "in").iterdir()}
    out = tmp_path / "out"
    runs = [subprocess.Popen([*COMMAND, str(tmp_path / "in"), "-o", str(out), *SLOW,
                              "--report", str(tmp_path / f"run{n}.json")],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for n in (1, 2)]
    for process in runs:
        _, stderr = process.communicate(timeout=300)
        assert process.returncode == 0, stderr
        assert stderr == ""

    first, second = results(tmp_path / "run1.json"), results(tmp_path / "run2.json")
    restored = [{name for name, e in run.items() if e["status"] == "restored"}
                for run in (first, second)]
    # Each image solved once: by exactly one run; the other skipped it.
    assert restored[0].isdisjoint(restored[1])
    assert restored[0] | restored[1] == {f"{index:02d}.png" for index in range(count)}
    for run in (first, second):
        assert {e["status"] for e in run.values()} <= {"restored", "skipped"}
        assert all(e["skip_reason"] in ("claimed by another run", "output exists")
                   for e in run.values() if e["status"] == "skipped")
    assert sorted(os.listdir(out)) == sorted(restored[0] | restored[1])
    for name in os.listdir(out):
        assert read_back(out / name).shape == (H, W)
    assert {path.name: path.read_bytes() for path in (tmp_path / "in").iterdir()} == inputs


SLOW_WRITE = textwrap.dedent("""
    import sys, time
    import imageio.v3 as iio
    from tvrestore.cli.app import main

    def slow_imwrite(file, *args, **kwargs):
        # Stands for a large image being encoded: the signal arrives mid-write.
        file.write(b"half an image")
        file.flush()
        time.sleep(120)

    iio.imwrite = slow_imwrite
    main(sys.argv[1:], prog_name="tvrestore")
""")


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGKILL], ids=["SIGTERM", "SIGKILL"])
def test_single_file_signalled_mid_write_leaves_nothing_after_a_rerun(runner, tmp_path, signum):
    make_inputs(tmp_path / "in", 1)
    out = tmp_path / "out"
    out.mkdir()
    args = [str(tmp_path / "in" / "00.png"), "-o", str(out / "00.png"), "--weight", "0.1"]
    process = subprocess.Popen([sys.executable, "-c", SLOW_WRITE, *args],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    # The event: the write is under way (its first bytes are in the temporary
    # file), not merely the file created, which a loaded machine may signal
    # before the writer has entered its clean-up.
    wait_for(lambda: any(path.stat().st_size > 0 for path in out.glob(".*.tmp-*")), process)
    # Mid-write: the run holds its claim and its temporary file, nothing else.
    assert len(hidden(out)) == 2 and ".00.png.claim" in hidden(out), hidden(out)

    process.send_signal(signum)
    _, stderr = process.communicate(timeout=120)

    if signum == signal.SIGTERM:
        assert process.returncode == 143 and stderr.endswith("Aborted!\n"), stderr
        assert "Traceback" not in stderr
        assert os.listdir(out) == []  # its temporary file and its claim removed
        return  # nothing left for a re-run to tidy
    assert process.returncode == -signal.SIGKILL
    assert len(hidden(out)) == 2 and not (out / "00.png").exists()

    rerun = runner.invoke(main, [*args, "--quiet"])

    assert rerun.exit_code == 0 and rerun.stderr == "", rerun.stderr
    assert os.listdir(out) == ["00.png"]
    assert read_back(out / "00.png").shape == (H, W)


def test_batch_killed_then_a_rerun_finishes_and_leaves_nothing_behind(runner, tmp_path):
    count = 16
    make_inputs(tmp_path / "in", count)
    out, report = tmp_path / "out", tmp_path / "run.json"
    command = [*COMMAND, str(tmp_path / "in"), "-o", str(out), *SLOW, "--report", str(report)]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    # Killed with an image written and another in flight (claimed), whatever the load.
    wait_for(lambda: out.is_dir() and images(out)
             and any(name.endswith(".claim") for name in hidden(out)), process)

    process.send_signal(signal.SIGKILL)
    process.communicate(timeout=120)

    finished = images(out)
    assert 0 < len(finished) < count
    # SIGKILL runs no handler: the claims of the images in flight stay behind.
    assert any(name.endswith(".claim") for name in hidden(out)), hidden(out)
    for name in finished:
        assert read_back(out / name).shape == (H, W)

    rerun = runner.invoke(main, command[len(COMMAND):])

    assert rerun.exit_code == 0, rerun.stderr
    entries = results(report)
    assert sorted(name for name, e in entries.items() if e["status"] == "skipped") == finished
    assert len(entries) == count
    assert hidden(out) == []
    for index in range(count):
        assert read_back(out / f"{index:02d}.png").shape == (H, W)
