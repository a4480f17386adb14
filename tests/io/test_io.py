"""Tests for tvrestore.io: files in and out, pixel scaling, alpha, naming."""

import os
import struct
import zlib
from pathlib import Path

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from PIL import Image, ImageFile

from tvrestore import io
from tvrestore.io import images as io_images
from tvrestore.runs.naming import default_output_path, list_images
from tvrestore.errors import TVRestoreError

H, W = 8, 10
LAYOUTS = [(H, W), (H, W, 1), (H, W, 2), (H, W, 3), (H, W, 4)]


def make_pixels(dtype, shape, seed=0):
    """Deterministic pixels over the dtype's whole range (floats beyond [0, 1])."""
    rng = np.random.default_rng(seed)
    dtype = np.dtype(dtype)
    if dtype == np.bool_:
        return rng.random(shape) > 0.5
    if dtype.kind == "f":
        return (rng.random(shape) * 1.9 - 0.2).astype(dtype)
    return rng.integers(0, np.iinfo(dtype).max, shape, endpoint=True).astype(dtype)


def png_bytes(width, height, bit_depth, colour_type, pixels=None):
    """A minimal PNG, for files Pillow cannot write; header only if no pixels."""

    def chunk(kind, data):
        crc = struct.pack(">I", zlib.crc32(kind + data))
        return struct.pack(">I", len(data)) + kind + data + crc

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    body = b""
    if pixels is not None:
        big_endian = pixels.astype(pixels.dtype.newbyteorder(">"))
        rows = b"".join(b"\x00" + row.tobytes() for row in big_endian)  # filter 0
        body = chunk(b"IDAT", zlib.compress(rows))
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + body + chunk(b"IEND", b"")


