r"""The headline measurement of ``tvrestore bench``: denoising speed and accuracy against skimage.

Each case (:mod:`tvrestore.bench.cases`) is solved by tvrestore's default
solver, its exact mode, and skimage's chambolle (at its defaults and run to
the exact mode's gap) and bregman, all at the same weight; every method's
gap is measured against the exact reference's certified bound
(:mod:`tvrestore.bench.reference`). :func:`run_bench` gathers these with the
machine (:mod:`tvrestore.bench.machine`), the resolution sweep
(:mod:`tvrestore.bench.sweep`) and the memory measurement
(:mod:`tvrestore.bench.memory`) into one report, which
:mod:`tvrestore.bench.formatting` prints.

Time
----
Each method runs once to warm up (tvrestore compiles then; the compile
time is reported on its own), then ``repeat`` more times; the median is
reported. tvrestore's time is its ``solve_seconds`` (optimization only);
skimage's is the wall time of its call. Ratios are to skimage's chambolle
at its defaults, measured in the same run.
"""

from __future__ import annotations

import math
import statistics
import time
from dataclasses import asdict, dataclass, replace
from typing import Callable, Mapping

import numpy as np

from tvrestore.bench.cases import Case, check_image, make_case
from tvrestore.bench.machine import (
    ADAM_BYTES_PER_VALUE,
    copy_bandwidth,
    iteration_cost,
    machine_info,
)
from tvrestore.bench.memory import peak_memory
from tvrestore.bench.reference import Reference, exact_reference
from tvrestore.bench.sweep import PLAIN_GAP_TARGET, resolution_sweep
from tvrestore.errors import TVRestoreError

__all__ = [
    "METHOD_ADAM",
    "METHOD_CHAMBOLLE",
    "METHOD_CHAMBOLLE_TO_GAP",
    "METHOD_EXACT",
    "MethodRow",
    "chambolle_iterations_to_gap",
    "gap_series",
    "run_bench",
    "run_case",
]

_CHAMBOLLE_MAX_ITER = 20_000

METHOD_ADAM = "tvrestore (adam)"
METHOD_EXACT = "tvrestore exact (pdhg)"
METHOD_CHAMBOLLE = "skimage chambolle"
METHOD_CHAMBOLLE_TO_GAP = "skimage chambolle (to gap)"


@dataclass(frozen=True)
class MethodRow:
    """One method on one case.

    Attributes
    ----------
    method : str
    weight : float
        The method's own weight parameter, as passed to it.
    psnr : float
    ssim : float or None
    objective : float
        :math:`E` of the output, float64, sum units.
    gap : float
        Relative objective gap to the exact minimizer (an upper bound; see
        :mod:`tvrestore.bench.reference`).
    seconds : float
        Median solve seconds over the timed runs.
    seconds_runs : list of float
        Every timed run.
    time_ratio : float
        ``seconds`` over skimage chambolle's (defaults) in the same case.
    compile_seconds : float or None
        tvrestore's one-off compile time for this shape (0 when an earlier
        case compiled it); None for skimage.
    iterations : int or None
        When the method reports them.
    certified_gap : float or None
        The exact mode's own certificate.
    """

    method: str
    weight: float
    psnr: float
    ssim: float | None
    objective: float
    gap: float
    seconds: float
    seconds_runs: list
    time_ratio: float
    compile_seconds: float | None = None
    iterations: int | None = None
    certified_gap: float | None = None

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class _Run:
    solution: np.ndarray
    seconds: float
    compile_seconds: float | None = None
    iterations: int | None = None
    certified_gap: float | None = None


def _timed(run: Callable[[], _Run], repeat: int) -> tuple[_Run, _Run, list[float]]:
    """One warm-up run, then ``repeat`` timed ones: (warm-up, last, their seconds)."""
    warm_up = run()
    runs = [run() for _ in range(repeat)]
    return warm_up, runs[-1], [r.seconds for r in runs]


