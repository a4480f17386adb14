"""The weight search's calls: chunking them for the cache changes no weight."""

import numpy as np
import pytest

from tvrestore.tuning import autoweight


def _noisy(shape, seed):
    rng = np.random.default_rng(seed)
    yy, xx = np.mgrid[: shape[0], : shape[1]]
    clean = ((yy // 8 + xx // 8) % 2 * 0.6 + 0.2)[..., None] * np.ones(shape[2])
    return np.clip(clean + 0.1 * rng.standard_normal(shape), 0, 1).astype(np.float32)


@pytest.mark.parametrize("channels", [1, 3])
def test_chunked_calls_choose_the_same_weights_as_one_call(monkeypatch, channels):
    units = [_noisy((40, 48, channels), seed) for seed in range(3)]

    monkeypatch.setattr(autoweight, "_CALL_VALUES", 2**40)  # every problem in one call
    whole, _ = autoweight.choose_weights(units, ["auto"] * 3, "isotropic", "vectorial")
    # 5 crops a call: 42 problems in 9 calls, the last padded with copies.
    monkeypatch.setattr(autoweight, "_CALL_VALUES", 5 * 40 * 48 * channels)
    chunked, _ = autoweight.choose_weights(units, ["auto"] * 3, "isotropic", "vectorial")

    # Equal up to float32 rounding: XLA may vectorize a colour call's sums in
    # another order for another batch size (grey comes out bit-identical).
    assert [c.weight for c in chunked] == pytest.approx([c.weight for c in whole], rel=1e-5)
    assert all(c.weight > 0 for c in whole)


def test_chunk_size_keeps_a_call_within_its_values_and_takes_at_least_one_crop():
    assert autoweight._chunk_size((256, 256, 1), 100) == autoweight._CALL_VALUES // 256**2
    assert autoweight._chunk_size((256, 256, 1), 3) == 3
    assert autoweight._chunk_size((4096, 4096, 3), 10) == 1


@pytest.mark.parametrize("channels", [1, 3])
def test_the_walk_down_the_risk_keeps_the_whole_grids_weight_with_fewer_solves(monkeypatch, channels):
    # Textures and noise levels whose least risk falls at several places of
    # the grid, its ends included.
    units = [_noisy((40, 48, channels), seed) for seed in range(3)]
    units += [np.clip(units[0] + offset, 0, 1) * scale for offset, scale in ((0.0, 0.1), (0.3, 0.5))]
    solved = []
    record = autoweight._Search.record

    def counting(self, chosen, solutions):
        solved.extend(chosen)
        record(self, chosen, solutions)

    monkeypatch.setattr(autoweight._Search, "record", counting)
    walked, _ = autoweight.choose_weights(units, ["auto"] * len(units), "isotropic", "vectorial")
    walked_solves = len(solved)

    def every_candidate(self):
        return [] if np.isfinite(self.risks).any() else list(range(len(self.candidates)))

    monkeypatch.setattr(autoweight._Search, "next_candidates", every_candidate)
    whole, _ = autoweight.choose_weights(units, ["auto"] * len(units), "isotropic", "vectorial")

    assert [c.weight for c in walked] == pytest.approx([c.weight for c in whole], rel=1e-5)
    grid = len(autoweight.noise.SURE_CANDIDATE_FACTORS)
    assert walked_solves <= 5 * len(units) < grid * len(units)


def test_a_volumes_sharpened_score_skips_a_psf_radius_at_each_face_and_pairs_exactly():
    """Generalized SURE through a 3-D PSF: the score M W, its pairing W^T M W and trace.

    M leaves out the values within the PSF's radius of a face (where the
    crop's 'valid' data differ from the circular blur W inverts); the
    divergence's probe pairing must be the score's own W^T M W, and the
    spread the mean of diag(W^T M W), or the risk estimate is biased.
    """
    from tvrestore.models.psf import parse_psf

    psf = parse_psf("gaussian:1,0.6,0.6")
    radius = [(k - 1) // 2 for k in psf.shape]
    shape = (12, 8, 8)
    sharpen = autoweight._Sharpening(psf, shape)
    rng = np.random.default_rng(3)
    a, b = rng.standard_normal((2, *shape, 1))
    scored = sharpen.filter(a)
    band = np.ones(shape, bool)
    band[tuple(slice(r, side - r) for r, side in zip(radius, shape))] = False
    assert band.any() and np.all(scored[band] == 0) and np.all(scored[~band] != 0)
    np.testing.assert_allclose(np.sum(scored * sharpen.filter(b)), np.sum(a * sharpen.filter_twice(b)),
                               rtol=1e-9)
    diagonal = []
    for index in range(int(np.prod(shape))):
        unit = np.zeros(int(np.prod(shape)))
        unit[index] = 1.0
        diagonal.append(np.sum(sharpen.filter(unit.reshape(*shape, 1)) ** 2))
    assert sharpen.spread == pytest.approx(np.mean(diagonal), rel=1e-9)
