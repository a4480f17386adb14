r"""The restoration engine: any forward model, on the scene's extended domain, with both solvers.

For data :math:`f` of shape :math:`(h, w, C)` degraded by
:math:`A = M D B` (blur :math:`B` by a PSF of radius :math:`(r_y, r_x)`,
then :math:`K \times K` binning :math:`D`, then a mask :math:`M` of missing
pixels; any of them may be absent), the engine minimizes

.. math::

    E(u) = \tfrac12 \sum m\,(D B u - f)^2 + w\,\mathrm{TV}(u),
    \qquad u \in [\mathrm{lo}, \mathrm{hi}]^{(K h + 2 r_y) \times (K w + 2 r_x) \times C},

with :math:`m = 0` on missing pixels (their values are ignored). The
unknown :math:`u` is the scene on the data's domain, :math:`K` times finer,
extended by the PSF's radius on each side: the data are the 'valid' part of
the blur of a larger scene, so no periodic or zero boundary is assumed and
nothing rings at the borders. The result is the observed window
:math:`u[r_y : r_y + K h,\ r_x : r_x + K w]`.

The box is :math:`[0, 1]` widened to the observed data's range: the same
for both solvers, so that both minimize the same :math:`E` and the exact
mode's duality gap is finite. The mask is passed to the compiled programs as
data, so one program serves every mask of a shape.

Reduction: under "mean" the loss is :math:`E / N` with :math:`N` the
unknown's number of values (:meth:`tvrestore.models.problem.Problem.loss_scale`),
which changes Adam's :math:`\epsilon` only, not the minimizer; the solver
sees it rounded to a power of two, so that both reductions give the same
iterates bit for bit (:func:`_power_of_two`). Denoising
(:math:`A = I`) does not come here: :func:`tvrestore.api.denoise` keeps
its own path.

The general path is not solved in bands of rows (:class:`AdamSolver`'s
temporal blocking): a band of the unknown maps to a band of the data at
an offset (the PSF margin) and a scale (the binning), which the denoising
band bookkeeping does not express; images are solved whole.
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np

from tvrestore.backend.tf import tf
from tvrestore.solvers.general_pdhg import solve_general_pdhg
from tvrestore.solvers.history import History
from tvrestore.options import DEFAULT_MAX_ITER, DEFAULT_TOL
from tvrestore.models.operators import Blur, Composite, Downsample, Identity, LinearOperator, Mask
from tvrestore.models.problem import Problem
from tvrestore.models.psf import psf_radius
from tvrestore.solvers.adam import AdamSettings, AdamSolver
from tvrestore.models.tv import total_variation

__all__ = ["ADAM_SETTINGS", "Degradation", "EngineRun", "energy", "solve"]

# Adam for a general forward model: plateau checks every 20 iterations,
# not 5, from a step of 0.02, not 0.01, decaying by 0.3, not 0.5. A blur or
# a mask makes the energy's valleys flatter than denoising's: a short window
# reads their slow, steady descent as a plateau, and from 0.01 the step
# decayed before the pixels beside dead ones had moved. Above pdhg's
# certified lower bound, at (window, step) = (5, 0.01) / (10, 0.02) /
# (20, 0.02): 72x72 camera crops (gaussian:1.6, noise 0.01, w 0.005)
# 5-12e-4 / 5-6.6e-4 / 3-5e-4; a 20x24 blur+mask test 5e-3 / 1.3e-3 /
# 3.1e-4. Decaying by 0.3 instead of 0.5 then takes 280-340 iterations
# instead of 320-440 on those tests and 120x120 crops of the three tasks
# of benchmarks/measure_restore.py, ending 1.0e-4 to 5.2e-4 above the bound
# (2.7e-4 to 4.1e-4 with 0.5); window 12 with 0.3 ended 1.2e-3 above it.
ADAM_SETTINGS = AdamSettings(window=20, learning_rate=0.02, decay=0.3)


@dataclass(frozen=True, eq=False)
class Degradation:
    """What degraded the data: the forward model :math:`A = M D B`.

    Parameters
    ----------
    psf : np.ndarray, optional
        The PSF of :math:`B` (normalised, odd sides); None: no blur.
    upscale : int
        :math:`K` of the binning :math:`D`; 1: none.
    missing : np.ndarray, shape (h, w), optional
        True (nonzero) where a data pixel is missing; None: none.
    """

    psf: np.ndarray | None = None
    upscale: int = 1
    missing: np.ndarray | None = None

    @property
    def task(self) -> str:
        """"deblur", "upscale", "inpaint", their "+"-joined composition, or "denoise"."""
        parts = [name for name, present in (
            ("deblur", self.psf is not None), ("upscale", self.upscale > 1),
            ("inpaint", self.missing is not None),
        ) if present]
        return "+".join(parts) or "denoise"

    @property
    def margin(self) -> tuple[int, int]:
        """:math:`(r_y, r_x)`: rows and columns the unknown extends past the window, each side."""
        return (0, 0) if self.psf is None else psf_radius(self.psf)

    @property
    def operator(self) -> LinearOperator:
        """:math:`D B`, the forward model without its mask (shared, so programs are reused)."""
        return self.operator_in("hwc")

    def operator_in(self, layout: str) -> LinearOperator:
        """:attr:`operator` for batches laid out ``layout`` ("hwc" or "hcw", see :mod:`tvrestore.models.tv`)."""
        psf_key = None if self.psf is None else (self.psf.shape, self.psf.tobytes())
        return _operator(psf_key, self.upscale, layout)

    def unknown_hw(self, data_hw: tuple[int, int]) -> tuple[int, int]:
        """Height and width of :math:`u` for data of ``data_hw``."""
        margin_y, margin_x = self.margin
        return self.upscale * data_hw[0] + 2 * margin_y, self.upscale * data_hw[1] + 2 * margin_x

    def window(self, unknown: np.ndarray) -> np.ndarray:
        """The observed window of :math:`u` (any leading batch axes kept off: (H, W, C))."""
        margin_y, margin_x = self.margin
        height, width = unknown.shape[0] - 2 * margin_y, unknown.shape[1] - 2 * margin_x
        return unknown[margin_y : margin_y + height, margin_x : margin_x + width]

    def observed_mask(self, data_hw: tuple[int, int]) -> np.ndarray:
        """:math:`m`, shape (h, w, 1), float32: 1 where a data pixel is fitted."""
        if self.missing is None:
            return np.ones((*data_hw, 1), np.float32)
        return (np.asarray(self.missing) == 0).astype(np.float32)[..., None]

    def initial(self, data: np.ndarray) -> np.ndarray:
        """A starting :math:`u` (H, W, C): missing pixels filled, upsampled, edge-extended.

        Missing pixels take the mean of their observed 8 neighbours, layer
        by layer from the holes' edges inward; binning is undone by
        repetition; the margin repeats the nearest edge pixel.
        """
        filled = _fill_missing(data, None if self.missing is None else np.asarray(self.missing) != 0)
        k = self.upscale
        fine = np.repeat(np.repeat(filled, k, axis=0), k, axis=1)
        margin_y, margin_x = self.margin
        return np.pad(fine, ((margin_y, margin_y), (margin_x, margin_x), (0, 0)), mode="edge")

    def box(self, data: np.ndarray) -> tuple[float, float]:
        """:math:`[\\mathrm{lo}, \\mathrm{hi}]`: [0, 1] widened to the observed values' range."""
        fitted = data[self.observed_mask(data.shape[:2])[..., 0] > 0]
        if fitted.size == 0:
            return 0.0, 1.0
        return min(0.0, float(fitted.min())), max(1.0, float(fitted.max()))


