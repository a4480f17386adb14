"""TensorFlow, imported once, with its C++ start-up log kept off the terminal.

Before the import, :func:`tvrestore.backend.cache.configure` puts the on-disk cache
of compiled programs into TensorFlow's flags (a no-op if the command line
configured it already). The import's duration is kept in
:data:`IMPORT_SECONDS` for the reports.

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
import time
from typing import Callable

from tvrestore.backend import cache

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
cache.configure()


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


# Threads for TensorFlow's pools (intra- and inter-op), when a process is
# one of several sharing the cores (a Dask worker, tvrestore.runs.cluster). Set
# before the runtime starts, which the first operation does.
_THREADS = os.environ.get("TVRESTORE_THREADS")

_import_start = time.perf_counter()
# Keras, which TensorFlow imports, imports matplotlib (pyplot and patches)
# if it is installed, for plotting helpers tvrestore never uses: 0.65 to
# 1.05 s of start-up measured here, and a GUI backend probed. It is hidden during the import
# (Keras then goes without it); tvrestore's figures import matplotlib
# themselves, only when one is drawn.
_hide_matplotlib = "matplotlib" not in sys.modules
if _hide_matplotlib:
    sys.modules["matplotlib"] = None  # an import of it raises ImportError
try:
    with _native_stderr_silenced():
        import tensorflow as tf

        if _THREADS:
            tf.config.threading.set_intra_op_parallelism_threads(int(_THREADS))
            tf.config.threading.set_inter_op_parallelism_threads(int(_THREADS))
        tf.zeros(1).numpy()  # initialises the devices, which logs too
finally:
    if _hide_matplotlib:
        del sys.modules["matplotlib"]
# Seconds spent importing TensorFlow and starting its devices.
IMPORT_SECONDS = time.perf_counter() - _import_start

# Each new image shape compiles its own program, by design (see
# tvrestore.api.solve_shape); TensorFlow's Python logger would warn
# about "excessive retracing" on a batch of many shapes. Errors still show.
tf.get_logger().setLevel("ERROR")

# XLA's dynamic slices, which TensorFlow's public API lacks: tf.slice with a
# computed start lowers to a padded copy of the whole array, and an update
# of some rows has no public form that XLA performs in place.
from tensorflow.compiler.tf2xla.python.xla import (  # noqa: E402
    dynamic_slice as _dynamic_slice,
    dynamic_update_slice as _dynamic_update_slice,
)


def compiled(function: Callable, any_shape: bool = False, kept_axes: tuple[int, ...] = ()) -> Callable:
    """``function`` as one XLA-compiled TensorFlow program, healed of a corrupt cache entry.

    AutoGraph is off: our loops are written with ``tf.while_loop`` already,
    and AutoGraph's source conversion made tracing 6x slower (0.48 against
    0.08 s for the Adam loop at 512x512), a cost paid in every process
    even when the compiled program comes from the cache.

    With ``any_shape``, the program is traced once per
    :func:`signature_key` (the ranks, and the sizes of ``kept_axes`` of
    arguments of rank 4 and more: the colour channels, whose count selects
    code paths), with every other size unknown. Every further
    shape reuses that trace, so that XLA compiles it (or loads it from the
    on-disk cache) with no Python tracing: 0.3 to 2 s saved per shape and
    program. XLA still sees each call's sizes, so sizes computed from
    ``tf.shape`` are constants to it. Only code that needs no static size
    may ask for it; without it, each shape is traced.

    A call that compiles (the first of each shape) loads the program from
    the on-disk cache if it is there. TensorFlow fails that call when the
    entry cannot be read (a truncated file: OutOfRangeError or
    DataLossError; one that parses to the wrong program: InvalidArgumentError),
    without naming the file, and would fail every later run the same way.
    Then the cache's unreadable entries are removed, each named in one
    ``Note:`` line on stderr, and the call is made again by a new
    ``tf.function``: its program has a new name in this process, so
    TensorFlow looks for it on disk again, finds nothing and compiles.
    An error with no unreadable entry behind it is raised as it was.
    """
    programs: dict = {}

    def call(*args):
        # One trace per signature: with any_shape, per ranks and kept sizes.
        key = signature_key([tuple(arg.shape) for arg in args], kept_axes) if any_shape else None
        program = programs.get(key)
        if program is None:
            program = programs[key] = _program_of(
                function, _signature(args, kept_axes) if any_shape else None)
        try:
            return program(*args)
        except (tf.errors.OutOfRangeError, tf.errors.DataLossError,
                tf.errors.InvalidArgumentError):
            dropped = cache.drop_unreadable_entries()
            if not dropped:
                raise
        for path in dropped:
            print(f"Note: compile cache: dropped the unreadable entry {path}; recompiled",
                  file=sys.stderr)
        program = programs[key] = _program_of(function, program.input_signature)
        return program(*args)

    return call


def signature_key(shapes, kept_axes: tuple[int, ...]) -> tuple:
    """What a trace with unknown sizes keeps of ``shapes``: each rank, and the
    sizes of ``kept_axes`` (negative: from the end) of arrays of rank 4 and more."""
    return tuple(
        (len(shape), tuple(shape[axis] for axis in kept_axes) if len(shape) >= 4 else ())
        for shape in shapes
    )


def _signature(args: tuple, kept_axes: tuple[int, ...]) -> list:
    """Specs of ``args`` with unknown sizes, but for ``kept_axes`` of those of rank 4 and more."""
    specs = []
    for arg in args:
        shape = [None] * arg.shape.rank
        if arg.shape.rank >= 4:
            for axis in kept_axes:
                shape[axis] = arg.shape[axis]
        specs.append(tf.TensorSpec(shape, arg.dtype))
    return specs


def _program_of(function: Callable, signature: list | None) -> Callable:
    return tf.function(function, jit_compile=True, autograph=False, input_signature=signature)


def rows_of(array: tf.Tensor, first: tf.Tensor, rows) -> tf.Tensor:
    """``array[:, first:first + rows]`` for a computed ``first``, compiled by XLA.

    ``rows`` may be a tensor computed from shapes (which XLA resolves to a
    constant), for a program traced with unknown sizes.
    """
    start = tf.stack([0, first] + [0] * (array.shape.rank - 2))
    sizes = tf.shape(array)
    return _dynamic_slice(array, start, tf.concat([sizes[:1], [rows], sizes[2:]], 0))


def with_rows(array: tf.Tensor, update: tf.Tensor, first: tf.Tensor) -> tf.Tensor:
    """``array`` with rows ``first:first + len(update)`` replaced, in place under XLA."""
    start = tf.stack([0, first] + [0] * (array.shape.rank - 2))
    return _dynamic_update_slice(array, update, start)


__all__ = ["IMPORT_SECONDS", "compiled", "rows_of", "signature_key", "tf", "with_rows"]
