"""The on-disk compile cache and the checks a run makes before TensorFlow loads.

What the cache does is checked in real processes, each with a cache
directory of its own: a second process loads every program and compiles
nothing. The pre-flight checks are checked in processes that must exit
with code 2 without ever importing TensorFlow.
"""

import json
import os
import subprocess
import sys
import textwrap
import time

import pytest

from tvrestore.backend import cache


def _run_cli(args, cache_dir=None, **environment):
    env = {**os.environ, **environment}
    if cache_dir is not None:
        env["TVRESTORE_CACHE_DIR"] = str(cache_dir)
    return subprocess.run([sys.executable, "-m", "tvrestore", *map(str, args)],
                          capture_output=True, text=True, timeout=300, env=env)


def _programs(directory):
    return sorted(path.name for path in directory.rglob("*.pb"))


def test_default_directory_follows_the_environment(monkeypatch, tmp_path):
    monkeypatch.setenv(cache.CACHE_DIR_ENV, str(tmp_path / "mine"))
    assert cache.default_directory() == tmp_path / "mine"
    monkeypatch.delenv(cache.CACHE_DIR_ENV)
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache.default_directory() == tmp_path / "xdg" / "tvrestore"
    monkeypatch.delenv("XDG_CACHE_HOME")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert cache.default_directory() == tmp_path / "home" / ".cache" / "tvrestore"