def _wall_clock(solve: Callable[[np.ndarray], np.ndarray], image: np.ndarray) -> _Run:
    start = time.perf_counter()
    solution = solve(image)
    return _Run(solution, time.perf_counter() - start)


def chambolle_iterations_to_gap(
    case: Case, weight: float, target_gap: float, gap_of: Callable[[np.ndarray], float],
    max_iter: int = _CHAMBOLLE_MAX_ITER,
    resolution: float = 0.02,
) -> int:
    """The least iteration count at which skimage's chambolle reaches a gap.

    Chambolle runs with ``eps=0`` (no early stop) for exactly ``n``
    iterations; ``n`` is found by doubling from 100, then bisection, which
    assumes the gap falls with ``n``. The result reaches the gap and
    ``n - max(1, resolution * n)`` iterations do not: each trial costs a
    full run, so the least count is pinned down only to that resolution.

    Parameters
    ----------
    case : Case
    weight : float
    target_gap : float
    gap_of : callable
        ``gap_of(solution) -> float``, e.g. from :class:`~tvrestore.bench.reference.Reference`.
    max_iter : int
        Returned as is when even this many iterations miss the target.
    resolution : float
        Relative precision of the count; 0 for the exact least count.
    """
    from skimage.restoration import denoise_tv_chambolle

    def reaches(n: int) -> bool:
        solution = denoise_tv_chambolle(
            case.noisy, weight=weight, eps=0, max_num_iter=n, channel_axis=case.channel_axis
        )
        return gap_of(solution) <= target_gap

    low, high = 0, min(100, max_iter)
    while not reaches(high):
        if high == max_iter:
            return max_iter
        low, high = high, min(2 * high, max_iter)
    while high - low > max(1, resolution * high):
        middle = (low + high) // 2
        low, high = (low, middle) if reaches(middle) else (middle, high)
    return high


