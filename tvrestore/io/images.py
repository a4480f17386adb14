"""Image files in and out: headers, decoders and writers.

This is the bottom layer of tvrestore. It reads the pixels as stored and
writes them back (atomically, through :mod:`tvrestore.io.files`); the
conversion to and from float32 arrays in [0, 1] without alpha, that
everything above works on, is :mod:`tvrestore.io.pixels`. Every decoder
or file-system failure becomes a one-line
:class:`~tvrestore.errors.TVRestoreError` that starts with the file path.

Pixel arrays are channel-last: ``(H, W)`` or ``(H, W, C)`` with ``C`` in
1..4, and dtype bool, uint8, uint16, float32 or float64. bool pixels (1-bit
images) are greyscale only.

What each format can store exactly (writing anything else is refused with a
message that suggests ``.tif``):

======  ===========================================================
PNG     bool grey; uint8 grey, grey+alpha, RGB, RGBA; uint16 grey
BMP     bool grey; uint8 grey, RGB
JPEG    uint8 grey, RGB (lossy, written at quality 95)
TIFF    every supported dtype and layout, including ``(H, W, 1)``;
        a 2nd or 4th channel is marked as straight (unassociated) alpha
======  ===========================================================

PNG, BMP and JPEG have no single-channel axis: ``(H, W, 1)`` is written as
greyscale and reads back as ``(H, W)``.

Pixels are read as they display, and written so that they display the same
(:func:`read_image`, :func:`write_image` with ``like=``):

==================  =========================================================
TIFF MINISBLACK,    as stored
RGB
TIFF MINISWHITE     inverted on read (0 is black, as everywhere else);
                    written back inverted, as MINISWHITE, with ``like=``
TIFF PALETTE        expanded to RGB through the colour map, written as RGB
                    (never the indices: denoising them would be meaningless)
TIFF YCbCr          only JPEG-compressed, which decodes to RGB
TIFF CMYK, CIELAB,  refused: converting them to RGB and back is not exact
others
Orientation         the JPEG EXIF and TIFF Orientation tags are applied on
                    read; outputs carry no orientation tag, so they display
                    as the input did
==================  =========================================================

A file's header alone is enough to refuse it (:func:`read_header`), which
imports neither TensorFlow nor scikit-image and decodes no pixels.
"""

from __future__ import annotations

import contextlib
import errno
import logging
import math
import os
import stat
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np
import numpy.typing as npt
import tifffile
from PIL import Image

from tvrestore.errors import TVRestoreError
from tvrestore.io.files import reason, write_atomically
from tvrestore.io.pixels import check_dtype

__all__ = [
    "IMAGE_EXTENSIONS",
    "LOSSY_EXTENSIONS",
    "MAX_DECODED_BYTES",
    "MAX_PIXELS",
    "ImageHeader",
    "check_writable",
    "read_header",
    "read_image",
    "read_image_and_header",
    "write_image",
]

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
)

# 2**27 pixels (134 megapixels, 2 GiB as float32 RGBA) is far beyond any
# photograph. It is below Pillow's own decompression-bomb error (about 179
# megapixels), so this is the limit for every format. What can be decoded
# is not what can be solved: a whole-image solve has its own, lower budget
# (tvrestore.runs.plan.check_budget), checked from the same header.
MAX_PIXELS: int = 2**27

# The pixel limit alone lets a header declare 64 samples per pixel, 64-bit
# samples or thousands of pages. The decoded array, every declared
# dimension multiplied out (pages x height x width x samples x bytes per
# sample), gets the budget the pixel limit was sized for: MAX_PIXELS of
# float32 RGBA, 2 GiB. Restoring needs a few float32 copies of the image
# on top of it, so a larger array would not fit a workstation anyway.
MAX_DECODED_BYTES: int = 2**31

# Formats whose file does not hold the pixels written exactly (JPEG): a
# score of the result is then not the score of the file.
LOSSY_EXTENSIONS: frozenset[str] = frozenset({".jpg", ".jpeg"})

_TIFF_EXTENSIONS = frozenset({".tif", ".tiff"})

