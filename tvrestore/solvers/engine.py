r"""The restoration engine: any forward model, denoising included, with both solvers.

For data :math:`f` of shape :math:`(h, w, C)` degraded by
:math:`A = M D B` (blur :math:`B` by a PSF of radius :math:`(r_y, r_x)`,
then :math:`K \times K` binning :math:`D`, then a mask :math:`M` of missing
pixels; any of them may be absent, and with none of them :math:`A = I`,
denoising), the engine minimizes

.. math::

    E(u) = \tfrac12 \sum m\,(D B u - f)^2 + w\,\mathrm{TV}(u),
    \qquad u \in [\mathrm{lo}, \mathrm{hi}]^{(K h + 2 r_y) \times (K w + 2 r_x) \times C},

with :math:`m = 0` on missing pixels (their values are ignored): the
:class:`tvrestore.models.problem.Problem` of the forward model, solved by Adam
(:mod:`tvrestore.solvers.adam`) or exactly (:mod:`tvrestore.solvers.pdhg`). The
unknown :math:`u` is the scene on the data's domain, :math:`K` times finer,
extended by the PSF's radius on each side: the data are the 'valid' part of
the blur of a larger scene, so no periodic or zero boundary is assumed and
nothing rings at the borders. The result is the observed window
:math:`u[r_y : r_y + K h,\ r_x : r_x + K w]`.

The box is :math:`[0, 1]` widened to the observed data's range: the same
for both solvers, so that both minimize the same :math:`E` and the exact
mode's duality gap is finite. Denoising has no box (as scikit-image's, a
float image's result is not clipped): its exact mode needs none. The mask is
passed to the compiled programs as data, so one program serves every mask
of a shape.

Reduction: under "mean" the loss is :math:`E / N` with :math:`N` the
unknown's number of values (:meth:`tvrestore.models.problem.Problem.loss_scale`),
which changes Adam's :math:`\epsilon` only, not the minimizer. For a
general forward model the solver sees it rounded to a power of two, so that
both reductions give the same iterates bit for bit (:func:`_power_of_two`);
denoising keeps the exact :math:`1/N`, which its results have always used
(volumes, which have no such past, take the power of two).

Volumes (z, y, x, C) take the same model with a 3-D PSF and a 3-D mask
(no binning): the unknown extends past the data by the PSF's radius along
the planes too.

What denoising has that the general path lacks, for speed: batches of
several image sizes zero-padded to one shape (``extents``), Adam in bands
of rows (:class:`~tvrestore.solvers.adam.AdamSolver`'s temporal blocking, which
needs each data row to be its unknown's row: a blur's band maps to a data
band at an offset and a binning's at a scale, which the band bookkeeping
does not express), channelwise colour as grey planes, and a coarse-to-fine
start for arrays from 1024 px a side (:mod:`tvrestore.solvers.multilevel`).
The other tasks start at full size: a deblur's coarse start (the PSF at
half its width, 248x248 for a 496x496 Gaussian sigma 1.6 deblur at weight
0.001) saved 20 of 260 full-size iterations and cost 220 at a quarter of
the price, no gain (benchmarks/bench_multilevel.py --deblur).
"""

from __future__ import annotations

import functools
from dataclasses import dataclass, replace

import numpy as np

from tvrestore.backend.tf import tf
from tvrestore.solvers.history import SolverOutput
from tvrestore.options import DEFAULT_MAX_ITER, DEFAULT_TOL, task_name
from tvrestore.models.fidelities import KL, L2, Fidelity
from tvrestore.models.operators import Blur, Composite, Downsample, Identity, LinearOperator, Mask
from tvrestore.solvers.pdhg import solve_pdhg
from tvrestore.models.problem import Problem
from tvrestore.models.psf import psf_radius
from tvrestore.solvers.adam import WHOLE_VALUES, AdamSettings, AdamSolver
from tvrestore.solvers import multilevel
from tvrestore.models.tv import check_spacing, layout_for, swap_layout

__all__ = ["ADAM_SETTINGS", "KL_FLOOR", "VOLUME_TOL_FACTOR", "Degradation", "energy", "solve"]

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

