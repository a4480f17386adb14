"""The command line on volumes: --axes, --spacing, the file's spacing, and usage errors before TensorFlow."""

import numpy as np
import pytest
import tifffile
from click.testing import CliRunner

import reference
from cli_helpers import load_report
from hostile_helpers import LimitedRunner, check_run, png
from tvrestore.cli.app import main
from tvrestore.io.volumes import read_volume_header


def imagej_stack(path, shape=(6, 20, 22), seed=0):
    clean = reference.smooth_blobs(shape, seed=seed)
    noisy = clean + 0.05 * np.random.default_rng(seed).standard_normal(shape)
    pixels = (np.clip(noisy, 0, 1) * 65535).astype(np.uint16)
    tifffile.imwrite(path, pixels, imagej=True, resolution=(1 / 0.357, 1 / 0.357),
                     metadata={"spacing": 2.0, "unit": "micron", "axes": "ZYX"})
    return path


def test_a_stack_is_denoised_with_the_file_spacing_and_written_back_with_it(tmp_path):
    source = imagej_stack(tmp_path / "stack.tif")
    out, report = tmp_path / "out.tif", tmp_path / "report.json"
    result = CliRunner().invoke(main, [str(source), "-o", str(out), "--weight", "0.05",
                                       "--solver", "pdhg", "--report", str(report)])
    assert result.exit_code == 0, result.output
    assert "axes ZYX, spacing 2 x 0.357 x 0.357" in result.stdout
    written = read_volume_header(out)
    assert (written.format, written.axes, written.shape) == ("ImageJ", "ZYX", (6, 20, 22))
    assert written.sizes == pytest.approx({"Z": 2.0, "Y": 0.357, "X": 0.357}, rel=1e-6)
    assert written.units == {"Z": "µm", "Y": "µm", "X": "µm"}
    entry = load_report(report)
    assert entry["axes"] == "ZYX" and entry["spacing"] == pytest.approx([2.0, 0.357, 0.357])
    assert entry["certified_gap"] <= 1e-4


def test_spacing_given_overrides_and_a_stack_with_none_is_said_once(tmp_path):
    source = tmp_path / "pages.tif"
    tifffile.imwrite(source, (reference.smooth_blobs((5, 16, 18)) * 255).astype(np.uint8))
    result = CliRunner().invoke(main, [str(source), "--weight", "0.05", "--max-iter", "50"])
    assert result.exit_code == 0, result.output
    assert result.stderr.count("spacing 1 assumed") == 1
    assert "axes ZYX, spacing 1 (every axis)" in result.stdout
    result = CliRunner().invoke(main, [str(source), "--weight", "0.05", "--max-iter", "50",
                                       "--spacing", "3,1,1", "--overwrite"])
    assert result.exit_code == 0, result.output
    assert "spacing 1 assumed" not in result.stderr and "spacing 3 x 1 x 1" in result.stdout
    assert tifffile.imread(tmp_path / "pages_tv.tif").shape == (5, 16, 18)


@pytest.mark.parametrize("args, words", [
    (["--spacing", "0,1,1"], ["--spacing", "positive"]),
    (["--spacing", "-2,1,1"], ["--spacing", "positive"]),
    (["--spacing", "nan,1,1"], ["--spacing", "positive"]),
    (["--spacing", "2,x,1"], ["--spacing", "not numbers"]),
    (["--spacing", "2,1"], ["stack.tif", "need 3"]),
    (["--axes", "ZYXC"], ["stack.tif", "name 4 axes", "(6, 20, 22)"]),
    (["--axes", "ZYQ"], ["--axes", "unknown letter"]),
    (["--psf", "gaussian:1"], ["stack.tif", "2-D PSF gaussian:1", "gaussian:SZ,SY,SX"]),
    (["--psf", "gaussian:9,1,1"], ["stack.tif", "larger than the volume (6x20x22)"]),
    (["--psf", "gaussian:1,2"], ["gaussian:1,2", "three (gaussian:SZ,SY,SX)"]),
    (["--upscale", "2"], ["stack.tif", "upscaling takes 2-D images"]),
    (["--noise", "poisson", "--gain", "0"], ["--gain"]),
    (["--tile", "16", "--halo", "32"], ["--halo 32", "at most the tile side, 16"]),
    (["--tile", "16", "--psf", "gaussian:1,1,1"], ["stack.tif", "--psf", "whole volume"]),
    (["--tile", "16", "--reference", "stack.tif"], ["stack.tif", "--reference"]),
    (["--workers", "2"], ["stack.tif", "--workers", "need --tile"]),
    (["--figure", "f.gif"], ["f.gif", "unsupported figure type"]),
    (["--figure", "f.png", "--zoom", "20,0,4,4"], ["--zoom", "inside the 22x20 image"]),
    (["--compare", "--psf", "gaussian:0.5,1,1"], ["stack.tif", "--compare", "denoisers"]),
])
def test_bad_volume_options_are_usage_errors_before_tensorflow(tmp_path, args, words):
    imagej_stack(tmp_path / "stack.tif")
    # A child under an address-space limit that TensorFlow does not fit in.
    check_run(LimitedRunner(), tmp_path, ["stack.tif", *args], 2, words)