# Channel counts that Pillow writes and reads back unchanged, per format and
# dtype. TIFF (through tifffile) stores everything and is not listed.
# Pillow writes RGBA BMPs but reads them back as RGB, and has no 16-bit
# colour PNG mode, hence the gaps.
_PILLOW_WRITABLE: dict[str, dict[np.dtype, frozenset[int]]] = {
    ".png": {
        np.dtype(np.bool_): frozenset({1}),
        np.dtype(np.uint8): frozenset({1, 2, 3, 4}),
        np.dtype(np.uint16): frozenset({1}),
    },
    ".bmp": {
        np.dtype(np.bool_): frozenset({1}),
        np.dtype(np.uint8): frozenset({1, 3}),
    },
    ".jpg": {np.dtype(np.uint8): frozenset({1, 3})},
    ".jpeg": {np.dtype(np.uint8): frozenset({1, 3})},
}

# Pillow's default quality (75) would add visible block artefacts to a
# denoised image, and its default 4:2:0 chroma subsampling blurs colour
# edges below the noisy input's quality.
_JPEG_OPTIONS = {"quality": 95, "subsampling": 0}

# By default tifffile stores (H, W, 2) as H pages of (W, 2), and leaves the
# meaning of a fourth channel unspecified: say that the last channel is
# straight (unassociated) alpha, as in PNG.
_TIFF_ALPHA_OPTIONS = {
    channels: {
        "photometric": photometric,
        "planarconfig": "contig",
        "extrasamples": ("unassalpha",),
    }
    for channels, photometric in ((2, "minisblack"), (4, "rgb"))
}

# Pillow modes that map onto our layouts, as (channels, dtype) of the pixels
# read_image returns. Others (CMYK and YCbCr JPEGs, for instance) would come
# back as 3 or 4 channels that are not RGB(A). "I" is a 16-bit greyscale PNG
# on older Pillow. Palette images ("P") are expanded to RGB or RGBA.
_PILLOW_LAYOUTS: dict[str, tuple[int, np.dtype]] = {
    "1": (1, np.dtype(np.bool_)),
    "L": (1, np.dtype(np.uint8)),
    "LA": (2, np.dtype(np.uint8)),
    "P": (3, np.dtype(np.uint8)),
    "RGB": (3, np.dtype(np.uint8)),
    "RGBA": (4, np.dtype(np.uint8)),
    "I": (1, np.dtype(np.uint16)),
    "I;16": (1, np.dtype(np.uint16)),
}

# Pillow identifies a file by its content; these are the formats we read
# through Pillow (anything else, EPS or PSD renamed .png say, is refused).
_PILLOW_FORMATS = ("PNG", "JPEG", "BMP")  # JPEG includes MPO

# TIFF compressions that lose nothing: an output is written with its
# input's, and with zlib (Adobe Deflate, readable everywhere) otherwise.
_LOSSLESS_COMPRESSIONS = frozenset(
    {"NONE", "LZW", "ADOBE_DEFLATE", "DEFLATE", "PACKBITS", "ZSTD", "LZMA"}
)
_FALLBACK_COMPRESSION = "ADOBE_DEFLATE"

# tifffile logs what it finds odd about a file (a forged header, counts that
# disagree) as warnings, which Python's last-resort handler prints as extra
# stderr lines; this module reports the problem itself, in one line.
logging.getLogger("tifffile").addHandler(logging.NullHandler())


@dataclass(frozen=True)
class ImageHeader:
    """What an image file's header says about the pixels :func:`read_image` returns.

    Attributes
    ----------
    path : pathlib.Path
        The file.
    format : str
        ``"PNG"``, ``"JPEG"``, ``"MPO"`` (a JPEG with extra pictures),
        ``"BMP"`` or ``"TIFF"``.
    shape : tuple of int
        ``(H, W)`` or ``(H, W, C)``: the shape of the pixels as read, after
        orientation (a JPEG stored 4000x3000 with orientation 6 has shape
        ``(4000, 3000, 3)``) and palette expansion.
    dtype : numpy.dtype
        bool, uint8, uint16, float32 or float64, as read.
    photometric : str or None
        TIFF only: the photometric interpretation as stored, by its
        :class:`tifffile.PHOTOMETRIC` name (``"MINISBLACK"``,
        ``"MINISWHITE"``, ``"RGB"``, ``"PALETTE"``, ``"YCBCR"``).
    compression : str or None
        TIFF only: the :class:`tifffile.COMPRESSION` name (``"NONE"``,
        ``"LZW"``, ``"ADOBE_DEFLATE"``, ``"ZSTD"``, ``"JPEG"``, ...).
    orientation : int
        The EXIF / TIFF orientation (1 to 8) that reading applies; 1 when
        the file has none.
    """

    path: Path
    format: str
    shape: tuple[int, ...]
    dtype: np.dtype
    photometric: str | None = None
    compression: str | None = None
    orientation: int = 1

    @property
    def nbytes(self) -> int:
        """Bytes of the pixels as read."""
        return math.prod(self.shape) * self.dtype.itemsize


