"""The noise-free limit (issue 23, item 1): min TV(u) subject to A u = f, against an LP oracle."""

import numpy as np
import pytest
from scipy import optimize, sparse

import reference
from tvrestore.backend.tf import tf
from tvrestore.models.fidelities import Exact
from tvrestore.models.operators import Downsample, Identity
from tvrestore.solvers.pdhg import solve_pdhg


def _differences(height, width):
    """Sparse forward differences (Neumann: none past the last row / column), rows then columns."""
    index = np.arange(height * width).reshape(height, width)
    rows = []
    for a, b in [(index[:-1, :], index[1:, :]), (index[:, :-1], index[:, 1:])]:
        count = a.size
        rows.append(sparse.csr_matrix(
            (np.r_[-np.ones(count), np.ones(count)],
             (np.r_[np.arange(count), np.arange(count)], np.r_[a.ravel(), b.ravel()])),
            shape=(count, height * width)))
    return sparse.vstack(rows)


def _lp_oracle(observed, kept, k, box):
    """min anisotropic TV(u) s.t. the mean of each kept k x k block is its datum, lo <= u <= hi."""
    h, w = observed.shape
    height, width = k * h, k * w
    n = height * width
    grad = _differences(height, width)
    m = grad.shape[0]
    # Variables (u, t): minimize sum t with -t <= grad u <= t.
    cost = np.r_[np.zeros(n), np.ones(m)]
    inequalities = sparse.vstack([sparse.hstack([grad, -sparse.eye(m)]),
                                  sparse.hstack([-grad, -sparse.eye(m)])])
    blocks = np.arange(n).reshape(h, k, w, k).transpose(0, 2, 1, 3).reshape(h * w, k * k)
    chosen = np.flatnonzero(kept.ravel())
    means = sparse.csr_matrix((np.full(len(chosen) * k * k, 1 / k**2),
                               (np.repeat(np.arange(len(chosen)), k * k), blocks[chosen].ravel())),
                              shape=(len(chosen), n))
    result = optimize.linprog(
        cost, A_ub=inequalities, b_ub=np.zeros(2 * m),
        A_eq=sparse.hstack([means, sparse.csr_matrix((len(chosen), m))]), b_eq=observed.ravel()[chosen],
        bounds=[box] * n + [(0, None)] * m, method="highs")
    assert result.status == 0
    return result.fun


def _scene(height, width, seed):
    rng = np.random.default_rng(seed)
    rows, columns = np.mgrid[:height, :width]
    disc = ((rows - height / 2) ** 2 + (columns - width / 3) ** 2 < (height / 3) ** 2)
    return np.clip(0.2 + 0.5 * disc + 0.2 * (columns > 2 * width / 3) + 0.05 * rng.random((height, width)), 0, 1)


@pytest.mark.parametrize("k, missing_fraction", [(1, 0.4), (2, 0.0), (2, 0.25)])
def test_exact_mode_reaches_the_lp_minimum_of_tv_under_the_data_constraint(k, missing_fraction):
    rng = np.random.default_rng(k)
    clean = _scene(12, 14, k)
    h, w = 12 // k, 14 // k
    observed = clean.reshape(h, k, w, k).mean(axis=(1, 3))
    missing = rng.random((h, w)) < missing_fraction
    kept = ~missing
    box = (0.0, 1.0)
    best = _lp_oracle(observed, kept, k, box)
    operator = Identity() if k == 1 else Downsample(k)
    start = np.repeat(np.repeat(np.where(missing, 0.5, observed), k, 0), k, 1)
    out = solve_pdhg(observed[None, ..., None], np.array([1.0]), operator=operator, fidelity=Exact(),
                     initial=start[None, ..., None], missing=missing[None, ..., None].astype(float),
                     box=box, tv="anisotropic", gap=1e-6, dtype="float64")
    u = out.solution[0, ..., 0]
    assert out.converged[0]
    # Feasible: the kept data are reproduced, the box holds.
    np.testing.assert_allclose(u.reshape(h, k, w, k).mean(axis=(1, 3))[kept], observed[kept], atol=1e-9)
    assert box[0] <= u.min() and u.max() <= box[1]
    true_gap = (reference.total_variation(u, "anisotropic") - best) / best
    assert -1e-9 <= true_gap <= out.certified_gap[0] <= 1e-6
    # Where pixels are missing, strictly below the starting point's TV: the
    # fill is the solve's, not the initializer's. (Anisotropic TV under
    # binning alone has pixel replication among its minimizers.)
    if missing.any():
        assert reference.total_variation(u, "anisotropic") < reference.total_variation(start, "anisotropic") - 0.1


def test_binning_projection_is_the_nearest_point_of_box_and_block_means():
    rng = np.random.default_rng(7)
    images = rng.normal(0.5, 0.6, (1, 4, 6, 1))
    # One block's datum near the top of the box forces clipping inside it.
    observed = np.array([[0.3, 0.97, 0.1], [0.5, 0.0, 0.8]]).reshape(1, 2, 3, 1)
    fitted = np.array([[1, 1, 1], [1, 1, 0]], float).reshape(1, 2, 3, 1)
    projected = Downsample(2).project_onto_data(
        tf.constant(images), tf.constant(observed), tf.constant(fitted),
        tf.constant(0.0, tf.float64), tf.constant(1.0, tf.float64)).numpy().ravel()
    blocks = np.arange(24).reshape(2, 2, 3, 2).transpose(0, 2, 1, 3).reshape(6, 4)
    kept = fitted.ravel() > 0
    constraints = [{"type": "eq", "fun": (lambda x, b=b, f=f: x[b].mean() - f)}
                   for b, f, keep in zip(blocks, observed.ravel(), kept) if keep]
    result = optimize.minimize(lambda x: 0.5 * np.sum((x - images.ravel()) ** 2), np.full(24, 0.5),
                               jac=lambda x: x - images.ravel(), constraints=constraints,
                               bounds=[(0, 1)] * 24, method="SLSQP", options={"ftol": 1e-14, "maxiter": 500})
    assert result.success
    np.testing.assert_allclose(projected, result.x, atol=1e-6)
    np.testing.assert_allclose(projected[blocks[kept]].mean(axis=1), observed.ravel()[kept], atol=1e-12)
