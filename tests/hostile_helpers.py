"""The hostile corpora's runner and checks (tests/hostile/), shared with the tests that reuse them.

:func:`check_run` asserts the promises of tests/hostile/test_hostile.py's
docstring; :class:`LimitedRunner` runs the command line in a child process
under an address-space limit and a deadline.
"""

import os
import resource
import subprocess
import sys
import types
from pathlib import Path

import numpy as np
from PIL import Image

from sample_images import H, W
from tvrestore.cli.app import main


FAST = ["--weight", "0.1", "--max-iter", "20"]
RNG = np.random.default_rng(10)
GREY = RNG.integers(0, 256, (H, W), dtype=np.uint8)


def snapshot(root):
    """Everything under root, without following links: relative path -> what it is."""
    state = {}
    for directory, subdirectories, names in os.walk(root):
        for name in subdirectories + names:
            path = Path(directory, name)
            info = os.lstat(path)
            relative = path.relative_to(root).as_posix()
            if os.path.islink(path):
                state[relative] = ("link", os.readlink(path))
            elif path.is_dir():
                state[relative] = ("dir",)
            elif path.is_file():
                state[relative] = ("file", path.read_bytes(), info.st_ino)
            else:
                state[relative] = ("special", info.st_mode)
    return state


def png(root, name, pixels=GREY):
    import imageio.v3 as iio

    path = Path(root, name)
    path.parent.mkdir(parents=True, exist_ok=True)
    iio.imwrite(path, pixels)
    return path


def check_run(runner, root, args, code, words=(), outputs=(), error_lines=None):
    """Run tvrestore in `root` and check the promises of the module docstring."""
    before = snapshot(root)
    cwd = os.getcwd()
    os.chdir(root)
    try:
        result = runner.invoke(main, [str(arg) for arg in args])
    finally:
        os.chdir(cwd)
    after = snapshot(root)

    assert result.exit_code == code, (result.exit_code, result.stdout, result.stderr)
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(
        result.exception)
    assert "Traceback" not in result.stdout + result.stderr
    errors = [line for line in result.stderr.splitlines() if line]
    expected_lines = (1 if code != 0 else 0) if error_lines is None else error_lines
    assert len(errors) == expected_lines, result.stderr
    assert all(line.startswith("Error: ") for line in errors), result.stderr
    for word in words:
        assert word in result.stderr, (word, result.stderr)
    for name, state in before.items():
        assert after.get(name) == state, f"{name} changed"
    created = sorted(set(after) - set(before))
    assert created == sorted(outputs), created
    assert not [name for name in after if Path(name).name.startswith(".")]
    return result


WORKTREE = Path(__file__).resolve().parents[1]

# Address space of a refused run: Python, NumPy, Pillow, tifffile, Dask and
# zarr fit in it; TensorFlow, or any image the budget refuses, does not.
ADDRESS_SPACE = 1536 * 2**20
# The target: a forged or hostile input is refused within 10 s.
DEADLINE_SECONDS = 10


class LimitedRunner:
    """``check_run``'s runner: the command line in a child under RLIMIT_AS and a deadline."""

    def __init__(self, env=None):
        self.env = {**os.environ, "PYTHONPATH": str(WORKTREE), **(env or {})}

    def invoke(self, main, args):
        def limit():
            resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

        done = subprocess.run(
            [sys.executable, "-m", "tvrestore", *args], capture_output=True, text=True,
            env=self.env, preexec_fn=limit, timeout=DEADLINE_SECONDS,
        )
        return types.SimpleNamespace(exit_code=done.returncode, exception=None,
                                     stdout=done.stdout, stderr=done.stderr)


def zeros_png(root, name, shape):
    """A valid PNG of zeros: a few KB on disk, whatever its size."""
    path = Path(root, name)
    Image.fromarray(np.zeros(shape, np.uint8)).save(path, compress_level=1)
    return path


def dead_pid():
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid
