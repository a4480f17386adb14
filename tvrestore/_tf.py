"""TensorFlow, imported once, with its C++ start-up log kept off the terminal.

TensorFlow's native runtime prints notices (CUDA probing, oneDNN) straight
to file descriptor 2 while it loads and initialises its devices, ignoring
``TF_CPP_MIN_LOG_LEVEL`` for some of them. They are not errors and would
bury a command line tool's one-line messages, so stderr is pointed at
/dev/null for the import and the first operation only. Python exceptions
still propagate.
"""

from __future__ import annotations

import contextlib
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")


@contextlib.contextmanager
def _native_stderr_silenced():
    sys.stderr.flush()
    saved = os.dup(2)
    try:
        with open(os.devnull, "wb") as devnull:
            os.dup2(devnull.fileno(), 2)
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)


with _native_stderr_silenced():
    import tensorflow as tf

    tf.zeros(1).numpy()  # initialises the devices, which logs too

# Each new image shape compiles its own program, by design (see
# tvrestore.restore.solve_shape); TensorFlow's Python logger would warn
# about "excessive retracing" on a batch of many shapes. Errors still show.
tf.get_logger().setLevel("ERROR")

__all__ = ["tf"]
