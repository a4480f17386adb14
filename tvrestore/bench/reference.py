r"""The yardstick of the benchmarks' accuracy: the exact minimizer's certified bound.

Every method solves

.. math::

    \min_u E(u) = \frac12 \sum (u - f)^2 + w\,\mathrm{TV}(u)

with isotropic TV at the same :math:`w` (skimage's weights are mapped as in
:mod:`tvrestore.evaluation.compare`). The reference is tvrestore's exact mode
(:func:`tvrestore.solvers.pdhg.solve_pdhg`) run to a tight certified gap
:math:`g_\mathrm{ref}`: its dual value
:math:`D = E(u_\mathrm{ref}) / (1 + g_\mathrm{ref})` is a lower bound on the
minimum :math:`E^*`. Each method's relative gap is measured against that
bound,

.. math::

    \mathrm{gap}(u) = \frac{E(u) - D}{D} \ge \frac{E(u) - E^*}{E^*},

so a reported gap is never smaller than the true one, and exceeds it by at
most about :math:`g_\mathrm{ref}`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np

from tvrestore.bench.cases import Case
from tvrestore.errors import TVRestoreError

__all__ = ["Reference", "exact_reference"]

# PDHG needs about 9000 iterations for a 1e-6 certificate at 512x512.
_REFERENCE_MAX_ITER = 100_000


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
    from tvrestore.evaluation.metrics import quality
    from tvrestore.models.problem import Problem
    from tvrestore.solvers.pdhg import solve_pdhg

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
