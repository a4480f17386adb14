"""Image files in and out: reading, atomic writing, pixel scaling, alpha, naming.

This is the bottom layer of tvrestore. Everything above it works on float32
arrays in [0, 1] without alpha; this module converts between those and what
is on disk, and turns every decoder or file-system failure into a one-line
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
"""

from __future__ import annotations

import fnmatch
import os
import re
import secrets
import warnings
from pathlib import Path
from typing import BinaryIO, Callable

import imageio.v3 as iio
import numpy as np
import numpy.typing as npt
import tifffile
from PIL import Image

from tvrestore.errors import TVRestoreError

__all__ = [
    "IMAGE_EXTENSIONS",
    "MAX_PIXELS",
    "default_output_path",
    "from_unit_range",
    "join_alpha",
    "list_images",
    "read_image",
    "remove_temporaries",
    "split_alpha",
    "to_unit_range",
    "write_image",
    "write_text",
]

IMAGE_EXTENSIONS: frozenset[str] = frozenset(
    {".png", ".jpg", ".jpeg", ".tif", ".tiff", ".bmp"}
)

# 2**27 pixels (134 megapixels, 2 GiB as float32 RGBA) is far beyond any
# photograph. It is below Pillow's own decompression-bomb error (about 179
# megapixels), so this is the limit for every format.
MAX_PIXELS: int = 2**27

_TIFF_EXTENSIONS = frozenset({".tif", ".tiff"})

_SUPPORTED_DTYPES = frozenset(
    np.dtype(t) for t in (np.bool_, np.uint8, np.uint16, np.float32, np.float64)
)

_INTEGER_MAX = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}

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

# Pillow modes that map onto our layouts. Others (CMYK and YCbCr JPEGs, for
# instance) would come back as 3 or 4 channels that are not RGB(A).
# "I" is a 16-bit greyscale PNG on older Pillow; imageio converts it to uint16.
_PILLOW_READ_MODES = frozenset({"1", "L", "LA", "P", "RGB", "RGBA", "I", "I;16"})


def read_image(path: str | os.PathLike[str]) -> np.ndarray:
    """Read an image file, keeping its pixels as stored.

    Parameters
    ----------
    path : str or path-like
        A file whose suffix is in :data:`IMAGE_EXTENSIONS`.

    Returns
    -------
    numpy.ndarray
        Shape ``(H, W)`` or ``(H, W, C)`` with ``C`` in 1..4, channel-last;
        dtype bool (1-bit images), uint8, uint16, float32 or float64.
        Palette images come back as RGB, or RGBA if the palette has a
        transparent entry. Float values are not clipped. EXIF orientation
        is not applied.

    Raises
    ------
    TVRestoreError
        If the file is missing, a directory, empty, of an unsupported type,
        not decodable, truncated, multi-page or multi-frame, larger than
        :data:`MAX_PIXELS`, 16-bit colour PNG (Pillow would reduce it to 8
        bits), of an unsupported dtype or shape, or holds NaN or infinity.

    Notes
    -----
    The size is checked from the header, before any pixels are decoded, so a
    forged header cannot make us allocate gigabytes.
    """
    path = Path(path)
    if not path.exists():
        raise TVRestoreError(f"{path}: file not found")
    if path.is_dir():
        raise TVRestoreError(f"{path}: is a directory, not an image file")
    _check_extension(path)
    if path.stat().st_size == 0:
        raise TVRestoreError(f"{path}: empty file (0 bytes)")

    reader = _read_tiff if path.suffix.lower() in _TIFF_EXTENSIONS else _read_pillow
    with warnings.catch_warnings():
        # MAX_PIXELS is the limit that matters; Pillow's warning for big
        # images below it would only be noise.
        warnings.simplefilter("ignore", Image.DecompressionBombWarning)
        pixels = reader(path)
    _check_pixels(path, pixels)
    return pixels