# Adam denoising a volume reads a plateau at this fraction of ``tol``. At
# the default tol (3e-4) the 128^3 ellipsoid phantom of
# benchmarks/measure_volumes.py (sigma 0.1, w 0.08) stopped after 160
# iterations 0.053 dB below the exact minimizer (relative objective gap
# 5.3e-4), missing issue 21's 0.05 dB; at tol 1e-4 it stopped after 220,
# 0.033 dB below (3.1e-4), at 3e-5 after 280, 0.022 dB below (why the
# 3-D plateau comes early was not investigated). 2-D solves are unchanged.
VOLUME_TOL_FACTOR = 1.0 / 3.0

# Adam's lower bound on u under the KL fidelity (data units, where the
# data's high values are about 1: see tvrestore.api): u >= 0 is its domain,
# and at u = 0 a pixel with counts has an infinite gradient, so Adam is
# projected onto u >= this instead (the exact mode works on u >= 0).
KL_FLOOR = 1e-6


@dataclass(frozen=True, eq=False)
class Degradation:
    """What degraded the data: the forward model :math:`A = M D B`.

    Parameters
    ----------
    psf : np.ndarray, optional
        The PSF of :math:`B` (normalised, odd sides; 3-D for volumes); None: no blur.
    upscale : int
        :math:`K` of the binning :math:`D`; 1: none (images only).
    missing : np.ndarray, shape (h, w) or (h, w, C), optional
        True (nonzero) where a data pixel is missing, or with a channel
        axis where a data value is (impulse noise hits channels one by
        one); None: none. For volumes (z, y, x) or (z, y, x, C).

    The methods take the data's spatial sizes (``data_hw``: 2 for an
    image, 3 for a volume) and arrays with a trailing channel axis.
    """

    psf: np.ndarray | None = None
    upscale: int = 1
    missing: np.ndarray | None = None

    @property
    def task(self) -> str:
        """"deblur", "upscale", "inpaint", their "+"-joined composition, or "denoise"."""
        return task_name(self.psf, self.missing, self.upscale)

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

    def margins(self, dimensions: int) -> tuple[int, ...]:
        """:attr:`margin` along each of ``dimensions`` spatial axes (the PSF's radii, or zeros)."""
        return (0,) * dimensions if self.psf is None else psf_radius(self.psf)

    def unknown_hw(self, data_hw: tuple[int, ...]) -> tuple[int, ...]:
        """Height and width of :math:`u` for data of ``data_hw`` (planes too, for a volume)."""
        return tuple(self.upscale * side + 2 * margin
                     for side, margin in zip(data_hw, self.margins(len(data_hw))))

    def window(self, unknown: np.ndarray) -> np.ndarray:
        """The observed window of :math:`u`, (H, W, C) or (Z, Y, X, C), without its margins."""
        margins = self.margins(unknown.ndim - 1)
        return unknown[tuple(slice(margin, side - margin)
                             for side, margin in zip(unknown.shape, margins))]

    def observed_mask(self, data_hw: tuple[int, ...]) -> np.ndarray:
        """:math:`m`, shape (h, w, 1), or (h, w, C) for a mask per value, float32: 1 where fitted.

        For a volume, ``data_hw`` is (z, y, x) and :math:`m` (z, y, x, 1 or C).
        """
        if self.missing is None:
            return np.ones((*data_hw, 1), np.float32)
        missing = np.asarray(self.missing)
        return (missing.reshape(*missing.shape[:len(data_hw)], -1) == 0).astype(np.float32)

    def initial(self, data: np.ndarray) -> np.ndarray:
        """A starting :math:`u` (H, W, C) or (Z, Y, X, C): missing pixels filled, upsampled, edge-extended.

        Missing pixels take the mean of their observed neighbours (8 in an
        image, 26 in a volume), layer by layer from the holes' edges
        inward; binning is undone by repetition; the margin repeats the
        nearest edge pixel.
        """
        filled = _fill_missing(data, None if self.missing is None else np.asarray(self.missing) != 0)
        k = self.upscale
        fine = filled
        for axis in range(filled.ndim - 1):
            fine = np.repeat(fine, k, axis=axis)
        margins = self.margins(filled.ndim - 1)
        return np.pad(fine, [(margin, margin) for margin in margins] + [(0, 0)], mode="edge")

    def box(self, data: np.ndarray) -> tuple[float, float] | None:
        """:math:`[\\mathrm{lo}, \\mathrm{hi}]`: [0, 1] widened to the observed values' range.

        None for denoising, which is unconstrained.
        """
        if self.task == "denoise":
            return None
        fitted = data[np.broadcast_to(self.observed_mask(data.shape[:-1]), data.shape) > 0]
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
    """``data`` (h, w, C) or (z, y, x, C) with missing values replaced by their observed neighbours' mean.

    ``missing`` is (h, w), or (h, w, C) for each channel's own values (a
    volume's likewise, with its planes first).
    """
    if missing is None or not missing.any():
        return np.asarray(data, np.float32)
    if missing.ndim == data.ndim:
        return np.concatenate([
            _fill_missing(data[..., c : c + 1], missing[..., min(c, missing.shape[-1] - 1)])
            for c in range(data.shape[-1])
        ], axis=-1)
    values = np.where(missing[..., None], 0.0, np.asarray(data, np.float64))
    known = (~missing).astype(np.float64)
    if not known.any():
        return np.full(data.shape, 0.5, np.float32)
    # Each offset of the 3 x 3 (x 3) neighbourhood, as slices of the padded arrays.
    neighbours = [tuple(slice(a, a + side) for a, side in zip(offsets, known.shape))
                  for offsets in np.ndindex((3,) * known.ndim)]
    while (known == 0).any():
        padded_values = np.pad(values * known[..., None], [(1, 1)] * known.ndim + [(0, 0)])
        padded_known = np.pad(known, 1)
        sums = sum(padded_values[window] for window in neighbours)
        counts = sum(padded_known[window] for window in neighbours)
        fill = (known == 0) & (counts > 0)
        values[fill] = sums[fill] / counts[fill][:, None]
        known[fill] = 1.0
    return values.astype(np.float32)