@functools.lru_cache(maxsize=16)
def _operator(psf_key, upscale: int, layout: str) -> LinearOperator:
    parts: list[LinearOperator] = []
    if psf_key is not None:
        shape, raw = psf_key
        parts.append(Blur(np.frombuffer(raw, np.float64).reshape(shape), layout=layout))
    if upscale > 1:
        parts.append(Downsample(upscale, layout=layout))
    if not parts:
        return Identity()
    return parts[0] if len(parts) == 1 else Composite(parts)


def _fill_missing(data: np.ndarray, missing: np.ndarray | None) -> np.ndarray:
    """``data`` (h, w, C) with missing pixels replaced by their observed neighbours' mean."""
    if missing is None or not missing.any():
        return np.asarray(data, np.float32)
    values = np.where(missing[..., None], 0.0, np.asarray(data, np.float64))
    known = (~missing).astype(np.float64)
    if not known.any():
        return np.full(data.shape, 0.5, np.float32)
    while (known == 0).any():
        padded_values = np.pad(values * known[..., None], ((1, 1), (1, 1), (0, 0)))
        padded_known = np.pad(known, 1)
        sums = sum(padded_values[a : a + known.shape[0], b : b + known.shape[1]]
                   for a in range(3) for b in range(3))
        counts = sum(padded_known[a : a + known.shape[0], b : b + known.shape[1]]
                     for a in range(3) for b in range(3))
        fill = (known == 0) & (counts > 0)
        values[fill] = sums[fill] / counts[fill][:, None]
        known[fill] = 1.0
    return values.astype(np.float32)


