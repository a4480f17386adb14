r"""The measurements behind ``tvrestore bench``: speed and accuracy, reproducibly.

Cases
-----
A case is one of scikit-image's bundled images, grey or colour as shipped,
its centre square resized to ``size x size`` (``skimage.transform.resize``,
anti-aliased when shrinking; larger sizes are upscaled), plus Gaussian noise
of standard deviation :math:`\sigma` drawn from
``numpy.random.default_rng(seed)``. The noisy image is clipped to [0, 1],
as any camera or image file clips, but kept float32 rather than quantized
to 8 bits, so every method sees exactly the same input and the clean image
is not blurred by rounding. Every method solves

.. math::

    \min_u E(u) = \frac12 \sum (u - f)^2 + w\,\mathrm{TV}(u)

with isotropic TV at the same :math:`w` (skimage's weights are mapped as in
:mod:`tvrestore.compare`).

Accuracy
--------
The reference is tvrestore's exact mode (:func:`tvrestore.pdhg.solve_pdhg`)
run in float64 to a tight certified gap :math:`g_\mathrm{ref}`: its dual
value :math:`D = E(u_\mathrm{ref}) / (1 + g_\mathrm{ref})` is a lower bound
on the minimum :math:`E^*`. Each method's relative gap is measured against
that bound,

.. math::

    \mathrm{gap}(u) = \frac{E(u) - D}{D} \ge \frac{E(u) - E^*}{E^*},

so a reported gap is never smaller than the true one, and exceeds it by at
most about :math:`g_\mathrm{ref}`.

Time
----
Each method runs once to warm up (tvrestore compiles then; the compile
time is reported on its own), then ``repeat`` more times; the median is
reported. tvrestore's time is its ``solve_seconds`` (optimization only);
skimage's is the wall time of its call. Ratios are to skimage's chambolle
at its defaults, measured in the same run.

Memory-bandwidth floor
----------------------
One Adam iteration, however well fused, must read the iterate :math:`u`,
the data :math:`f` and Adam's moments :math:`m, v`, and write back
:math:`u, m, v`: seven float32 arrays, ``ADAM_BYTES_PER_VALUE = 28`` bytes
per value (pixel times channel). The TV gradient's neighbour reads hit the
cache. At the copy bandwidth :math:`B` (bytes read plus bytes written per
second by a large numpy copy), an iteration over :math:`N` values takes at
least :math:`28 N / B` if it streams its arrays from memory. Images whose
working set fits in the CPU cache can beat this floor, and so can large
ones: the solver steps them in cache-sized bands of rows, a window of five
iterations per pass over memory (see :mod:`tvrestore.solver`).
"""

from __future__ import annotations

import json
import math
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Callable

import numpy as np

from tvrestore.errors import TVRestoreError

__all__ = [
    "ADAM_BYTES_PER_VALUE",
    "BUNDLED_IMAGES",
    "Case",
    "MethodRow",
    "Reference",
    "bytes_per_iteration",
    "chambolle_iterations_to_gap",
    "copy_bandwidth",
    "exact_reference",
    "format_report",
    "gap_series",
    "iteration_cost",
    "machine_info",
    "make_case",
    "peak_memory",
    "plain_adam",
    "plain_loss",
    "resolution_sweep",
    "run_bench",
    "run_case",
]

# skimage.data images that ship with the package as grey or RGB.
BUNDLED_IMAGES = (
    "astronaut", "brick", "camera", "chelsea", "coffee", "coins", "grass", "gravel",
    "hubble_deep_field", "immunohistochemistry", "moon", "page", "retina", "rocket", "text",
)

ADAM_BYTES_PER_VALUE = 28  # read u, f, m, v and write u, m, v, float32 each

# The accuracy the default solver is held to; the plain recipe is timed to it.
PLAIN_GAP_TARGET = 1e-3

# PDHG needs about 9000 iterations for a 1e-6 certificate at 512x512.
_REFERENCE_MAX_ITER = 100_000
_CHAMBOLLE_MAX_ITER = 20_000