def check_error(excinfo, path, *words):
    """The message is one line, starts with the path and names the problem."""
    message = str(excinfo.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message
    for word in words:
        assert word in message, message


# --- round trips --------------------------------------------------------------


def _lossless_cases():
    """(suffix, dtype, shape written, shape read back) that must round-trip exactly."""
    cases = [
        (suffix, dtype, shape, shape)
        for suffix in (".tif", ".TIFF")
        for dtype in (np.uint8, np.uint16, np.float32, np.float64)
        for shape in LAYOUTS
    ]
    cases += [(".tif", np.bool_, shape, shape) for shape in [(H, W), (H, W, 1)]]
    # PNG and BMP have no single-channel axis: (H, W, 1) reads back as (H, W).
    cases += [
        (".png", np.uint8, shape, shape) for shape in LAYOUTS if shape != (H, W, 1)
    ]
    cases += [
        (".PNG", np.uint8, (H, W, 1), (H, W)),
        (".png", np.uint16, (H, W), (H, W)),
        (".png", np.uint16, (H, W, 1), (H, W)),
        (".png", np.bool_, (H, W), (H, W)),
        (".bmp", np.uint8, (H, W), (H, W)),
        (".bmp", np.uint8, (H, W, 1), (H, W)),
        (".bmp", np.uint8, (H, W, 3), (H, W, 3)),
        (".bmp", np.bool_, (H, W), (H, W)),
    ]
    return cases


@pytest.mark.parametrize(
    ("suffix", "dtype", "shape", "read_shape"),
    _lossless_cases(),
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_lossless_round_trip(tmp_path, suffix, dtype, shape, read_shape):
    pixels = make_pixels(dtype, shape)
    path = tmp_path / f"out{suffix}"
    io.write_image(path, pixels)
    back = io.read_image(path)
    assert back.dtype == pixels.dtype
    assert back.shape == read_shape
    np.testing.assert_array_equal(back, pixels.reshape(read_shape))


@pytest.mark.parametrize(
    ("shape", "read_shape"),
    [((H, W), (H, W)), ((H, W, 1), (H, W)), ((H, W, 3), (H, W, 3))],
)
@pytest.mark.parametrize("suffix", [".jpg", ".jpeg"])
def test_jpeg_keeps_dtype_and_shape(tmp_path, suffix, shape, read_shape):
    # A smooth image, so that quality 95 keeps it close; JPEG is lossy.
    ramp = np.linspace(0, 255, H * W * int(np.prod(shape[2:]))).reshape(shape)
    pixels = ramp.astype(np.uint8)
    path = tmp_path / f"out{suffix}"
    io.write_image(path, pixels)
    back = io.read_image(path)
    assert back.dtype == np.uint8
    assert back.shape == read_shape
    assert np.abs(back.astype(int) - pixels.reshape(read_shape)).mean() < 3


def test_float_tiff_keeps_values_outside_unit_range(tmp_path):
    pixels = np.full((H, W), 0.5, np.float32)
    pixels[0, :3] = [-0.2, 1.7, 1e6]
    path = tmp_path / "f.tif"
    io.write_image(path, pixels)
    back = io.read_image(path)
    assert back.dtype == np.float32
    np.testing.assert_array_equal(back, pixels)


def test_alpha_channel_survives_untouched(tmp_path):
    pixels = make_pixels(np.uint8, (H, W, 4))
    pixels[..., 3] = np.arange(H * W).reshape(H, W)  # includes 0: fully transparent
    path = tmp_path / "rgba.png"
    io.write_image(path, pixels)
    colour, alpha = io.split_alpha(io.read_image(path))
    np.testing.assert_array_equal(alpha, pixels[..., 3])
    np.testing.assert_array_equal(colour, pixels[..., :3])  # not premultiplied


@pytest.mark.parametrize(("channels", "photometric"), [(2, "MINISBLACK"), (4, "RGB")])
def test_tiff_alpha_is_one_page_with_straight_alpha(tmp_path, channels, photometric):
    # What other programs need to see the last channel as alpha.
    path = tmp_path / "alpha.tif"
    io.write_image(path, make_pixels(np.uint16, (H, W, channels)))
    with tifffile.TiffFile(path) as tif:
        assert len(tif.pages) == 1
        page = tif.pages[0]
        assert page.photometric.name == photometric
        assert page.extrasamples == (tifffile.EXTRASAMPLE.UNASSALPHA,)


def test_read_leaves_the_file_unchanged(tmp_path):
    path = tmp_path / "in.png"
    iio.imwrite(path, make_pixels(np.uint8, (H, W, 3)))
    os.utime(path, ns=(1_000_000_000, 1_000_000_000))
    before = path.read_bytes()
    io.read_image(path)
    assert path.read_bytes() == before
    assert path.stat().st_mtime_ns == 1_000_000_000


# --- reading files from other writers -------------------------------------------


def test_palette_png_reads_as_rgb(tmp_path):
    image = Image.new("P", (W, H))
    image.putpalette([10, 20, 30, 200, 150, 100])
    image.putpixel((1, 2), 1)
    path = tmp_path / "palette.png"
    image.save(path)
    pixels = io.read_image(path)
    assert pixels.shape == (H, W, 3)
    assert pixels[2, 1].tolist() == [200, 150, 100]
    assert pixels[0, 0].tolist() == [10, 20, 30]


def test_palette_png_with_transparent_entry_reads_as_rgba(tmp_path):
    image = Image.new("P", (W, H))
    image.putpalette([10, 20, 30, 200, 150, 100])
    image.putpixel((1, 2), 1)
    path = tmp_path / "palette.png"
    image.save(path, transparency=0)
    pixels = io.read_image(path)
    assert pixels.shape == (H, W, 4)
    assert pixels[2, 1].tolist() == [200, 150, 100, 255]
    assert pixels[0, 0].tolist() == [10, 20, 30, 0]


def test_one_bit_png_reads_as_bool(tmp_path):
    pixels = make_pixels(np.bool_, (H, W))
    path = tmp_path / "bits.png"
    Image.fromarray(pixels).save(path)
    with Image.open(path) as image:
        assert image.mode == "1"
    back = io.read_image(path)
    assert back.dtype == np.bool_
    np.testing.assert_array_equal(back, pixels)


def test_sixteen_bit_grey_png_from_another_writer_reads_as_uint16(tmp_path):
    pixels = make_pixels(np.uint16, (H, W))
    path = tmp_path / "grey16.png"
    path.write_bytes(png_bytes(W, H, 16, 0, pixels))
    back = io.read_image(path)
    assert back.dtype == np.uint16
    np.testing.assert_array_equal(back, pixels)


@pytest.mark.parametrize("byteorder", ["<", ">"])
def test_sixteen_bit_tiff_reads_as_native_uint16(tmp_path, byteorder):
    pixels = make_pixels(np.uint16, (H, W, 3))
    path = tmp_path / "rgb16.tif"
    tifffile.imwrite(path, pixels, byteorder=byteorder)
    back = io.read_image(path)
    assert back.dtype == np.uint16  # native byte order: == compares it too
    np.testing.assert_array_equal(back, pixels)


def test_planar_tiff_reads_channel_last(tmp_path):
    pixels = make_pixels(np.uint8, (H, W, 3))
    path = tmp_path / "planar.tif"
    planes = np.moveaxis(pixels, -1, 0)
    tifffile.imwrite(path, planes, photometric="rgb", planarconfig="separate")
    np.testing.assert_array_equal(io.read_image(path), pixels)


def test_mpo_jpeg_reads_its_primary_picture(tmp_path):
    # Phones write JPEGs with extra pictures (MPO); Pillow sees several frames.
    primary = Image.new("RGB", (W, H), (200, 10, 10))
    path = tmp_path / "phone.jpg"
    preview = Image.new("RGB", (5, 4))
    primary.save(path, format="MPO", save_all=True, append_images=[preview])
    pixels = io.read_image(path)
    assert pixels.shape == (H, W, 3)
    assert np.abs(pixels.astype(int) - [200, 10, 10]).max() < 8


# --- read errors ------------------------------------------------------------------


def test_missing_file(tmp_path):
    path = tmp_path / "x.png"
    with pytest.raises(TVRestoreError) as excinfo:
        io.read_image(path)
    check_error(excinfo, path, "file not found")


def test_directory(tmp_path):
    path = tmp_path / "d.png"
    path.mkdir()
    with pytest.raises(TVRestoreError) as excinfo:
        io.read_image(path)
    check_error(excinfo, path, "is a directory")


def test_empty_file(tmp_path):
    path = tmp_path / "x.png"
    path.touch()
    with pytest.raises(TVRestoreError) as excinfo:
        io.read_image(path)
    check_error(excinfo, path, "empty file")


def test_unsupported_file_type(tmp_path):
    path = tmp_path / "x.gif"
    Image.new("L", (W, H)).save(path)
    with pytest.raises(TVRestoreError) as excinfo:
        io.read_image(path)
    check_error(excinfo, path, "unsupported file type", ".gif")


@pytest.mark.parametrize("name", ["noisy.png", "noisy.jpg", "noisy.bmp", "noisy.tif"])
def test_not_an_image(tmp_path, name):
    path = tmp_path / name
    path.write_text("hello, I am text\n")
    with pytest.raises(TVRestoreError) as excinfo:
        io.read_image(path)
    check_error(excinfo, path, "not a readable image")
    assert excinfo.value.__cause__ is not None  # the decoder's error is chained


@pytest.mark.parametrize("suffix", [".png", ".jpg", ".bmp", ".tif"])
@pytest.mark.parametrize("keep", [0.5, 0.95])
def test_truncated_file(tmp_path, suffix, keep):
    full = tmp_path / f"full{suffix}"
    iio.imwrite(full, make_pixels(np.uint8, (64, 80, 3)))
    data = full.read_bytes()
    path = tmp_path / f"cut{suffix}"
    path.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(TVRestoreError) as excinfo:
        io.read_image(path)
    check_error(excinfo, path, "corrupt or truncated")


def test_jpeg_missing_only_its_end_marker_is_truncated(tmp_path):
    full = tmp_path / "full.jpg"
    iio.imwrite(full, make_pixels(np.uint8, (64, 80, 3)))
    path = tmp_path / "cut.jpg"
    path.write_bytes(full.read_bytes()[:-2])
    with pytest.raises(TVRestoreError) as excinfo:
        io.read_image(path)
    check_error(excinfo, path, "truncated")


def test_pillow_truncated_images_flag_stays_off():
    # With it on, Pillow fills truncated images with grey instead of failing.
    assert ImageFile.LOAD_TRUNCATED_IMAGES is False


@pytest.mark.parametrize(
    ("dtype", "words"),
    [
        (np.int32, "int32"),
        (np.int16, "int16"),
        (np.float16, "float16"),
        (np.complex64, "complex64"),
    ],
)
def test_unsupported_pixel_type(tmp_path, dtype, words):
    path = tmp_path / "x.tif"
    tifffile.imwrite(path, np.ones((H, W), dtype))
    with pytest.raises(TVRestoreError) as excinfo:
        io.read_image(path)
    check_error(excinfo, path, "unsupported pixel type", words)


MINISBLACK = {"photometric": "minisblack"}
SAMPLES = {"photometric": "minisblack", "planarconfig": "contig"}


@pytest.mark.parametrize(
    ("pixels", "options", "words"),
    [
        (np.zeros((3, H, W), np.uint8), MINISBLACK, "multi-page TIFF (3 pages)"),
        (np.zeros((H, W, 5), np.uint8), SAMPLES, "unsupported shape (8, 10, 5)"),
        (np.zeros((H, W, 3), np.bool_), SAMPLES, "(8, 10, 3) for bool"),
        (np.zeros(W, np.uint8), {}, "unsupported shape (10,)"),
        (np.zeros((0, W), np.uint8), {}, "unsupported shape (0, 10)"),
    ],
    ids=["stack", "5-channels", "bool-RGB", "1-D", "zero-size"],
)
@pytest.mark.filterwarnings("ignore:.*zero-size array:UserWarning")
def test_unsupported_shape(tmp_path, pixels, options, words):
    path = tmp_path / "x.tif"
    tifffile.imwrite(path, pixels, **options)
    with pytest.raises(TVRestoreError) as excinfo:
        io.read_image(path)
    check_error(excinfo, path, "unsupported shape", words)


def test_animated_png(tmp_path):
    path = tmp_path / "anim.png"
    frames = [Image.new("L", (W, H), value) for value in (0, 100)]
    frames[0].save(path, save_all=True, append_images=frames[1:])
    with pytest.raises(TVRestoreError) as excinfo:
        io.read_image(path)
    check_error(excinfo, path, "unsupported shape", "2 frames")


@pytest.mark.parametrize("colour_type", [2, 4, 6], ids=["RGB", "LA", "RGBA"])
def test_sixteen_bit_colour_png_is_refused_not_reduced(tmp_path, colour_type):
    channels = {2: 3, 4: 2, 6: 4}[colour_type]
    path = tmp_path / "colour16.png"
    pixels = make_pixels(np.uint16, (H, W, channels))
    path.write_bytes(png_bytes(W, H, 16, colour_type, pixels))
    assert iio.imread(path).dtype == np.uint8  # what Pillow would silently give
    with pytest.raises(TVRestoreError) as excinfo:
        io.read_image(path)
    check_error(excinfo, path, "16-bit colour PNG", "TIFF")


def test_cmyk_jpeg_is_not_mistaken_for_rgba(tmp_path):
    path = tmp_path / "print.jpg"
    Image.new("CMYK", (W, H)).save(path)
    with pytest.raises(TVRestoreError) as excinfo:
        io.read_image(path)
    check_error(excinfo, path, "unsupported colour mode CMYK")


@pytest.mark.parametrize(
    "side",
    [100_000, 12_000],  # beyond Pillow's own bomb limit; between ours and Pillow's
)
def test_forged_png_header_with_absurd_size(tmp_path, side):
    # Header only: decoding would fail differently, so the check comes first.
    path = tmp_path / "bomb.png"
    path.write_bytes(png_bytes(side, side, 8, 0))
    with pytest.raises(TVRestoreError) as excinfo:
        io.read_image(path)
    check_error(excinfo, path, "absurd image size", str(io.MAX_PIXELS))


def test_forged_tiff_header_with_absurd_size(tmp_path):
    path = tmp_path / "bomb.tif"
    tifffile.imwrite(path, np.zeros((H, W), np.uint8))
    with tifffile.TiffFile(path, mode="r+b") as tif:
        tif.pages[0].tags["ImageWidth"].overwrite(100_000)
        tif.pages[0].tags["ImageLength"].overwrite(100_000)
    with pytest.raises(TVRestoreError) as excinfo:
        io.read_image(path)
    check_error(excinfo, path, "absurd image size 100000x100000")


def test_size_limit_is_max_pixels(tmp_path, monkeypatch):
    path = tmp_path / "x.png"
    iio.imwrite(path, np.zeros((H, W), np.uint8))
    monkeypatch.setattr(io_images, "MAX_PIXELS", H * W)
    assert io.read_image(path).shape == (H, W)
    monkeypatch.setattr(io_images, "MAX_PIXELS", H * W - 1)
    with pytest.raises(TVRestoreError) as excinfo:
        io.read_image(path)
    check_error(excinfo, path, "absurd image size 10x8")


@pytest.mark.parametrize("bad", [np.nan, np.inf, -np.inf])
def test_non_finite_float_tiff(tmp_path, bad):
    pixels = np.zeros((H, W), np.float32)
    pixels[3, 4] = bad
    path = tmp_path / "x.tif"
    tifffile.imwrite(path, pixels)
    with pytest.raises(TVRestoreError) as excinfo:
        io.read_image(path)
    check_error(excinfo, path, "NaN or infinite")


# --- writing ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("suffix", "dtype", "shape"),
    [
        (".png", np.float32, (H, W)),
        (".png", np.float64, (H, W, 3)),
        (".jpg", np.float32, (H, W, 3)),
        (".bmp", np.float32, (H, W)),
        (".png", np.uint16, (H, W, 2)),
        (".png", np.uint16, (H, W, 3)),
        (".png", np.uint16, (H, W, 4)),
        (".jpg", np.uint16, (H, W)),
        (".bmp", np.uint16, (H, W)),
        (".jpg", np.uint8, (H, W, 4)),
        (".jpeg", np.uint8, (H, W, 2)),
        (".bmp", np.uint8, (H, W, 4)),  # Pillow would read it back as RGB
        (".bmp", np.uint8, (H, W, 2)),
        (".jpg", np.bool_, (H, W)),
    ],
    ids=lambda v: getattr(v, "__name__", str(v)),
)
def test_write_refuses_what_the_format_cannot_store(tmp_path, suffix, dtype, shape):
    path = tmp_path / f"out{suffix}"
    with pytest.raises(TVRestoreError) as excinfo:
        io.write_image(path, make_pixels(dtype, shape))
    check_error(excinfo, path, "cannot store", np.dtype(dtype).name, "use .tif")
    assert list(tmp_path.iterdir()) == []


def test_write_unknown_extension(tmp_path):
    path = tmp_path / "out.gif"
    with pytest.raises(TVRestoreError) as excinfo:
        io.write_image(path, make_pixels(np.uint8, (H, W)))
    check_error(excinfo, path, "unsupported file type", ".gif")
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize(
    ("pixels", "words"),
    [
        (np.full((H, W), np.nan, np.float32), "NaN or infinite"),
        (np.zeros((H, W), np.int32), "unsupported pixel type int32"),
        (np.zeros((H, W, 5), np.uint8), "unsupported shape"),
        (np.zeros((H, W, 3), np.bool_), "unsupported shape (8, 10, 3) for bool"),
    ],
    ids=["nan", "int32", "5-channels", "bool-RGB"],
)
def test_write_refuses_unsupported_pixels(tmp_path, pixels, words):
    path = tmp_path / "out.tif"
    with pytest.raises(TVRestoreError) as excinfo:
        io.write_image(path, pixels)
    check_error(excinfo, path, words)
    assert list(tmp_path.iterdir()) == []


def test_write_into_missing_directory(tmp_path):
    path = tmp_path / "nowhere" / "out.png"
    with pytest.raises(TVRestoreError) as excinfo:
        io.write_image(path, make_pixels(np.uint8, (H, W)))
    check_error(excinfo, path, "directory does not exist")


def test_write_leaves_only_the_target(tmp_path):
    path = tmp_path / "out.png"
    io.write_image(path, make_pixels(np.uint8, (H, W, 3)))
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_write_refuses_to_overwrite_by_default(tmp_path):
    path = tmp_path / "out.png"
    path.write_bytes(b"precious")
    with pytest.raises(TVRestoreError) as excinfo:
        io.write_image(path, make_pixels(np.uint8, (H, W)))
    check_error(excinfo, path, "output exists", "--overwrite")
    assert path.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_write_overwrites_when_asked(tmp_path):
    path = tmp_path / "out.png"
    path.write_bytes(b"old")
    pixels = make_pixels(np.uint8, (H, W))
    io.write_image(path, pixels, overwrite=True)
    np.testing.assert_array_equal(io.read_image(path), pixels)
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


def test_failed_write_removes_temp_file_and_keeps_target(tmp_path, monkeypatch):
    path = tmp_path / "out.png"
    path.write_bytes(b"precious")
    temp_paths = []

    def broken_imwrite(file, *args, **kwargs):
        file.write(b"half an image")
        temp_paths.append(Path(file.name))
        raise RuntimeError("encoder exploded")

    monkeypatch.setattr(iio, "imwrite", broken_imwrite)
    with pytest.raises(TVRestoreError) as excinfo:
        io.write_image(path, make_pixels(np.uint8, (H, W)), overwrite=True)
    check_error(excinfo, path, "cannot write image", "encoder exploded")
    assert isinstance(excinfo.value.__cause__, RuntimeError)
    # The temp file was beside the target, hidden, named for its format; now gone.
    [temp] = temp_paths
    assert temp.parent == tmp_path
    assert temp.name.startswith(f".out.png.tmp-{os.getpid()}-") and temp.suffix == ".png"
    assert path.read_bytes() == b"precious"
    assert [p.name for p in tmp_path.iterdir()] == ["out.png"]


# --- unit range -------------------------------------------------------------------


@pytest.mark.parametrize("dtype", [np.uint8, np.uint16])
def test_unit_range_round_trip_is_exact_for_every_integer_value(dtype):
    values = np.arange(np.iinfo(dtype).max + 1).astype(dtype)
    unit = io.to_unit_range(values)
    assert unit.dtype == np.float32
    assert unit[0] == 0 and unit[-1] == 1
    np.testing.assert_array_equal(io.from_unit_range(unit, dtype), values)


def test_to_unit_range_scales_integers_and_keeps_floats():
    eights = io.to_unit_range(np.array([0, 51, 255], np.uint8))
    np.testing.assert_allclose(eights, [0, 0.2, 1], rtol=1e-7)
    sixteens = io.to_unit_range(np.array([0, 13107, 65535], np.uint16))
    np.testing.assert_allclose(sixteens, [0, 0.2, 1], rtol=1e-7)
    np.testing.assert_array_equal(io.to_unit_range(np.array([False, True])), [0, 1])
    floats = io.to_unit_range(np.array([-0.2, 1.7], np.float64))
    assert floats.dtype == np.float32
    np.testing.assert_array_equal(floats, np.float32([-0.2, 1.7]))


def test_to_unit_range_without_copy_gives_float32_as_a_read_only_view():
    pixels = np.array([[0.25, 1.5]], np.float32)
    unit = io.to_unit_range(pixels, copy=False)
    assert np.shares_memory(unit, pixels) and not unit.flags.writeable
    with pytest.raises(ValueError):
        unit[0, 0] = 0.0  # the caller's image cannot be changed through it
    assert pixels.flags.writeable  # the caller's own array is untouched
    # Other dtypes still need their conversion, so they are new arrays.
    assert not np.shares_memory(io.to_unit_range(pixels.astype(np.float64), copy=False), pixels)


def test_from_unit_range_clips_and_rounds_integers():
    unit = np.array([-0.2, 0.0, 0.5, 1.0, 1.7], np.float32)
    eights = io.from_unit_range(unit, np.uint8)
    assert eights.dtype == np.uint8
    np.testing.assert_array_equal(eights, [0, 0, 128, 255, 255])
    sixteens = io.from_unit_range(unit, np.uint16)
    assert sixteens.dtype == np.uint16
    np.testing.assert_array_equal(sixteens, [0, 0, 32768, 65535, 65535])


def test_from_unit_range_does_not_clip_floats():
    unit = np.array([-0.2, 0.5, 1.7], np.float32)
    result = io.from_unit_range(unit, np.float64)
    assert result.dtype == np.float64
    np.testing.assert_array_equal(result, unit.astype(np.float64))


def test_from_unit_range_thresholds_bool():
    result = io.from_unit_range(np.array([0.0, 0.49, 0.5, 1.0], np.float32), np.bool_)
    assert result.dtype == np.bool_
    np.testing.assert_array_equal(result, [False, False, True, True])


def test_from_unit_range_refuses_non_finite():
    with pytest.raises(TVRestoreError, match="NaN or infinite"):
        io.from_unit_range(np.array([0.5, np.nan], np.float32), np.uint8)


@pytest.mark.parametrize("dtype", [np.int32, np.complex64])
def test_unit_range_refuses_unsupported_dtypes(dtype):
    expected = f"unsupported pixel type {np.dtype(dtype).name}"
    with pytest.raises(TVRestoreError, match=expected):
        io.to_unit_range(np.zeros(3, dtype))
    with pytest.raises(TVRestoreError, match=expected):
        io.from_unit_range(np.zeros(3, np.float32), dtype)


# --- alpha ------------------------------------------------------------------------


@pytest.mark.parametrize("shape", LAYOUTS, ids=str)
@pytest.mark.parametrize("dtype", [np.bool_, np.uint8, np.uint16, np.float32])
def test_split_and_join_alpha(shape, dtype):
    pixels = make_pixels(dtype, shape)
    colour, alpha = io.split_alpha(pixels)
    if len(shape) == 3 and shape[2] in (2, 4):
        assert colour.shape == (H, W, shape[2] - 1)
        assert alpha.dtype == pixels.dtype
        np.testing.assert_array_equal(alpha, pixels[..., -1])
    else:
        assert alpha is None
        assert colour is pixels
    joined = io.join_alpha(colour, alpha)
    assert joined.dtype == pixels.dtype and joined.shape == pixels.shape
    np.testing.assert_array_equal(joined, pixels)


def test_join_alpha_refuses_mismatched_dtypes():
    with pytest.raises(TVRestoreError, match="alpha dtype uint16"):
        io.join_alpha(np.zeros((H, W, 3), np.uint8), np.zeros((H, W), np.uint16))


# --- naming and listing -----------------------------------------------------------


@pytest.mark.parametrize(
    ("given", "expected"),
    [
        ("a/noisy.png", "a/noisy_tv.png"),
        ("x.tar.tif", "x.tar_tv.tif"),
        ("/abs/dir/IMG.JPG", "/abs/dir/IMG_tv.JPG"),
    ],
)
def test_default_output_path(given, expected):
    assert default_output_path(given) == Path(expected)


@pytest.fixture
def image_tree(tmp_path):
    for name in [
        "b.png",
        "A.JPG",
        "c.jpeg",
        "d.TIFF",
        "e.bmp",
        "notes.txt",
        "noext",
        ".hidden.png",
        ".out.png.tmp-0123456789abcdef.png",
        "sub/f.tif",
        "sub/deeper/g.png",
        "sub/.h.png",
        ".git/i.png",
        "other/j.PNG",
    ]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(b"")
    return tmp_path


def test_list_images_recursive_sorted_skipping_hidden(image_tree):
    found = list_images(image_tree)
    assert [p.relative_to(image_tree).as_posix() for p in found] == [
        "A.JPG",
        "b.png",
        "c.jpeg",
        "d.TIFF",
        "e.bmp",
        "other/j.PNG",
        "sub/deeper/g.png",
        "sub/f.tif",
    ]
    assert all(p.is_absolute() for p in found)  # root joined, root was absolute


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ("*.png", ["b.png", "other/j.PNG", "sub/deeper/g.png"]),
        ("sub/*", ["sub/deeper/g.png", "sub/f.tif"]),
        ("sub/*.tif", ["sub/f.tif"]),
        ("?.jp*g", ["A.JPG", "c.jpeg"]),
        ("*.txt", []),
    ],
)
def test_list_images_pattern(image_tree, pattern, expected):
    found = list_images(image_tree, pattern)
    assert [p.relative_to(image_tree).as_posix() for p in found] == expected