def write_image(
    path: str | os.PathLike[str], pixels: np.ndarray, *, overwrite: bool = False
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
        Layout and dtype as returned by :func:`read_image`. The format must be
        able to store them exactly (see the module docstring); JPEG is lossy.
    overwrite : bool, optional
        Replace an existing file. Default False.

    Raises
    ------
    TVRestoreError
        If the suffix is unknown, the pixels are unsupported or hold NaN or
        infinity, the format cannot store them, the directory does not exist,
        `path` exists and `overwrite` is False, or encoding or writing fails.
    """
    path = Path(path)
    pixels = np.asarray(pixels)
    _check_extension(path)
    _check_pixels(path, pixels)
    suffix = path.suffix.lower()
    channels = 1 if pixels.ndim == 2 else pixels.shape[2]
    if suffix in _TIFF_EXTENSIONS:
        plugin, options = "tifffile", _TIFF_ALPHA_OPTIONS.get(channels, {})
    else:
        _check_pillow_writable(path, pixels.dtype, channels)
        plugin = "pillow"
        options = _JPEG_OPTIONS if suffix in (".jpg", ".jpeg") else {}
        # Pillow has no single-channel axis: (H, W, 1) is plain greyscale.
        if pixels.ndim == 3 and channels == 1:
            pixels = pixels[..., 0]

    _write_atomically(
        path,
        lambda file: iio.imwrite(file, pixels, plugin=plugin, extension=suffix, **options),
        overwrite=overwrite,
        what="image",
    )


def write_text(path: str | os.PathLike[str], text: str, *, overwrite: bool = True) -> None:
    """Write a text file (a report) atomically, as :func:`write_image` does.

    Reports are regenerated on every run, so they are replaced by default.

    Raises
    ------
    TVRestoreError
        If the directory does not exist, `path` exists and `overwrite` is
        False, or writing fails.
    """
    _write_atomically(
        Path(path), lambda file: file.write(text.encode("utf-8")), overwrite=overwrite, what="file"
    )


def to_unit_range(pixels: np.ndarray, copy: bool = True) -> np.ndarray:
    """Scale pixels to float32, integers to [0, 1].

    Parameters
    ----------
    pixels : numpy.ndarray
        bool, uint8, uint16, float32 or float64 pixels.
    copy : bool
        If False, float32 pixels come back as a read-only view instead of a
        copy (a large image is not duplicated, and cannot be written to
        through the result).

    Returns
    -------
    numpy.ndarray
        float32, same shape: uint8 divided by 255, uint16 by 65535, bool as
        0 or 1, floats cast as they are (not clipped).

    Raises
    ------
    TVRestoreError
        If the dtype is not supported.
    """
    dtype = pixels.dtype
    _check_dtype(dtype)
    if not copy and dtype == np.float32:
        unit = pixels.view()
        unit.flags.writeable = False
        return unit
    unit = pixels.astype(np.float32)
    if dtype in _INTEGER_MAX:
        unit /= np.float32(_INTEGER_MAX[dtype])
    return unit


def from_unit_range(unit: np.ndarray, dtype: npt.DTypeLike) -> np.ndarray:
    """Convert unit-range floats back to `dtype`: the inverse of to_unit_range.

    ``from_unit_range(to_unit_range(x), x.dtype)`` equals ``x`` exactly for
    every bool, uint8 and uint16 value.

    Parameters
    ----------
    unit : numpy.ndarray
        Float pixels, nominally in [0, 1].
    dtype : dtype-like
        bool, uint8, uint16, float32 or float64.

    Returns
    -------
    numpy.ndarray
        uint8 and uint16: clipped to [0, 1], scaled to the full range and
        rounded half to even. bool: ``unit >= 0.5``. Floats: cast, not
        clipped, so float TIFFs keep values outside [0, 1].

    Raises
    ------
    TVRestoreError
        If `dtype` is not supported or `unit` holds NaN or infinity (a
        diverged result would otherwise turn silently into black pixels).
    """
    dtype = np.dtype(dtype)
    _check_dtype(dtype)
    if not np.isfinite(unit).all():
        raise TVRestoreError("result contains NaN or infinite values")
    if dtype == np.bool_:
        return unit >= 0.5
    if dtype in _INTEGER_MAX:
        return np.rint(np.clip(unit, 0, 1) * _INTEGER_MAX[dtype]).astype(dtype)
    return unit.astype(dtype)


def split_alpha(pixels: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """Separate the alpha channel of grey+alpha and RGBA images.

    Parameters
    ----------
    pixels : numpy.ndarray
        ``(H, W)`` or ``(H, W, C)`` pixels.

    Returns
    -------
    colour : numpy.ndarray
        ``(H, W, 1)`` for ``C == 2``, ``(H, W, 3)`` for ``C == 4``, otherwise
        `pixels` itself.
    alpha : numpy.ndarray or None
        The last channel, ``(H, W)`` in the original dtype, for ``C`` 2 or 4;
        otherwise None.

    Notes
    -----
    Both arrays are views of `pixels`, not copies.
    """
    if pixels.ndim == 3 and pixels.shape[2] in (2, 4):
        return pixels[..., :-1], pixels[..., -1]
    return pixels, None


def join_alpha(colour: np.ndarray, alpha: np.ndarray | None) -> np.ndarray:
    """Put an alpha channel back: the inverse of split_alpha.

    Parameters
    ----------
    colour : numpy.ndarray
        ``(H, W, 1)`` or ``(H, W, 3)`` if `alpha` is given, else any layout.
    alpha : numpy.ndarray or None
        ``(H, W)``, same dtype as `colour`, or None.

    Returns
    -------
    numpy.ndarray
        `colour` with `alpha` appended as the last channel, or `colour`
        itself if `alpha` is None.

    Raises
    ------
    TVRestoreError
        If the dtypes differ (numpy would silently promote both).
    """
    if alpha is None:
        return colour
    if alpha.dtype != colour.dtype:
        raise TVRestoreError(
            f"alpha dtype {alpha.dtype} does not match colour dtype {colour.dtype}"
        )
    return np.concatenate([colour, alpha[..., np.newaxis]], axis=-1)


def default_output_path(input_path: str | os.PathLike[str]) -> Path:
    """Name the result beside the input: ``<dir>/<stem>_tv<suffix>``.

    Parameters
    ----------
    input_path : str or path-like
        The input image, e.g. ``a/noisy.png``.

    Returns
    -------
    pathlib.Path
        E.g. ``a/noisy_tv.png``; only the last suffix counts, so
        ``x.tar.tif`` gives ``x.tar_tv.tif``.
    """
    input_path = Path(input_path)
    return input_path.with_name(f"{input_path.stem}_tv{input_path.suffix}")


def list_images(
    root: str | os.PathLike[str], pattern: str | None = None
) -> list[Path]:
    """List the image files under a directory, recursively.

    Parameters
    ----------
    root : str or path-like
        Directory to search.
    pattern : str, optional
        Shell-style pattern (:mod:`fnmatch`) matched against each file's path
        relative to `root`, written with ``/`` and compared case-insensitively.
        ``*`` also matches ``/``, so ``*.png`` selects PNGs at every depth and
        ``sub/*.tif`` the TIFFs anywhere below ``sub``. It only narrows the
        image files; other files are never listed.

    Returns
    -------
    list of pathlib.Path
        Paths (``root`` joined with the relative path) of files whose suffix,
        in any case, is in :data:`IMAGE_EXTENSIONS`, sorted. Hidden files and
        directories (name starting with ``.``) are skipped, which also skips
        the temporary files of :func:`write_image`. Symbolic links to
        directories are not followed.

    Raises
    ------
    TVRestoreError
        If `root` is not a directory.
    """
    root = Path(root)
    if not root.is_dir():
        raise TVRestoreError(f"{root}: no such directory")
    found = []
    for directory, subdirectories, names in os.walk(root):
        # Pruning in place stops os.walk from descending into hidden directories.
        subdirectories[:] = [d for d in subdirectories if not d.startswith(".")]
        for name in names:
            path = Path(directory, name)
            if name.startswith(".") or path.suffix.lower() not in IMAGE_EXTENSIONS:
                continue
            relative = path.relative_to(root).as_posix().lower()
            if pattern is None or fnmatch.fnmatchcase(relative, pattern.lower()):
                found.append(path)
    return sorted(found)


def remove_temporaries(directory: str | os.PathLike[str]) -> list[Path]:
    """Delete the temporary files that :func:`write_image` left in a directory.

    :func:`write_image` removes its temporary file when it fails or is
    interrupted by an exception (Ctrl-C included); only a process killed
    outright (SIGKILL, power loss) leaves one behind. A run that is about to
    write into `directory` again calls this first. Do not call it while
    another process writes into the same directory.

    Parameters
    ----------
    directory : str or path-like
        Searched, not recursively; a missing directory is not an error.

    Returns
    -------
    list of pathlib.Path
        The files removed: names of the form ``.<name>.tmp-<hex><suffix>``
        where ``<name>`` ends in ``<suffix>``, nothing else.
    """
    directory = Path(directory)
    if not directory.is_dir():
        return []
    removed = []
    for entry in os.scandir(directory):
        match = _TEMPORARY_NAME.fullmatch(entry.name)
        if match and match["name"].endswith(match["suffix"]) and entry.is_file():
            Path(entry.path).unlink(missing_ok=True)
            removed.append(Path(entry.path))
    return removed


_TOKEN_BYTES = 8
_TEMPORARY_NAME = re.compile(
    rf"\.(?P<name>.+)\.tmp-[0-9a-f]{{{2 * _TOKEN_BYTES}}}(?P<suffix>(\.[^.]*)?)"
)


def _temporary_path(path: Path) -> Path:
    # Hidden, so list_images never picks it up; same directory, so that
    # os.replace is an atomic rename; the name says which file it becomes.
    token = secrets.token_hex(_TOKEN_BYTES)
    return path.with_name(f".{path.name}.tmp-{token}{path.suffix}")


def _write_atomically(
    path: Path, encode: Callable[[BinaryIO], object], *, overwrite: bool, what: str
) -> None:
    """Run `encode` on a temporary file beside `path`, then rename it onto `path`."""
    if not path.parent.is_dir():
        raise TVRestoreError(f"{path}: output directory does not exist")
    if path.exists() and not overwrite:
        raise TVRestoreError(f"{path}: output exists (use --overwrite)")

    temp = _temporary_path(path)
    try:
        with open(temp, "xb") as file:
            encode(file)
            file.flush()
            os.fsync(file.fileno())
        os.replace(temp, path)
    except Exception as err:
        raise TVRestoreError(f"{path}: cannot write {what} ({_reason(err)})") from err
    finally:
        # After a successful rename the temporary name is gone: nothing to do.
        temp.unlink(missing_ok=True)


def _read_pillow(path: Path) -> np.ndarray:
    """Read a PNG, JPEG or BMP, checking the header before decoding."""
    try:
        # Lazy: parses the header only, decodes no pixels.
        with Image.open(path) as image:
            width, height = image.size
            mode, image_format = image.mode, image.format
            frames = getattr(image, "n_frames", 1)
            transparent_palette = mode == "P" and "transparency" in image.info
    except Image.DecompressionBombError as err:
        raise TVRestoreError(
            f"{path}: absurd image size (more than {MAX_PIXELS} pixels)"
        ) from err
    except Exception as err:
        raise _unreadable(path, err) from err

    _check_size(path, width, height)
    if mode not in _PILLOW_READ_MODES:
        raise TVRestoreError(
            f"{path}: unsupported colour mode {mode} "
            "(expected greyscale, palette or RGB, with optional alpha)"
        )
    # An MPO (a JPEG with extra pictures, as phones write) is read as its
    # primary picture; an animated PNG has no such primary frame.
    if frames > 1 and image_format != "MPO":
        raise TVRestoreError(
            f"{path}: unsupported shape: {frames} frames (animation)"
        )
    colour_png = image_format == "PNG" and mode in ("LA", "RGB", "RGBA")
    if colour_png and _png_bit_depth(path) == 16:
        raise TVRestoreError(
            f"{path}: 16-bit colour PNG is not supported (Pillow reads it as "
            "8 bits); convert it to a 16-bit TIFF"
        )
    # imageio applies the palette as RGB and drops a transparent entry unless
    # RGBA is asked for explicitly.
    convert_to = "RGBA" if transparent_palette else None
    return _decode(path, plugin="pillow", index=0, mode=convert_to)


def _png_bit_depth(path: Path) -> int:
    """Return the bit depth in a PNG's IHDR chunk; Pillow does not expose it."""
    with open(path, "rb") as file:
        # signature (8) + chunk length (4) + b"IHDR" (4) + width (4) + height (4)
        return file.read(25)[24]


def _read_tiff(path: Path) -> np.ndarray:
    """Read a single-page TIFF, checking the header before decoding."""
    try:
        with tifffile.TiffFile(path) as tif:
            pages = len(tif.pages)
            width, height = tif.pages[0].imagewidth, tif.pages[0].imagelength
            samples_first = tif.series[0].axes.startswith("S")
    except Exception as err:
        raise _unreadable(path, err) from err

    if pages > 1:
        raise TVRestoreError(
            f"{path}: unsupported shape: multi-page TIFF ({pages} pages)"
        )
    _check_size(path, width, height)
    pixels = _decode(path, plugin="tifffile", index=0)
    # Planar ("separate") colour TIFFs decode as (C, H, W).
    return np.moveaxis(pixels, 0, -1) if samples_first else pixels


def _decode(path: Path, **options: object) -> np.ndarray:
    """Decode pixels with imageio; any failure here means corrupt data."""
    try:
        return iio.imread(path, **options)
    except Exception as err:
        raise TVRestoreError(
            f"{path}: corrupt or truncated image ({_reason(err)})"
        ) from err


def _check_extension(path: Path) -> None:
    if path.suffix.lower() not in IMAGE_EXTENSIONS:
        raise TVRestoreError(
            f"{path}: unsupported file type {path.suffix!r} "
            f"(expected one of {', '.join(sorted(IMAGE_EXTENSIONS))})"
        )


def _check_dtype(dtype: np.dtype, prefix: str = "") -> None:
    if dtype not in _SUPPORTED_DTYPES:
        raise TVRestoreError(
            f"{prefix}unsupported pixel type {dtype} "
            "(expected bool, uint8, uint16, float32 or float64)"
        )


def _check_size(path: Path, width: int, height: int) -> None:
    if width * height > MAX_PIXELS:
        raise TVRestoreError(
            f"{path}: absurd image size {width}x{height} "
            f"(more than {MAX_PIXELS} pixels)"
        )


def _check_pixels(path: Path, pixels: np.ndarray) -> None:
    """Check the dtype, layout and values that read_image and write_image accept."""
    _check_dtype(pixels.dtype, prefix=f"{path}: ")
    # bool pixels come from 1-bit greyscale files only, and tifffile garbles
    # multi-channel bool data.
    max_channels = 1 if pixels.dtype == np.bool_ else 4
    layout_ok = pixels.ndim == 2 or (
        pixels.ndim == 3 and 1 <= pixels.shape[2] <= max_channels
    )
    if not layout_ok or pixels.size == 0:
        raise TVRestoreError(
            f"{path}: unsupported shape {pixels.shape} for {pixels.dtype} pixels "
            "(expected (H, W) or (H, W, C) with 1 to 4 channels, 1 for bool)"
        )
    if pixels.dtype.kind == "f" and not np.isfinite(pixels).all():
        raise TVRestoreError(f"{path}: image contains NaN or infinite values")


def _check_pillow_writable(path: Path, dtype: np.dtype, channels: int) -> None:
    suffix = path.suffix.lower()
    if channels not in _PILLOW_WRITABLE[suffix].get(dtype, frozenset()):
        raise TVRestoreError(
            f"{path}: {suffix[1:].upper()} cannot store {dtype} pixels "
            f"with {channels} channel(s); use .tif"
        )


def _unreadable(path: Path, err: Exception) -> TVRestoreError:
    """The error for a file whose header its decoder cannot parse."""
    return TVRestoreError(f"{path}: not a readable image ({_reason(err)})")


def _reason(err: BaseException) -> str:
    """The exception's message on one line, or its type if it has none."""
    return " ".join(str(err).split()) or type(err).__name__