METHOD_ADAM = "tvrestore (adam)"
METHOD_EXACT = "tvrestore exact (pdhg)"
METHOD_CHAMBOLLE = "skimage chambolle"
METHOD_CHAMBOLLE_TO_GAP = "skimage chambolle (to gap)"


def machine_info() -> dict:
    """The CPU, its cores and the versions that matter for the timings.

    Returns
    -------
    dict
        ``cpu`` (model name), ``cpu_count`` (logical CPUs of the machine),
        ``cpus_available`` (those this process may run on), ``platform``,
        ``python``, ``tensorflow``, ``numpy``, ``scikit_image``,
        ``tvrestore``.
    """
    import skimage

    import tvrestore
    from tvrestore._tf import tf

    available = os.sched_getaffinity(0) if hasattr(os, "sched_getaffinity") else None
    return {
        "cpu": _cpu_model(),
        "cpu_count": os.cpu_count(),
        "cpus_available": len(available) if available is not None else os.cpu_count(),
        "platform": platform.platform(),
        "python": platform.python_version(),
        "tensorflow": tf.__version__,
        "numpy": np.__version__,
        "scikit_image": skimage.__version__,
        "tvrestore": tvrestore.__version__,
    }


def _cpu_model() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as cpuinfo:
            for line in cpuinfo:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def copy_bandwidth(megabytes: int = 256, repeat: int = 5) -> float:
    """Memory bandwidth of a large single-threaded numpy copy, in GB/s.

    Parameters
    ----------
    megabytes : int
        Size of the float32 array copied (MiB); far above the CPU cache's
        size, so the copy streams from and to main memory.
    repeat : int
        Copies timed; the fastest counts.

    Returns
    -------
    float
        (bytes read + bytes written) / seconds / 1e9 for the fastest copy.
    """
    source = np.ones(megabytes * 2**20 // 4, np.float32)
    target = np.zeros_like(source)  # touched, so the copy does not time page faults
    seconds = []
    for _ in range(repeat):
        start = time.perf_counter()
        np.copyto(target, source)
        seconds.append(time.perf_counter() - start)
    return 2 * source.nbytes / min(seconds) / 1e9


def bytes_per_iteration(values: int) -> int:
    """Bytes a fused Adam iteration must move for ``values`` pixel values.

    ``ADAM_BYTES_PER_VALUE`` per value: read u, f, m, v and write u, m, v,
    float32 each (see the module docstring).
    """
    return ADAM_BYTES_PER_VALUE * values


def iteration_cost(seconds: float, iterations: int, values: int, bandwidth_gb_s: float) -> dict:
    """Measured seconds per Adam iteration next to the memory-bandwidth floor.

    Parameters
    ----------
    seconds : float
        Solve time.
    iterations : int
        Iterations in that time.
    values : int
        Pixel values of the image (H * W * C).
    bandwidth_gb_s : float
        From :func:`copy_bandwidth`.

    Returns
    -------
    dict
        ``seconds_per_iteration``, ``floor_seconds_per_iteration``
        (:func:`bytes_per_iteration` over the bandwidth) and ``floor_ratio``
        (measured / floor).
    """
    measured = seconds / max(iterations, 1)
    floor = bytes_per_iteration(values) / (bandwidth_gb_s * 1e9)
    return {
        "seconds_per_iteration": measured,
        "floor_seconds_per_iteration": floor,
        "floor_ratio": measured / floor,
    }


@dataclass(frozen=True)
class Case:
    """One benchmark problem.

    Attributes
    ----------
    image : str
        The ``skimage.data`` name.
    size : int
        Side in pixels.
    sigma : float
        Noise standard deviation, intensity units (25/255 for "25").
    seed : int
    clean : np.ndarray, float64
        ``(size, size)`` grey or ``(size, size, 3)`` colour, in [0, 1].
    noisy : np.ndarray, float32
        ``clip(clean + sigma * noise, 0, 1)``.
    """

    image: str
    size: int
    sigma: float
    seed: int
    clean: np.ndarray
    noisy: np.ndarray

    @property
    def channel_axis(self) -> int | None:
        """skimage's ``channel_axis`` for this image."""
        return -1 if self.noisy.ndim == 3 else None

    def batch(self) -> np.ndarray:
        """The noisy image as a batch of one, ``(1, H, W, C)``."""
        return self.noisy.reshape(1, self.size, self.size, -1)


def make_case(image: str, size: int, sigma: float, seed: int = 0) -> Case:
    """A bundled image at ``size x size`` with seeded Gaussian noise.

    Parameters
    ----------
    image : str
        One of ``BUNDLED_IMAGES``.
    size : int
        Side of the square result.
    sigma : float
        Noise standard deviation in intensity units ([0, 1] scale).
    seed : int
        Seed of ``numpy.random.default_rng``; the same seed gives the same
        noise at a given shape.

    Raises
    ------
    TVRestoreError
        For an image name not in ``BUNDLED_IMAGES``.
    """
    if image not in BUNDLED_IMAGES:
        raise TVRestoreError(f"unknown image {image!r}; choose from {', '.join(BUNDLED_IMAGES)}")
    from skimage import data, transform, util

    pixels = util.img_as_float64(getattr(data, image)())
    side = min(pixels.shape[:2])
    top, left = (pixels.shape[0] - side) // 2, (pixels.shape[1] - side) // 2
    clean = pixels[top : top + side, left : left + side]
    if side != size:
        clean = np.clip(transform.resize(clean, (size, size), anti_aliasing=True), 0, 1)
    noise = np.random.default_rng(seed).standard_normal(clean.shape, dtype=np.float32)
    noisy = np.clip(clean + sigma * noise, 0, 1).astype(np.float32)
    return Case(image=image, size=size, sigma=sigma, seed=seed, clean=clean, noisy=noisy)


@dataclass(frozen=True)
class Reference:
    """The exact minimizer's bound that gaps are measured against.

    Attributes
    ----------
    lower_bound : float
        :math:`D \\le E^*`, from the certificate.
    psnr : float
        PSNR of the reference solution against the clean image.
    certified_gap : float
    iterations : int
    seconds : float
        PDHG solve time (after compiling).
    """

    lower_bound: float
    psnr: float
    certified_gap: float
    iterations: int
    seconds: float

    def gap(self, energy: float) -> float:
        """Relative gap of an objective value, an upper bound on the true one."""
        return (energy - self.lower_bound) / self.lower_bound

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict."""
        return asdict(self)


def exact_reference(case: Case, weight: float, color: str, gap: float, dtype: str) -> Reference:
    """Solve a case exactly with PDHG and keep the certified lower bound on E*.

    Parameters
    ----------
    case : Case
    weight : float
        :math:`w > 0`.
    color : {"channelwise", "vectorial"}
    gap : float
        Certified relative gap to reach.
    dtype : {"float32", "float64"}
        float64 for gaps below about 1e-5.

    Raises
    ------
    TVRestoreError
        If the certificate is not reached within the iteration cap.
    """
    from tvrestore.metrics import quality
    from tvrestore.problem import Problem
    from tvrestore.pdhg import solve_pdhg

    out = solve_pdhg(
        case.batch(), np.array([weight]), color=color, gap=gap, dtype=dtype,
        max_iter=_REFERENCE_MAX_ITER,
    )
    if not out.converged[0]:
        raise TVRestoreError(
            f"{case.image} {case.size}: the exact reference reached only gap "
            f"{out.certified_gap[0]:.2g} (wanted {gap:.2g})"
        )
    solution = out.solution[0].reshape(case.noisy.shape)
    energy = Problem(color=color).energy_value(solution, case.noisy, weight)
    certified = float(out.certified_gap[0])
    return Reference(
        lower_bound=energy / (1 + certified),
        psnr=quality(case.clean, solution)[0],
        certified_gap=certified,
        iterations=int(out.iterations[0]),
        seconds=out.solve_seconds,
    )


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
        the module docstring).
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
        ``gap_of(solution) -> float``, e.g. from :class:`Reference`.
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
        (:class:`Reference` as a dict) and ``methods`` (a list of
        :class:`MethodRow` dicts): tvrestore's default solver, skimage's
        chambolle (defaults) and bregman, tvrestore's exact mode, and
        chambolle run to ``exact_gap``.
    """
    from skimage.restoration import denoise_tv_chambolle

    from tvrestore.compare import skimage_baselines
    from tvrestore.metrics import quality
    from tvrestore.problem import Problem
    from tvrestore.restore import denoise

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
) -> dict:
    r"""Relative gap against time for tvrestore (adam), its exact mode (pdhg) and chambolle.

    tvrestore's two solvers record :math:`E` at their checks (their
    ``history``); a check at iteration :math:`k` of a run of :math:`K`
    iterations that took :math:`T` seconds is placed at :math:`kT/K`,
    since every iteration costs the same (pdhg's checks, about one
    iteration each, included). skimage's chambolle keeps no history: it is
    run with ``eps=0`` for ``points`` iteration counts from 1 to
    ``chambolle_iterations`` (geometric), each timed on its own (the
    median of ``repeat`` runs).

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

    Returns
    -------
    dict
        Per method name (:data:`METHOD_ADAM`, :data:`METHOD_EXACT`,
        :data:`METHOD_CHAMBOLLE`): ``{"seconds": [...], "gap": [...],
        "iterations": [...]}``, in order of time.
    """
    from skimage.restoration import denoise_tv_chambolle

    from tvrestore.problem import Problem
    from tvrestore.restore import denoise

    series = {}
    for method, solver in ((METHOD_ADAM, "adam"), (METHOD_EXACT, "pdhg")):
        denoise(case.noisy, weight, color=color, solver=solver, gap=exact_gap)  # compiled
        _, result = denoise(case.noisy, weight, color=color, solver=solver, gap=exact_gap)
        per_iteration = result.solve_seconds / max(result.iterations, 1)
        series[method] = {
            "seconds": [record["iteration"] * per_iteration for record in result.history],
            "gap": [reference.gap(record["objective"]) for record in result.history],
            "iterations": [record["iteration"] for record in result.history],
        }
    objective = Problem(color=color)
    counts = sorted({int(round(n)) for n in np.geomspace(1, chambolle_iterations, points)})
    chambolle = {"seconds": [], "gap": [], "iterations": counts}
    for count in counts:
        runs = [
            _wall_clock(
                lambda image: denoise_tv_chambolle(image, weight=weight, eps=0, max_num_iter=count,
                                                   channel_axis=case.channel_axis),
                case.noisy,
            )
            for _ in range(repeat)
        ]
        chambolle["seconds"].append(statistics.median(run.seconds for run in runs))
        chambolle["gap"].append(
            reference.gap(objective.energy_value(runs[-1].solution, case.noisy, weight)))
    series[METHOD_CHAMBOLLE] = chambolle
    return series