def test_a_3d_psf_on_a_2d_image_is_a_usage_error_before_tensorflow(tmp_path):
    png(tmp_path, "flat.png")
    np.save(tmp_path / "psf.npy", np.full((3, 3, 3), 1 / 27))
    check_run(LimitedRunner(), tmp_path, ["flat.png", "--psf", "psf.npy"], 2, ["psf.npy", "2-D"])
    check_run(LimitedRunner(), tmp_path, ["flat.png", "--psf", "gaussian:1,2,3"], 2, ["gaussian"])
    check_run(LimitedRunner(), tmp_path, ["flat.png", "--spacing", "1,1"], 2, ["--spacing"])


def test_a_stack_is_deblurred_and_inpainted_with_a_3d_psf_and_mask(tmp_path):
    source = imagej_stack(tmp_path / "stack.tif", shape=(8, 16, 18))
    missing = np.random.default_rng(1).random((8, 16, 18)) < 0.2
    tifffile.imwrite(tmp_path / "mask.tif", missing.astype(np.uint8), imagej=True,
                     metadata={"axes": "ZYX"})
    np.save(tmp_path / "bead.npy", np.ones((3, 3, 3)))
    out, report = tmp_path / "out.tif", tmp_path / "report.json"
    result = CliRunner().invoke(main, [str(source), "-o", str(out), "--psf", str(tmp_path / "bead.npy"),
                                       "--mask", str(tmp_path / "mask.tif"), "--weight", "0.02",
                                       "--solver", "pdhg", "--report", str(report)])
    assert result.exit_code == 0, result.output
    written = read_volume_header(out)
    assert (written.axes, written.shape) == ("ZYX", (8, 16, 18))
    assert written.sizes == pytest.approx({"Z": 2.0, "Y": 0.357, "X": 0.357}, rel=1e-6)
    entry = load_report(report)
    assert entry["task"] == "deblur+inpaint" and entry["certified_gap"] <= 1e-4
    assert entry["spacing"] == pytest.approx([2.0, 0.357, 0.357])


def test_a_mask_of_another_shape_is_a_usage_error_before_tensorflow(tmp_path):
    imagej_stack(tmp_path / "stack.tif")
    tifffile.imwrite(tmp_path / "mask.tif", np.zeros((5, 20, 22), np.uint8), imagej=True,
                     metadata={"axes": "ZYX"})
    check_run(LimitedRunner(), tmp_path, ["stack.tif", "--mask", "mask.tif"], 2,
              ["mask.tif", "5x20x22", "6x20x22"])


def write_stack(path, pixels, spacing=4.0):
    """A ZYX ImageJ stack of unit-range values as uint16, with a Z step ``spacing`` x the pixel."""
    tifffile.imwrite(path, (np.clip(pixels, 0, 1) * 65535).round().astype(np.uint16), imagej=True,
                     resolution=(1, 1), metadata={"spacing": spacing, "unit": "micron",
                                                  "axes": "ZYX"})
    return path


def noisy_and_clean(tmp_path, shape=(8, 24, 24)):
    clean = reference.smooth_blobs(shape, seed=4)
    noisy = clean + 0.08 * np.random.default_rng(4).standard_normal(shape)
    return write_stack(tmp_path / "noisy.tif", noisy), write_stack(tmp_path / "clean.tif", clean)


def test_a_reference_scores_a_volume_in_3d_and_compare_adds_3d_and_plane_rows(tmp_path):
    from skimage.metrics import structural_similarity

    noisy, clean = noisy_and_clean(tmp_path)
    out, report, figure, gallery = (tmp_path / name for name in (
        "out.tif", "report.json", "figure.png", "gallery.html"))
    result = CliRunner().invoke(main, [
        str(noisy), "-o", str(out), "--weight", "0.06", "--reference", str(clean), "--compare",
        "--report", str(report), "--figure", str(figure), "--gallery", str(gallery)])
    assert result.exit_code == 0, result.output
    entry = load_report(report)
    # Independent of tvrestore's metrics: the files as written, in float64.
    restored = tifffile.imread(out).astype(np.float64) / 65535
    truth = tifffile.imread(clean).astype(np.float64) / 65535
    expected = 10 * np.log10(1 / np.mean((restored - truth) ** 2))
    assert entry["psnr"] == pytest.approx(expected, abs=1e-4)
    assert entry["ssim"] == pytest.approx(
        structural_similarity(truth, restored, data_range=1.0, win_size=7), abs=1e-4)
    assert f"PSNR {expected:.2f} dB" in result.stdout
    methods = [row["method"] for row in entry["compare"]]
    assert methods == ["tvrestore (adam)", "skimage chambolle 3-D",
                       "skimage chambolle slice by slice"]
    assert all(row["weight"] == 0.06 for row in entry["compare"])
    assert entry["compare"][0]["psnr"] == entry["psnr"]
    assert "skimage chambolle slice by slice" in result.stdout
    assert figure.stat().st_size > 0
    page = gallery.read_text()
    for alt in ("before: ", "before, max: ", "after: ", "after, max: "):
        assert f'alt="{alt}{noisy}"' in page


def test_a_reference_of_another_shape_is_a_usage_error_before_tensorflow(tmp_path):
    noisy_and_clean(tmp_path)
    write_stack(tmp_path / "short.tif", np.zeros((7, 24, 24)))
    check_run(LimitedRunner(), tmp_path, ["noisy.tif", "--reference", "short.tif", "--compare"], 2,
              ["short.tif", "7x24x24", "8x24x24"])
    tifffile.imwrite(tmp_path / "flat.tif", np.zeros((24, 24), np.uint16))
    check_run(LimitedRunner(), tmp_path, ["noisy.tif", "--reference", "flat.tif"], 2,
              ["flat.tif", "24x24", "8x24x24"])
