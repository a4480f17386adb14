r"""The resolution sweep: the plain recipe next to tvrestore and the exact solution, size by size.

The plain recipe is what a first attempt would write: Keras Adam at its
defaults on the image as a variable, the loss as a sum or a naive mean, no
rescaling (:func:`plain_adam`). At each size it runs a fixed number of
iterations beside tvrestore's default solver, both scored against the
exact reference (:mod:`tvrestore.bench.reference`).
"""

from __future__ import annotations

import time
from typing import Callable

import numpy as np

from tvrestore.bench.cases import make_case
from tvrestore.bench.machine import iteration_cost
from tvrestore.bench.reference import exact_reference

__all__ = ["PLAIN_GAP_TARGET", "plain_adam", "plain_loss", "resolution_sweep"]

# The accuracy the default solver is held to; the plain recipe is timed to it.
PLAIN_GAP_TARGET = 1e-3


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
    from tvrestore.backend.tf import tf
    from tvrestore.models.tv import total_variation

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
    from tvrestore.backend.tf import compiled, tf

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
    compiled programs shared with :func:`tvrestore.bench.denoise.run_case`.

    Returns
    -------
    list of dict
        One per size: ``size``, ``exact`` (:class:`~tvrestore.bench.reference.Reference` dict),
        ``tvrestore`` and ``plain_sum`` / ``plain_mean`` dicts with
        ``psnr`` and ``gap``.
    """
    from tvrestore.evaluation.metrics import quality
    from tvrestore.models.problem import Problem
    from tvrestore.api import denoise

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
