"""Checks the command-line tests share: the one-line error, a directory's listing, a report."""

import json
import os
import shutil
import sys
from pathlib import Path

import pytest


def listing(directory):
    """Every name in a directory, hidden ones (temporary files) included."""
    return sorted(os.listdir(directory))


def assert_one_line_error(result, *words):
    """Exit code 2, one line on stderr naming the problem, nothing on stdout, no traceback."""
    assert result.exit_code == 2, (result.exit_code, result.output, result.exception)
    assert isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.stdout == ""
    message = result.stderr
    assert message.startswith("Error: ") and message.endswith("\n"), message
    assert message.count("\n") == 1, message
    assert "Traceback" not in message
    for word in words:
        assert word in message, (word, message)


def load_report(path):
    report = json.loads(Path(path).read_text())
    assert set(report) == {"results"} and len(report["results"]) == 1
    return report["results"][0]


def console_script():
    script = shutil.which("tvrestore", path=str(Path(sys.executable).parent))
    if script is None:
        pytest.skip("the tvrestore console script is not installed beside this Python")
    return script
