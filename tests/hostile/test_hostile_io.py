"""Hostile and unusual files at the io level: every case is generated here.

Each read case asserts the exact pixels (or a one-line error that starts
with the path, raised by read_header as well as read_image), and that the
input is byte-identical afterwards. Each write case asserts the tags of the
written file, that it reads back to the same pixels, and that no temporary
file is left behind.
"""

import errno
import os
import signal
import subprocess
import sys
import textwrap
import time
import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import tifffile
from PIL import Image, ImageOps

from hostile_helpers import dead_pid
from tvrestore import io
from tvrestore.io import files as io_files
from tvrestore.io import images as io_images
from tvrestore.errors import TVRestoreError

H, W = 8, 10
RNG = np.random.default_rng(7)
GREY8 = RNG.integers(0, 256, (H, W), dtype=np.uint8)
GREY16 = RNG.integers(0, 65536, (H, W), dtype=np.uint16)
RGB8 = RNG.integers(0, 256, (H, W, 3), dtype=np.uint8)
BITS = RNG.random((H, W)) > 0.5


def refused(path, *words, function=io.read_image):
    """The one-line error `function` raises for `path`, checked like every other."""
    with pytest.raises(TVRestoreError) as excinfo:
        function(path)
    message = str(excinfo.value)
    assert message.startswith(f"{path}: "), message
    assert "\n" not in message
    for word in words:
        assert word in message, message
    return message


def refused_from_header(path, *words):
    """read_header and read_image refuse `path` with the same message."""
    message = refused(path, *words, function=io.read_header)
    assert refused(path, *words) == message
    return message


@pytest.fixture
def unchanged():
    """Register input files; at teardown, each must be byte-identical."""
    registered = {}

    def register(path):
        registered[Path(path)] = Path(path).read_bytes()
        return path

    yield register
    for path, data in registered.items():
        assert path.read_bytes() == data, f"{path} was modified"


def hidden_files(directory):
    return sorted(p.name for p in Path(directory).iterdir() if p.name.startswith("."))


# --- TIFF photometric interpretations ---------------------------------------------


@pytest.mark.parametrize(
    ("stored", "white"),
    [(GREY8, 255), (GREY16, 65535), (GREY8[..., None], 255)],
    ids=["uint8", "uint16", "uint8-1-channel"],
)
def test_miniswhite_is_inverted_on_read_and_written_back_as_miniswhite(
        tmp_path, unchanged, stored, white):
    path = tmp_path / "scan.tif"
    tifffile.imwrite(path, stored, photometric="miniswhite")
    unchanged(path)

    pixels = io.read_image(path)
    header = io.read_header(path)

    np.testing.assert_array_equal(pixels, (white - stored.astype(np.int64)).reshape(pixels.shape))
    assert pixels.dtype == stored.dtype and header.shape == pixels.shape
    assert header.photometric == "MINISWHITE"

    output = tmp_path / "scan_tv.tif"
    io.write_image(output, pixels, like=header)
    with tifffile.TiffFile(output) as tif:
        assert tif.pages[0].photometric == tifffile.PHOTOMETRIC.MINISWHITE
        np.testing.assert_array_equal(tif.pages[0].asarray().reshape(stored.shape), stored)
    np.testing.assert_array_equal(io.read_image(output), pixels)


def test_miniswhite_bilevel_and_grey_alpha(tmp_path, unchanged):
    bits = tmp_path / "fax.tif"
    tifffile.imwrite(bits, BITS, photometric="miniswhite")
    unchanged(bits)
    np.testing.assert_array_equal(io.read_image(bits), ~BITS)

    grey_alpha = np.stack([GREY8, GREY8[::-1]], axis=-1)
    path = tmp_path / "grey_alpha.tif"
    tifffile.imwrite(path, grey_alpha, photometric="miniswhite", planarconfig="contig",
                     extrasamples=("unassalpha",))
    unchanged(path)
    pixels = io.read_image(path)
    np.testing.assert_array_equal(pixels[..., 0], 255 - GREY8)
    np.testing.assert_array_equal(pixels[..., 1], GREY8[::-1])  # alpha is not inverted

    output = tmp_path / "out.tif"
    io.write_image(output, pixels, like=io.read_header(path))
    np.testing.assert_array_equal(tifffile.imread(output), grey_alpha)