def solve(
    degradation: Degradation,
    data: list[np.ndarray],
    weights: np.ndarray,
    *,
    extents: np.ndarray | None = None,
    tv: str = "isotropic",
    color: str = "vectorial",
    reduction: str = "mean",
    solver: str = "adam",
    max_iter: int | None = None,
    tol: float = DEFAULT_TOL,
    gap: float = 1e-4,
    check_every: int = 10,
    initial: list[np.ndarray] | None = None,
    levels: int | None = None,
    fidelity: Fidelity | None = None,
    spacing: tuple[float, ...] | None = None,
    preconditioning: str = "diagonal",
) -> SolverOutput:
    """Minimize E for images of one shape, all degraded by ``degradation``.

    Parameters
    ----------
    degradation : Degradation
    data : list of np.ndarray, shape (h, w, C), or np.ndarray, shape (B, h, w, C)
        :math:`f` per image, intensity units; values under the mask are
        ignored. Volumes are (z, y, x, C) each (a 3-D PSF, a mask; no binning).
    weights : np.ndarray, shape (B,)
        :math:`w \\ge 0` per image (sum units); pdhg needs :math:`w > 0`.
    extents : np.ndarray, shape (B, D), optional
        Denoising only: each image's size along its D spatial axes when ``data`` are
        zero-padded to one shape (top-left, zeros around; see
        :func:`tvrestore.models.shapes.zero_padded`); default: every image fills it.
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
    fidelity : Fidelity, optional
        :math:`F` in place of the L2 of the formula above; default
        :class:`~tvrestore.models.fidelities.L2`. Under
        :class:`~tvrestore.models.fidelities.KL` the box's lower end is
        at least 0 (Adam's at least :data:`KL_FLOOR`).
        :class:`~tvrestore.models.fidelities.Exact` (pdhg only, mask and
        binning) solves the noise-free limit, :math:`\\min \\mathrm{TV}(u)`
        subject to :math:`m D u = m f`.
    levels : int, optional
        Denoising with Adam and the L2 fidelity only: coarse levels of the coarse-to-fine start
        (:mod:`tvrestore.solvers.multilevel`); default
        :func:`~tvrestore.solvers.multilevel.level_count` of the array (0
        below 1024 pixels a side), and 0 when ``initial`` is given.
    spacing : tuple of float, optional
        The step of each spatial axis (TV divides each difference by it,
        :mod:`tvrestore.models.tv`); None: unit steps.
    preconditioning : {"diagonal", "scalar"}
        pdhg's steps for a forward model other than the identity
        (:func:`tvrestore.solvers.pdhg.solve_pdhg`).

    Returns
    -------
    SolverOutput
        ``solution`` is :math:`u` on the extended domain, shape (B, H, W,
        C); the history holds ``"objective"``, E in sum units (for Adam,
        float64 of the float32 loss at each plateau check).
    """
    if max_iter is None:
        max_iter = DEFAULT_MAX_ITER[solver]
    fidelity = L2() if fidelity is None else fidelity
    positive = isinstance(fidelity, KL)
    denoising = degradation.task == "denoise"
    if extents is not None and not denoising:
        raise ValueError("extents are for denoising only")
    dimensions = np.ndim(data[0]) - 1
    if dimensions != 2 and degradation.upscale != 1:
        raise ValueError("binning (upscaling) is for images (h, w, C) only")
    if degradation.psf is not None and degradation.psf.ndim != dimensions:
        raise ValueError(f"a {degradation.psf.ndim}-D PSF does not fit {dimensions}-D data")
    spacing = check_spacing(spacing, dimensions)
    # A batch given as one float32 array (a large image) is not copied.
    observed = np.asarray(data, np.float32) if isinstance(data, np.ndarray) else np.stack(
        [np.asarray(item, np.float32) for item in data])
    if initial is not None:
        start = np.stack(initial).astype(np.float32)
    elif denoising:
        start = observed  # u starts at f: Degradation.initial, without a copy
    else:
        start = np.stack([degradation.initial(item) for item in data]).astype(np.float32)
    if extents is None:
        extents = np.tile(start.shape[1:-1], (len(start), 1))
    boxes = None if denoising else np.array([degradation.box(item) for item in data], np.float32)
    if positive and boxes is not None:
        boxes[:, 0] = np.maximum(boxes[:, 0], 0.0)
    channels = observed.shape[-1]
    layout = layout_for(channels, dimensions)
    operator = degradation.operator_in(layout)
    weights = np.asarray(weights, np.float32)
    missing = None
    if degradation.missing is not None:
        fitted = degradation.observed_mask(observed.shape[1:-1])
        missing = np.broadcast_to(1.0 - fitted, (len(observed), *fitted.shape))
    if solver == "pdhg":
        return solve_pdhg(
            observed, weights, operator=operator, fidelity=fidelity, initial=start, missing=missing,
            box=None if boxes is None else (float(boxes[:, 0].min()), float(boxes[:, 1].max())),
            tv=tv, color=color, gap=gap, max_iter=max_iter, check_every=check_every,
            extents=extents if denoising else None, layout=layout, spacing=spacing,
            preconditioning=preconditioning,
        )
    if positive:
        # Adam starts inside its box (a copy: the data stay as they are).
        start = np.maximum(start, np.float32(KL_FLOOR))
        if boxes is not None:
            boxes[:, 0] = np.maximum(boxes[:, 0], KL_FLOOR)
    problem = Problem(operator, fidelity, tv=tv, color=color, reduction=reduction, layout=layout,
                      spacing=spacing)
    if denoising:
        if not isinstance(fidelity, L2) or dimensions != 2:
            levels = 0  # the pyramid is of images, and its weight rule the L2 one's
        elif levels is None:
            levels = 0 if initial is not None else multilevel.level_count(observed.shape)
        if dimensions == 3:
            tol = tol * VOLUME_TOL_FACTOR
        return _denoise(problem, start, observed, weights, extents, max_iter, tol,
                        levels if max_iter > 0 else 0)
    loss_scales = np.array(
        [_power_of_two(problem.loss_scale((*(int(side) for side in extent), channels)))
         for extent in extents],
        np.float32,
    )
    arguments = [observed, weights, extents]
    if boxes is not None:
        arguments.append(boxes)
    if missing is not None:
        arguments.append(missing)  # (B, h, w, 1) or (B, z, y, x, 1): the Mask lays it out
    return _minimize(problem, denoising, missing is not None, start, loss_scales, arguments,
                     max_iter, tol)


