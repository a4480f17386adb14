"""One cache of compiled solver programs, which times their compilation.

A solver's program is compiled the first time it runs on a new signature
(shapes and settings). Its first run is therefore timed apart: the program
runs once with zero iterations, which compiles (or loads from the on-disk
cache, :mod:`tvrestore.backend.cache`) the same program as a full run, and the
solve is timed after it. Every solver keeps its programs here, so that
"compile_seconds" means one thing in every report.
"""

from __future__ import annotations

import collections
import time
from typing import Callable, Hashable

__all__ = ["Programs"]


class Programs:
    """Compiled programs by key, the least recently used dropped beyond ``kept``.

    Parameters
    ----------
    kept : int, optional
        How many programs to keep; None keeps every one.
    """

    def __init__(self, kept: int | None = None) -> None:
        self.kept = kept
        self._entries: collections.OrderedDict[Hashable, object] = collections.OrderedDict()

    def get(
        self, key: Hashable, build: Callable[[], object], warm_up: Callable[[object], object],
        shape: Hashable = None,
    ) -> tuple[object, float]:
        """The program for ``key`` and the seconds spent compiling it now (0 if kept).

        Parameters
        ----------
        key : hashable
            Everything the compiled program depends on (shapes included).
        build : callable
            ``build() -> entry``: the program (and whatever it keeps with it).
        warm_up : callable
            ``warm_up(entry)`` runs the program for zero iterations, which
            compiles it; timed as the compilation.
        shape : hashable, optional
            The arguments' shapes, for a program that serves several (XLA
            compiles each): a program is warmed up again for a new one.
        """
        compile_seconds = 0.0
        if key not in self._entries:
            self._entries[key] = (build(), set())
            if self.kept is not None and len(self._entries) > self.kept:
                self._entries.popitem(last=False)
        self._entries.move_to_end(key)
        entry, shapes = self._entries[key]
        if shape not in shapes:
            start = time.perf_counter()
            warm_up(entry)
            compile_seconds = time.perf_counter() - start
            shapes.add(shape)
        return entry, compile_seconds