def test_bool_tiff_is_written_as_minisblack_so_true_shows_white(tmp_path):
    # tifffile's default for bool is MINISWHITE: True would display black.
    path = tmp_path / "bits.tif"
    io.write_image(path, BITS)
    with tifffile.TiffFile(path) as tif:
        assert tif.pages[0].photometric == tifffile.PHOTOMETRIC.MINISBLACK
    with Image.open(path) as image:  # another reader agrees
        np.testing.assert_array_equal(np.array(image), BITS)


@pytest.mark.parametrize("sixteen_bit_colours", [False, True], ids=["8-bit-map", "16-bit-map"])
def test_palette_tiff_is_expanded_to_rgb_and_written_as_rgb(tmp_path, unchanged,
                                                            sixteen_bit_colours):
    colours = RNG.integers(0, 256, (3, 256)).astype(np.uint16) * 257
    if sixteen_bit_colours:
        colours[:, 1] = [1, 2, 3]  # not a multiple of 257: the map is really 16-bit
    path = tmp_path / "palette.tif"
    tifffile.imwrite(path, GREY8, photometric="palette", colormap=colours)
    unchanged(path)

    header = io.read_header(path)
    pixels = io.read_image(path)

    expected = colours[:, GREY8].transpose(1, 2, 0)
    if not sixteen_bit_colours:
        expected = (expected // 257).astype(np.uint8)
    assert header.photometric == "PALETTE" and header.shape == (H, W, 3)
    assert pixels.dtype == expected.dtype == header.dtype
    np.testing.assert_array_equal(pixels, expected)  # colours, never the indices

    output = tmp_path / "out.tif"
    io.write_image(output, pixels, like=header)
    with tifffile.TiffFile(output) as tif:
        assert tif.pages[0].photometric == tifffile.PHOTOMETRIC.RGB
    np.testing.assert_array_equal(io.read_image(output), expected)


def test_palette_index_beyond_the_colour_map_is_corrupt(tmp_path):
    path = tmp_path / "palette.tif"
    tifffile.imwrite(path, np.full((H, W), 3, np.uint8), photometric="palette",
                     colormap=np.zeros((3, 256), np.uint16))
    with tifffile.TiffFile(path, mode="r+b") as tif:
        # A 2-entry map for 8-bit indices, as a broken writer would store it.
        tif.pages[0].tags["ColorMap"].overwrite(np.zeros(6, np.uint16))
    refused(path, "corrupt palette TIFF")


@pytest.mark.parametrize(
    ("photometric", "channels", "name"),
    [("separated", 4, "SEPARATED (CMYK)"), ("cielab", 3, "CIELAB"), ("rgb", 2, "RGB")],
)
def test_photometrics_that_cannot_round_trip_are_refused_from_the_header(
        tmp_path, unchanged, photometric, channels, name):
    path = tmp_path / "print.tif"
    pixels = RNG.integers(0, 256, (H, W, channels), dtype=np.uint8)
    if channels == 2:
        # An RGB tag on two samples, as a broken writer would store it.
        tifffile.imwrite(path, pixels, photometric="minisblack", planarconfig="contig")
        with tifffile.TiffFile(path, mode="r+b") as tif:
            tif.pages[0].tags["PhotometricInterpretation"].overwrite(2)
    else:
        tifffile.imwrite(path, pixels, photometric=photometric)
    unchanged(path)
    refused_from_header(path, f"photometric interpretation {name}", "not supported")


def test_float_miniswhite_is_refused(tmp_path):
    path = tmp_path / "f.tif"
    tifffile.imwrite(path, np.zeros((H, W), np.float32), photometric="miniswhite")
    refused_from_header(path, "MINISWHITE", "not supported")


# --- compressed TIFF ----------------------------------------------------------------


@pytest.mark.parametrize("compression", ["LZW", "ADOBE_DEFLATE", "ZSTD", "PACKBITS"])
@pytest.mark.parametrize("pixels", [GREY16, RGB8], ids=["uint16", "rgb8"])
def test_lossless_compressed_tiff_round_trips_with_its_compression(tmp_path, unchanged,
                                                                   compression, pixels):
    path = tmp_path / "in.tif"
    tifffile.imwrite(path, pixels, compression=compression)
    unchanged(path)

    header = io.read_header(path)
    np.testing.assert_array_equal(io.read_image(path), pixels)
    assert header.compression == compression

    output = tmp_path / "out.tif"
    io.write_image(output, pixels, like=header)
    with tifffile.TiffFile(output) as tif:
        assert tif.pages[0].compression.name == compression
    np.testing.assert_array_equal(io.read_image(output), pixels)


@pytest.mark.parametrize("pixels", [GREY8, RGB8], ids=["grey", "rgb"])
def test_jpeg_compressed_tiff_reads_and_is_written_lossless(tmp_path, unchanged, pixels):
    path = tmp_path / "in.tif"
    tifffile.imwrite(path, np.kron(pixels, np.ones((2, 2) + (1,) * (pixels.ndim - 2), np.uint8)),
                     compression="jpeg")
    unchanged(path)
    header = io.read_header(path)
    decoded = tifffile.imread(path)  # what the codec gives, the reference here
    if pixels.ndim == 3:
        assert header.photometric == "YCBCR"  # how JPEG-in-TIFF stores colour

    read = io.read_image(path)

    np.testing.assert_array_equal(read, decoded)
    assert header.compression == "JPEG" and header.shape == read.shape
    output = tmp_path / "out.tif"
    io.write_image(output, read, like=header)
    with tifffile.TiffFile(output) as tif:
        page = tif.pages[0]
        assert page.compression == tifffile.COMPRESSION.ADOBE_DEFLATE
        assert page.photometric == (
            tifffile.PHOTOMETRIC.RGB if read.ndim == 3 else tifffile.PHOTOMETRIC.MINISBLACK)
    np.testing.assert_array_equal(io.read_image(output), read)  # no second loss


def test_without_like_tiff_is_written_uncompressed_and_for_png_like_is_ignored(tmp_path):
    source = tmp_path / "in.tif"
    tifffile.imwrite(source, GREY8, compression="lzw", photometric="miniswhite")
    header = io.read_header(source)
    plain = tmp_path / "plain.tif"
    io.write_image(plain, GREY8)
    with tifffile.TiffFile(plain) as tif:
        assert tif.pages[0].compression == tifffile.COMPRESSION.NONE
    png = tmp_path / "out.png"
    io.write_image(png, GREY8, like=header)  # PNG stores the picture as shown
    np.testing.assert_array_equal(io.read_image(png), GREY8)


def test_unknown_compression_is_refused_from_the_header(tmp_path):
    path = tmp_path / "x.tif"
    tifffile.imwrite(path, GREY8)
    with tifffile.TiffFile(path, mode="r+b") as tif:
        tif.pages[0].tags["Compression"].overwrite(60000)
    refused_from_header(path, "TIFF compression 60000 is not supported")


# --- orientation ----------------------------------------------------------------------


def jpeg_with_orientation(path, stored, orientation):
    exif = Image.Exif()
    exif[0x0112] = orientation
    Image.fromarray(stored).save(path, quality=100, exif=exif)
    with Image.open(path) as image:
        return np.array(image)  # the stored pixels as decoded (JPEG is lossy)


def test_jpeg_orientation_6_is_applied_on_read(tmp_path, unchanged):
    stored = np.kron(RGB8, np.ones((2, 2, 1), np.uint8))  # 16x20, not square
    path = tmp_path / "phone.jpg"
    decoded = jpeg_with_orientation(path, stored, 6)
    unchanged(path)

    header = io.read_header(path)
    pixels = io.read_image(path)

    assert header.orientation == 6 and header.shape == (20, 16, 3) == pixels.shape
    np.testing.assert_array_equal(pixels, np.rot90(decoded, -1))  # 90 degrees clockwise


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_jpeg_orientation_matches_pillows_exif_transpose(tmp_path, orientation):
    path = tmp_path / "phone.jpg"
    jpeg_with_orientation(path, np.kron(RGB8, np.ones((2, 2, 1), np.uint8)), orientation)
    with Image.open(path) as image:
        shown = np.array(ImageOps.exif_transpose(image))
    np.testing.assert_array_equal(io.read_image(path), shown)
    assert io.read_header(path).shape == shown.shape


@pytest.mark.parametrize("suffix", [".jpg", ".png", ".tif"])
def test_oriented_input_is_written_upright_without_an_orientation_tag(tmp_path, suffix):
    path = tmp_path / "phone.jpg"
    jpeg_with_orientation(path, np.kron(RGB8, np.ones((2, 2, 1), np.uint8)), 8)
    pixels, header = io.read_image(path), io.read_header(path)

    output = tmp_path / f"out{suffix}"
    io.write_image(output, pixels, like=header)

    with Image.open(output) as image:
        assert image.getexif().get(0x0112, 1) == 1
        assert image.size == (pixels.shape[1], pixels.shape[0])
    assert io.read_header(output).orientation == 1
    back = io.read_image(output)
    assert back.shape == pixels.shape
    if suffix != ".jpg":
        np.testing.assert_array_equal(back, pixels)


def test_tiff_orientation_tag_is_applied(tmp_path, unchanged):
    path = tmp_path / "rotated.tif"
    tifffile.imwrite(path, GREY16, extratags=[(0x0112, "H", 1, 6, True)])
    unchanged(path)
    assert io.read_header(path).shape == (W, H)
    np.testing.assert_array_equal(io.read_image(path), np.rot90(GREY16, -1))


# --- the size budget ---------------------------------------------------------------


def forged_tiff(path, width, height, pixels):
    """A small TIFF whose header then claims width x height."""
    tifffile.imwrite(path, pixels, photometric="minisblack", planarconfig="contig")
    with tifffile.TiffFile(path, mode="r+b") as tif:
        tif.pages[0].tags["ImageWidth"].overwrite(width)
        tif.pages[0].tags["ImageLength"].overwrite(height)
    return path


@pytest.mark.parametrize(
    ("width", "height", "samples", "dtype"),
    [(8192, 8192, 64, np.uint8), (16000, 8000, 4, np.float64)],
    ids=["64-samples", "float64-rgba"],
)
def test_forged_tiff_header_is_refused_from_the_header_without_allocating(
        tmp_path, unchanged, width, height, samples, dtype):
    path = unchanged(forged_tiff(tmp_path / "bomb.tif", width, height,
                                 np.zeros((4, 4, samples), dtype)))
    assert width * height <= io.MAX_PIXELS  # only the other dimensions make it absurd

    start = time.perf_counter()
    refused(path, "absurd image size", f"{width}x{height}", f"{samples} samples",
            str(io.MAX_DECODED_BYTES), function=io.read_header)
    assert time.perf_counter() - start < 0.5

    tracemalloc.start()
    try:
        refused(path, "absurd image size")
        _, peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert peak < 10 * 2**20


@pytest.mark.parametrize(
    ("pixels", "options", "decoded"),
    [
        (np.zeros((3, H, W), np.uint8), {"photometric": "minisblack"}, 3 * H * W),  # pages
        (np.zeros((H, W, 3), np.uint16), {"photometric": "rgb"}, H * W * 3 * 2),  # samples, bits
        (np.zeros((H, W), np.float64), {}, H * W * 8),  # bits
    ],
    ids=["pages", "samples-and-16-bit", "float64"],
)
def test_every_declared_dimension_counts_in_the_budget(tmp_path, monkeypatch, pixels, options,
                                                       decoded):
    path = tmp_path / "x.tif"
    tifffile.imwrite(path, pixels, **options)
    monkeypatch.setattr(io_images, "MAX_DECODED_BYTES", decoded - 1)
    refused(path, "absurd image size", f": {decoded} bytes", function=io.read_header)
    monkeypatch.setattr(io_images, "MAX_DECODED_BYTES", decoded)
    try:
        io.read_header(path)
    except TVRestoreError as err:
        assert "absurd" not in str(err)  # a multi-page file is refused, for its pages


def test_png_budget_counts_channels(tmp_path, monkeypatch):
    path = tmp_path / "rgba.png"
    Image.fromarray(np.zeros((H, W, 4), np.uint8)).save(path)
    monkeypatch.setattr(io_images, "MAX_DECODED_BYTES", H * W * 4 - 1)
    refused_from_header(path, "absurd image size", "4 samples")


# --- the file itself ------------------------------------------------------------------


def test_symbolic_link_loop_is_one_line(tmp_path):
    path = tmp_path / "loop.png"
    path.symlink_to(tmp_path / "loop.png")
    refused_from_header(path, "symbolic link loop")


def test_broken_symbolic_link_says_so(tmp_path):
    path = tmp_path / "gone.png"
    path.symlink_to(tmp_path / "nowhere.png")
    refused_from_header(path, "broken symbolic link", "nowhere.png")


def test_fifo_is_refused_without_blocking(tmp_path):
    path = tmp_path / "pipe.png"
    os.mkfifo(path)
    refused_from_header(path, "not a regular file")


@pytest.mark.parametrize(
    ("make", "words"),
    [
        (lambda p: None, "file not found"),
        (lambda p: p.mkdir(), "is a directory"),
        (lambda p: p.touch(), "empty file"),
        (lambda p: p.write_text("hello"), "not a readable image"),
        (lambda p: p.write_bytes(b"\x89PNG\r\n\x1a\n" + b"\0" * 40), "not a readable image"),
    ],
    ids=["missing", "directory", "empty", "text", "png-signature-only"],
)
@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_bad_files_are_refused_from_the_header(tmp_path, make, words, suffix):
    path = tmp_path / f"x{suffix}"
    make(path)
    refused_from_header(path, words)


def test_other_formats_renamed_png_are_not_images(tmp_path):
    # Pillow would open a GIF (or EPS, PSD...) whatever its name says.
    path = tmp_path / "x.png"
    Image.new("L", (W, H)).save(path, format="GIF")
    refused_from_header(path, "not a readable image")


def test_read_header_imports_nothing_heavy(tmp_path):
    path = tmp_path / "x.png"
    Image.fromarray(GREY8).save(path)
    code = textwrap.dedent(f"""
        import sys
        from tvrestore import io
        header = io.read_header({str(path)!r})
        assert header.shape == {GREY8.shape} and header.format == "PNG", header
        heavy = {{"tensorflow", "skimage", "imageio"}} & set(sys.modules)
        assert not heavy, heavy
    """)
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)