def plain_loss(images, observed, weight: float, reduction: str):
    """The plain recipe's loss: no rescaling, as a first attempt would write it.

    Parameters
    ----------
    images, observed : tf.Tensor, shape (1, H, W, C)
    weight : float
        :math:`w`.
    reduction : {"sum", "mean"}
        "sum": :math:`\\frac12 \\sum (u - f)^2 + w\\,\\mathrm{TV}(u)`, which
        is :math:`E`. "mean": both terms divided by the number of values
        :math:`N = HWC`, the fidelity as a mean. The minimizer is the same;
        Adam's fixed learning rate and epsilon meet gradients :math:`N`
        times smaller.

    Returns
    -------
    tf.Tensor, scalar
    """
    from tvrestore._tf import tf
    from tvrestore.tv import total_variation

    residual = images - observed
    tv = tf.reduce_sum(total_variation(images))
    if reduction == "sum":
        return 0.5 * tf.reduce_sum(residual * residual) + weight * tv
    if reduction == "mean":
        values = tf.cast(tf.size(images), tv.dtype)
        return 0.5 * tf.reduce_mean(residual * residual) + weight * tv / values
    raise ValueError(f"reduction must be 'sum' or 'mean', got {reduction!r}")


def plain_adam(
    noisy: np.ndarray, weight: float, reduction: str, iterations: int, target_energy: float
) -> dict:
    """The plain recipe: Keras Adam at its defaults on the image as a variable.

    ``tf.keras.optimizers.Adam()`` (learning rate 1e-3, epsilon 1e-7),
    starting from :math:`u = f`, for a fixed number of iterations, in one
    XLA-compiled loop.

    Parameters
    ----------
    noisy : np.ndarray, float32
        ``(H, W)`` or ``(H, W, C)``.
    weight : float
    reduction : {"sum", "mean"}
        See :func:`plain_loss`.
    iterations : int
    target_energy : float
        :math:`E` (sum units) whose first crossing is recorded.

    Returns
    -------
    dict
        ``solution`` (np.ndarray, shaped like ``noisy``),
        ``iterations_to_target`` (iterations done when :math:`E` first
        fell to ``target_energy``, or None), ``seconds`` and
        ``compile_seconds``.
    """
    from tvrestore._tf import compiled, tf

    observed = tf.constant(noisy.reshape(1, noisy.shape[0], noisy.shape[1], -1))
    variable = tf.Variable(observed)
    optimizer = tf.keras.optimizers.Adam()
    optimizer.build([variable])
    target_loss = target_energy * (1.0 if reduction == "sum" else 1.0 / noisy.size)

    @compiled
    def run(count):
        def step(k, first):
            with tf.GradientTape() as tape:
                loss = plain_loss(variable, observed, weight, reduction)
            first = tf.where(tf.logical_and(first < 0, loss <= target_loss), k, first)
            optimizer.apply_gradients([(tape.gradient(loss, variable), variable)])
            return k + 1, first

        _, first = tf.while_loop(lambda k, _: k < count, step, (tf.constant(0), tf.constant(-1)))
        return first, plain_loss(variable, observed, weight, reduction)

    start = time.perf_counter()
    run(tf.constant(0))  # compiles; zero iterations leave the state alone
    compile_seconds = time.perf_counter() - start
    start = time.perf_counter()
    first, final_loss = (t.numpy() for t in run(tf.constant(iterations)))
    solution = variable.numpy().reshape(noisy.shape)
    seconds = time.perf_counter() - start
    if first < 0 and final_loss <= target_loss:
        first = iterations
    return {
        "solution": solution,
        "iterations_to_target": int(first) if first >= 0 else None,
        "seconds": seconds,
        "compile_seconds": compile_seconds,
    }


