"""Round trips: every dtype and channel layout in, the same dtype and layout out.

Through the library (:func:`tvrestore.denoise`, arrays) for every
combination, and through the command line (files) for a subset. The
properties a user relies on: the output has the input's dtype and shape,
alpha comes back byte-identical, integers stay in range (saturate, never
wrap), floats are not clipped, a flat image is left alone, and the error
against the clean image goes down.
"""

import numpy as np
import pytest
from click.testing import CliRunner

from sample_images import H, LAYOUTS, W, read_back
from tvrestore import denoise
from tvrestore.cli.app import main

WEIGHT = 0.1  # right for the fixtures' noise level (sigma 0.08)
DTYPES = ["uint8", "uint16", "float32", "float64"]
INTEGER_MAX = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}


def colour_unit(pixels):
    """The colour channels (alpha dropped) as float64 in [0, 1] units, (H, W, C)."""
    pixels = np.asarray(pixels)
    if pixels.ndim == 2:
        pixels = pixels[..., None]
    if pixels.shape[2] in (2, 4):
        pixels = pixels[..., :-1]
    unit = pixels.astype(np.float64)
    return unit / INTEGER_MAX.get(pixels.dtype, 1)


def psnr(clean, image):
    error = np.mean((colour_unit(clean) - colour_unit(image)) ** 2)
    return 10 * np.log10(1.0 / error)


def alpha_of(pixels):
    return pixels[..., -1] if pixels.ndim == 3 and pixels.shape[2] in (2, 4) else None


# --- library -----------------------------------------------------------------


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_denoise_keeps_dtype_layout_and_alpha_and_reduces_error(make_pair, dtype, layout):
    clean, noisy = make_pair(dtype, layout)
    original = noisy.copy()

    restored, result = denoise(noisy, WEIGHT)

    assert restored.dtype == noisy.dtype
    assert restored.shape == noisy.shape
    np.testing.assert_array_equal(noisy, original)  # the input array is not modified
    if alpha_of(noisy) is not None:
        assert alpha_of(restored).tobytes() == alpha_of(noisy).tobytes()
    assert result.converged
    assert psnr(clean, restored) > psnr(clean, noisy) + 6  # about 22 dB -> 33 dB


@pytest.mark.parametrize("dtype", ["uint8", "uint16"])
def test_integer_output_is_the_float_result_in_range(make_pair, dtype):
    # A full-range image (flat regions at 0 and at the dtype's maximum):
    # the integer result is the float result scaled by the dtype's maximum,
    # clipped and rounded; no wrap-around, no scaling by the wrong maximum.
    clean, noisy = make_pair(dtype, "grey", lo=0.0, hi=1.0)
    top = INTEGER_MAX[np.dtype(dtype)]

    restored, _ = denoise(noisy, WEIGHT)
    as_float, _ = denoise((noisy / top).astype(np.float32), WEIGHT)

    expected = np.rint(np.clip(as_float, 0, 1) * top)
    # The two solves agree to the solver's accuracy (a few 1e-4), not exactly.
    assert np.abs(restored - expected).max() <= max(1, 2e-3 * top)
    assert restored[clean == top].min() > top / 2
    assert restored[clean == 0].max() < top / 2
    # No PSNR claim here: clipping at 0 and max biases the noise, and TV
    # keeps the biased mean of a flat region.


@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_float_output_is_not_clipped(make_pair, dtype):
    clean, noisy = make_pair(dtype, "grey", sigma=0.05, lo=-0.2, hi=1.3)

    restored, _ = denoise(noisy, WEIGHT)

    assert restored.dtype == np.dtype(dtype)
    # Large flat regions keep their level up to a small contrast loss.
    assert restored.min() < -0.1
    assert restored.max() > 1.2
    assert psnr(clean, restored) > psnr(clean, noisy) + 3


@pytest.mark.parametrize("layout", list(LAYOUTS))
@pytest.mark.parametrize("dtype", DTYPES)
def test_constant_image_comes_back_unchanged(dtype, layout):
    channels = LAYOUTS[layout]
    dtype = np.dtype(dtype)
    level = {np.dtype(np.uint8): 77, np.dtype(np.uint16): 40000}.get(dtype, 0.37)
    image = np.full((H, W, *channels), level, dtype)
    if alpha_of(image) is not None:
        top = INTEGER_MAX.get(dtype, 1)
        image[..., -1] = (np.arange(H * W).reshape(H, W) % 7 * top / 6).astype(dtype)

    restored, _ = denoise(image, WEIGHT)

    assert restored.dtype == dtype and restored.shape == image.shape
    if dtype.kind == "u":
        np.testing.assert_array_equal(restored, image)
    else:
        np.testing.assert_allclose(restored, image, rtol=0, atol=1e-6)