def read_header(path: str | os.PathLike[str]) -> ImageHeader:
    """Check an image file from its header alone, decoding no pixels.

    Everything :func:`read_image` refuses before decoding is refused here,
    with the same message: a pre-flight check costs a millisecond or so per
    file and imports neither TensorFlow nor scikit-image.

    Parameters
    ----------
    path : str or path-like
        A file whose suffix is in :data:`IMAGE_EXTENSIONS`.

    Returns
    -------
    ImageHeader
        Shape and dtype of the pixels that :func:`read_image` will return,
        and what :func:`write_image` needs (``like=``) to write an output
        that displays as the input does, with the same TIFF photometric
        interpretation and (lossless) compression.

    Raises
    ------
    TVRestoreError
        One line starting with the path, if the file is missing, a
        directory or not a regular file, a symbolic link loop, unreadable
        (permission denied), empty, of an unsupported type, not an image,
        larger than :data:`MAX_PIXELS` pixels or :data:`MAX_DECODED_BYTES`
        decoded bytes (every declared dimension counts: pages, samples per
        pixel, bits per sample), multi-page or multi-frame, 16-bit colour
        PNG (Pillow would reduce it to 8 bits), of an unsupported dtype,
        shape or photometric interpretation (CMYK, CIELAB, ...).
    """
    with _open_image(Path(path)) as (header, _decode):
        return header


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file's pixels as they display.

    The header is read and checked first (:func:`read_header`, the same
    code and messages), then the pixels are decoded from the same open file.

    Parameters
    ----------
    path : str or path-like
        A file whose suffix is in :data:`IMAGE_EXTENSIONS`.

    Returns
    -------
    numpy.ndarray
        Shape ``(H, W)`` or ``(H, W, C)`` with ``C`` in 1..4, channel-last;
        dtype bool (1-bit images), uint8, uint16, float32 or float64.
        Values as stored, except: palette images come back as RGB, or RGBA
        if the palette has a transparent entry; MINISWHITE TIFFs are
        inverted (0 is black); the EXIF (JPEG) or TIFF orientation is
        applied, so the array is the picture as a viewer shows it. Float
        values are not clipped. A new, writable array.

    Raises
    ------
    TVRestoreError
        For everything :func:`read_header` refuses, and if the pixels cannot
        be decoded (corrupt or truncated data, a missing codec) or hold NaN
        or infinity.

    Notes
    -----
    The size is checked from the header, before any pixels are decoded, so a
    forged header cannot make us allocate gigabytes.
    """
    return read_image_and_header(path)[0]


def read_image_and_header(
    path: str | os.PathLike[str], check: Callable[[ImageHeader], None] | None = None
) -> tuple[np.ndarray, ImageHeader]:
    """:func:`read_image`, and the header it checked (for ``write_image(like=...)``).

    One open and one header parse serve both, as in :func:`read_image`.
    ``check``, given, is called with the header before any pixel is
    decoded (a caller's size budget, :func:`tvrestore.runs.plan.check_budget`);
    whatever it raises propagates.
    """
    path = Path(path)
    with _open_image(path) as (header, decode):
        if check is not None:
            check(header)
        pixels = decode()
    if pixels.shape != header.shape or pixels.dtype != header.dtype:
        # The decoder disagrees with the header we checked: a forged file.
        raise TVRestoreError(
            f"{path}: corrupt image (header says {header.shape} {header.dtype}, "
            f"data decodes to {pixels.shape} {pixels.dtype})"
        )
    _check_finite(path, pixels)
    return pixels, header


def write_image(
    path: str | os.PathLike[str],
    pixels: np.ndarray,
    *,
    overwrite: bool = False,
    like: ImageHeader | None = None,
) -> None:
    """Write an image file atomically.

    The image is encoded to a hidden temporary file in the target directory,
    flushed to disk, then renamed onto `path`, so `path` is never left
    half-written and an existing file survives a failed write.

    Parameters
    ----------
    path : str or path-like
        Target file; its suffix (one of :data:`IMAGE_EXTENSIONS`) picks the
        format.
    pixels : numpy.ndarray
        Layout and dtype as returned by :func:`read_image`: the picture as
        it displays. The format must be able to store them exactly (see the
        module docstring); JPEG is lossy.
    overwrite : bool, optional
        Replace an existing file. Default False. Without it, a file that
        appears at `path` while this one is encoded (another run writing the
        same output) is not replaced either. A symbolic link at `path` is
        replaced by the file, never written through.
    like : ImageHeader, optional
        The input's header (:func:`read_header`), to write a TIFF output as
        the input was stored: MINISWHITE inverted back and tagged so, and
        the input's compression when it is lossless (LZW, Deflate, ZSTD,
        PackBits, LZMA); a lossy (JPEG) or unknown compression becomes
        zlib (Adobe Deflate). Without it, or for other formats, pixels are
        written as they are, uncompressed in TIFF. No output carries an
        orientation tag: the pixels are already oriented as they display.

    Raises
    ------
    TVRestoreError
        One line starting with the path, if the suffix is unknown, the pixels
        are unsupported or hold NaN or infinity, the format cannot store
        them, the directory does not exist, `path` exists (or is a symbolic
        link loop) and `overwrite` is False, or encoding or writing fails
        (permission denied, read-only file system, disk full, ...). No
        temporary file is left behind.
    """
    path = Path(path)
    pixels = np.asarray(pixels)
    _check_extension(path)
    _check_layout(path, pixels.shape, pixels.dtype)
    _check_finite(path, pixels)
    suffix = path.suffix.lower()
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if suffix in _TIFF_EXTENSIONS:
        plugin = "tifffile"
        pixels, options = _tiff_write_options(pixels, channels, like)
    else:
        _check_pillow_writable(path, pixels.dtype, channels)
        plugin = "pillow"
        options = _JPEG_OPTIONS if suffix in (".jpg", ".jpeg") else {}
        # Pillow has no single-channel axis: (H, W, 1) is plain greyscale.
        if pixels.ndim == 3 and channels == 1:
            pixels = pixels[..., 0]

    # imageio is only needed here, not by read_header's pre-flight checks.
    import imageio.v3 as iio

    write_atomically(
        path,
        lambda file: iio.imwrite(file, pixels, plugin=plugin, extension=suffix, **options),
        overwrite=overwrite,
        what="image",
    )


def check_writable(path: str | os.PathLike[str], shape: tuple[int, ...], dtype: npt.DTypeLike) -> None:
    """Check, before any work, that :func:`write_image` can store such pixels at ``path``.

    Parameters
    ----------
    path : str or path-like
        The output file; its suffix picks the format.
    shape, dtype
        Of the pixels to write, as :func:`read_header` gives them for the input.

    Raises
    ------
    TVRestoreError
        One line starting with the path, if the suffix is unknown or the
        format cannot store that dtype and channel count.
    """
    path = Path(path)
    _check_extension(path)
    dtype = np.dtype(dtype)
    if path.suffix.lower() not in _TIFF_EXTENSIONS:
        _check_pillow_writable(path, dtype, 1 if len(shape) == 2 else shape[2])



# --- reading: header, checks, decoding -------------------------------------------

Decoder = Callable[[], np.ndarray]


@contextlib.contextmanager
def _open_image(path: Path) -> Iterator[tuple[ImageHeader, Decoder]]:
    """Open `path`, parse and check its header; yield it and a decoder of its pixels.

    The one code path behind :func:`read_header` and :func:`read_image`:
    every check that needs no pixels is done before yielding, and the
    decoder reads from the same open file.
    """
    _check_file(path)
    opener = _open_tiff if path.suffix.lower() in _TIFF_EXTENSIONS else _open_pillow
    with warnings.catch_warnings():
        # MAX_PIXELS is the limit that matters; Pillow's warning for big
        # images below it would only be noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        with opener(path) as opened:
            yield opened


def _check_file(path: Path) -> None:
    """Refuse what is not a non-empty regular file with an image suffix."""
    try:
        info = os.stat(path)
    except FileNotFoundError:
        if os.path.islink(path):
            raise TVRestoreError(
                f"{path}: broken symbolic link (to {os.readlink(path)})"
            ) from None
        raise TVRestoreError(f"{path}: file not found") from None
    except OSError as err:
        if err.errno == errno.ELOOP:
            raise TVRestoreError(f"{path}: symbolic link loop") from None
        raise TVRestoreError(f"{path}: cannot read ({reason(err)})") from None
    if stat.S_ISDIR(info.st_mode):
        raise TVRestoreError(f"{path}: is a directory, not an image file")
    _check_extension(path)
    if not stat.S_ISREG(info.st_mode):
        # A FIFO would block the read forever, a device never end.
        raise TVRestoreError(f"{path}: not a regular file")
    if info.st_size == 0:
        raise TVRestoreError(f"{path}: empty file (0 bytes)")


@contextlib.contextmanager
def _open_pillow(path: Path) -> Iterator[tuple[ImageHeader, Decoder]]:
    """A PNG, JPEG or BMP: Pillow's lazy open parses the header only."""
    try:
        image = Image.open(path, formats=_PILLOW_FORMATS)
    except Image.DecompressionBombError as err:
        raise TVRestoreError(
            f"{path}: absurd image size (more than {MAX_PIXELS} pixels)"
        ) from err
    except Exception as err:
        raise _unreadable(path, err) from err
    with image:
        header = _pillow_header(path, image)
        yield header, lambda: _decode_pillow(path, image, header)


