"""Messages, reports and drawing options that cannot be forged or misused (issue 18).

A file name is text its owner chose. Whatever its characters and bytes,
it must not print a line of its own on stderr, break a CSV row, become a
spreadsheet formula, or stop a report, a gallery or the console summary
from being written. And an option that cannot be served (a report path
that is a directory, a figure without matplotlib) is refused before any
work, with test_hostile.py's four promises: exit code, one ``Error:`` line
and no traceback, every file byte-identical, nothing else created.
"""

import csv
import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import tvrestore

from hostile_helpers import FAST, png, check_run, snapshot

# A name that is not UTF-8: the byte 0xff, a lone surrogate once decoded.
NOT_UTF8 = os.fsdecode(b"bad\xff.png")

# Child processes import the tvrestore under test, wherever it is.
CHILD_ENVIRONMENT = {**os.environ, "PYTHONPATH": os.pathsep.join(
    [str(Path(tvrestore.__file__).parents[1]), os.environ.get("PYTHONPATH", "")])}


def csv_rows(path):
    with open(path, newline="", encoding="utf-8") as file:
        return list(csv.DictReader(file))


# --- control characters: no forged lines, on stderr, stdout or in a CSV row ------------


def test_a_file_name_cannot_forge_an_error_line_or_a_csv_row(runner, tmp_path):
    png(tmp_path, "in/b\nError: forged too.png")
    Path(tmp_path, "in/a\nError: forged line.png").write_bytes(b"")  # fails: empty
    result = check_run(runner, tmp_path, ["in", "-o", "out", "--report", "run.csv", *FAST], 1,
                       outputs=["out", "out/b\nError: forged too.png", "run.csv"])
    assert result.stderr == "Error: in/a\\nError: forged line.png: empty file (0 bytes)\n"
    assert ("in/b\\nError: forged too.png -> out/b\\nError: forged too.png  weight 0.1, "
            in result.stdout)
    assert not [line for line in result.stdout.splitlines() if line.startswith("Error")]
    rows = csv_rows(tmp_path / "run.csv")
    assert [row["input"] for row in rows] == ["in/a\\nError: forged line.png",
                                              "in/b\\nError: forged too.png"]
    assert rows[0]["error"] == "in/a\\nError: forged line.png: empty file (0 bytes)"
    assert (tmp_path / "run.csv").read_text().count("\n") == 3  # header and two rows


def test_a_refused_file_name_is_one_escaped_line(runner, tmp_path):
    # The escape sequence would clear the terminal; the bidi override reverse the line.
    check_run(runner, tmp_path, ["x\x1b[2J\u202egnp.png", *FAST], 2,
              ["Error: x\\x1b[2J\\u202egnp.png: "])


def test_the_single_file_summary_escapes_its_names(runner, tmp_path):
    png(tmp_path, "a\rError: forged.png")
    result = check_run(runner, tmp_path, ["a\rError: forged.png", "-o", "b\tc.png", *FAST], 0,
                       outputs=["b\tc.png"])
    assert result.stdout.startswith("a\\rError: forged.png -> b\\tc.png  (24x32 uint8)\n")



@pytest.mark.parametrize("text,shown", [
    ("a\nb", "a\\nb"), ("\r\t", "\\r\\t"), ("\x1b[2J", "\\x1b[2J"), ("\x7f\x85", "\\x7f\\x85"),
    ("\u202e\u2028", "\\u202e\\u2028"), (os.fsdecode(b"\xff\x80"), "\\xff\\x80"),
    ("\ud800", "\\ud800"), ("\U000e0001", "\\U000e0001"),
    ("é 漢 \U0001f600 a\\nb", "é 漢 \U0001f600 a\\nb"),  # kept, backslashes too
])
def test_printable_escapes_what_a_terminal_or_a_utf8_file_would_misread(text, shown):
    from tvrestore.errors import printable

    assert printable(text) == shown
    assert printable(text).isprintable()


# --- names that are not UTF-8: every report and the console --------------------------


@pytest.mark.parametrize("report", ["run.json", "run.csv"])
def test_a_name_that_is_not_utf8_is_escaped_in_the_report_and_the_gallery(runner, tmp_path,
                                                                          report):
    png(tmp_path, "in/" + NOT_UTF8)
    check_run(runner, tmp_path, ["in", "-o", "out", "--report", report,
                                 "--gallery", "gallery.html", *FAST], 0,
              outputs=["out", "out/" + NOT_UTF8, report, "gallery.html"])
    if report.endswith(".json"):
        [entry] = json.loads((tmp_path / report).read_text(encoding="utf-8"))["results"]
    else:
        [entry] = csv_rows(tmp_path / report)
    assert (entry["input"], entry["output"]) == ("in/bad\\xff.png", "out/bad\\xff.png")
    page = (tmp_path / "gallery.html").read_text(encoding="utf-8")
    assert "<td>in/bad\\xff.png</td>" in page
    assert 'alt="before: in/bad\\xff.png"' in page


def test_a_name_that_is_not_utf8_prints_on_a_strict_utf8_stdout(tmp_path):
    png(tmp_path, "in/" + NOT_UTF8)
    png(tmp_path, "in/ok.png")
    before = snapshot(tmp_path)
    environment = {**CHILD_ENVIRONMENT, "PYTHONIOENCODING": "utf-8:strict"}
    done = subprocess.run(
        [sys.executable, "-m", "tvrestore", "in", "-o", "out", "--report", "run.csv", *FAST],
        cwd=tmp_path, env=environment, capture_output=True, timeout=120)
    stdout, stderr = done.stdout.decode("utf-8"), done.stderr.decode("utf-8")
    assert done.returncode == 0, stderr
    assert "Traceback" not in stdout + stderr and stderr == ""
    assert "in/bad\\xff.png -> out/bad\\xff.png  weight 0.1" in stdout
    assert "2 images: 2 restored, 0 skipped, 0 failed" in stdout
    after = snapshot(tmp_path)
    assert {name: after[name] for name in before} == before
    assert sorted(set(after) - set(before)) == sorted(
        ["out", "out/" + NOT_UTF8, "out/ok.png", "run.csv"])