@dataclass(frozen=True)
class EngineRun:
    """One batch's solve: unknowns and per-image records.

    Attributes
    ----------
    unknowns : np.ndarray, shape (B, H, W, C)
        :math:`u` on the extended domain.
    iterations : np.ndarray of int
    converged : np.ndarray of bool
    certified_gap : np.ndarray of float or None
        pdhg only: the certified relative gap per image.
    lower_bound : np.ndarray of float or None
        pdhg only: a proven lower bound on :math:`E^*` per image.
    solve_seconds, compile_seconds : float
    history : History or None
        Adam only: ``"objective"``, E in sum units (float64 of the float32
        loss), at each plateau check; pdhg records none.
    """

    unknowns: np.ndarray
    iterations: np.ndarray
    converged: np.ndarray
    certified_gap: np.ndarray | None
    lower_bound: np.ndarray | None
    solve_seconds: float
    compile_seconds: float
    history: History | None = None


def solve(
    degradation: Degradation,
    data: list[np.ndarray],
    weights: np.ndarray,
    *,
    tv: str = "isotropic",
    color: str = "vectorial",
    reduction: str = "mean",
    solver: str = "adam",
    max_iter: int | None = None,
    tol: float = DEFAULT_TOL,
    gap: float = 1e-4,
    check_every: int = 10,
    initial: list[np.ndarray] | None = None,
) -> EngineRun:
    """Minimize E for images of one shape, all degraded by ``degradation``.

    Parameters
    ----------
    degradation : Degradation
    data : list of np.ndarray, shape (h, w, C)
        :math:`f` per image, intensity units; values under the mask are
        ignored.
    weights : np.ndarray, shape (B,)
        :math:`w \\ge 0` per image (sum units, as for denoising).
    tv, color, reduction : str
    solver : {"adam", "pdhg"}
    max_iter, tol, gap
        As for :func:`tvrestore.denoise` (``max_iter`` None: the solver's
        default).
    check_every : int
        pdhg's iterations between two certificates.
    initial : list of np.ndarray, optional
        Starting points on the unknown's domain; default
        :meth:`Degradation.initial`.
    """
    if max_iter is None:
        max_iter = DEFAULT_MAX_ITER[solver]
    observed = np.stack([np.asarray(item, np.float32) for item in data])
    if initial is None:
        initial = [degradation.initial(item) for item in data]
    start = np.stack(initial).astype(np.float32)
    box = np.array([degradation.box(item) for item in data], np.float32)
    fitted = degradation.observed_mask(observed.shape[1:3])
    # Colour is solved laid out (B, H, C, W), columns innermost, where XLA
    # vectorizes (see tvrestore.models.tv); grey as (B, H, W, 1).
    layout = _layout(observed.shape[-1])
    operator = degradation.operator_in(layout)
    weights = np.asarray(weights, np.float32)
    missing = None if degradation.missing is None else np.broadcast_to(
        1.0 - fitted, (len(observed), *fitted.shape)
    )
    if solver == "pdhg":
        low, high = float(box[:, 0].min()), float(box[:, 1].max())
        output = solve_general_pdhg(
            operator, observed, weights, start, missing=missing, box=(low, high), tv=tv,
            color=color, gap=gap, max_iter=max_iter, check_every=check_every, layout=layout,
        )
        return EngineRun(
            unknowns=output.solution, iterations=output.iterations, converged=output.converged,
            certified_gap=output.certified_gap, lower_bound=output.lower_bound,
            solve_seconds=output.solve_seconds, compile_seconds=output.compile_seconds,
        )
    problem = Problem(operator, tv=tv, color=color, reduction=reduction, layout=layout)
    loss_scales = np.full(len(start), _power_of_two(problem.loss_scale(start.shape[1:])), np.float32)
    if layout == "hcw":
        observed, start = (np.ascontiguousarray(a.transpose(0, 1, 3, 2)) for a in (observed, start))
    arguments = [observed, weights, box]
    if missing is not None:
        arguments.append(missing)  # (B, h, w, 1): the Mask lays it out
    output = _adam(operator, tv, color, missing is not None, layout).minimize(
        start, loss_scales, *arguments, max_iter=max_iter, tol=tol
    )
    unknowns = output.solution
    if layout == "hcw":
        unknowns = np.ascontiguousarray(unknowns.transpose(0, 1, 3, 2))
    # The solver kept the loss at every plateau check; E = loss / s.
    losses = output.history.values["loss"].astype(np.float64)
    history = replace(output.history, values={"objective": losses / loss_scales.astype(np.float64)})
    return EngineRun(
        unknowns=unknowns, iterations=output.iterations, converged=output.converged,
        certified_gap=None, lower_bound=None, solve_seconds=output.solve_seconds,
        compile_seconds=output.compile_seconds, history=history,
    )