def _pillow_header(path: Path, image: Image.Image) -> ImageHeader:
    width, height = image.size
    mode, image_format = image.mode, image.format
    # An MPO (a JPEG with extra pictures, as phones write) is read as its
    # primary picture; an animated PNG has no such primary frame.
    frames = 1 if image_format == "MPO" else getattr(image, "n_frames", 1)
    channels, dtype = _PILLOW_LAYOUTS.get(mode, (1, np.dtype(np.uint8)))
    if mode == "P" and "transparency" in image.info:
        channels = 4
    _check_budget(path, width, height, channels, dtype.itemsize, frames)
    if mode not in _PILLOW_LAYOUTS:
        raise TVRestoreError(
            f"{path}: unsupported colour mode {mode} "
            "(expected greyscale, palette or RGB, with optional alpha)"
        )
    if frames > 1:
        raise TVRestoreError(f"{path}: unsupported shape: {frames} frames (animation)")
    colour_png = image_format == "PNG" and mode in ("LA", "RGB", "RGBA")
    if colour_png and _png_bit_depth(path) == 16:
        raise TVRestoreError(
            f"{path}: 16-bit colour PNG is not supported (Pillow reads it as "
            "8 bits); convert it to a 16-bit TIFF"
        )
    orientation = 1
    if image_format in ("JPEG", "MPO"):
        _check_jpeg_length(path, image)
        # JPEG keeps EXIF in its header: reading it decodes no pixels.
        orientation = _valid_orientation(image.getexif().get(_ORIENTATION_TAG))
    stored = (height, width) if channels == 1 else (height, width, channels)
    return ImageHeader(
        path=path,
        format=image_format,
        shape=_oriented_shape(stored, orientation),
        dtype=dtype,
        orientation=orientation,
    )