def run_case(
    case: Case,
    weight: float,
    *,
    color: str = "channelwise",
    repeat: int = 3,
    exact_gap: float = 1e-4,
    reference_gap: float = 1e-6,
) -> dict:
    """Every method on one case: quality, accuracy and time.

    Parameters
    ----------
    case : Case
    weight : float
        :math:`w > 0`.
    color : {"channelwise", "vectorial"}
        TV across colour channels for tvrestore, its exact mode and the
        objective. "channelwise" is what skimage solves, so every method
        solves the same problem; under "vectorial" skimage's gaps are to a
        problem it does not solve.
    repeat : int
        Timed runs per method, after one warm-up run.
    exact_gap : float
        The exact mode's certified gap, and the gap chambolle is run to in
        the "skimage chambolle (to gap)" row.
    reference_gap : float
        The reference's certified gap (float64).

    Returns
    -------
    dict
        ``image``, ``size``, ``sigma``, ``shape``, ``reference``
        (:class:`~tvrestore.bench.reference.Reference` as a dict) and ``methods`` (a list of
        :class:`MethodRow` dicts): tvrestore's default solver, skimage's
        chambolle (defaults) and bregman, tvrestore's exact mode, and
        chambolle run to ``exact_gap``.
    """
    from skimage.restoration import denoise_tv_chambolle

    from tvrestore.evaluation.compare import skimage_baselines
    from tvrestore.evaluation.metrics import quality
    from tvrestore.models.problem import Problem
    from tvrestore.api import denoise

    objective = Problem(color=color)
    reference = exact_reference(case, weight, color, reference_gap, "float64")

    def energy(solution: np.ndarray) -> float:
        return objective.energy_value(solution.reshape(case.noisy.shape), case.noisy, weight)

    def gap_of(solution: np.ndarray) -> float:
        return reference.gap(energy(solution))

    def row(method: str, method_weight: float, run: Callable[[], _Run]) -> MethodRow:
        warm_up, last, seconds = _timed(run, repeat)
        solution = last.solution.reshape(case.noisy.shape)
        psnr, ssim = quality(case.clean, solution)
        value = energy(solution)
        return MethodRow(
            method=method,
            weight=method_weight,
            psnr=psnr,
            ssim=ssim,
            objective=value,
            gap=reference.gap(value),
            seconds=statistics.median(seconds),
            seconds_runs=seconds,
            time_ratio=math.nan,
            compile_seconds=warm_up.compile_seconds,
            iterations=last.iterations,
            certified_gap=last.certified_gap,
        )

    def adam() -> _Run:
        restored, result = denoise(case.noisy, weight, color=color)
        return _Run(restored, result.solve_seconds, result.compile_seconds, result.iterations)

    def exact() -> _Run:
        restored, result = denoise(case.noisy, weight, color=color, solver="pdhg", gap=exact_gap)
        return _Run(
            restored, result.solve_seconds, result.compile_seconds, result.iterations,
            result.certified_gap,
        )

    chambolle_iterations = chambolle_iterations_to_gap(case, weight, exact_gap, gap_of)

    def chambolle_to_gap() -> _Run:
        run = _wall_clock(
            lambda image: denoise_tv_chambolle(
                image, weight=weight, eps=0, max_num_iter=chambolle_iterations,
                channel_axis=case.channel_axis,
            ),
            case.noisy,
        )
        return replace(run, iterations=chambolle_iterations)

    rows = [row(METHOD_ADAM, weight, adam)]
    rows += [
        row(baseline.method, baseline.weight,
            lambda solve=baseline.solve: _wall_clock(solve, case.noisy))
        for baseline in skimage_baselines(weight, "isotropic", case.channel_axis)
    ]
    rows += [
        row(METHOD_EXACT, weight, exact),
        row(METHOD_CHAMBOLLE_TO_GAP, weight, chambolle_to_gap),
    ]
    chambolle_seconds = next(r.seconds for r in rows if r.method == METHOD_CHAMBOLLE)
    return {
        "image": case.image,
        "size": case.size,
        "sigma": case.sigma,
        "shape": list(case.noisy.shape),
        "reference": reference.to_dict(),
        "methods": [replace(r, time_ratio=r.seconds / chambolle_seconds).to_dict() for r in rows],
    }


