r"""The measurements behind ``tvrestore bench --task impulse``: impulse noise against the median filter.

Cases: the centre square of each image, resized (anti-aliased) to
``size x size``, with seeded impulse noise
(:func:`tvrestore.bench.degradations.impulse_noise`):

=========================  =============================================
salt-and-pepper 30/50/70%  that fraction of values set to 0 or 1
random-valued 20/40%       that fraction of values drawn uniformly in [0, 1]
=========================  =============================================

tvrestore runs ``restore(noise="impulse")`` at its automatic weight (Adam);
the baselines are the median filters 3x3, 5x5 and 7x7
(:func:`tvrestore.evaluation.baselines.impulse_baselines`). Scores, times
and the table are those of :mod:`tvrestore.bench.tasks`; the time ratio is
to the 3x3 median's, in the same run.
"""

from __future__ import annotations

from dataclasses import asdict
from typing import Callable

import numpy as np

from tvrestore.errors import TVRestoreError

__all__ = ["IMPULSE_CASES", "impulse_case", "run_impulse_bench"]

# name -> (kind, fraction)
IMPULSE_CASES = {
    "salt-and-pepper 30%": ("salt-and-pepper", 0.3),
    "salt-and-pepper 50%": ("salt-and-pepper", 0.5),
    "salt-and-pepper 70%": ("salt-and-pepper", 0.7),
    "random-valued 20%": ("random-valued", 0.2),
    "random-valued 40%": ("random-valued", 0.4),
}


def impulse_case(image: str, case: str, size: int, seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """``(clean, noisy)`` of one case: float64 and float32, ``(size, size[, 3])``, in [0, 1].

    Raises
    ------
    TVRestoreError
        For an unknown case or image.
    """
    from tvrestore.bench.cases import clean_square
    from tvrestore.bench.degradations import impulse_noise

    if case not in IMPULSE_CASES:
        raise TVRestoreError(f"unknown impulse case {case!r}; expected one of "
                             f"{', '.join(IMPULSE_CASES)}")
    kind, fraction = IMPULSE_CASES[case]
    clean = clean_square(image, size)
    noisy, _ = impulse_noise(clean, kind, fraction, seed=seed)
    return clean, noisy


def run_impulse_bench(images, size: int = 256, repeat: int = 3, seed: int = 0,
                      progress: Callable[[str], None] = lambda line: None) -> dict:
    """Run every case of :data:`IMPULSE_CASES` on ``images``.

    Returns
    -------
    dict
        As :func:`tvrestore.bench.tasks.run_task_bench`'s, one "task" per
        case (so :func:`tvrestore.bench.tasks.format_task_report` prints
        it): ``{"tasks": {case: {"kind", "fraction"}}, "size", "seed",
        "repeat", "rows"}``.
    """
    from tvrestore.api import restore
    from tvrestore.bench.tasks import TaskRow, median_seconds, scored_row
    from tvrestore.evaluation.baselines import impulse_baselines

    rows = []
    for case in IMPULSE_CASES:
        for image in images:
            progress(f"{case} on {image} ({size}x{size})")
            clean, noisy = impulse_case(image, case, size, seed)

            def ours():
                return restore(noisy, noise="impulse")

            (restored, result), _ = median_seconds(ours, repeat)
            estimates = [("tvrestore (adam, auto)", np.clip(restored.astype(np.float64), 0, 1),
                          result.solve_seconds + result.weight_search_seconds, result.weight)]
            for baseline in impulse_baselines():
                estimate, seconds = median_seconds(lambda: baseline.solve(noisy), repeat)
                estimates.append((baseline.method, estimate, seconds, None))
            reference_seconds = estimates[1][2]
            for method, estimate, seconds, weight in estimates:
                row = scored_row(image, case, method, clean, estimate, seconds, weight=weight)
                rows.append(asdict(TaskRow(**row, ratio=seconds / reference_seconds)))
    return {"tasks": {case: {"kind": kind, "fraction": fraction}
                      for case, (kind, fraction) in IMPULSE_CASES.items()},
            "size": size, "seed": seed, "repeat": repeat, "rows": rows}