def _denoise(
    problem: Problem, start: np.ndarray, observed: np.ndarray, weights: np.ndarray,
    extents: np.ndarray, max_iter: int, tol: float, levels: int,
) -> SolverOutput:
    """Adam denoising from ``start``, or coarse to fine over ``levels`` coarse levels.

    The coarse levels' solve and compile seconds count in the output's; its
    iterations and history are the full-size solve's. Coarse to fine, every
    level's loss scale is rounded to a power of two (:func:`_power_of_two`),
    so that "sum" and "mean" give the same iterates bit for bit: with
    :math:`1/N` itself, rounding moved the coarse levels' results apart
    and the full-size solve ended up to 1.1e-2 apart (96x96 camera),
    where a single level stays within 1e-3.
    """
    if levels == 0:
        return _denoise_level(problem, observed, weights, extents, start,
                              multilevel.LevelSchedule(AdamSettings(), tol), max_iter)

    def minimize_level(data, level_weights, level_extents, level_start, schedule):
        return _denoise_level(problem, data, level_weights, level_extents, level_start, schedule,
                              max_iter, exact_scales=True)

    schedules = multilevel.schedules(levels, AdamSettings(), tol)
    start, solve_seconds, compile_seconds = multilevel.warm_start(
        minimize_level, observed, weights, extents, schedules)
    output = minimize_level(observed, weights, extents, start, schedules[0])
    return replace(output, solve_seconds=output.solve_seconds + solve_seconds,
                   compile_seconds=output.compile_seconds + compile_seconds)


