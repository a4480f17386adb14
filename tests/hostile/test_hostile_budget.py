"""One size budget on every path, and PSFs and JPEGs that ask for more than they hold (issue 18).

Each case checks the four promises of test_hostile.py (exit code, exactly
one ``Error:`` line and no traceback, every file byte-identical, no stray
file), through its ``check_run``. The cases that a regression would turn
into gigabytes run in a child process under ``RLIMIT_AS`` and a deadline:
they must be refused from headers, before TensorFlow loads (which alone
maps more address space than the limit), so a regression fails the test
instead of filling the machine or hanging it.
"""

import json
import os
import struct
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image

from hostile_helpers import FAST, LimitedRunner, check_run, png, zeros_png
from tvrestore.runs import plan
from tvrestore.errors import TVRestoreError
from tvrestore.io.psf import load_psf


def forged_jpeg(root, name, height, width):
    """A real 16x16 JPEG whose frame header claims height x width."""
    path = Path(root, name)
    Image.fromarray(np.full((16, 16), 128, np.uint8)).save(path, "JPEG")
    data = bytearray(path.read_bytes())
    frame = data.index(b"\xff\xc0")
    data[frame + 5 : frame + 9] = struct.pack(">HH", height, width)
    path.write_bytes(bytes(data))
    return path


# --- the budget on the whole-image path: name -> (files(root), args, words) ----------

# Denoising these first three goes to tiles instead (tests/test_big_images.py);
# a forward model, even the identity blur box:1, has to solve them whole.
BUDGET_CASES = {
    # 1 x 1,000,000 is under the limit, its solve padded to 16 rows is not.
    "rows_padded_to_16": (
        lambda root: zeros_png(root, "row.png", (1, 1_000_000)),
        ["row.png", "-o", "out.png", "--psf", "box:1"],
        ["too large to restore whole", "16x", "--max-pixels", "tiles restore noise only"]),
    # Exactly io.MAX_PIXELS: decodable, but its solve would take gigabytes.
    "io_max_pixels": (
        lambda root: zeros_png(root, "big.png", (16384, 8192)),
        ["big.png", "-o", "out.png", "--psf", "box:1"], ["too large to restore whole", "16384x8192"]),
    # Colour counts: 2048x2048 grey fits the forward model's limit, three channels do not.
    "colour_channels": (
        lambda root: zeros_png(root, "rgb.png", (2048, 2048, 3)),
        ["rgb.png", "-o", "out.png", "--psf", "box:1"], ["3 channel(s)", "TVRESTORE_MAX_PIXELS"]),
    "upscaled_output": (
        lambda root: zeros_png(root, "small.png", (1024, 1024)),
        ["small.png", "-o", "out.png", "--upscale", "8"], ["upscaled 8x", "--max-pixels"]),
    # 2304x2304 fits the deblurring limit alone; the PSF's margin makes it 2560x2560.
    "psf_margin": (
        lambda root: zeros_png(root, "fits.png", (2304, 2304)),
        ["fits.png", "-o", "out.png", "--psf", "box:255"], ["with a 255x255 PSF"]),
    # 476 bytes claiming 11000 x 11000 (and 2000 x 2000, within the budget):
    # libjpeg would decode them to grey filler.
    "forged_jpeg_frame": (
        lambda root: forged_jpeg(root, "forged.jpg", 11000, 11000),
        ["forged.jpg", "-o", "out.png"], ["corrupt or truncated", "11000x11000"]),
    "forged_jpeg_within_budget": (
        lambda root: forged_jpeg(root, "forged.jpg", 2000, 2000),
        ["forged.jpg", "-o", "out.png"], ["corrupt or truncated", "2000x2000"]),
}


@pytest.mark.parametrize("name", sorted(BUDGET_CASES))
def test_the_budget_refuses_from_the_header(tmp_path, name):
    files, args, words = BUDGET_CASES[name]
    files(tmp_path)
    check_run(LimitedRunner(), tmp_path, args, 2, words)


# --- PSF specs and files ---------------------------------------------------------------

@pytest.mark.parametrize("spec", [
    "box:1e9", "gaussian:1e4", "disk:1e5", "motion:1e9,0", "gaussian:1e308", "gaussian:1e-320",
])
def test_psf_specs_have_bounded_parameters(tmp_path, spec):
    png(tmp_path, "a.png")
    check_run(LimitedRunner(), tmp_path, ["a.png", "-o", "out.png", "--psf", spec], 2,
              [f"--psf {spec!r}", "at most", "255 pixels"])


def npz_named_npy(root):
    np.savez(Path(root, "k.npz"), kernel=np.ones((3, 3)))
    Path(root, "k.npz").rename(Path(root, "k.npy"))


def npy_header_only(root):
    with open(Path(root, "k.npy"), "wb") as file:
        np.lib.format.write_array_header_1_0(
            file, {"descr": "<f8", "fortran_order": False, "shape": (100000, 100000)})


PSF_FILE_CASES = {
    "npz_named_npy": (npz_named_npy, ["not a .npy array file"]),
    "header_declares_100000_squared": (npy_header_only, ["100000x100000", "at most 255 pixels"]),
    "fifo": (lambda root: os.mkfifo(Path(root, "k.npy")), ["not a regular file"]),
}


@pytest.mark.parametrize("name", sorted(PSF_FILE_CASES))
def test_psf_files_are_checked_before_reading(tmp_path, name):
    files, words = PSF_FILE_CASES[name]
    png(tmp_path, "a.png")
    files(tmp_path)
    check_run(LimitedRunner(), tmp_path, ["a.png", "-o", "out.png", "--psf", "k.npy"], 2,
              ["k.npy", *words])


def test_a_psf_of_huge_values_normalises_without_overflow(tmp_path):
    path = tmp_path / "k.npy"
    np.save(path, np.full((3, 3), 1e308))  # their float64 sum is infinite
    np.testing.assert_allclose(load_psf(str(path)), np.full((3, 3), 1 / 9))


# --- the tiled path: TIFF and zarr headers -----------------------------------------------

def one_strip_tiff(root):
    """A 16x16 deflate TIFF whose tags claim 60000 x 60000 in one strip."""
    path = Path(root, "big.tif")
    tifffile.imwrite(path, np.zeros((16, 16), np.uint8), compression="zlib", rowsperstrip=16)
    data = bytearray(path.read_bytes())
    with tifffile.TiffFile(path) as tif:
        tags = tif.pages[0].tags
        places = [(tags[code].valueoffset, tags[code].dtype) for code in (256, 257, 278)]
    for offset, dtype in places:
        data[offset : offset + (2 if dtype == 3 else 4)] = struct.pack(
            "<H" if dtype == 3 else "<I", 60000)
    path.write_bytes(bytes(data))


def zarr_array(shape, chunks):
    def build(root):
        import zarr

        zarr.open_array(store=str(Path(root, "in.zarr")), mode="w", shape=shape, chunks=chunks,
                        dtype="uint8")
    return build


TILED_CASES = {
    "tiff_one_strip_of_60000_squared": (one_strip_tiff, ["big.tif"],
                                        ["big.tif", "one stored chunk of 60000x60000"]),
    "zarr_of_1e9_squared": (zarr_array((10**9, 10**9), (1024, 1024)), ["in.zarr"],
                            ["in.zarr", "absurd image size", "even in tiles"]),
    "zarr_of_one_pixel_chunks": (zarr_array((4096, 4096), (1, 1)), ["in.zarr"],
                                 ["in.zarr", "16777216 stored chunks"]),
    "zarr_of_one_huge_chunk": (zarr_array((20000, 20000), (20000, 20000)), ["in.zarr"],
                               ["in.zarr", "one stored chunk of 20000x20000"]),
}


@pytest.mark.parametrize("name", sorted(TILED_CASES))
def test_the_tiled_path_refuses_from_the_header(tmp_path, name):
    pytest.importorskip("dask")
    files, args, words = TILED_CASES[name]
    files(tmp_path)
    output = "out.zarr" if args[0].endswith(".zarr") else "out.tif"
    check_run(LimitedRunner(), tmp_path, [*args, "-o", output, "--tile", "256"], 2, words)


# --- the limit: its option, its variable, every path ----------------------------------

