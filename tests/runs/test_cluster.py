"""Batches on Dask: real clusters on 127.0.0.1, never mocks (the ``dask`` extra).

A local cluster of 2 worker processes; ``dask scheduler`` and ``dask
worker`` started as subprocesses; a worker SIGKILLed in mid-task. Images
are 24x32 or 64x64 so that the workers compile few programs. Marked
``cluster``: they start processes, and still run in CI.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("distributed")

from sample_images import H, W, read_back  # noqa: E402
from tvrestore.runs.batch import run_batch  # noqa: E402
from tvrestore.runs.cluster import connect, restore_group, run_batch_on_cluster  # noqa: E402
from tvrestore.options import RestoreOptions  # noqa: E402
from tvrestore.runs.plan import plan_jobs  # noqa: E402

pytestmark = pytest.mark.cluster

WEIGHT = "0.1"


def _console_script(name: str) -> str:
    return str(Path(sys.executable).with_name(name))


@pytest.fixture
def folder(tmp_path, make_pair, write_image) -> Path:
    """in/: five good images of two shapes, and one that is not an image."""
    (tmp_path / "in" / "sub").mkdir(parents=True)
    for index in range(3):
        write_image(f"in/{index}.png", make_pair("uint8", "grey", seed=index)[1])
    for index in range(2):
        write_image(f"in/sub/{index}.tif", make_pair("uint16", "rgb", seed=10 + index)[1])
    (tmp_path / "in" / "broken.png").write_bytes(b"not a png")
    return tmp_path / "in"


def _results(report: Path) -> list[dict]:
    return json.loads(report.read_text())["results"]


def _outputs(directory: Path) -> dict[str, bytes]:
    return {str(path.relative_to(directory)): path.read_bytes()
            for path in sorted(directory.rglob("*")) if path.is_file()}


def test_batch_on_two_local_workers_is_the_in_process_batch(runner, folder, tmp_path):
    from tvrestore.cli.app import main

    here = runner.invoke(main, [str(folder), "-o", str(tmp_path / "here"), "--weight", WEIGHT,
                                "-q", "--report", str(tmp_path / "here.json")])
    there = runner.invoke(main, [str(folder), "-o", str(tmp_path / "there"), "--weight", WEIGHT,
                                 "-q", "--workers", "2", "--report", str(tmp_path / "there.json")])

    assert here.exit_code == there.exit_code == 1  # the broken file
    assert there.stderr.count("Error:") == 1 and "broken.png" in there.stderr
    # Same files, same bytes: the same solves, the same atomic writes.
    assert _outputs(tmp_path / "there") == _outputs(tmp_path / "here")
    assert len(_outputs(tmp_path / "there")) == 5
    here_report = _results(tmp_path / "here.json")
    there_report = _results(tmp_path / "there.json")
    assert [e["status"] for e in there_report] == [e["status"] for e in here_report]
    assert [e["iterations"] for e in there_report] == [e["iterations"] for e in here_report]

    again = runner.invoke(main, [str(folder), "-o", str(tmp_path / "there"), "--weight", WEIGHT,
                                 "--workers", "2", "--report", str(tmp_path / "there.json")])
    assert again.exit_code == 1
    statuses = [e["status"] for e in _results(tmp_path / "there.json")]
    assert sorted(statuses) == ["failed"] + ["skipped"] * 5  # resume: nothing restored again


def test_a_local_cluster_run_says_nothing_when_dask_s_default_port_is_taken(
        runner, tmp_path, make_pair, write_image):
    # Another cluster (a second run, a notebook's) on Dask's default HTTP
    # port 8787 must not add Dask's "Port 8787 is already in use" warning
    # to a clean run's stderr.
    from tvrestore.cli.app import main

    (tmp_path / "in").mkdir()
    write_image("in/0.png", make_pair("uint8", "grey", seed=0)[1])
    holder = socket.socket()
    try:
        holder.bind(("127.0.0.1", 8787))
        holder.listen()
    except OSError:
        pass  # already held by another process: the case under test all the same
    try:
        result = runner.invoke(main, [str(tmp_path / "in"), "-o", str(tmp_path / "out"),
                                      "--weight", WEIGHT, "-q", "--workers", "1"])
    finally:
        holder.close()
    assert result.exit_code == 0, result.stderr
    assert result.stderr == ""
    assert (tmp_path / "out" / "0.png").is_file()


def test_cli_on_a_dask_scheduler_and_worker_started_apart(folder, tmp_path):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    address = f"tcp://127.0.0.1:{port}"
    quiet = {"stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
    scheduler = subprocess.Popen([_console_script("dask"), "scheduler", "--host", "127.0.0.1",
                                  "--port", str(port), "--no-dashboard"], **quiet)
    worker = subprocess.Popen([_console_script("dask"), "worker", address, "--host", "127.0.0.1",
                               "--nworkers", "1", "--nthreads", "1", "--no-dashboard"], **quiet)
    try:
        done = subprocess.run(
            [_console_script("tvrestore"), str(folder), "-o", str(tmp_path / "out"), "--weight",
             WEIGHT, "--scheduler", address, "--report", str(tmp_path / "run.json")],
            capture_output=True, text=True, timeout=240)
    finally:
        for process in (worker, scheduler):
            process.terminate()
            process.wait(timeout=30)
    assert done.returncode == 1, done.stderr  # one broken file, the rest restored
    assert "5 restored, 0 skipped, 1 failed" in done.stdout
    entries = _results(tmp_path / "run.json")
    assert len(entries) == 6
    for path in (tmp_path / "out").rglob("*.png"):
        assert read_back(path).shape == (H, W)


def test_a_scheduler_that_is_not_there_is_one_usage_error(folder, tmp_path, runner):
    from tvrestore.cli.app import main

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = runner.invoke(main, [str(folder), "-o", str(tmp_path / "out"),
                                  "--scheduler", f"tcp://127.0.0.1:{port}",
                                  "--scheduler-timeout", "2"])
    assert result.exit_code == 2
    # The run's one error: broken.png's, known without a worker, is not reported.
    assert result.stderr.splitlines() == [
        f"Error: tcp://127.0.0.1:{port}: cannot reach the Dask scheduler within 2 s "
        "(--scheduler-timeout)"]
    assert not (tmp_path / "out").exists() or not any((tmp_path / "out").iterdir())


def test_a_worker_killed_mid_task_costs_only_that_task(tmp_path, make_pair, write_image):
    (tmp_path / "in").mkdir()
    rng = np.random.default_rng(0)
    for index in range(8):
        noisy = np.clip(0.5 + 0.1 * rng.standard_normal((64, 64)), 0, 1)
        write_image(f"in/{index}.png", (noisy * 255).astype(np.uint8))
    # A tight tolerance keeps each task busy for seconds, long enough to kill.
    options = RestoreOptions(weight=0.1, tol=1e-9, max_iter=20000)
    jobs = plan_jobs([tmp_path / "in"], tmp_path / "out")
    expected = run_batch(plan_jobs([tmp_path / "in"], tmp_path / "expected"), options)

    with connect(workers=2) as client:
        pids = client.run(os.getpid)
        # Warm workers: TensorFlow loaded, with half the cores each.
        share = max(1, (os.cpu_count() or 1) // 2)
        threads = client.run(lambda: sys.modules["tvrestore.backend.tf"].tf.config.threading
                             .get_intra_op_parallelism_threads())
        assert set(threads.values()) == {share}
        outcome: dict = {}
        batch = threading.Thread(target=lambda: outcome.update(entries=run_batch_on_cluster(
            jobs, options, client=client, batch_size=2)))
        batch.start()
        victim, busy = None, 0
        deadline = time.monotonic() + 60
        while victim is None and time.monotonic() < deadline:
            executing = client.run(lambda dask_worker: len(dask_worker.state.executing))
            victim = next((address for address, count in executing.items() if count), None)
        assert victim is not None
        # Killed as soon as it is seen busy (its tasks take seconds), checked once more.
        busy = client.run(lambda dask_worker: len(dask_worker.state.executing), workers=[victim])
        os.kill(pids[victim], signal.SIGKILL)
        batch.join(timeout=180)
    assert busy == {victim: 1}  # it died in mid-task

    entries = outcome["entries"]
    assert [entry.status for entry in entries] == ["restored"] * 8
    assert [entry.iterations for entry in entries] == [entry.iterations for entry in expected]
    assert _outputs(tmp_path / "out") == _outputs(tmp_path / "expected")
    assert [path.name for path in (tmp_path / "out").iterdir() if path.name.startswith(".")] == []


def test_a_retried_task_does_not_write_an_output_twice(tmp_path, make_pair, write_image):
    """What a task does when a lost attempt wrote part of its group."""
    (tmp_path / "in").mkdir()
    for index in range(2):
        write_image(f"in/{index}.png", make_pair("uint8", "grey", seed=index)[1])
    options = RestoreOptions(weight=0.1)
    jobs = plan_jobs([tmp_path / "in"], tmp_path / "out")
    first = run_batch(jobs[:1], options)  # the lost attempt got this far
    written = os.stat(jobs[0].output)

    entries = restore_group(jobs, options, batch_size=2)

    assert [entry.status for entry in entries] == ["restored", "restored"]
    assert entries[0].output == str(jobs[0].output)
    assert entries[0].iterations == first[0].iterations
    again = os.stat(jobs[0].output)
    assert (again.st_ino, again.st_mtime_ns) == (written.st_ino, written.st_mtime_ns)
    assert sorted(path.name for path in (tmp_path / "out").iterdir()) == ["0.png", "1.png"]


def _hidden(directory: Path) -> list[str]:
    """Temporary files and claim markers: hidden names."""
    return sorted(path.name for path in directory.iterdir() if path.name.startswith("."))


def test_ctrl_c_on_a_cluster_client_reports_whole_outputs_and_a_rerun_finishes(
        tmp_path, write_image):
    """A real Ctrl-C: SIGINT to the process group of `tvrestore --workers 2`, as a terminal sends it.

    The interrupt is sent once the client has printed two images' lines:
    then it is in the loop that collects the tasks, with most still to
    come, however loaded the machine (an event, not a delay).
    """
    import imageio.v3 as iio

    (tmp_path / "in").mkdir()
    rng = np.random.default_rng(1)
    count = 12
    for index in range(count):
        noisy = np.clip(0.5 + 0.1 * rng.standard_normal((64, 64)), 0, 1)
        write_image(f"in/{index:02d}.png", (noisy * 255).astype(np.uint8))
    out, report_path = tmp_path / "out", tmp_path / "r.json"
    # One image per task and a tight tolerance: tasks of about a second, so
    # the interrupt comes with some outputs written and others under way.
    command = [sys.executable, "-m", "tvrestore", str(tmp_path / "in"), "-o", str(out),
               "--workers", "2", "--batch-size", "1", "--weight", WEIGHT, "--tol", "1e-9",
               "--max-iter", "4000", "--report", str(report_path)]
    # As in a terminal: Ctrl-C reaches Python even if the test runner ignores it.
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               text=True, start_new_session=True,
                               preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL))
    streams = {"stdout": [], "stderr": []}
    two_lines = threading.Event()

    def collect(name, stream):
        for line in stream:
            streams[name].append(line)
            if name == "stdout" and len(streams[name]) >= 2:
                two_lines.set()

    readers = [threading.Thread(target=collect, args=(name, getattr(process, name)), daemon=True)
               for name in streams]
    for reader in readers:
        reader.start()
    two_lines.wait(timeout=180)
    assert process.poll() is None and two_lines.is_set(), streams
    os.killpg(process.pid, signal.SIGINT)
    process.wait(timeout=120)
    for reader in readers:
        reader.join(timeout=30)
    stderr = "".join(streams["stderr"])

    assert process.returncode == 130, stderr
    # One line: the workers, interrupted too, print no traceback of their own.
    assert stderr.splitlines() == ["Aborted!"], stderr
    entries = _results(report_path)
    # Outputs written by a task whose entry had not reached the client are
    # whole but not listed (docs/scale.md): the report lists a subset.
    assert len(entries) < count and len(list(out.glob("*.png"))) < count
    for entry in entries:
        assert entry["status"] == "restored"
        assert iio.imread(entry["output"]).shape == (64, 64)  # whole, decodable
    assert _hidden(out) == []  # no temporary file, no claim marker

    # In process (a cluster's start-up is the slow part of this test): the
    # resume is the same, an output that exists is skipped.
    rerun = [arg for arg in command[:-2] if arg not in ("--workers", "2")]
    again = subprocess.run([*rerun, "--report", str(tmp_path / "r2.json"), "-q"],
                           capture_output=True, text=True, timeout=300)
    assert again.returncode == 0, again.stderr
    statuses = {Path(entry["input"]).name: entry["status"] for entry in _results(tmp_path / "r2.json")}
    assert len(statuses) == count
    assert all(statuses[Path(entry["input"]).name] == "skipped" for entry in entries)
    assert sorted(path.name for path in out.iterdir()) == [f"{i:02d}.png" for i in range(count)]


def test_a_worker_skips_an_output_another_live_run_has_claimed(tmp_path, make_pair, write_image):
    """Workers claim outputs as any run does; a claimed one is skipped, not solved in memory."""
    from tvrestore.runs.claims import Claims, claim_path

    (tmp_path / "in").mkdir()
    for index in range(2):
        write_image(f"in/{index}.png", make_pair("uint8", "grey", seed=index)[1])
    jobs = plan_jobs([tmp_path / "in"], tmp_path / "out")
    (tmp_path / "out").mkdir()
    other_run = Claims()  # its own lock: another run, as far as flock is concerned
    assert other_run.acquire(jobs[1].output)

    entries = restore_group(jobs, RestoreOptions(weight=0.1), batch_size=2)

    assert [entry.status for entry in entries] == ["restored", "skipped"]
    assert entries[1].skip_reason == "claimed by another run"
    assert not jobs[1].output.exists() and claim_path(jobs[1].output).exists()
    assert not claim_path(jobs[0].output).exists()  # the worker released its own
    other_run.release_all()
    assert _hidden(tmp_path / "out") == []


def test_a_local_cluster_run_tidies_what_killed_workers_left(tmp_path, make_pair, write_image):
    """Unlocked claims and dead writers' temporary files go; a live claim stays."""
    from tvrestore.runs.claims import Claims, claim_path

    (tmp_path / "in").mkdir()
    for index in range(3):
        write_image(f"in/{index}.png", make_pair("uint8", "grey", seed=index)[1])
    jobs = plan_jobs([tmp_path / "in"], tmp_path / "out")
    (tmp_path / "out").mkdir()
    for job in jobs:
        job.output.write_bytes(b"done")  # all done: no cluster is started
    dead = subprocess.run([sys.executable, "-c", "import os; print(os.getpid())"],
                          capture_output=True, text=True, check=True).stdout.strip()
    stale_claim = claim_path(jobs[0].output)
    stale_claim.write_text(f"{dead}\n")  # what a SIGKILLed worker leaves: unlocked
    temporary = tmp_path / "out" / f".0.png.tmp-{dead}-{'ab' * 8}.png"
    temporary.write_bytes(b"half")
    live = Claims()
    assert live.acquire(jobs[2].output)
    options = RestoreOptions(weight=0.1)

    # With a scheduler the writers may be on other machines: nothing is removed.
    entries = run_batch_on_cluster(jobs, options, scheduler="tcp://127.0.0.1:9")
    assert [entry.status for entry in entries] == ["skipped"] * 3
    assert stale_claim.exists() and temporary.exists()

    run_batch_on_cluster(jobs, options, workers=2)
    assert _hidden(tmp_path / "out") == [claim_path(jobs[2].output).name]
    live.release_all()