def _denoise_level(
    problem: Problem, observed: np.ndarray, weights: np.ndarray, extents: np.ndarray,
    start: np.ndarray, schedule: multilevel.LevelSchedule, max_iter: int,
    exact_scales: bool = False,
) -> SolverOutput:
    """Adam denoising of one array (B, H, W, C) "hwc" from ``start``, by ``schedule``.

    ``exact_scales``: loss scales rounded to powers of two (see :func:`_denoise`).
    """
    channels = observed.shape[-1]
    volume = observed.ndim != 4
    if problem.color == "channelwise" and channels > 1 and not volume:
        return _minimize_planes(problem, start, observed, weights, extents, max_iter,
                                schedule.tol, schedule.settings, exact_scales)
    # Volumes, new, take the power of two too: "sum" and "mean" then give
    # them the same iterates bit for bit.
    loss_scales = np.array(
        [_scale(problem, (*(int(side) for side in extent), channels), exact_scales or volume)
         for extent in extents],
        np.float32,
    )

    def minimize_images(first: int, last: int) -> SolverOutput:
        data = observed[first:last]
        return _minimize(problem, True, False, data if start is observed else start[first:last],
                         loss_scales[first:last], [data, weights[first:last], extents[first:last]],
                         max_iter, schedule.tol, schedule.settings)

    return _joined([minimize_images(first, last)
                    for first, last in _calls(len(observed), observed[0].size)])


def _minimize(
    problem: Problem, denoising: bool, masked: bool, start: np.ndarray, loss_scales: np.ndarray,
    arguments: list[np.ndarray], max_iter: int, tol: float,
    settings: AdamSettings = ADAM_SETTINGS,
) -> SolverOutput:
    """Adam on ``start`` (B, H, W, C) in the problem's layout; the history in sum units."""
    if problem.layout == "hcw":
        # Denoising starts at its data: one copy serves both.
        data = swap_layout(arguments[0])
        start = data if start is arguments[0] else swap_layout(start)
        arguments[0] = data
    output = _adam(problem.operator, problem.fidelity, problem.tv, problem.color, problem.layout,
                   denoising, masked, settings, problem.spacing).minimize(
                       start, loss_scales, *arguments, max_iter=max_iter, tol=tol)
    solution = output.solution
    if problem.layout == "hcw":
        solution = swap_layout(solution)
    # The solver kept the loss at every plateau check; E = loss / s.
    losses = output.history.values["loss"].astype(np.float64)
    history = replace(output.history, values={"objective": losses / loss_scales.astype(np.float64)})
    return replace(output, solution=solution, history=history)