def test_default_auto_weight_denoises(make_pair):
    clean, noisy = make_pair("uint8", "grey")

    restored, result = denoise(noisy)

    assert result.weight_auto and result.weight > 0 and result.noise_sigma > 0
    assert psnr(clean, restored) > psnr(clean, noisy) + 3


# --- command line --------------------------------------------------------------

CLI_CASES = [
    # suffix, dtype, layout
    (".png", "uint8", "grey"),
    (".png", "uint16", "grey"),
    (".png", "uint8", "grey_alpha"),
    (".png", "uint8", "rgb"),
    (".png", "uint8", "rgba"),
    (".tif", "uint8", "grey1"),
    (".tif", "uint16", "grey"),
    (".tif", "uint16", "rgb"),
    (".tif", "float32", "grey"),
    (".tif", "float32", "rgba"),
    (".bmp", "uint8", "rgb"),
    (".jpg", "uint8", "grey"),
    (".jpg", "uint8", "rgb"),
]

MAGIC = {
    ".png": (b"\x89PNG\r\n\x1a\n",),
    ".tif": (b"II*\x00", b"MM\x00*", b"II+\x00", b"MM\x00+"),
    ".bmp": (b"BM",),
    ".jpg": (b"\xff\xd8\xff",),
}


@pytest.mark.parametrize(
    "suffix, dtype, layout", CLI_CASES, ids=["-".join(case).lstrip(".") for case in CLI_CASES]
)
def test_cli_round_trip(make_pair, write_image, suffix, dtype, layout):
    # JPEG subsamples chroma: give its colour channels shared edges.
    clean, noisy = make_pair(dtype, layout, shared_edges=suffix == ".jpg")
    path = write_image(f"noisy{suffix}", noisy)
    as_read = read_back(path)  # JPEG is lossy: compare with what is on disk

    result = CliRunner().invoke(main, [str(path), "--weight", str(WEIGHT)])

    assert result.exit_code == 0, result.output
    output = path.with_name(f"noisy_tv{suffix}")
    assert output.read_bytes().startswith(MAGIC[suffix])
    restored = read_back(output)
    assert restored.dtype == as_read.dtype == np.dtype(dtype)
    assert restored.shape == as_read.shape == noisy.shape
    if alpha_of(noisy) is not None:
        assert alpha_of(restored).tobytes() == alpha_of(noisy).tobytes()
    assert psnr(clean, restored) > psnr(clean, as_read) + 5


def test_cli_float_tiff_is_float32_and_not_clipped(make_pair, write_image):
    clean, noisy = make_pair("float32", "grey", sigma=0.05, lo=-0.2, hi=1.3)
    path = write_image("float.tif", noisy)
    output = path.with_name("float_tv.tif")

    result = CliRunner().invoke(main, [str(path), "--weight", str(WEIGHT)])

    assert result.exit_code == 0, result.output
    restored = read_back(output)
    assert restored.dtype == np.float32 and restored.shape == noisy.shape
    assert restored.min() < -0.1 and restored.max() > 1.2
    assert psnr(clean, restored) > psnr(clean, noisy) + 3


@pytest.mark.parametrize("name, dtype, level", [("flat.png", "uint8", 77),
                                                ("flat.tif", "uint16", 40000),
                                                ("flat_float.tif", "float32", 0.37)])
def test_cli_constant_image_comes_back_unchanged(write_image, name, dtype, level):
    image = np.full((H, W), level, dtype)
    path = write_image(name, image)

    result = CliRunner().invoke(main, [str(path), "--weight", str(WEIGHT)])

    assert result.exit_code == 0, result.output
    restored = read_back(path.with_name(path.stem + "_tv" + path.suffix))
    assert restored.dtype == image.dtype and restored.shape == image.shape
    np.testing.assert_allclose(restored, image, rtol=0, atol=1e-6)


@pytest.mark.parametrize("compression", ["lzw", "zlib"])
def test_a_miniswhite_compressed_tiff_comes_out_stored_as_it_went_in(compression, make_pair, tmp_path):
    import tifffile

    clean, noisy = make_pair("uint16", "grey")
    source = tmp_path / "scan.tif"
    # Stored inverted, as MINISWHITE scanners write: 0 is white.
    tifffile.imwrite(source, 65535 - noisy, photometric="miniswhite", compression=compression)
    output = tmp_path / "restored.tif"

    done = CliRunner().invoke(main, [str(source), "-o", str(output), "--weight", str(WEIGHT)])

    assert done.exit_code == 0, done.output
    with tifffile.TiffFile(output) as tif:
        page = tif.pages[0]
        assert page.photometric == tifffile.PHOTOMETRIC.MINISWHITE
        stored = page.asarray()
    with tifffile.TiffFile(source) as tif:
        assert page.compression == tif.pages[0].compression
    displayed = 65535 - stored.astype(np.int64)
    assert psnr(clean, displayed.astype(np.uint16)) > psnr(clean, noisy) + 3