def test_plain_runs_and_help_import_no_dask(tmp_path, make_pair, write_image):
    image = write_image("a.png", make_pair("uint8", "grey")[1])
    (tmp_path / "dir").mkdir()
    write_image("dir/b.png", make_pair("uint8", "grey", seed=1)[1])
    code = (
        "import sys\n"
        "from tvrestore.cli.app import main\n"
        "for argv in sys.argv[1:]:\n"
        "    sys.argv = ['tvrestore', *argv.split()]\n"
        "    try:\n"
        "        main()\n"
        "    except SystemExit as stop:\n"
        "        assert stop.code == 0, (argv, stop.code)\n"
        "print(sorted({m.split('.')[0] for m in sys.modules} & {'dask', 'distributed', 'zarr'}))\n"
    )
    done = subprocess.run(
        [sys.executable, "-c", code, "--help", f"{image} --weight 0.1 -q",
         f"{tmp_path / 'dir'} -o {tmp_path / 'out'} --weight 0.1 -q"],
        capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip().splitlines()[-1] == "[]"


def test_asking_for_dask_without_the_extra_names_it(tmp_path, make_pair, write_image):
    write_image("a.png", make_pair("uint8", "grey")[1])
    code = (
        "import sys\n"
        "sys.modules['distributed'] = None  # as if not installed\n"
        "from tvrestore.cli.app import main\n"
        f"sys.argv = ['tvrestore', {str(tmp_path)!r}, '-o', {str(tmp_path / 'out')!r}, '--workers', '2']\n"
        "main()\n"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "Error: --workers needs the dask extra (missing: distributed): "
        "pip install 'tvrestore[dask]'")
    assert "tensorflow" not in done.stderr.lower()