# --- CSV injection ---------------------------------------------------------------------


def test_csv_cells_that_a_spreadsheet_would_run_as_formulas_are_inert(runner, tmp_path):
    names = ['=HYPERLINK("x.example","y").png', "+1.png", "@SUM(1).png", "\tx.png"]
    for name in names:
        png(tmp_path, name)
    Path(tmp_path, "-bad.png").write_bytes(b"")  # fails: its error cell starts with "-"
    check_run(runner, tmp_path, [*names, "-o", "out", "--report", "run.csv", *FAST, "--",
                                 "-bad.png"], 1,
              outputs=["out", "run.csv", *(f"out/{name}" for name in names)])
    rows = csv_rows(tmp_path / "run.csv")
    assert [row["input"] for row in rows] == [
        "'=HYPERLINK(\"x.example\",\"y\").png", "'+1.png", "'@SUM(1).png", "\\tx.png",
        "'-bad.png"]
    assert rows[-1]["error"] == "'-bad.png: empty file (0 bytes)"
    assert rows[0]["output"] == "out/=HYPERLINK(\"x.example\",\"y\").png"
    assert rows[0]["weight"] == "0.1"  # numbers stay numbers


# --- report, figure and gallery paths: refused before any work -----------------------


@pytest.mark.parametrize("batch,option,path", [
    (False, "--report", "run.json"), (False, "--gallery", "gallery.html"),
    (False, "--figure", "figure.png"),  # a batch refuses --figure whatever its path
    (True, "--report", "run.csv"), (True, "--gallery", "gallery.html"),
])
def test_a_record_path_that_is_a_directory_is_refused_before_any_work(runner, tmp_path, batch,
                                                                    option, path):
    png(tmp_path, "in/a.png")
    Path(tmp_path, path).mkdir()
    target = ["in", "-o", "out"] if batch else ["in/a.png", "-o", "b.png"]
    check_run(runner, tmp_path, [*target, option, path, *FAST], 2,
              [f"Error: {path}: is a directory; {option} names a file"])


def test_bench_json_that_is_a_directory_is_refused_before_any_work(runner, tmp_path):
    Path(tmp_path, "bench.json").mkdir()
    check_run(runner, tmp_path, ["bench", "--images", "camera", "--size", "16", "--repeat", "1",
                                 "--bandwidth-mb", "1", "--json", "bench.json"], 2,
              ["Error: bench.json: is a directory; --json names a file"])


# --- matplotlib missing: the figures extra, named before any work --------------------


@pytest.fixture
def no_matplotlib(monkeypatch):
    """matplotlib as if not installed: an import of it raises ImportError."""
    monkeypatch.setitem(sys.modules, "matplotlib", None)


def test_figure_without_matplotlib_names_the_extra_before_any_work(runner, tmp_path,
                                                                   no_matplotlib):
    png(tmp_path, "a.png")
    check_run(runner, tmp_path, ["a.png", "--figure", "figure.png", *FAST], 2,
              ["Error: --figure needs the figures extra (missing: matplotlib): "
               "pip install 'tvrestore[figures]'"])


def test_bench_plot_without_matplotlib_names_the_extra_before_any_work(runner, tmp_path,
                                                                       no_matplotlib):
    check_run(runner, tmp_path, ["bench", "--images", "camera", "--size", "16", "--repeat", "1",
                                 "--bandwidth-mb", "1", "--json", "bench.json",
                                 "--plot", "plots"], 2,
              ["Error: --plot needs the figures extra (missing: matplotlib): "
               "pip install 'tvrestore[figures]'"])


def test_figure_without_matplotlib_in_a_fresh_process(tmp_path):
    # The command as a user runs it, matplotlib unimportable from the start.
    png(tmp_path, "a.png")
    before = snapshot(tmp_path)
    code = ("import sys; sys.modules['matplotlib'] = None; "
            "from tvrestore.cli.app import main; main()")
    done = subprocess.run([sys.executable, "-c", code, "a.png", "--figure", "figure.png", *FAST],
                          cwd=tmp_path, env=CHILD_ENVIRONMENT, capture_output=True, text=True,
                          timeout=60)
    assert done.returncode == 2, done.stderr
    assert done.stderr == ("Error: --figure needs the figures extra (missing: matplotlib): "
                           "pip install 'tvrestore[figures]'\n")
    assert snapshot(tmp_path) == before


# --- gallery thumbnails that cannot be made --------------------------------------------


@pytest.mark.parametrize("shape", [(2, 600), (1, 300)])
def test_a_thumbnail_too_narrow_to_make_is_replaced_by_its_reason(runner, tmp_path, shape):
    png(tmp_path, "thin.png", np.random.default_rng(0).integers(0, 256, shape, dtype=np.uint8))
    check_run(runner, tmp_path, ["thin.png", "--gallery", "gallery.html", *FAST], 0,
              outputs=["thin_tv.png", "gallery.html"])
    page = (tmp_path / "gallery.html").read_text(encoding="utf-8")
    from tvrestore.viz.gallery import DEFAULT_THUMBNAIL_SIZE

    reason = (f"a {shape[0]}x{shape[1]} image is too narrow for a view of at most "
              f"{DEFAULT_THUMBNAIL_SIZE} pixels a side")
    assert f"before: no preview ({reason})" in page
    assert f"after: no preview ({reason})" in page