# --- writing errors -----------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "words"),
    [(errno.ENOSPC, "No space left on device"), (errno.EROFS, "Read-only file system"),
     (errno.EACCES, "Permission denied")],
)
@pytest.mark.parametrize("stage", ["open", "fsync"])
def test_os_errors_while_writing_are_one_line_and_leave_nothing(tmp_path, monkeypatch, code,
                                                                 words, stage):
    path = tmp_path / "out.png"
    path.write_bytes(b"precious")

    def fail(*args, **kwargs):
        raise OSError(code, os.strerror(code), str(tmp_path / ".out.png.tmp-x"))

    if stage == "open":
        monkeypatch.setattr(io_files, "open", fail, raising=False)
    else:
        monkeypatch.setattr(os, "fsync", fail)
    message = refused(path, "cannot write image", words,
                      function=lambda p: io.write_image(p, GREY8, overwrite=True))
    assert ".tmp-" not in message  # the user never named the temporary file
    assert path.read_bytes() == b"precious"
    assert sorted(os.listdir(tmp_path)) == ["out.png"]


def test_an_interrupt_right_after_the_temporary_is_created_leaves_nothing(tmp_path, monkeypatch):
    # Ctrl-C or SIGTERM (raised as KeyboardInterrupt) can land after open()
    # has created the temporary but before the write's own block starts.
    path = tmp_path / "out.png"
    path.write_bytes(b"precious")

    def create_then_interrupt(name, mode, *args, **kwargs):
        open(name, mode, *args, **kwargs).close()
        raise KeyboardInterrupt

    monkeypatch.setattr(io_files, "open", create_then_interrupt, raising=False)
    with pytest.raises(KeyboardInterrupt):
        io.write_image(path, GREY8, overwrite=True)
    assert path.read_bytes() == b"precious"
    assert sorted(os.listdir(tmp_path)) == ["out.png"]


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only directories")
def test_permission_denied_directory(tmp_path):
    tmp_path.chmod(0o555)
    try:
        refused(tmp_path / "out.png", "Permission denied",
                function=lambda p: io.write_image(p, GREY8))
    finally:
        tmp_path.chmod(0o755)
    assert os.listdir(tmp_path) == []


