r"""``weight="auto"``: the TV weight of least estimated risk, for about one extra solve.

For each image, :func:`tvrestore.noise.estimate_noise_sigma` gives the noise
level :math:`\hat\sigma`, :func:`tvrestore.noise.auto_weight` the rule's
weight :math:`w_0`, and the candidates :math:`w_0 c` for the factors
:math:`c` of :data:`tvrestore.noise.SURE_CANDIDATE_FACTORS` are compared by
Monte Carlo SURE (:func:`tvrestore.noise.monte_carlo_sure`) on a centre crop
of at most :data:`CROP` pixels a side: the weight of least estimated mean
squared error wins, refined between candidates
(:func:`tvrestore.noise.sure_minimizer`).

SURE needs each candidate solved twice, from :math:`f` and from
:math:`f + \varepsilon b` with a random probe :math:`b`, and reads the
divergence from the difference. It holds for any weakly differentiable
denoiser, so the candidates are solved by a *fixed* map: exactly
:data:`ITERATIONS` iterations of the primal-dual method of
:mod:`tvrestore.pdhg`, whose steps do not depend on the data. Both solves of
a pair then follow the same path and the difference is the map's own
derivative, with no stopping rule to tear it; the estimated risk is that of
the :data:`ITERATIONS`-iteration result, which is close to the minimizer's.
(Solving each candidate to convergence with Adam, as before, needed a tight
tolerance for the same difference and cost about ten solves of the image.)

Every candidate and probe of every image needing "auto" goes into as few
compiled calls as their crop shapes allow.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from tvrestore import noise
from tvrestore.pdhg import solve_pdhg
from tvrestore.shapes import solve_shape, zero_padded

__all__ = ["CROP", "ITERATIONS", "WeightChoice", "choose_weights"]

# Side of the centre crop on which candidates are compared.
CROP = 256
# Primal-dual iterations per candidate (see the module docstring). Chosen as
# the fewest whose choices stay within 0.3 dB of the best weight on the
# calibration images (samples/calibrate_auto_weight.py).
ITERATIONS = 60
# A fixed seed keeps "auto" deterministic: the same image gets the same
# weight alone or in any batch.
_SEED = 20261124
# Small crops get more probes, so that the divergence is always averaged
# over about CROP**2 probed pixels.
_MAX_PROBES = 4


@dataclass(frozen=True)
class WeightChoice:
    """The weight to use for one image.

    Attributes
    ----------
    weight : float
        :math:`w`.
    noise_sigma : float or None
        :math:`\\hat\\sigma` (intensity units) when the weight was chosen
        automatically, else None.
    """

    weight: float
    noise_sigma: float | None


@dataclass(frozen=True)
class _Search:
    """The SURE problems of one image: a crop, its probes, its candidates."""

    crop: np.ndarray
    probes: np.ndarray
    step: float
    sigma: float
    candidates: np.ndarray

    @property
    def observed(self) -> list[np.ndarray]:
        """Each candidate's data, unprobed, then once per probe."""
        count = len(self.candidates)
        return [self.crop] * count + [
            self.crop + self.step * probe for probe in self.probes for _ in range(count)
        ]

    @property
    def weights(self) -> np.ndarray:
        return np.tile(self.candidates, len(self.probes) + 1)

    def best_weight(self, solutions: list[np.ndarray]) -> float:
        count = len(self.candidates)
        # SURE is linear in the divergence: averaging it over probes
        # averages the divergence estimates.
        risks = np.array([
            np.mean([
                noise.monte_carlo_sure(
                    self.crop, solutions[i], solutions[count * (k + 1) + i], probe,
                    self.step, self.sigma,
                )
                for k, probe in enumerate(self.probes)
            ])
            for i in range(count)
        ])
        return noise.sure_minimizer(self.candidates, risks)


def choose_weights(
    units: list[np.ndarray], weights: list[float | str], tv: str, color: str
) -> tuple[list[WeightChoice], float]:
    """The weight of each image: as given, or chosen by SURE for "auto".

    Parameters
    ----------
    units : list of np.ndarray, shape (H, W, C)
        The images in [0, 1] intensity units.
    weights : list of float or "auto"
        One per image, already validated.
    tv, color : str
        The TV norm (:mod:`tvrestore.tv`).

    Returns
    -------
    choices : list of WeightChoice
        One per image, in order.
    compile_seconds : float
        Of the search's time, what went into compiling its programs.
    """
    choices: list[WeightChoice | None] = [None] * len(units)
    searches: dict[int, _Search] = {}
    for index, (unit, weight) in enumerate(zip(units, weights)):
        if weight != "auto":
            choices[index] = WeightChoice(float(weight), None)
            continue
        sigma = noise.estimate_noise_sigma(unit)
        centre = noise.auto_weight(sigma, unit.shape[2], tv, color)
        if centre == 0:
            choices[index] = WeightChoice(0.0, sigma)
        else:
            searches[index] = _search(unit, sigma, centre)
    chosen, compile_seconds = _run(searches, tv, color)
    for index, weight in chosen.items():
        choices[index] = WeightChoice(weight, searches[index].sigma)
    return choices, compile_seconds


def _search(unit: np.ndarray, sigma: float, centre: float) -> _Search:
    top = max(0, (unit.shape[0] - CROP) // 2)
    left = max(0, (unit.shape[1] - CROP) // 2)
    crop = unit[top : top + CROP, left : left + CROP]
    # Random signs (Rademacher): as valid for SURE as Gaussians and of lower
    # variance, and they cannot coincide with noise a user drew from a
    # Gaussian generator with the same seed (which SURE would read as signal).
    probe_count = min(_MAX_PROBES, math.ceil(CROP**2 / (crop.shape[0] * crop.shape[1])))
    signs = np.random.default_rng(_SEED).integers(0, 2, (probe_count, *crop.shape))
    return _Search(
        crop=crop,
        probes=(2 * signs - 1).astype(np.float32),
        step=noise.SURE_PROBE_SCALE * sigma,
        sigma=sigma,
        candidates=centre * np.array(noise.SURE_CANDIDATE_FACTORS),
    )


def _run(searches: dict[int, _Search], tv: str, color: str) -> tuple[dict[int, float], float]:
    """Solve every search's problems, one compiled call per crop shape and probe count.

    Returns the weight chosen per index and the seconds spent compiling.
    """
    groups: dict[tuple, list[int]] = {}
    for index, search in searches.items():
        key = (solve_shape(search.crop.shape), len(search.probes))
        groups.setdefault(key, []).append(index)
    chosen, compile_seconds = {}, 0.0
    for (shape, _), members in groups.items():
        observed = [image for index in members for image in searches[index].observed]
        weights = np.concatenate([searches[index].weights for index in members])
        padded, extents = zero_padded(observed, shape)
        output = solve_pdhg(
            padded, weights, tv=tv, color=color, gap=0.0, max_iter=ITERATIONS,
            check_every=ITERATIONS, extents=extents,
        )
        compile_seconds += output.compile_seconds
        start = 0
        for index in members:
            search = searches[index]
            count = len(search.weights)
            height, width = search.crop.shape[:2]
            solutions = [s[:height, :width] for s in output.solution[start : start + count]]
            chosen[index] = search.best_weight(solutions)
            start += count
    return chosen, compile_seconds