def _layout(channels: int) -> str:
    """The layout the solvers hold ``channels`` in."""
    return "hcw" if channels > 1 else "hwc"


def _power_of_two(scale: float) -> float:
    """``scale`` rounded to the nearest power of two (within a factor 1.42 of it).

    Multiplying by a power of two is exact in floating point, and so is
    everything Adam derives from the scaled loss (its moments, the square
    root of the second, epsilon): the float32 iterates under "mean" are then
    the same, bit for bit, as under "sum". With 1/N itself they drift apart
    by rounding: TV's gradient flips sign across its kinks on differences
    of one rounding, and Adam's normalised step turns that into a full
    step (measured: 3e-3 to 2e-2 apart on 20x24 blur and blur+mask tests).
    """
    return float(2.0 ** round(np.log2(scale)))


@functools.lru_cache(maxsize=16)
def _adam(operator: LinearOperator, tv: str, color: str, masked: bool, layout: str) -> AdamSolver:
    """One solver per model and layout keeps its compiled loops across calls."""

    def problem_for(missing) -> Problem:
        # The mask comes in as data at trace time, not as a constant.
        model = operator if missing is None else Composite([operator, Mask(missing, layout)])
        return Problem(model, tv=tv, color=color, reduction="sum", layout=layout)

    def loss(u, loss_scales, observed, weights, box, *missing):
        return problem_for(missing[0] if masked else None).loss(u, loss_scales, observed, weights)

    def project(u, observed, weights, box, *missing):
        return tf.clip_by_value(u, tf.reshape(box[:, 0], [-1, 1, 1, 1]), tf.reshape(box[:, 1], [-1, 1, 1, 1]))

    return AdamSolver(loss, ADAM_SETTINGS, project=project)


def energy(
    degradation: Degradation, unknown: np.ndarray, data: np.ndarray, weight: float,
    tv: str = "isotropic", color: str = "vectorial",
) -> float:
    """:math:`E(u)` in sum units for one image, summed in float64.

    ``unknown`` is (H, W, C) on the extended domain, ``data`` (h, w, C).
    """
    predicted = degradation.operator.apply(tf.constant(unknown[None], tf.float32)).numpy()[0]
    residual = predicted.astype(np.float64) - np.asarray(data, np.float64)
    fidelity = 0.5 * float(np.sum(degradation.observed_mask(data.shape[:2]) * residual**2))
    tv_value = float(total_variation(tf.constant(unknown[None], tf.float64), tv, color).numpy()[0])
    return fidelity + weight * tv_value