def test_output_that_is_a_symbolic_link_loop(tmp_path):
    path = tmp_path / "out.png"
    path.symlink_to(path)
    refused(path, "symbolic link loop", function=lambda p: io.write_image(p, GREY8))
    assert path.is_symlink() and hidden_files(tmp_path) == []
    io.write_image(path, GREY8, overwrite=True)  # replaces the link, not through it
    assert not path.is_symlink()
    np.testing.assert_array_equal(io.read_image(path), GREY8)


def test_output_link_to_an_input_is_replaced_never_written_through(tmp_path, unchanged):
    source = tmp_path / "in.png"
    Image.fromarray(GREY8).save(source)
    unchanged(source)
    link = tmp_path / "out.png"
    link.symlink_to(source)
    io.write_image(link, 255 - GREY8, overwrite=True)
    assert not link.is_symlink()


def test_a_file_written_meanwhile_by_another_run_is_not_replaced(tmp_path, monkeypatch):
    import imageio.v3 as iio

    path = tmp_path / "out.png"
    real_imwrite = iio.imwrite

    def racing_imwrite(file, *args, **kwargs):
        path.write_bytes(b"the other run's output")  # after our exists check
        return real_imwrite(file, *args, **kwargs)

    monkeypatch.setattr(iio, "imwrite", racing_imwrite)
    refused(path, "output exists", function=lambda p: io.write_image(p, GREY8))
    assert path.read_bytes() == b"the other run's output"
    assert hidden_files(tmp_path) == []