def gap_series(
    case: Case,
    weight: float,
    reference: Reference,
    *,
    color: str = "channelwise",
    exact_gap: float = 1e-4,
    chambolle_iterations: int = 1000,
    points: int = 12,
    repeat: int = 3,
    end_seconds: Mapping[str, float] | None = None,
) -> dict:
    r"""Relative gap against time for tvrestore (adam), its exact mode (pdhg) and chambolle.

    tvrestore's two solvers record :math:`E` at their checks (their
    ``history``); a check at iteration :math:`k` of a run of :math:`K`
    iterations that took :math:`T` seconds is placed at :math:`kT/K`,
    since every iteration costs the same (pdhg's checks, about one
    iteration each, included). :math:`T` is the table's median
    (`end_seconds`) when given, so a curve ends where the table says.
    pdhg's first check is its starting point, at time 0.

    skimage's chambolle keeps no history: it is run with ``eps=0`` for
    ``points`` iteration counts from 1 to ``chambolle_iterations``
    (geometric), after one warm-up run. The ``repeat`` timed runs of each
    count are taken in interleaved passes over all counts, so that a burst
    of load on the machine falls on every count alike, and each count's
    time is the median of its runs. A run of more iterations does all the
    work of a shorter one, so its time cannot be smaller; a median that
    still is (noise on a loaded machine) is raised to the largest median
    before it (a running maximum). The raw medians are kept as
    ``seconds_measured``.

    Parameters
    ----------
    case : Case
    weight : float
    reference : Reference
        Gaps are measured against it (:meth:`Reference.gap`).
    color : {"channelwise", "vectorial"}
    exact_gap : float
        pdhg's target certificate.
    chambolle_iterations : int
        The largest chambolle run, e.g. what it needs to reach
        ``exact_gap`` (the bench's "skimage chambolle (to gap)" row).
    points : int
        Chambolle runs.
    repeat : int
        Timed runs of each, after which the median is kept.
    end_seconds : mapping of str to float, optional
        Per method name (:data:`METHOD_ADAM`, :data:`METHOD_EXACT`), the
        solve time the bench's table reports for it (the median of its
        timed runs); default: the time of the run the history comes from.

    Returns
    -------
    dict
        Per method name (:data:`METHOD_ADAM`, :data:`METHOD_EXACT`,
        :data:`METHOD_CHAMBOLLE`): ``{"seconds": [...], "gap": [...],
        "iterations": [...]}``, in order of iterations, ``seconds`` never
        decreasing; chambolle's also has ``seconds_measured``.
    """
    from skimage.restoration import denoise_tv_chambolle

    from tvrestore.models.problem import Problem
    from tvrestore.api import denoise

    end_seconds = dict(end_seconds or {})
    series = {}
    for method, solver in ((METHOD_ADAM, "adam"), (METHOD_EXACT, "pdhg")):
        denoise(case.noisy, weight, color=color, solver=solver, gap=exact_gap)  # compiled
        _, result = denoise(case.noisy, weight, color=color, solver=solver, gap=exact_gap)
        total = end_seconds.get(method, result.solve_seconds)
        per_iteration = total / max(result.iterations, 1)
        series[method] = {
            "seconds": [record["iteration"] * per_iteration for record in result.history],
            "gap": [reference.gap(record["objective"]) for record in result.history],
            "iterations": [record["iteration"] for record in result.history],
        }
    objective = Problem(color=color)
    counts = sorted({int(round(n)) for n in np.geomspace(1, chambolle_iterations, points)})

    def chambolle(count: int) -> _Run:
        return _wall_clock(
            lambda image: denoise_tv_chambolle(image, weight=weight, eps=0, max_num_iter=count,
                                               channel_axis=case.channel_axis),
            case.noisy,
        )

    chambolle(counts[0])  # warm-up: imports and first-call costs are not iterations
    runs = {count: [] for count in counts}
    for _ in range(repeat):
        for count in counts:
            runs[count].append(chambolle(count))
    measured = [statistics.median(run.seconds for run in runs[count]) for count in counts]
    series[METHOD_CHAMBOLLE] = {
        "seconds": np.maximum.accumulate(measured).tolist(),
        "seconds_measured": measured,
        "gap": [reference.gap(objective.energy_value(runs[count][-1].solution, case.noisy, weight))
                for count in counts],
        "iterations": counts,
    }
    return series


