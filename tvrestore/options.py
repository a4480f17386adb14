"""What a restoration is asked and what it reports: settings, defaults, checks, results.

The bottom layer of the library, with no TensorFlow: the command line
validates every option here before TensorFlow loads, and the library takes
the same checks and defaults, so a bad value is one clear error wherever it
comes from.
"""

from __future__ import annotations

import math
import numbers
from dataclasses import asdict, dataclass

import numpy as np

from tvrestore.errors import TVRestoreError

__all__ = [
    "CompareRow",
    "COLOR_MODES", "DEFAULT_BATCH_SIZE", "DEFAULT_GAP", "DEFAULT_MAX_ITER", "DEFAULT_TOL",
    "MAX_ITER", "MAX_PIXEL_MAGNITUDE", "MAX_WEIGHT", "NOISE_MODELS", "POISSON_ROUTES", "REDUCTIONS",
    "SOLVERS",
    "TV_KINDS", "RestoreOptions", "RestoreResult",
    "check_choices", "check_gain", "check_max_iter", "check_noise_model", "check_offset",
    "check_tolerance", "check_weight", "task_name",
]

TV_KINDS = ("isotropic", "anisotropic")
COLOR_MODES = ("vectorial", "channelwise")
REDUCTIONS = ("sum", "mean")
SOLVERS = ("adam", "pdhg")
# What the noise is (docs/noise.md): "gaussian" on unit-range data (L2),
# "poisson" on photon counts (KL), "impulse" on unit-range data (L1).
NOISE_MODELS = ("gaussian", "poisson", "impulse")
# How photon counts are denoised (docs/noise.md): "anscombe", L2 TV on the
# Anscombe-stabilized counts and the exact unbiased inverse; "kl", the
# Poisson fidelity itself (always, through a blur, mask or binning);
# "auto", "anscombe" for blur-free denoising at an automatic weight, else "kl".
POISSON_ROUTES = ("auto", "anscombe", "kl")
# Iteration caps per solver, used when max_iter is None.
DEFAULT_MAX_ITER = {"adam": 2000, "pdhg": 20000}
DEFAULT_TOL = 3e-4
DEFAULT_GAP = 1e-4


# Images per compiled call in a batch run.
DEFAULT_BATCH_SIZE = 8


# Larger weights flatten any image in [0, 1] to its mean, and would
# overflow float32 (TV of a 2**27-pixel image times w).
MAX_WEIGHT = 1e6

# The largest |pixel| of a float image (in the unit range's units) that
# can be restored: the solvers work in float32, where a loss summing
# (u - f)**2 over 2**27 pixels (io.MAX_PIXELS) of this size stays below
# float32's maximum (1.3e32 < 3.4e38), as do Adam's squared gradients and
# the auto weight's noise estimate. Real data in [0, 1] or in photon
# counts is far below it.
MAX_PIXEL_MAGNITUDE = 1e12

# The solvers count iterations in int32.
MAX_ITER = 2**31 - 1

# tol and gap are compared in float32: a smaller positive value would be 0.
_SMALLEST_TOLERANCE = float(np.finfo(np.float32).tiny)


def check_weight(weight) -> float | str:
    """``weight`` as a float >= 0, or "auto"; any real number type (NumPy's too).

    Raises
    ------
    TVRestoreError
        For anything else, NaN, infinity, a negative number or one above
        :data:`MAX_WEIGHT`.
    """
    if isinstance(weight, str) and weight == "auto":
        return weight
    if isinstance(weight, numbers.Real) and not isinstance(weight, (bool, np.bool_)):
        value = float(weight)
        if math.isfinite(value) and 0 <= value <= MAX_WEIGHT:
            return value
    raise TVRestoreError(
        f"weight must be 'auto' or a number from 0 to {MAX_WEIGHT:g}, got {weight!r}"
    )


def check_max_iter(max_iter) -> int | None:
    """``max_iter`` as an int from 0 to :data:`MAX_ITER`, or None; NumPy integers too.

    Raises
    ------
    TVRestoreError
        For anything else (floats and bools included).
    """
    if max_iter is None:
        return None
    # Compared as Python numbers: NumPy would compare in the scalar's own type.
    if (isinstance(max_iter, numbers.Integral) and not isinstance(max_iter, (bool, np.bool_))
            and 0 <= int(max_iter) <= MAX_ITER):
        return int(max_iter)
    raise TVRestoreError(f"max_iter must be a whole number from 0 to {MAX_ITER}, got {max_iter!r}")


def check_tolerance(name: str, value) -> float:
    """A stopping tolerance (``tol``, ``gap``) as a float in [float32 tiny, 1); NumPy's too.

    Raises
    ------
    TVRestoreError
        Naming `name`, for anything else: NaN, infinity, 0 or a value
        float32 rounds to 0, 1 or more, a bool, a string.
    """
    # Compared as a Python float: NumPy would round the bound to float16 (to 0).
    if (isinstance(value, numbers.Real) and not isinstance(value, (bool, np.bool_))
            and math.isfinite(value) and _SMALLEST_TOLERANCE <= float(value) < 1):
        return float(value)
    raise TVRestoreError(
        f"{name} must be a number from {_SMALLEST_TOLERANCE:.3g} to below 1, got {value!r}"
    )