# --- temporary files ------------------------------------------------------------------


def test_remove_temporaries_removes_only_dead_or_own_or_old(tmp_path):
    alive = os.getppid()
    names = {
        f".a.png.tmp-{dead_pid()}-0123456789abcdef.png": True,  # writer gone
        f".b.png.tmp-{os.getpid()}-0123456789abcdef.png": True,  # this process
        f".c.png.tmp-{alive}-0123456789abcdef.png": False,  # another live run's
        ".d.png.tmp-0123456789abcdef.png": False,  # old format, recent
        ".e.png.tmp-0123456789abcdef.png": True,  # old format, two hours old
        f".f.png.tmp-{dead_pid()}-0123456789abcdef.tif": False,  # not a name we make
        "g.png": False,
    }
    for name in names:
        (tmp_path / name).write_text("x")
    old = time.time() - 7200
    os.utime(tmp_path / ".e.png.tmp-0123456789abcdef.png", (old, old))
    link = tmp_path / f".h.png.tmp-{dead_pid()}-0123456789abcdef.png"
    link.symlink_to(tmp_path / "g.png")

    removed = io.remove_temporaries(tmp_path)

    assert sorted(p.name for p in removed) == sorted(n for n, gone in names.items() if gone)
    assert sorted(os.listdir(tmp_path)) == sorted(
        [n for n, gone in names.items() if not gone] + [link.name])


