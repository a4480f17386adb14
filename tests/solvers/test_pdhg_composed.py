"""The exact mode on composed forward models: diagonal steps certify sooner, honestly.

Issue 23's target is every composition certified to 1e-4 in at most 2000
iterations, the cap here, clean data through a blur at the automatic
weight (about 1e-5) included. On these small piecewise-constant scenes (data
24x24, kept small for speed) the diagonal steps took 2180 to 2530 before
their restarts and adapted balance, 1510 to 1890 with them, and 1890 to
1970 with the data dual's block scaled for small weights (measured: it
costs these scenes, clean blur+mask at w 0.001 took 1510 before, and
saves the photographs of the benchmark); scalar steps stay above the
target on clean data.
The whole matrix of compositions, noisy and clean, fixed and automatic
weight, is benchmarks/measure_pdhg_composed.py.
"""

import numpy as np
import pytest

import reference as ref
from tvrestore.models.psf import parse_psf
from tvrestore.solvers.engine import Degradation, solve

DATA_HW = (24, 24)
CAP = 2000


def composed(name, seed=0):
    psf = parse_psf("gaussian:1.0") if "blur" in name else None
    upscale = 2 if "upscale" in name else 1
    missing = np.random.default_rng(seed).random(DATA_HW) < 0.2 if "mask" in name else None
    return Degradation(psf=psf, upscale=upscale, missing=missing)


def observed(deg, noise, seed=1):
    rng = np.random.default_rng(seed)
    height, width = deg.unknown_hw(DATA_HW)
    yy, xx = np.mgrid[:height, :width]
    scene = np.where((yy - height / 2) ** 2 + (xx - width / 3) ** 2 < (height / 3) ** 2, 0.8, 0.2)
    scene = scene + 0.1 * (xx > 2 * width / 3)
    model = ref.ForwardModel(deg.psf, deg.upscale, deg.missing)
    data = model.apply(scene[..., None]) + noise * rng.standard_normal((*DATA_HW, 1))
    return np.where(model.observed(data.shape) > 0, data, 5.0), model


@pytest.mark.parametrize("name, noise, weight", [
    ("blur+upscale+mask", 0.005, 0.01),   # the README's composition
    ("blur+mask", 0.0, 0.001),            # clean data, a small weight
])
def test_a_composition_is_certified_within_the_cap_and_the_certificate_is_honest(name, noise, weight):
    deg = composed(name)
    data, model = observed(deg, noise)
    run = solve(deg, [data], np.array([weight]), solver="pdhg", gap=1e-4, max_iter=CAP)
    assert run.converged[0] and run.iterations[0] <= CAP
    # The certificate bounds the relative gap of the result's E, taken in
    # float64 by the oracle's own objective, above the lower bound; pdhg
    # takes B u in float32 (then sums in float64), which moves E by about
    # 1e-7 of itself (measured 3e-8 to 8e-8 of the gap's 1e-4).
    energy = ref.restoration_objective(np.float64(run.solution[0]), data, weight, model)
    assert run.lower_bound[0] <= energy
    assert (energy - run.lower_bound[0]) / run.lower_bound[0] <= run.certified_gap[0] + 1e-6
    lo, hi = deg.box(data)
    assert lo - 1e-6 <= run.solution.min() and run.solution.max() <= hi + 1e-6


def test_clean_data_through_a_blur_at_the_automatic_weight_is_certified_within_the_cap():
    # Issue 23's hardest rows: clean data through a blur, where the
    # automatic weight is about 1e-5. Here deblur + 2x binning of a 64x64
    # camera crop, as in benchmarks/measure_pdhg_composed.py, whose
    # automatic weight is 9.9e-6 (fixed here: the search costs more than
    # the solve); measured 2460 iterations before the data dual's block
    # was scaled, 1180 with it.
    from skimage import data, transform

    from tvrestore.bench.cases import centre_square
    from tvrestore.bench.degradations import degrade, scene_shape

    psf = parse_psf("gaussian:1.0")
    deg = Degradation(psf=psf, upscale=2)
    scene = transform.resize(centre_square(data.camera() / 255.0), scene_shape((64, 64), psf, 2),
                             anti_aliasing=True)
    clean = degrade(np.clip(scene, 0, 1), psf=psf, upscale=2).observed[..., None]
    weight = 9.9e-6
    run = solve(deg, [clean], np.array([weight]), solver="pdhg", gap=1e-4, max_iter=CAP)
    assert run.converged[0] and run.iterations[0] <= CAP
    energy = ref.restoration_objective(np.float64(run.solution[0]), np.float64(clean), weight,
                                       ref.ForwardModel(psf, 2))
    assert run.lower_bound[0] <= energy
    assert (energy - run.lower_bound[0]) / run.lower_bound[0] <= run.certified_gap[0] + 1e-6


def test_diagonal_steps_certify_where_scalar_steps_do_not():
    deg = composed("blur+mask")
    data, _ = observed(deg, 0.0)
    weight = np.array([0.001])
    diagonal = solve(deg, [data], weight, solver="pdhg", gap=1e-4, max_iter=CAP)
    scalar = solve(deg, [data], weight, solver="pdhg", gap=1e-4, max_iter=CAP, preconditioning="scalar")
    assert diagonal.converged[0]
    assert not scalar.converged[0]  # measured: 2.3e-4 after 4000


def test_the_lower_bound_is_below_the_oracle_minimum():
    deg = composed("blur+mask")
    data, model = observed(deg, 0.01)
    weight = 0.01
    best_u, best_gap = ref.solve_restoration(data, weight, model, box=deg.box(data), gap=1e-6)
    best = ref.restoration_objective(np.float64(best_u), data, weight, model)
    run = solve(deg, [data], np.array([weight]), solver="pdhg", gap=1e-4, max_iter=CAP)
    assert run.converged[0]
    assert run.lower_bound[0] <= best * (1 + 1e-7)
    energy = ref.restoration_objective(np.float64(run.solution[0]), data, weight, model)
    assert (energy - best) / best <= run.certified_gap[0] <= 1e-4