def test_max_pixels_option_lowers_the_limit(tmp_path):
    png(tmp_path, "a.png")
    check_run(LimitedRunner(), tmp_path, ["a.png", "-o", "out.png", "--max-pixels", "100"], 2,
              ["too large to restore whole", "limit of 100"])


@pytest.mark.parametrize("value", ["0", "-5", "many", "1.5"])
def test_a_bad_max_pixels_is_a_usage_error_before_any_work(tmp_path, value):
    png(tmp_path, "a.png")
    check_run(LimitedRunner(), tmp_path, ["a.png", "-o", "out.png", "--max-pixels", value], 2,
              ["--max-pixels"])


def test_max_pixels_variable_lowers_the_limit(tmp_path):
    png(tmp_path, "a.png")
    check_run(LimitedRunner({plan.MAX_PIXELS_VARIABLE: "100"}), tmp_path,
              ["a.png", "-o", "out.png"], 2, ["too large to restore whole", "limit of 100"])


def test_a_batch_refuses_each_file_beyond_the_limit_and_restores_the_rest(
        tmp_path, runner, monkeypatch):
    monkeypatch.setenv(plan.MAX_PIXELS_VARIABLE, "1000")
    png(tmp_path, "in/small.png", np.zeros((16, 16), np.uint8))
    png(tmp_path, "in/large.png", np.zeros((64, 64), np.uint8))
    check_run(runner, tmp_path, ["in", "-o", "out", *FAST], 1,
              ["in/large.png", "too large to restore whole"],
              outputs=["out", "out/small.png"], error_lines=1)


def test_the_limit_reaches_the_batch_path_before_decoding(tmp_path, monkeypatch):
    from tvrestore.io import images as io_images
    from tvrestore.runs import batch

    monkeypatch.setenv(plan.MAX_PIXELS_VARIABLE, "1000")
    job = plan.FileJob(input=png(tmp_path, "large.png", np.zeros((64, 64), np.uint8)),
                       output=tmp_path / "out.png")

    def no_decoding(*args):
        raise AssertionError("decoded past the budget")

    monkeypatch.setattr(io_images, "_decode_pillow", no_decoding)
    with pytest.raises(TVRestoreError, match="too large to restore whole"):
        batch._load(job)


def test_the_help_states_the_default_limits(runner):
    from tvrestore.cli.app import main

    shown = " ".join(runner.invoke(main, ["restore", "--help"]).stdout.split())
    assert str(plan.DEFAULT_MAX_PIXELS) in shown
    assert str(plan.DEFAULT_MAX_PIXELS_FORWARD_MODEL) in shown
    assert "TVRESTORE_MAX_PIXELS" in shown


def test_a_batch_checks_the_reference_from_its_header_before_decoding(tmp_path, monkeypatch):
    from tvrestore.io import images as io_images
    from tvrestore.runs import batch

    job = plan.FileJob(input=png(tmp_path, "a.png", np.zeros((16, 16), np.uint8)),
                       output=tmp_path / "out.png",
                       reference=zeros_png(tmp_path, "clean.png", (2000, 2000)))
    decoded = []
    decode = io_images._decode_pillow
    monkeypatch.setattr(io_images, "_decode_pillow",
                        lambda path, *args: decoded.append(path.name) or decode(path, *args))
    with pytest.raises(TVRestoreError, match="clean.png: reference has shape"):
        batch._load(job)
    assert decoded == ["a.png"]


def test_a_batch_solves_together_only_what_fits_the_limit(tmp_path, runner, monkeypatch):
    # Three 16x16 images solve as 256 values each: two fit 600 together, three do not.
    monkeypatch.setenv(plan.MAX_PIXELS_VARIABLE, "600")
    for name in ("a", "b", "c"):
        png(tmp_path, f"in/{name}.png", np.zeros((16, 16), np.uint8))
    check_run(runner, tmp_path, ["in", "-o", "out", "--report", "r.json", *FAST], 0,
              outputs=["out", "out/a.png", "out/b.png", "out/c.png", "r.json"])
    entries = json.loads((tmp_path / "r.json").read_text())["results"]
    assert sorted(entry["batch_size"] for entry in entries) == [1, 2, 2]