def test_temporary_file_carries_the_writers_pid(tmp_path, monkeypatch):
    import imageio.v3 as iio

    seen = []

    def spy(file, *args, **kwargs):
        seen.append(Path(file.name).name)
        raise RuntimeError("stop")

    monkeypatch.setattr(iio, "imwrite", spy)
    with pytest.raises(TVRestoreError):
        io.write_image(tmp_path / "out.png", GREY8)
    [name] = seen
    assert name.startswith(f".out.png.tmp-{os.getpid()}-") and name.endswith(".png")
    assert os.listdir(tmp_path) == []


def test_a_temporary_file_left_by_sigterm_is_removed_by_a_later_run(tmp_path):
    # A real process, killed while it encodes: no handler runs, the file stays.
    path = tmp_path / "out.png"
    code = textwrap.dedent(f"""
        import time
        import imageio.v3 as iio
        from tvrestore import io

        def slow(file, *args, **kwargs):
            file.write(b"half an image")
            file.flush()
            time.sleep(60)

        iio.imwrite = slow
        io.write_image({str(path)!r}, __import__("numpy").zeros((4, 4), "uint8"))
    """)
    process = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.monotonic() + 60
    while not hidden_files(tmp_path) and time.monotonic() < deadline:
        assert process.poll() is None
        time.sleep(0.01)
    [leftover] = hidden_files(tmp_path)
    assert leftover.startswith(f".out.png.tmp-{process.pid}-")
    assert io.remove_temporaries(tmp_path) == []  # its writer is still alive

    process.send_signal(signal.SIGTERM)
    process.wait(timeout=60)

    assert [p.name for p in io.remove_temporaries(tmp_path)] == [leftover]
    assert os.listdir(tmp_path) == []
