r"""A solver's convergence record, kept inside its compiled loop at no extra cost.

The solvers already evaluate their objective at regular checks (Adam's
plateau checks, PDHG's duality-gap checks). :class:`Recorder` keeps those
values in a fixed buffer of :data:`CAPACITY` slots, so the compiled loop
needs no growing array and no host round trip. Every check is kept until
the buffer is full; then every other one is dropped and from then on only
every second check is kept (every fourth after the next fill, and so on),
but the last check made always is: the record ends where the solver
stopped, and a long run keeps 256 to 512 evenly spaced checks.

:class:`History` is what comes back to the host: per check kept, the
iteration count and one value per batch item for each recorded quantity.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["CAPACITY", "History", "Recorder", "SolverOutput"]

# Checks kept per run: Adam's default cap of 2000 iterations has 400 plateau
# checks and fits whole. 512 slots of two float64 per image cost 8 KiB.
CAPACITY = 512


@dataclass(frozen=True)
class History:
    """The checks a solver kept.

    Attributes
    ----------
    iterations : np.ndarray of int, shape (n,)
        Iterations done at each kept check, increasing.
    values : dict of str to np.ndarray, shape (n, B)
        Each recorded quantity at those checks, per batch item.
    """

    iterations: np.ndarray
    values: dict[str, np.ndarray]

    @classmethod
    def from_state(cls, names: tuple[str, ...], state) -> "History":
        """The checks a :class:`Recorder`'s final state holds (slots never written left out)."""
        iterations, *columns = (np.asarray(buffer) for buffer in state[2:])
        written = iterations >= 0
        return cls(
            iterations[written].astype(np.int64),
            {name: column[written] for name, column in zip(names, columns)},
        )

    def of_item(self, item: int, iterations: int) -> tuple[np.ndarray, dict[str, np.ndarray]]:
        """One item's record up to its own last iteration.

        An item that stopped before the batch did keeps its values, which
        later checks repeat; they are dropped, and a slot that covers its
        last check is dated at that check.

        Returns
        -------
        iterations : np.ndarray of int, shape (m,)
        values : dict of str to np.ndarray, shape (m,)
        """
        dated = np.minimum(self.iterations, iterations)
        keep = np.ones(dated.shape, bool)
        keep[1:] = dated[1:] > dated[:-1]
        return dated[keep], {name: value[keep, item] for name, value in self.values.items()}


@dataclass(frozen=True)
class SolverOutput:
    """What every solver returns for a batch; arrays are per item.

    Attributes
    ----------
    solution : np.ndarray
        The minimizer estimate, shaped like the starting point.
    iterations : np.ndarray of int
        Iterations each item moved for.
    converged : np.ndarray of bool
        Whether each item met its stopping rule before the iteration cap.
    solve_seconds : float
        Wall time of the optimization, excluding compilation.
    compile_seconds : float
        Time spent compiling for this signature (0 when it was kept;
        :mod:`tvrestore.solvers.programs`).
    history : History or None
        The checks kept: Adam's ``"loss"`` (or ``"objective"`` once a caller
        has put it in sum units) at its plateau checks; the exact mode's
        ``"objective"`` (sum units) and ``"certified_gap"``.
    certified_gap : np.ndarray of float or None
        The exact mode's bound on the relative objective gap; None for Adam.
    lower_bound : np.ndarray of float or None
        The exact mode's proven lower bound on :math:`E^*` (sum units).
    """

    solution: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    solve_seconds: float
    compile_seconds: float
    history: History | None = None
    certified_gap: np.ndarray | None = None
    lower_bound: np.ndarray | None = None


class Recorder:
    """The in-loop side: a buffer carried in the loop state, written at every check.

    Parameters
    ----------
    batch : tf.Tensor, int32 scalar
    dtypes : dict of str to tf.DType
        The quantities recorded, each one value per item and check.

    Notes
    -----
    The state is ``(kept, stride, iterations, *values)``. Slots
    ``0 .. kept - 1`` hold checks ``0, s, 2s, ...`` (``s`` the stride); a
    check between them is written to slot ``kept`` and replaced by the next
    one, so the last check made is always in the buffer. A full buffer
    keeps its even slots (checks ``0, 2s, 4s, ...``) and doubles ``s``.
    """

    def __init__(self, batch, dtypes: dict) -> None:
        from tvrestore.backend.tf import tf

        self._tf = tf
        self.initial = (
            tf.constant(0),
            tf.constant(1),
            tf.fill([CAPACITY], -1),
            *(tf.zeros(tf.stack([CAPACITY, batch]), dtype) for dtype in dtypes.values()),
        )

    def record(self, state: tuple, check, iteration, *values) -> tuple:
        """`state` with check number `check` (0, 1, 2, ...) written: its iteration and values."""
        tf = self._tf
        kept, stride, *buffers = state
        full = kept == CAPACITY
        half = CAPACITY // 2
        unwritten = [tf.fill([half], -1)] + [tf.zeros_like(buffer[:half]) for buffer in buffers[1:]]
        buffers = [tf.where(full, tf.concat([buffer[0::2], empty], 0), buffer)
                   for buffer, empty in zip(buffers, unwritten)]
        kept = tf.where(full, half, kept)
        stride = tf.where(full, 2 * stride, stride)
        slot = tf.reshape(kept, [1, 1])
        iterations, *columns = buffers
        buffers = [
            tf.tensor_scatter_nd_update(iterations, slot, tf.reshape(iteration, [1])),
            *(tf.tensor_scatter_nd_update(column, slot, value[None])
              for column, value in zip(columns, values)),
        ]
        kept += tf.cast(check % stride == 0, tf.int32)
        return (kept, stride, *buffers)