# Values per Adam call of a batch's images (or a channelwise image's grey
# planes), 1 MiB per float32 array: a call's working arrays then stay in
# the cache, and a batch costs its images' solves one by one at most. A
# 512x512 grey image fills a call. Measured (benchmarks/bench_multilevel.py
# --batch, warm, 2-core machine at load 2): 256x256 camera crops, ms per
# image, in calls of 1 / 2 / 4 / 8 / 16 images: 19.3 / 16.6 / 15.2 / 20.6 /
# 32.0; one call of 32 took 49 per image. A channelwise 512x512x3 image in
# calls of a plane costs three grey solves (3.0x to 3.2x one), where one
# (B, H, C, W) call of 786k values ran in bands and cost 3.4x to 3.8x
# (benchmarks/bench_colour.py).
_CALL_VALUES = 2**18


def _calls(count: int, values_per_image: int) -> list[tuple[int, int]]:
    """The ``[first, last)`` image ranges of the calls that solve ``count`` images: :data:`_CALL_VALUES` values a call, at least one image."""
    chunk = max(1, _CALL_VALUES // values_per_image)
    return [(first, min(first + chunk, count)) for first in range(0, count, chunk)]


def _joined(outputs: list[SolverOutput]) -> SolverOutput:
    """The outputs of calls over consecutive images, as one over all of them.

    The images are independent problems, so this is the output of one call
    over all of them. The history keeps the longest call's checks; an
    image of a call that stopped sooner keeps its last objective, as an
    image that stops before its batch does within a call.
    """
    if len(outputs) == 1:
        return outputs[0]
    longest = max((output.history for output in outputs), key=lambda h: len(h.iterations))
    objective = np.concatenate([
        np.concatenate([output.history.values["objective"],
                        np.repeat(output.history.values["objective"][-1:],
                                  len(longest.iterations) - len(output.history.iterations), axis=0)])
        for output in outputs
    ], axis=1)
    return SolverOutput(
        solution=np.concatenate([output.solution for output in outputs]),
        iterations=np.concatenate([output.iterations for output in outputs]),
        converged=np.concatenate([output.converged for output in outputs]),
        solve_seconds=sum(output.solve_seconds for output in outputs),
        compile_seconds=sum(output.compile_seconds for output in outputs),
        history=replace(longest, values={"objective": objective}),
    )


def _minimize_planes(
    problem: Problem, start: np.ndarray, observed: np.ndarray, weights: np.ndarray,
    extents: np.ndarray, max_iter: int, tol: float, settings: AdamSettings,
    exact_scales: bool = False,
) -> SolverOutput:
    """Channelwise colour denoising as grey planes, in calls that fit the cache whole.

    Channelwise TV is the sum of each channel's grey TV, so every channel
    is a grey problem of its own, solved in calls of :data:`_CALL_VALUES`.
    Returns one output for the images: an image's iterations are its
    slowest plane's, its history the sum of its planes' objectives (a plane
    that stopped keeps its last value).
    """
    count, height, width, channels = observed.shape
    grey = replace(problem, layout="hwc")

    def planes_of(images):
        return images.transpose(0, 3, 1, 2).reshape(count * channels, height, width, 1)

    plane_data = planes_of(observed)
    plane_starts = plane_data if start is observed else planes_of(start)
    plane_weights = np.repeat(weights, channels)
    plane_extents = np.repeat(extents, channels, axis=0)
    # Each plane is a grey image of its own, with its own scale.
    plane_scales = np.repeat(
        [_scale(grey, (int(h), int(w), 1), exact_scales) for h, w in extents],
        channels).astype(np.float32)
    planes = _joined([
        _minimize(grey, True, False, plane_starts[first:last], plane_scales[first:last],
                  [plane_data[first:last], plane_weights[first:last], plane_extents[first:last]],
                  max_iter, tol, settings)
        for first, last in _calls(len(plane_data), height * width)
    ])
    per_image = (count, channels)
    checks = len(planes.history.iterations)
    return SolverOutput(
        solution=planes.solution.reshape(*per_image, height, width).transpose(0, 2, 3, 1),
        iterations=planes.iterations.reshape(per_image).max(axis=1),
        converged=planes.converged.reshape(per_image).all(axis=1),
        solve_seconds=planes.solve_seconds,
        compile_seconds=planes.compile_seconds,
        history=replace(planes.history, values={"objective": planes.history.values["objective"]
                                                .reshape(checks, *per_image).sum(axis=2)}),
    )


def _scale(problem: Problem, unknown_shape: tuple[int, int, int], exact: bool) -> float:
    """The loss scale of one image, rounded to a power of two if ``exact``."""
    scale = problem.loss_scale(unknown_shape)
    return _power_of_two(scale) if exact else scale


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
def _adam(operator: LinearOperator, fidelity: Fidelity, tv: str, color: str, layout: str,
          denoising: bool, masked: bool, settings: AdamSettings | None = None,
          spacing: tuple[float, ...] | None = None) -> AdamSolver:
    r"""One solver per model, layout, settings and spacing keeps its compiled loops across calls.

    ``settings`` None: denoising's defaults (:class:`AdamSettings`), or
    :data:`ADAM_SETTINGS` for a general forward model.

    Its data are ``(observed, weights, extents)``, then for a general model
    the per-image box and, if ``masked``, the missing values. Under KL,
    denoising is projected onto :math:`u \ge` :data:`KL_FLOOR` (a general
    model's box starts there).
    """
    if settings is None:
        settings = AdamSettings() if denoising else ADAM_SETTINGS
    if denoising:
        # Denoising's data rows are its unknown's rows, so it runs in bands.
        problem = Problem(operator, fidelity, tv=tv, color=color, reduction="sum", layout=layout,
                          spacing=spacing)
        floor = None
        if isinstance(fidelity, KL):
            def floor(u, *data):
                return tf.maximum(u, KL_FLOOR)
        return AdamSolver(problem.loss, settings, rows_of_data=problem.rows_of_data,
                          stencil_rows=problem.stencil_rows, any_shape=True, project=floor,
                          kept_axes=(-2 if layout == "hcw" else -1,), whole_values=WHOLE_VALUES)

    def problem_for(missing) -> Problem:
        # The mask comes in as data at trace time, not as a constant.
        model = operator if missing is None else Composite([operator, Mask(missing, layout)])
        return Problem(model, fidelity, tv=tv, color=color, reduction="sum", layout=layout,
                       spacing=spacing)

    def loss(u, loss_scales, observed, weights, extents, box, *missing):
        # One shape per batch: the extents are the whole array.
        return problem_for(missing[0] if masked else None).loss(u, loss_scales, observed, weights)

    def project(u, observed, weights, extents, box, *missing):
        per_image = [-1] + [1] * (u.shape.rank - 1)
        return tf.clip_by_value(u, tf.reshape(box[:, 0], per_image), tf.reshape(box[:, 1], per_image))

    return AdamSolver(loss, settings, project=project)


def energy(
    degradation: Degradation, unknown: np.ndarray, data: np.ndarray, weight: float,
    tv: str = "isotropic", color: str = "vectorial", fidelity: Fidelity | None = None,
    spacing: tuple[float, ...] | None = None,
) -> float:
    """:math:`E(u)` in sum units for one image, summed in float64.

    ``unknown`` is (H, W, C) on the extended domain, ``data`` (h, w, C);
    a volume's are (Z, Y, X, C) and (z, y, x, C). ``fidelity`` defaults
    to L2; ``spacing`` divides TV's differences.
    """
    problem = Problem(degradation.operator, L2() if fidelity is None else fidelity, tv=tv,
                      color=color, reduction="sum", spacing=spacing)
    fitted = None if degradation.missing is None else degradation.observed_mask(data.shape[:-1])
    return problem.energy_value(unknown, data, weight, fitted)
