"""Images beyond the whole-image budget: denoising decodes them whole, solves tiles (issue 18).

A 12 MP colour photo or a 4096x4096 grey PNG is beyond the default solve
budget (:func:`tvrestore.runs.plan.max_pixels`). Denoising it is not refused:
:func:`tvrestore.runs.plan.route` decides from the header that it is decoded
whole, in its own dtype, and solved in tiles (:func:`tvrestore.runs.tiles.restore_decoded`),
then written as the input was stored. Here ``--max-pixels`` lowers the
limit so that a 128x128 image is "big".
"""

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

from hostile_helpers import FAST, check_run, png
from hostile_helpers import WORKTREE, LimitedRunner, zeros_png
from tvrestore import io
from tvrestore.io import images as io_images
from tvrestore.runs import plan

da = pytest.importorskip("dask.array")

WEIGHT = 0.1
# test_tiles.py's exact solve: pdhg to a certified gap of 1e-6 (what tiles get without --solver).
EXACT = {"solver": "pdhg", "gap": 1e-6, "max_iter": 100000}
# 128x128 solves as 16384 values, beyond this; held whole three times as
# uint16 (98 KB) it leaves room for 32x32 tiles with the halo of w = 0.1 (32).
LIMIT = "12000"


@pytest.fixture(scope="module")
def noisy16() -> np.ndarray:
    """128x128 uint16 with edges of several sizes and noise."""
    rng = np.random.default_rng(3)
    y, x = np.mgrid[:128, :128]
    clean = 0.2 + 0.5 * ((x // 24 + y // 40) % 2) + 0.2 * (np.hypot(x - 80, y - 48) < 20)
    noisy = np.clip(clean + 0.1 * rng.standard_normal(clean.shape), 0, 1)
    return np.rint(noisy * 65535).astype(np.uint16)


def entries(path: Path) -> list[dict]:
    return json.loads(path.read_text())["results"]


def test_denoising_beyond_the_limit_goes_to_tiles_from_the_header(tmp_path, monkeypatch):
    # The images main refused: a 12 MP colour photo, a 4096x4096 grey PNG,
    # exactly io.MAX_PIXELS, and a row whose solve is padded to 16 rows.
    def no_decoding(*args):
        raise AssertionError("decoded to decide")

    for shape in [(3000, 4000, 3), (4096, 4096), (16384, 8192), (1, 1_000_000)]:
        path = zeros_png(tmp_path, "big.png", shape)
        monkeypatch.setattr(io_images, "_decode_pillow", no_decoding)
        header, route = plan.check_single(plan.FileJob(input=path, output=tmp_path / "out.png"))
        monkeypatch.undo()
        assert route.in_tiles, shape
        tile, halo = plan.largest_tile(shape, route.tile_values, halo=32, largest=2048)
        assert plan.solve_values((tile + 2 * halo, tile + 2 * halo, *shape[2:]))[1] \
            <= route.tile_values < plan.max_pixels()
    small = zeros_png(tmp_path, "small.png", (2048, 2048))
    assert not plan.check_single(plan.FileJob(input=small, output=tmp_path / "o.png"))[1].in_tiles


def test_a_big_image_is_restored_in_tiles_and_agrees_with_the_whole_image_minimizer(
        tmp_path, runner, noisy16):
    from tvrestore.api import denoise

    png(tmp_path, "big.png", noisy16)
    result = check_run(runner, tmp_path, ["big.png", "--max-pixels", LIMIT, "--weight", "0.1",
                                          "--report", "r.json"], 0,
                       outputs=["big_tv.png", "r.json"])
    assert "restored in tiles of 32x32 pixels, halo 32" in result.stdout
    (entry,) = entries(tmp_path / "r.json")
    assert (entry["tile"], entry["halo"], entry["solver"]) == ([32, 32], 32, "pdhg")
    assert entry["certified_gap"] <= EXACT["gap"]
    restored = io.read_image(tmp_path / "big_tv.png")
    assert restored.dtype == np.uint16 and restored.shape == noisy16.shape
    whole = denoise(noisy16, WEIGHT, **EXACT)[0]
    error = np.abs(restored.astype(np.float64) - whole.astype(np.float64)) / 65535
    assert error.max() <= 1 / 510


def test_alpha_and_colour_pass_through_tiles(tmp_path, runner):
    rgba = np.random.default_rng(5).integers(0, 256, (128, 128, 4), dtype=np.uint8)
    png(tmp_path, "rgba.png", rgba)
    check_run(runner, tmp_path, ["rgba.png", "--max-pixels", "40000", "--solver", "adam",
                                 "-q", *FAST], 0, outputs=["rgba_tv.png"])
    restored = io.read_image(tmp_path / "rgba_tv.png")
    assert restored.dtype == np.uint8 and restored.shape == rgba.shape
    np.testing.assert_array_equal(restored[..., 3], rgba[..., 3])
    assert restored[..., :3].std() < rgba[..., :3].std()


def test_a_batch_restores_its_big_image_in_tiles_and_the_others_together(tmp_path, runner,
                                                                         noisy16):
    png(tmp_path, "in/big.png", noisy16)
    small = np.random.default_rng(1).integers(0, 256, (16, 16), dtype=np.uint8)
    png(tmp_path, "in/a.png", small)
    png(tmp_path, "in/b.png", small)
    check_run(runner, tmp_path, ["in", "-o", "out", "--max-pixels", LIMIT, "--solver", "adam",
                                 "--report", "r.json", *FAST], 0,
              outputs=["out", "out/a.png", "out/b.png", "out/big.png", "r.json"])
    by_name = {Path(entry["input"]).name: entry for entry in entries(tmp_path / "r.json")}
    assert (by_name["big.png"]["tile"], by_name["big.png"]["halo"]) == ([32, 32], 32)
    assert [by_name[name]["tile"] for name in ("a.png", "b.png")] == [None, None]
    assert [by_name[name]["batch_size"] for name in ("a.png", "b.png")] == [2, 2]
    big = io.read_image(tmp_path / "out/big.png")
    assert big.dtype == np.uint16 and big.shape == noisy16.shape
    assert io.read_image(tmp_path / "out/a.png").dtype == np.uint8


def test_a_forward_model_beyond_the_limit_is_still_refused_from_the_header(tmp_path, noisy16):
    png(tmp_path, "big.png", noisy16)
    check_run(LimitedRunner(), tmp_path, ["big.png", "--max-pixels", LIMIT, "--psf", "box:3"], 2,
              ["big.png: too large to restore whole", "--max-pixels", "tiles restore noise only"])


@pytest.mark.parametrize("option", [["--reference", "clean.png"], ["--compare"],
                                    ["--gallery", "g.html"]])
def test_whole_image_options_on_a_tiled_image_are_usage_errors_before_any_work(
        tmp_path, noisy16, option):
    png(tmp_path, "big.png", noisy16)
    png(tmp_path, "clean.png", noisy16)
    check_run(LimitedRunner(), tmp_path, ["big.png", "--max-pixels", LIMIT, *option], 2,
              ["big.png: restored in tiles", f"so {option[0]} cannot be used", "--max-pixels"])


def test_without_dask_the_refusal_names_the_extra_and_the_limit(tmp_path, noisy16):
    png(tmp_path, "big.png", noisy16)
    before = sorted(os.listdir(tmp_path))
    # None in sys.modules: "dask" cannot be imported, as when the extra is not installed.
    program = ("import sys; sys.modules['dask'] = None; from tvrestore.cli.app import main; "
               "main(sys.argv[1:], prog_name='tvrestore')")
    done = subprocess.run(
        [sys.executable, "-c", program, "big.png", "--max-pixels", LIMIT], cwd=tmp_path,
        capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(WORKTREE)},
        timeout=60)
    assert done.returncode == 2, done.stderr
    (line,) = done.stderr.splitlines()
    assert line.startswith("Error: big.png: too large to restore whole")
    assert "needs the dask extra (missing: dask): pip install 'tvrestore[dask]'" in line
    assert "--max-pixels" in line
    assert sorted(os.listdir(tmp_path)) == before


def test_a_cluster_worker_restores_a_big_image_in_tiles(tmp_path, runner, noisy16):
    pytest.importorskip("distributed")
    png(tmp_path, "in/big.png", noisy16)
    png(tmp_path, "in/a.png", np.random.default_rng(1).integers(0, 256, (16, 16), dtype=np.uint8))
    check_run(runner, tmp_path, ["in", "-o", "out", "--workers", "1", "--max-pixels", LIMIT,
                                 "--solver", "adam", "--report", "r.json", "-q", *FAST], 0,
              outputs=["out", "out/a.png", "out/big.png", "r.json"])
    by_name = {Path(entry["input"]).name: entry for entry in entries(tmp_path / "r.json")}
    assert (by_name["big.png"]["tile"], by_name["a.png"]["tile"]) == ([32, 32], None)
    big = io.read_image(tmp_path / "out/big.png")
    assert big.dtype == np.uint16 and big.shape == noisy16.shape


def test_a_batch_claims_a_big_image_but_decodes_it_only_when_its_turn_comes(tmp_path,
                                                                            monkeypatch):
    from tvrestore.runs import batch
    from tvrestore.runs.claims import Claims

    monkeypatch.setenv(plan.MAX_PIXELS_VARIABLE, LIMIT)
    job = plan.FileJob(input=zeros_png(tmp_path, "big.png", (128, 128)),
                       output=tmp_path / "out" / "big.png")

    def no_decoding(*args):
        raise AssertionError("decoded while reading ahead")

    monkeypatch.setattr(io_images, "_decode_pillow", no_decoding)
    claims = Claims()
    try:
        assert batch._read(job, claims) == job  # for the batch to decode alone, later
        assert not claims.acquire(job.output)  # already claimed by this run
    finally:
        claims.release_all()


def test_a_long_thin_image_beyond_the_tiles_count_is_refused_from_the_header(tmp_path):
    # 1 x 100,000,000 decodes (io.MAX_PIXELS) but would plan 48,829 tiles.
    zeros_png(tmp_path, "row.png", (1, 100_000_000))
    check_run(LimitedRunner(), tmp_path, ["row.png", "-o", "out.png"], 2,
              ["row.png: too large to restore whole", "too long and thin for tiles",
               "48829 tiles", "--max-pixels"])