def resolution_sweep(
    sizes: list[int],
    *,
    image: str = "camera",
    sigma: float = 25 / 255,
    weight: float = 0.07,
    seed: int = 0,
    color: str = "channelwise",
    plain_iter: int = 500,
    reference_gap: float = 1e-5,
    bandwidth_gb_s: float | None = None,
    progress: Callable[[str], None] | None = None,
) -> list[dict]:
    """The plain recipe next to tvrestore and the exact solution, size by size.

    At each size: the exact PSNR (PDHG, float32, certified to
    ``reference_gap``), tvrestore's default (iterations, PSNR, gap, time)
    and the plain recipe (:func:`plain_adam`) under "sum" and "mean" for
    ``plain_iter`` iterations (PSNR, gap, and the iterations it took to
    reach ``PLAIN_GAP_TARGET``). One run each, after compiling. ``color``
    matters for colour images only; passing the bench's own keeps the
    compiled programs shared with :func:`run_case`.

    Returns
    -------
    list of dict
        One per size: ``size``, ``exact`` (:class:`Reference` dict),
        ``tvrestore`` and ``plain_sum`` / ``plain_mean`` dicts with
        ``psnr`` and ``gap``.
    """
    from tvrestore.metrics import quality
    from tvrestore.problem import Problem
    from tvrestore.restore import denoise

    objective = Problem(color=color)
    rows = []
    for size in sizes:
        if progress:
            progress(f"sweep {image} {size}x{size}")
        case = make_case(image, size, sigma, seed)
        reference = exact_reference(case, weight, color, reference_gap, "float32")

        def scores(solution: np.ndarray) -> dict:
            gap = reference.gap(objective.energy_value(solution, case.noisy, weight))
            return {"psnr": quality(case.clean, solution)[0], "gap": gap}

        restored, result = denoise(case.noisy, weight, color=color)
        tvrestore_row = {
            **scores(restored),
            "iterations": result.iterations,
            "converged": result.converged,
            "seconds": result.solve_seconds,
            "compile_seconds": result.compile_seconds,
        }
        if bandwidth_gb_s:
            tvrestore_row.update(
                iteration_cost(
                    result.solve_seconds, result.iterations, case.noisy.size, bandwidth_gb_s
                )
            )
        row = {"size": size, "exact": reference.to_dict(), "tvrestore": tvrestore_row}
        target = reference.lower_bound * (1 + PLAIN_GAP_TARGET)
        for reduction in ("sum", "mean"):
            plain = plain_adam(case.noisy, weight, reduction, plain_iter, target)
            row[f"plain_{reduction}"] = {
                **scores(plain.pop("solution")),
                "iterations": plain_iter,
                **plain,
            }
        rows.append(row)
    return rows