def check_gain(gain) -> float | str:
    """``gain`` (pixel units per photon) as a finite float > 0, or "auto"; NumPy's numbers too.

    Raises
    ------
    TVRestoreError
        For 0, a negative number, NaN, infinity, a bool or anything else.
    """
    if isinstance(gain, str) and gain == "auto":
        return gain
    if isinstance(gain, numbers.Real) and not isinstance(gain, (bool, np.bool_)):
        value = float(gain)
        if math.isfinite(value) and 0 < value <= MAX_PIXEL_MAGNITUDE:
            return value
    raise TVRestoreError(
        f"gain must be 'auto' or a number above 0 (pixel units per photon), got {gain!r}")


def check_offset(offset) -> float | str:
    """``offset`` (the pixel value of zero photons) as a finite float, or "auto".

    Raises
    ------
    TVRestoreError
        For NaN, infinity, a bool or anything else.
    """
    if isinstance(offset, str) and offset == "auto":
        return offset
    if isinstance(offset, numbers.Real) and not isinstance(offset, (bool, np.bool_)):
        value = float(offset)
        if math.isfinite(value) and abs(value) <= MAX_PIXEL_MAGNITUDE:
            return value
    raise TVRestoreError(
        f"offset must be 'auto' or a finite number (the pixel value of zero photons), "
        f"got {offset!r}")


def check_noise_model(noise, gain=1.0, offset=0.0, poisson_route="auto") -> None:
    """The noise model and its calibration, together.

    ``gain``, ``offset`` and ``poisson_route`` describe photon counts: any
    other value than the defaults (1, 0, "auto") needs ``noise="poisson"``.

    Raises
    ------
    TVRestoreError
        For an unknown noise name, a bad gain or offset
        (:func:`check_gain`, :func:`check_offset`), or a gain or offset
        given with another noise model.
    """
    if not isinstance(noise, str) or noise not in NOISE_MODELS:
        raise TVRestoreError(f"noise must be one of {NOISE_MODELS}, got {noise!r}")
    gain, offset = check_gain(gain), check_offset(offset)
    if noise != "poisson" and (gain != 1.0 or offset != 0.0):
        raise TVRestoreError(
            f"gain and offset describe photon counts: give them with noise 'poisson', "
            f"not {noise!r}")
    if not isinstance(poisson_route, str) or poisson_route not in POISSON_ROUTES:
        raise TVRestoreError(f"poisson_route must be one of {POISSON_ROUTES}, got {poisson_route!r}")
    if noise != "poisson" and poisson_route != "auto":
        raise TVRestoreError(
            f"poisson_route says how photon counts are denoised: give it with noise 'poisson', "
            f"not {noise!r}")


def check_choices(**chosen: str) -> None:
    """Check named choices against their allowed values: ``check_choices(tv="isotropic")``.

    The names are ``tv``, ``color``, ``reduction`` and ``solver``.

    Raises
    ------
    TVRestoreError
        (a ValueError) naming the first choice that is not allowed.
    """
    allowed = {"tv": TV_KINDS, "color": COLOR_MODES, "reduction": REDUCTIONS, "solver": SOLVERS}
    for name, value in chosen.items():
        if value not in allowed[name]:
            raise TVRestoreError(f"{name} must be one of {allowed[name]}, got {value!r}")


@dataclass(frozen=True)
class RestoreOptions:
    """The settings of :func:`tvrestore.denoise` shared by every file of a run.

    ``max_iter=None`` is :func:`tvrestore.denoise`'s own default.
    """

    weight: float | str = "auto"
    reduction: str = "mean"
    tv: str = "isotropic"
    color: str = "vectorial"
    solver: str = "adam"
    max_iter: int | None = None
    tol: float = DEFAULT_TOL
    gap: float = DEFAULT_GAP
    noise: str = "gaussian"
    gain: float | str = 1.0
    offset: float | str = 0.0
    poisson_route: str = "auto"

    def __post_init__(self) -> None:
        check_noise_model(self.noise, self.gain, self.offset, self.poisson_route)
        check_weight(self.weight)
        check_choices(reduction=self.reduction, tv=self.tv, color=self.color, solver=self.solver)
        check_max_iter(self.max_iter)
        check_tolerance("tol", self.tol)
        check_tolerance("gap", self.gap)