def run_bench(
    *,
    images: list[str],
    sizes: list[int],
    sigmas: list[float],
    weight: float,
    color: str = "channelwise",
    repeat: int = 3,
    seed: int = 0,
    exact_gap: float = 1e-4,
    reference_gap: float = 1e-6,
    bandwidth_mb: int = 256,
    sweep_sizes: list[int] | None = None,
    plain_iter: int = 500,
    memory_size: int | None = None,
    series: bool = False,
    progress: Callable[[str], None] | None = None,
) -> dict:
    """Everything ``tvrestore bench`` measures, as one JSON-ready dict.

    Parameters
    ----------
    images : list of str
        Names from :data:`tvrestore.bench.cases.BUNDLED_IMAGES`.
    sizes : list of int
        Sides of the square cases.
    sigmas : list of float
        Noise levels in 1/255 units (25 means 25/255).
    weight : float
        :math:`w > 0`, for every case.
    color, repeat, exact_gap, reference_gap
        See :func:`run_case`.
    seed : int
        Noise seed of every case.
    bandwidth_mb : int
        Array size of :func:`tvrestore.bench.machine.copy_bandwidth`.
    sweep_sizes : list of int, optional
        Run :func:`tvrestore.bench.sweep.resolution_sweep` (camera, 25/255, ``weight``) at these.
    plain_iter : int
        The plain recipe's iteration budget in the sweep.
    memory_size : int, optional
        Run :func:`tvrestore.bench.memory.peak_memory` at this size, against the first of ``sizes``.
    series : bool
        Also run :func:`gap_series` on the first case (for ``--plot``).
    progress : callable, optional
        Called with a short line before each step.

    Returns
    -------
    dict
        ``machine``, ``settings``, ``bandwidth``, ``cases`` (each with the
        tvrestore row's iteration cost added), ``sweep``, ``memory`` and
        ``series`` (``image``, ``size``, ``sigma`` and ``methods``, the
        :func:`gap_series` of the first case) (None when not asked for).
    """
    for name in images:
        check_image(name)
    if not weight > 0:
        raise TVRestoreError(f"the bench needs a weight > 0, got {weight!r}")
    say = progress or (lambda line: None)
    say("measuring copy bandwidth")
    bandwidth = copy_bandwidth(bandwidth_mb)
    cases = []
    first_case = None
    for name in images:
        for size in sizes:
            for sigma in sigmas:
                say(f"{name} {size}x{size} sigma {sigma:g}/255")
                case = make_case(name, size, sigma / 255, seed)
                if first_case is None:
                    first_case = case
                result = run_case(case, weight, color=color, repeat=repeat,
                                  exact_gap=exact_gap, reference_gap=reference_gap)
                adam = next(m for m in result["methods"] if m["method"] == METHOD_ADAM)
                result["adam_iteration_cost"] = iteration_cost(
                    adam["seconds"], adam["iterations"], case.noisy.size, bandwidth
                )
                cases.append(result)
    gaps = None
    if series:
        first = cases[0]
        say(f"gap against time: {first['image']} {first['size']}x{first['size']}")
        rows = {m["method"]: m for m in first["methods"]}
        gaps = {
            "image": first["image"], "size": first["size"], "sigma": first["sigma"],
            "methods": gap_series(
                first_case, weight, Reference(**first["reference"]), color=color,
                exact_gap=exact_gap,
                chambolle_iterations=rows[METHOD_CHAMBOLLE_TO_GAP]["iterations"], repeat=repeat,
                # The plot's curves end at the table's times, measured in this run.
                end_seconds={method: rows[method]["seconds"] for method in (METHOD_ADAM, METHOD_EXACT)},
            ),
        }
    sweep = None
    if sweep_sizes:
        sweep = {
            "image": "camera",
            "sigma": 25.0,
            "weight": weight,
            "plain_iter": plain_iter,
            "plain_gap_target": PLAIN_GAP_TARGET,
            "rows": resolution_sweep(sweep_sizes, weight=weight, seed=seed, color=color,
                                     plain_iter=plain_iter, bandwidth_gb_s=bandwidth,
                                     progress=say),
        }
    memory = None
    if memory_size:
        say(f"memory: camera {memory_size}x{memory_size} in a fresh process")
        memory = peak_memory(memory_size, sizes[0], weight=weight, seed=seed, repeat=repeat)
    return {
        "machine": machine_info(),
        "settings": {
            "images": list(images), "sizes": list(sizes), "sigmas": list(sigmas),
            "weight": weight, "color": color, "tv": "isotropic", "repeat": repeat, "seed": seed,
            "exact_gap": exact_gap, "reference_gap": reference_gap,
        },
        "bandwidth": {
            "copy_gb_per_s": bandwidth,
            "array_mb": bandwidth_mb,
            "adam_bytes_per_value": ADAM_BYTES_PER_VALUE,
        },
        "cases": cases,
        "sweep": sweep,
        "memory": memory,
        "series": gaps,
    }