def _check_jpeg_length(path: Path, image: Image.Image) -> None:
    """Refuse a JPEG too short to hold the scan its frame header declares.

    libjpeg decodes a scan cut short by an end-of-image marker as grey
    filler, with only a warning that Pillow drops: a 529-byte file whose
    header claims 11000 x 11000 would decode to 121 megapixels of filler.
    Every 8x8 block of every component costs at least one bit of Huffman
    code (a DC difference, in baseline and progressive JPEG alike), so the
    file must hold at least a bit per block. Arithmetic-coded JPEGs, which
    can spend less, are too rare to weaken the check for.
    """
    width, height = image.size
    components = getattr(image, "layer", None) or [(0, 1, 1, 0)]
    # Pillow's (id, high nibble, low nibble, table): horizontal, then vertical sampling.
    most_horizontal = max(horizontal for _, horizontal, _, _ in components)
    most_vertical = max(vertical for _, _, vertical, _ in components)
    blocks = sum(
        -(-math.ceil(height * vertical / most_vertical) // 8)
        * -(-math.ceil(width * horizontal / most_horizontal) // 8)
        for _, horizontal, vertical, _ in components
    )
    size = os.path.getsize(path)
    if size * 8 < blocks:
        raise TVRestoreError(
            f"{path}: corrupt or truncated image ({size} bytes cannot hold the "
            f"{width}x{height} scan its header declares, {blocks} blocks)"
        )


def _decode_pillow(path: Path, image: Image.Image, header: ImageHeader) -> np.ndarray:
    try:
        if image.mode == "P":
            # The palette as colours, a transparent entry as alpha.
            image = image.convert("RGBA" if header.shape[-1] == 4 else "RGB")
        pixels = np.array(image)  # a writable copy
    except Exception as err:
        raise _corrupt(path, err) from err
    # "I" is int32 in Pillow; a 16-bit PNG's values fit uint16.
    return _orient(pixels.astype(header.dtype, copy=False), header.orientation)


def _png_bit_depth(path: Path) -> int:
    """Return the bit depth in a PNG's IHDR chunk; Pillow does not expose it."""
    with open(path, "rb") as file:
        # signature (8) + chunk length (4) + b"IHDR" (4) + width (4) + height (4)
        return file.read(25)[24]


@contextlib.contextmanager
def _open_tiff(path: Path) -> Iterator[tuple[ImageHeader, Decoder]]:
    """A TIFF: tifffile parses the tags of every page, decoding no pixels."""
    try:
        tif = tifffile.TiffFile(path)
    except Exception as err:
        raise _unreadable(path, err) from err
    with tif:
        try:
            pages = len(tif.pages)
            page = tif.pages[0]
            series = tif.series[0]
        except Exception as err:
            raise _unreadable(path, err) from err
        header = _tiff_header(path, page, series, pages)
        yield header, lambda: _decode_tiff(path, page, series, header)


def _tiff_header(
    path: Path, page: tifffile.TiffPage, series: tifffile.TiffPageSeries, pages: int
) -> ImageHeader:
    photometric = _enum_name(page.photometric)
    compression = _enum_name(page.compression)
    samples = page.samplesperpixel
    bytes_per_sample = page.dtype.itemsize if page.dtype is not None else -(-page.bitspersample // 8)
    colormap = page.colormap if photometric == "PALETTE" else None
    if colormap is not None:
        # Every RGB sample the colour map makes counts, at its own size.
        samples, bytes_per_sample = 3, max(bytes_per_sample, _palette_dtype(colormap).itemsize)
    _check_budget(
        path, page.imagewidth, page.imagelength, samples, bytes_per_sample,
        pages * max(page.imagedepth, 1),
    )
    if pages > 1:
        raise TVRestoreError(f"{path}: unsupported shape: multi-page TIFF ({pages} pages)")
    if page.imagedepth > 1:
        raise TVRestoreError(f"{path}: unsupported shape: volume TIFF (depth {page.imagedepth})")
    if page.compression not in tifffile.TIFF.DECOMPRESSORS:
        raise TVRestoreError(
            f"{path}: TIFF compression {compression} is not supported (no codec for it)"
        )
    if page.dtype is None:
        raise TVRestoreError(
            f"{path}: unsupported pixel type ({page.bitspersample}-bit "
            f"{_enum_name(page.sampleformat)} samples)"
        )

    # tifffile's series knows the shape the writer meant ((W,) for a row,
    # (S, H, W) for planar colour); only a single-page file gets here.
    shape, dtype = series.shape, page.dtype
    if series.axes.startswith("S") and len(shape) == 3:
        shape = (*shape[1:], shape[0])
    if photometric == "PALETTE":
        if page.samplesperpixel != 1 or colormap is None:
            raise TVRestoreError(
                f"{path}: unsupported palette TIFF ({page.samplesperpixel} samples "
                "per pixel); convert it to RGB"
            )
        if len(shape) == 2:  # a 1-D file is refused as it is
            shape, dtype = (*shape, 3), _palette_dtype(colormap)
    _check_layout(path, shape, dtype)
    _check_photometric(path, photometric, compression, shape, dtype)

    orientation_tag = page.tags.get(_ORIENTATION_TAG)
    orientation = _valid_orientation(orientation_tag.value if orientation_tag else None)
    return ImageHeader(
        path=path,
        format="TIFF",
        shape=_oriented_shape(tuple(shape), orientation),
        dtype=np.dtype(dtype),
        photometric=photometric,
        compression=compression,
        orientation=orientation,
    )


def _check_photometric(
    path: Path, photometric: str, compression: str, shape: tuple[int, ...], dtype: np.dtype
) -> None:
    """Refuse what cannot be read as grey or RGB and written back exactly."""
    channels = 1 if len(shape) == 2 else shape[2]
    if photometric in ("MINISBLACK", "PALETTE"):
        return
    if photometric == "MINISWHITE":
        if dtype.kind == "f":
            raise TVRestoreError(
                f"{path}: floating-point MINISWHITE TIFF is not supported "
                "(no defined white level to invert against); convert it to MINISBLACK"
            )
        if channels > 2:
            raise TVRestoreError(
                f"{path}: unsupported MINISWHITE TIFF with {channels} samples per pixel"
            )
        return
    if photometric == "RGB" and channels >= 3:
        return
    # JPEG-in-TIFF stores colour as YCbCr, and decoding gives RGB back.
    if photometric == "YCBCR" and compression == "JPEG" and channels == 3:
        return
    hints = {
        "SEPARATED": "CMYK",
        "CIELAB": "CIE L*a*b*",
        "ICCLAB": "ICC L*a*b*",
        "ITULAB": "ITU L*a*b*",
        "YCBCR": f"YCbCr with {compression} compression",
        "MASK": "transparency mask",
    }
    what = hints.get(photometric, f"{channels} samples per pixel")
    raise TVRestoreError(
        f"{path}: TIFF photometric interpretation {photometric} ({what}) "
        "is not supported; convert it to greyscale or RGB"
    )


def _decode_tiff(
    path: Path, page: tifffile.TiffPage, series: tifffile.TiffPageSeries, header: ImageHeader
) -> np.ndarray:
    try:
        pixels = page.asarray().reshape(series.shape)
    except Exception as err:
        raise _corrupt(path, err) from err
    if series.axes.startswith("S") and pixels.ndim == 3:
        # Planar ("separate") colour TIFFs decode as (C, H, W).
        pixels = np.moveaxis(pixels, 0, -1)
    if header.photometric == "MINISWHITE":
        pixels = _invert_grey(pixels, white=_white_level(page.dtype, page.bitspersample))
    elif header.photometric == "PALETTE":
        pixels = _apply_palette(path, pixels, page.colormap)
    # Native byte order: a big-endian file's uint16 compares equal to ours.
    pixels = pixels.astype(header.dtype, copy=False)
    return _orient(pixels, header.orientation)


def _white_level(dtype: np.dtype, bits: int) -> int | bool:
    """The stored value of black in a MINISWHITE image (its white is 0)."""
    return True if dtype == np.bool_ else 2**bits - 1


def _invert_grey(pixels: np.ndarray, white: int | bool) -> np.ndarray:
    """Invert the grey channel of MINISWHITE pixels, leaving alpha alone."""
    pixels = np.array(pixels)  # a copy: never write into the caller's array
    grey = pixels if pixels.ndim == 2 else pixels[..., 0]
    if pixels.dtype == np.bool_:
        np.logical_not(grey, out=grey)
    else:
        np.subtract(pixels.dtype.type(white), grey, out=grey)
    return pixels


def _palette_dtype(colormap: np.ndarray) -> np.dtype:
    """uint8 for a colour map of 8-bit colours scaled by 257, as TIFF writers do."""
    return np.dtype(np.uint8 if not np.any(colormap % 257) else np.uint16)


def _apply_palette(path: Path, indices: np.ndarray, colormap: np.ndarray) -> np.ndarray:
    """RGB pixels through a TIFF colour map ((3, N), 16-bit colours)."""
    dtype = _palette_dtype(colormap)
    colours = colormap // 257 if dtype == np.uint8 else colormap
    try:
        rgb = np.take(colours, indices.astype(np.intp), axis=1)
    except IndexError as err:
        raise TVRestoreError(
            f"{path}: corrupt palette TIFF (an index beyond its colour map)"
        ) from err
    return np.moveaxis(rgb, 0, -1).astype(dtype)


_ORIENTATION_TAG = 0x0112  # the same number in EXIF and in TIFF

# EXIF orientation -> how to turn the stored array into the picture as shown:
# number of quarter turns counter-clockwise (np.rot90), then a left-right flip.
# 5 to 8 swap height and width.
_ORIENTATIONS: dict[int, tuple[int, bool]] = {
    1: (0, False),
    2: (0, True),
    3: (2, False),
    4: (2, True),
    5: (3, True),
    6: (3, False),
    7: (1, True),
    8: (1, False),
}


def _valid_orientation(value: object) -> int:
    """An orientation tag's value, or 1 (as stored) when absent or invalid."""
    try:
        value = int(value)
    except (TypeError, ValueError):
        return 1
    return value if value in _ORIENTATIONS else 1


def _oriented_shape(shape: tuple[int, ...], orientation: int) -> tuple[int, ...]:
    if _ORIENTATIONS[orientation][0] % 2:
        return (shape[1], shape[0], *shape[2:])
    return tuple(shape)


def _orient(pixels: np.ndarray, orientation: int) -> np.ndarray:
    """The stored pixels as a viewer shows them, given the EXIF orientation."""
    turns, flip = _ORIENTATIONS[orientation]
    if not turns and not flip:
        return pixels
    shown = np.rot90(pixels, turns, axes=(0, 1))
    if flip:
        shown = shown[:, ::-1]
    return np.ascontiguousarray(shown)


def _enum_name(value: object) -> str:
    """A tifffile enum's name, or the number of a value it does not know."""
    return getattr(value, "name", str(value))


def _corrupt(path: Path, err: Exception) -> TVRestoreError:
    """The error for pixels that do not decode."""
    return TVRestoreError(f"{path}: corrupt or truncated image ({reason(err)})")


def _check_extension(path: Path) -> None:
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise TVRestoreError(
            f"{path}: unsupported file type {path.suffix!r} "
            f"(expected one of {', '.join(sorted(IMAGE_EXTENSIONS))})"
        )


def _check_budget(
    path: Path, width: int, height: int, samples: int, bytes_per_sample: int, planes: int
) -> None:
    """Refuse a header whose decoded array would exceed MAX_PIXELS or MAX_DECODED_BYTES."""
    if width * height > MAX_PIXELS:
        raise TVRestoreError(
            f"{path}: absurd image size {width}x{height} "
            f"(more than {MAX_PIXELS} pixels)"
        )
    decoded = width * height * samples * bytes_per_sample * planes
    if decoded > MAX_DECODED_BYTES:
        raise TVRestoreError(
            f"{path}: absurd image size {width}x{height}, {samples} samples per pixel "
            f"of {bytes_per_sample} byte(s), {planes} page(s): {decoded} bytes to decode "
            f"(more than {MAX_DECODED_BYTES})"
        )


def _check_layout(path: Path, shape: tuple[int, ...], dtype: np.dtype) -> None:
    """Check the dtype and layout that read_image returns and write_image accepts."""
    check_dtype(dtype, prefix=f"{path}: ")
    # bool pixels come from 1-bit greyscale files only, and tifffile garbles
    # multi-channel bool data.
    max_channels = 1 if dtype == np.bool_ else 4
    layout_ok = len(shape) == 2 or (len(shape) == 3 and 1 <= shape[2] <= max_channels)
    if not layout_ok or math.prod(shape) == 0:
        raise TVRestoreError(
            f"{path}: unsupported shape {tuple(shape)} for {dtype} pixels "
            "(expected (H, W) or (H, W, C) with 1 to 4 channels, 1 for bool)"
        )


def _check_finite(path: Path, pixels: np.ndarray) -> None:
    if pixels.dtype.kind == "f" and not np.isfinite(pixels).all():
        raise TVRestoreError(f"{path}: image contains NaN or infinite values")


def _tiff_write_options(
    pixels: np.ndarray, channels: int, like: ImageHeader | None
) -> tuple[np.ndarray, dict[str, object]]:
    """Pixels as stored and tifffile's options: alpha, and what `like` says."""
    options: dict[str, object] = dict(_TIFF_ALPHA_OPTIONS.get(channels, {}))
    if pixels.dtype == np.bool_:
        # tifffile's default for bool is MINISWHITE, which shows True as black.
        options["photometric"] = "minisblack"
    if like is None or like.format != "TIFF":
        return pixels, options
    compression = like.compression
    if compression not in _LOSSLESS_COMPRESSIONS:
        compression = _FALLBACK_COMPRESSION
    if compression != "NONE":
        options["compression"] = compression
    if like.photometric == "MINISWHITE" and channels <= 2 and pixels.dtype.kind in "bu":
        pixels = _invert_grey(pixels, white=_white_level(pixels.dtype, 8 * pixels.dtype.itemsize))
        options["photometric"] = "miniswhite"
    return pixels, options


def _check_pillow_writable(path: Path, dtype: np.dtype, channels: int) -> None:
    suffix = path.suffix.lower()
    if channels not in _PILLOW_WRITABLE[suffix].get(dtype, frozenset()):
        raise TVRestoreError(
            f"{path}: {suffix[1:].upper()} cannot store {dtype} pixels "
            f"with {channels} channel(s); use .tif"
        )


def _unreadable(path: Path, err: Exception) -> TVRestoreError:
    """The error for a file whose header its decoder cannot parse."""
    return TVRestoreError(f"{path}: not a readable image ({reason(err)})")