def test_list_images_missing_root(tmp_path):
    path = tmp_path / "nope"
    with pytest.raises(TVRestoreError) as excinfo:
        list_images(path)
    check_error(excinfo, path, "no such directory")


# --- where io sits: below runs, viz, cli and solvers, and never loading the heavy libraries ----

IO_MUST_NOT_REACH = ("tvrestore.runs", "tvrestore.viz", "tvrestore.cli", "tvrestore.solvers",
                     "tensorflow", "matplotlib", "dask", "distributed")


def test_io_imports_nothing_above_it_and_models_and_scores_import_no_io():
    grimp = pytest.importorskip("grimp")
    graph = grimp.build_graph("tvrestore", include_external_packages=True, cache_dir=None)
    reached = {target: graph.find_shortest_chains(importer="tvrestore.io", imported=target,
                                                  as_packages=True)
               for target in IO_MUST_NOT_REACH if target in graph.modules}
    assert reached == {target: set() for target in reached}
    # The modules that take unit-range pixels read and convert none themselves.
    for importer in ("tvrestore.models", "tvrestore.evaluation.metrics",
                     "tvrestore.evaluation.compare"):
        assert not graph.find_shortest_chains(importer=importer, imported="tvrestore.io",
                                              as_packages=True), importer


def test_importing_every_io_module_loads_no_heavy_library():
    import subprocess
    import sys

    code = ("import sys, tvrestore.io, tvrestore.io.lazy, tvrestore.io.psf\n"
            f"heavy = sorted(set({IO_MUST_NOT_REACH!r}) & set(sys.modules))\n"
            "assert not heavy, heavy\n")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


def test_scores_take_unit_range_pixels_converted_once_by_the_caller():
    pytest.importorskip("skimage")
    from skimage.metrics import peak_signal_noise_ratio

    from tvrestore.evaluation.metrics import quality

    rng = np.random.default_rng(0)
    clean = rng.integers(0, 256, (16, 16, 4), dtype=np.uint8)
    noisy = np.clip(clean.astype(int) + rng.integers(-9, 10, clean.shape), 0, 255).astype(np.uint8)
    with pytest.raises(TVRestoreError, match="unit-range floats, not uint8"):
        quality(clean, noisy)  # levels as stored would score as if in [0, 1]
    psnr, ssim = quality(*(io.to_unit_range(io.split_alpha(image)[0]) for image in (clean, noisy)))
    expected = peak_signal_noise_ratio(clean[..., :3] / 255, noisy[..., :3] / 255, data_range=1)
    assert psnr == pytest.approx(expected, abs=1e-4) and 0 < ssim < 1