_MEMORY_CHILD = """
import json, resource, statistics, sys
import numpy as np
from tvrestore.restore import denoise

args = json.loads(sys.argv[1])
def rss():
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * args["rss_unit"]
baseline = rss()
small = np.load(args["reference"])
runs = [denoise(small, args["weight"])[1] for _ in range(args["repeat"] + 1)]
large = np.load(args["image"])
results = [denoise(large, args["weight"])[1] for _ in range(args["repeat"])]
print(json.dumps({
    "baseline_rss_bytes": baseline,
    "peak_rss_bytes": rss(),
    "seconds": statistics.median(r.solve_seconds for r in results),
    "compile_seconds": results[0].compile_seconds,
    "iterations": results[0].iterations,
    "reference_seconds": statistics.median(r.solve_seconds for r in runs[1:]),
    "reference_iterations": runs[-1].iterations,
}))
"""


def peak_memory(
    size: int = 4096,
    reference_size: int = 512,
    *,
    image: str = "camera",
    sigma: float = 25 / 255,
    weight: float = 0.07,
    seed: int = 0,
    repeat: int = 3,
) -> dict:
    """Peak memory of restoring one large grey image, in a fresh process.

    A child Python process imports tvrestore, restores the image at
    ``reference_size`` (one warm-up and ``repeat`` timed runs), then
    ``repeat`` times at ``size`` (the first compiles; solve times exclude
    that). It reports the median solve times and its own peak resident
    set size: ``VmHWM`` from ``/proc/self/status`` on Linux, ``ru_maxrss``
    elsewhere. Not
    ``ru_maxrss`` on Linux, in the child or as the parent's
    ``RUSAGE_CHILDREN``: Linux carries the spawning process's resident size
    into the child's ``ru_maxrss`` across ``exec``, so it would report this
    process's memory. The images are made here and handed over as .npy
    files, so their making does not count either.

    Returns
    -------
    dict
        ``size``, ``reference_size``, ``peak_rss_bytes``,
        ``baseline_rss_bytes`` (after importing tvrestore and TensorFlow),
        ``seconds`` and ``iterations`` at ``size``, the same as
        ``reference_seconds`` / ``reference_iterations`` at
        ``reference_size``, and ``time_per_pixel_ratio`` (per-pixel solve
        time at ``size`` over that at ``reference_size``).

    Raises
    ------
    TVRestoreError
        If the child process fails.
    """
    # ru_maxrss is in KiB on Linux and in bytes on macOS.
    rss_unit = 1 if sys.platform == "darwin" else 1024
    with tempfile.TemporaryDirectory() as folder:
        paths = {}
        for key, side in (("image", size), ("reference", reference_size)):
            paths[key] = str(Path(folder) / f"{key}.npy")
            np.save(paths[key], make_case(image, side, sigma, seed).noisy)
        arguments = {**paths, "weight": weight, "repeat": repeat, "rss_unit": rss_unit}
        child = subprocess.run(
            [sys.executable, "-c", _MEMORY_CHILD, json.dumps(arguments)],
            capture_output=True, text=True, check=False,
        )
    if child.returncode != 0:
        last = (child.stderr.strip().splitlines() or ["no output"])[-1]
        raise TVRestoreError(f"the memory measurement failed: {last}")
    measured = json.loads(child.stdout.strip().splitlines()[-1])
    per_pixel = measured["seconds"] / size**2
    reference_per_pixel = measured["reference_seconds"] / reference_size**2
    return {
        "image": image,
        "size": size,
        "reference_size": reference_size,
        **measured,
        "time_per_pixel_ratio": per_pixel / reference_per_pixel,
    }


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
        Names from ``BUNDLED_IMAGES``.
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
        Array size of :func:`copy_bandwidth`.
    sweep_sizes : list of int, optional
        Run :func:`resolution_sweep` (camera, 25/255, ``weight``) at these.
    plain_iter : int
        The plain recipe's iteration budget in the sweep.
    memory_size : int, optional
        Run :func:`peak_memory` at this size, against the first of ``sizes``.
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
        if name not in BUNDLED_IMAGES:
            raise TVRestoreError(f"unknown image {name!r}; choose from {', '.join(BUNDLED_IMAGES)}")
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
        to_gap = next(m for m in first["methods"] if m["method"] == METHOD_CHAMBOLLE_TO_GAP)
        gaps = {
            "image": first["image"], "size": first["size"], "sigma": first["sigma"],
            "methods": gap_series(
                first_case, weight, Reference(**first["reference"]), color=color,
                exact_gap=exact_gap, chambolle_iterations=to_gap["iterations"], repeat=repeat,
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


def format_report(report: dict) -> str:
    """The report as fixed-width console tables.

    Parameters
    ----------
    report : dict
        From :func:`run_bench`, with a ``command`` entry if it should be
        printed first.
    """
    machine = report["machine"]
    settings = report["settings"]
    bandwidth = report["bandwidth"]
    lines = []
    if report.get("command"):
        lines += [f"$ {report['command']}", ""]
    lines += [
        f"machine: {machine['cpu']}, {machine['cpu_count']} logical CPUs "
        f"({machine['cpus_available']} available); {machine['platform']}",
        f"         Python {machine['python']}, TensorFlow {machine['tensorflow']}, "
        f"numpy {machine['numpy']}, scikit-image {machine['scikit_image']}, "
        f"tvrestore {machine['tvrestore']}",
        f"copy bandwidth: {bandwidth['copy_gb_per_s']:.1f} GB/s (read + write, "
        f"{bandwidth['array_mb']} MiB numpy copy, best of 5)",
        "",
        f"weight {settings['weight']:g}, isotropic {settings['color']} TV, noise seed "
        f"{settings['seed']}; gap = relative objective gap to the exact minimizer "
        f"(reference: certified {settings['reference_gap']:g});",
        f"seconds: median of {settings['repeat']} after a warm-up, solve only "
        f"(compile apart); x chamb = time / skimage chambolle's",
        "",
    ]
    header = (f"{'image':<10} {'size':>5} {'sigma':>5}  {'method':<26} {'PSNR':>6} {'SSIM':>6} "
              f"{'gap':>8} {'seconds':>8} {'x chamb':>7} {'compile':>7} {'iters':>6}")
    lines += [header, "-" * len(header)]
    for case in report["cases"]:
        for method in case["methods"]:
            lines.append(
                f"{case['image']:<10} {case['size']:>5} {case['sigma'] * 255:>5.3g}  "
                f"{method['method']:<26} {method['psnr']:>6.2f} {_number(method['ssim'], '6.4f')} "
                f"{method['gap']:>8.1e} {method['seconds']:>8.4f} {method['time_ratio']:>7.2f} "
                f"{_number(method['compile_seconds'], '7.2f')} {_number(method['iterations'], '6d')}"
            )
    lines += [
        "",
        f"Adam cost per iteration vs the memory floor ({bandwidth['adam_bytes_per_value']} B per "
        f"value: read u, f, m, v; write u, m, v; float32)",
    ]
    header = (f"{'image':<10} {'size':>5} {'sigma':>5}  {'iters':>6} {'ms/iter':>8} "
              f"{'floor ms':>8} {'ratio':>6}")
    lines += [header, "-" * len(header)]
    for case in report["cases"]:
        cost = case["adam_iteration_cost"]
        adam = next(m for m in case["methods"] if m["method"] == METHOD_ADAM)
        lines.append(
            f"{case['image']:<10} {case['size']:>5} {case['sigma'] * 255:>5.3g}  "
            f"{adam['iterations']:>6d} {cost['seconds_per_iteration'] * 1e3:>8.3f} "
            f"{cost['floor_seconds_per_iteration'] * 1e3:>8.3f} {cost['floor_ratio']:>6.2f}"
        )
    if report["sweep"]:
        lines += ["", *_format_sweep(report["sweep"])]
    if report["memory"]:
        lines += ["", *_format_memory(report["memory"])]
    return "\n".join(lines)


def _format_sweep(sweep: dict) -> list[str]:
    target = f"{sweep['plain_gap_target']:g}"
    lines = [
        f"Resolution sweep: {sweep['image']}, sigma {sweep['sigma']:g}/255, weight "
        f"{sweep['weight']:g}. Plain recipe: tf.keras.optimizers.Adam() defaults on the image,",
        f"loss as a sum or a naive mean, no rescaling, {sweep['plain_iter']} iterations; "
        f"'to {target}' = iterations until its gap was {target} ('-': never).",
        "",
    ]
    header = (f"{'size':>5}  {'exact':>6}  {'tvrestore':>9} {'gap':>8} {'iters':>5} {'ms/iter':>8} "
              f"{'floor x':>7}  {'sum PSNR':>8} {'gap':>8} {'to ' + target:>8}  "
              f"{'mean PSNR':>9} {'gap':>8} {'to ' + target:>8}")
    lines += [header, "-" * len(header)]
    for row in sweep["rows"]:
        adam, total, mean = row["tvrestore"], row["plain_sum"], row["plain_mean"]
        lines.append(
            f"{row['size']:>5}  {row['exact']['psnr']:>6.2f}  "
            f"{adam['psnr']:>9.2f} {adam['gap']:>8.1e} "
            f"{adam['iterations']:>5d} {_number(adam.get('seconds_per_iteration'), '8.3f', 1e3)} "
            f"{_number(adam.get('floor_ratio'), '7.2f')}  "
            f"{total['psnr']:>8.2f} {total['gap']:>8.1e} "
            f"{_number(total['iterations_to_target'], '8d')}  "
            f"{mean['psnr']:>9.2f} {mean['gap']:>8.1e} {_number(mean['iterations_to_target'], '8d')}"
        )
    return lines


def _format_memory(memory: dict) -> list[str]:
    size, reference = memory["size"], memory["reference_size"]
    return [
        f"Memory: {memory['image']} {size}x{size} grey in a fresh process: peak RSS "
        f"{memory['peak_rss_bytes'] / 1e9:.2f} GB "
        f"(of which {memory['baseline_rss_bytes'] / 1e9:.2f} GB "
        f"Python and TensorFlow, imported)",
        f"        solve {memory['seconds']:.2f} s, {memory['iterations']} iterations (+"
        f"{memory['compile_seconds']:.2f} s compile); at {reference}x{reference}: "
        f"{memory['reference_seconds']:.4f} s, {memory['reference_iterations']} iterations",
        f"        time per pixel {size} / {reference}: {memory['time_per_pixel_ratio']:.2f}x",
    ]


def _number(value, spec: str, scale: float = 1) -> str:
    """``value`` formatted to ``spec`` (times ``scale``), or a right-aligned dash for None."""
    width = int(spec.split(".")[0].rstrip("df") or 0)
    return f"{'-':>{width}}" if value is None else format(value * scale, spec)