@dataclass(frozen=True)
class CompareRow:
    """One method's scores on one image: a row of ``--compare``'s table and of the report.

    Attributes
    ----------
    method : str
    weight : float or None
        The method's own weight parameter, as passed to it; None for the
        restoration baselines, which have none.
    psnr, ssim : float or None
        Against the reference; None without one.
    objective : float or None
        :math:`E` of the method's output (tvrestore's TV settings); None
        for the restoration baselines, whose outputs cover only the
        observed window, not the extended domain E is defined on.
    seconds : float
        Solve time (tvrestore: after compilation).
    """

    method: str
    weight: float | None
    psnr: float | None
    ssim: float | None
    objective: float | None
    seconds: float

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict."""
        return asdict(self)


@dataclass(frozen=True)
class RestoreResult:
    r"""What one restoration did.

    Attributes
    ----------
    weight : float
        :math:`w`, as given or as chosen by ``weight="auto"``.
    weight_auto : bool
        Whether :math:`w` was chosen by ``weight="auto"``.
    noise_sigma : float or None
        The estimated noise level (intensity units) when ``weight_auto``.
    reduction, tv, color, solver : str
        The settings used.
    iterations : int
        Iterations this image moved for.
    converged : bool
        Whether the stopping rule was met before ``max_iter``.
    objective : float
        :math:`E(u)` in sum units (float64), comparable across reductions
        and with any other solver.
    loss : float
        The final loss in the reduction's units, ``objective * scale``.
    certified_gap : float or None
        With the "pdhg" solver, a proven upper bound on the relative
        objective gap :math:`(E(u) - E^*) / E^*`; None with "adam".
    solve_seconds : float
        Optimization time of the batch the image was in (after compiling).
    compile_seconds : float
        Time this call spent preparing compiled programs: tracing them,
        and compiling them or loading them from the on-disk cache
        (:mod:`tvrestore.backend.cache`); 0 when this process had them already.
    compile_cached : bool or None
        True if every program this call needed came ready from the disk
        cache or this process, False if one was compiled, None when the
        cache is off and nothing could be known.
    weight_search_seconds : float
        Time of the ``weight="auto"`` search of the batch the image was in
        (its compilation apart); 0 for a given weight.
    noise : str
        The noise model (:data:`NOISE_MODELS`).
    gain, offset : float or None
        With "poisson": the calibration used, pixel = gain * counts +
        offset, as given or estimated; None for the other models.
    counts_clipped : float or None
        With "poisson": the fraction of pixels below ``offset`` (negative
        counts), taken as 0 counts.
    impulse_fraction : float or None
        With "impulse": the fraction of the image's values detected as
        impulses and treated as missing.
    impulse_route : str or None
        With "impulse": "salt-and-pepper" (the range's extremes were
        missing, the rest fitted) or "random-valued" (outliers of the
        centre-weighted median missing, L1 on the rest); see
        :mod:`tvrestore.tuning.impulses`.
    poisson_route : str or None
        With "poisson": "anscombe" (L2 TV on the Anscombe-stabilized counts,
        ``weight`` and ``objective`` in its units, where the noise has unit
        variance; the exact unbiased inverse back to counts) or "kl" (the
        Poisson fidelity, in counts); see :data:`POISSON_ROUTES`.
    axes : str or None
        The axes of the input as named (``"ZYX"``, ``"TYXC"``, ...; see
        :mod:`tvrestore.models.axes`); None for a 2-D image named by default.
    spacing : tuple of float or None
        The step of each spatial axis used, as given (in the file's or the
        caller's unit; TV uses them relative to the smallest); None: 1.
    history : tuple of dict
        The solver's checks, where it evaluated the objective anyway:
        ``{"iteration": int, "objective": float, "certified_gap": float or
        None}``, the objective :math:`E` in sum units; pdhg's from
        iteration 0 with its certificate (None while there is none yet),
        adam's from its first plateau check (every 5 iterations) with None.
        The last entry is the final iterate. At most 512 checks, evenly
        thinned on long runs.
    problem : str
        What was minimized: "penalized", :math:`F(A u) + w\,\mathrm{TV}(u)`;
        or "noise-free", :math:`\mathrm{TV}(u)` subject to :math:`A u = f`
        on the observed values (the limit :math:`w \to 0`, solved when the
        weight is 0 for a mask or binning; ``objective`` is then
        :math:`\mathrm{TV}(u)`, ``weight`` 0).
    """

    weight: float
    weight_auto: bool
    noise_sigma: float | None
    reduction: str
    tv: str
    color: str
    solver: str
    iterations: int
    converged: bool
    objective: float
    loss: float
    certified_gap: float | None
    solve_seconds: float
    compile_seconds: float
    compile_cached: bool | None
    weight_search_seconds: float
    history: tuple[dict, ...] = ()
    noise: str = "gaussian"
    gain: float | None = None
    offset: float | None = None
    counts_clipped: float | None = None
    impulse_fraction: float | None = None
    impulse_route: str | None = None
    problem: str = "penalized"
    axes: str | None = None
    spacing: tuple[float, ...] | None = None
    poisson_route: str | None = None

    def to_dict(self) -> dict:
        """The fields as a JSON-ready dict."""
        return asdict(self)


def task_name(psf=None, mask=None, upscale: int = 1) -> str:
    """The task's name: "denoise", "deblur", "upscale", "inpaint" or a "+"-joined composition.

    The parts are named in the forward model's order (blur, bin, mask); a
    ``psf`` or ``mask`` of any kind (an array, a spec, a path) counts when
    it is not None.
    """
    parts = [name for name, present in (("deblur", psf is not None),
                                        ("upscale", upscale > 1),
                                        ("inpaint", mask is not None)) if present]
    return "+".join(parts) or "denoise"