def test_a_directory_that_cannot_be_created_is_reported_not_raised(tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    assert cache._unusable(blocker / "cache") is not None
    assert cache._unusable(tmp_path / "fine") is None
    assert not list((tmp_path / "fine").iterdir())  # the probe file is gone


def test_prune_removes_the_oldest_programs_down_to_half_and_stale_temporaries(tmp_path):
    programs = tmp_path / "xla-tf0"
    programs.mkdir()
    now = time.time()
    for age in range(10):
        path = programs / f"program{age}.pb"
        path.write_bytes(b"x" * 100)
        os.utime(path, (now - age * 60, now - age * 60))
    stale = programs / "program.pb.tmp"
    stale.write_bytes(b"partial")
    os.utime(stale, (now - 2 * 3600, now - 2 * 3600))
    fresh = programs / "writing.pb.tmp"
    fresh.write_bytes(b"partial")

    cache._prune(tmp_path, max_bytes=600)

    kept = sorted(path.name for path in programs.iterdir())
    # 1000 bytes of programs > 600: the oldest go until at most 300 remain.
    assert kept == ["program0.pb", "program1.pb", "program2.pb", "writing.pb.tmp"]


def test_prune_leaves_a_cache_within_its_bound_alone(tmp_path):
    programs = tmp_path / "xla-tf0"
    programs.mkdir()
    for index in range(3):
        (programs / f"program{index}.pb").write_bytes(b"x" * 100)
    cache._prune(tmp_path, max_bytes=300)
    assert len(list(programs.iterdir())) == 3


def test_a_second_process_compiles_nothing(noisy_png_file, tmp_path):
    cache_dir = tmp_path / "cache"
    reports = []
    for run in range(2):
        report = tmp_path / f"run{run}.json"
        done = _run_cli([noisy_png_file, "-o", tmp_path / "out.png", "--overwrite",
                         "--report", report], cache_dir)
        assert done.returncode == 0, done.stderr
        reports.append(json.loads(report.read_text())["results"][0])
        if run == 0:
            first_programs = _programs(cache_dir)

    assert first_programs, "the first run kept no compiled program"
    assert _programs(cache_dir) == first_programs  # the second added none
    assert reports[0]["compile_cached"] is False
    assert reports[1]["compile_cached"] is True
    assert reports[1]["weight_auto"] and reports[1]["weight"] == reports[0]["weight"]


def test_no_cache_writes_nothing(noisy_png_file, tmp_path):
    cache_dir = tmp_path / "cache"
    done = _run_cli([noisy_png_file, "-o", tmp_path / "out.png", "--weight", "0.1",
                     "--no-cache", "--report", tmp_path / "r.json"], cache_dir)
    assert done.returncode == 0, done.stderr
    assert not cache_dir.exists() or not _programs(cache_dir)
    assert json.loads((tmp_path / "r.json").read_text())["results"][0]["compile_cached"] is None


def test_an_unwritable_cache_is_said_once_and_the_run_goes_on(noisy_png_file, tmp_path):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a directory")
    done = _run_cli([noisy_png_file, "-o", tmp_path / "out.png", "--weight", "0.1",
                     "--cache-dir", blocker / "cache"])
    assert done.returncode == 0, done.stderr
    notes = [line for line in done.stderr.splitlines() if "compile cache off" in line]
    assert len(notes) == 1, done.stderr
    assert (tmp_path / "out.png").is_file()


@pytest.mark.parametrize("damage", ["truncated", "emptied"])
def test_a_corrupt_entry_is_dropped_with_one_note_and_the_run_succeeds(noisy_png_file, tmp_path,
                                                                        damage):
    cache_dir = tmp_path / "cache"
    args = [noisy_png_file, "-o", tmp_path / "out.png", "--overwrite", "--weight", "0.1",
            "--max-iter", "20", "-q"]
    assert _run_cli(args, cache_dir).returncode == 0
    [entry] = cache_dir.rglob("*.pb")
    whole = entry.read_bytes()
    # What a full disk or a killed copy leaves: the file cut short.
    entry.write_bytes(whole[: len(whole) // 2] if damage == "truncated" else b"")

    healed = _run_cli(args, cache_dir)

    assert healed.returncode == 0, healed.stderr
    assert healed.stderr.splitlines() == [
        f"Note: compile cache: dropped the unreadable entry {entry}; recompiled"]
    assert (tmp_path / "out.png").is_file()
    assert not entry.exists() or entry.read_bytes() != whole[: len(whole) // 2]
    # Healed for good: later runs say nothing.
    later = _run_cli(args, cache_dir)
    assert later.returncode == 0 and later.stderr == "", later.stderr


def test_only_entries_that_do_not_parse_are_dropped(tmp_path, monkeypatch):
    """Only entries that fail to parse are dropped; whole ones stay."""
    programs = tmp_path / "xla-tf0"
    programs.mkdir()
    (programs / "whole.pb").write_bytes(b"\x08\x01\x12\x03abc")  # two fields, complete
    (programs / "cut.pb").write_bytes(b"\x08\x01\x12\x09abc")  # says 9 bytes, holds 3
    (programs / "writing.pb.tmp").write_bytes(b"\x12\x09")
    monkeypatch.setattr(cache, "_status", cache.CacheStatus(directory=programs))

    assert cache.drop_unreadable_entries() == [programs / "cut.pb"]
    assert sorted(path.name for path in programs.iterdir()) == ["whole.pb", "writing.pb.tmp"]
    assert cache.drop_unreadable_entries() == []


@pytest.fixture
def noisy_png_file(make_pair, write_image, tmp_path):
    _, noisy = make_pair("uint8", "grey")
    return write_image("noisy.png", noisy)


def _fails_before_tensorflow(args, tmp_path):
    """Run the CLI in a fresh process; its exit code, stderr, and whether TensorFlow loaded."""
    code = textwrap.dedent(f"""
        import sys
        from tvrestore.cli.app import main
        try:
            main({[str(a) for a in args]!r}, prog_name="tvrestore")
        except SystemExit as exit:
            code = exit.code
        print("tensorflow" in sys.modules, file=sys.stderr)
        sys.exit(code)
    """)
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                          timeout=120, cwd=tmp_path)
    *lines, loaded = done.stderr.strip().splitlines()
    return done.returncode, lines, loaded == "True"


@pytest.mark.parametrize("case", [
    "missing input", "not an image", "output exists", "bad output extension",
    "missing output directory", "report is the input", "reference of another shape",
    "output format cannot store it", "nan tolerance", "huge weight",
])
def test_errors_that_need_no_solve_exit_2_before_tensorflow_loads(case, noisy_png_file, tmp_path,
                                                                   make_pair, write_image):
    existing = tmp_path / "exists.png"
    existing.write_bytes(noisy_png_file.read_bytes())
    not_an_image = tmp_path / "notes.png"
    not_an_image.write_text("hello")
    _, colour = make_pair("uint8", "rgb")
    other_shape = write_image("colour.png", colour[:10])
    _, rgba = make_pair("uint8", "rgba")
    rgba_png = write_image("rgba.png", rgba)
    args = {
        "missing input": [tmp_path / "missing.png"],
        "not an image": [not_an_image],
        "output exists": [noisy_png_file, "-o", existing],
        "bad output extension": [noisy_png_file, "-o", tmp_path / "out.xyz"],
        "missing output directory": [noisy_png_file, "-o", tmp_path / "nowhere" / "out.png"],
        "report is the input": [noisy_png_file, "-o", tmp_path / "o.png", "--report", noisy_png_file],
        "reference of another shape": [noisy_png_file, "-o", tmp_path / "o.png",
                                       "--reference", other_shape],
        "output format cannot store it": [rgba_png, "-o", tmp_path / "o.bmp"],
        "nan tolerance": [noisy_png_file, "-o", tmp_path / "o.png", "--tol", "nan"],
        "huge weight": [noisy_png_file, "-o", tmp_path / "o.png", "--weight", "1e300"],
    }[case]
    before = {path: path.read_bytes() for path in tmp_path.iterdir() if path.is_file()}

    code, lines, tensorflow_loaded = _fails_before_tensorflow(args, tmp_path)

    assert code == 2, lines
    assert len(lines) == 1 and lines[0].startswith("Error: "), lines
    assert not tensorflow_loaded
    after = {path: path.read_bytes() for path in tmp_path.iterdir() if path.is_file()}
    assert after == before  # nothing written, nothing changed
