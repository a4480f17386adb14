"""Shared fixtures: small clean/noisy image pairs and writing them to disk.

Images are 24x32 so that every test reuses one or two compiled shapes.
Files are written with imageio (Pillow) or tifffile directly, not through
tvrestore.io, so that the tests do not trust the code they check.
"""

import os
import tempfile
from pathlib import Path

# The tests keep compiled programs in a cache of their own, never the user's;
# set before anything imports TensorFlow (child processes inherit it).
os.environ["TVRESTORE_CACHE_DIR"] = tempfile.mkdtemp(prefix="tvrestore-test-cache-")

import imageio.v3 as iio
import numpy as np
import pytest
import tifffile
from click.testing import CliRunner

from sample_images import H, LAYOUTS, W

_INTEGER_MAX = {np.dtype(np.uint8): 255, np.dtype(np.uint16): 65535}


def _piecewise_constant(lo, hi):
    """Two rectangles and a disc: flat regions with sharp edges, values lo or hi."""
    yy, xx = np.mgrid[:H, :W]
    inside = ((yy >= 6) & (yy < 18) & (xx >= 4) & (xx < 14)) | (
        (yy - 12) ** 2 + (xx - 23) ** 2 < 36
    )
    return np.where(inside, hi, lo).astype(np.float64)


def _clean_unit(colour_channels, lo, hi, shared_edges):
    """(H, W, colour_channels) float64 in [lo, hi].

    Colour channels differ from each other; with `shared_edges` they are
    scaled copies of one pattern (edges in luma only, as JPEG prefers).
    """
    base = _piecewise_constant(lo, hi)
    if shared_edges:
        patterns = [base, lo + 0.8 * (base - lo), lo + 0.6 * (base - lo)]
    else:
        patterns = [base, lo + hi - base, np.roll(base, 5, axis=1)]
    return np.stack(patterns[:colour_channels], axis=-1)


def _from_unit(unit, dtype):
    dtype = np.dtype(dtype)
    if dtype in _INTEGER_MAX:
        return np.rint(np.clip(unit, 0, 1) * _INTEGER_MAX[dtype]).astype(dtype)
    return unit.astype(dtype)


def _pair(dtype="uint8", layout="grey", sigma=0.08, seed=0, lo=0.2, hi=0.8, shared_edges=False):
    """(clean, noisy) pixels of `dtype` and `layout`, with the same alpha channel.

    Integer noisy pixels are clipped to the dtype's range; float ones are not.
    The alpha channel (for grey_alpha and rgba) is random over the full range,
    so any smoothing of it would show.
    """
    rng = np.random.default_rng(seed)
    channels = LAYOUTS[layout]
    count = channels[0] if channels else 1
    colour_count = count - 1 if count in (2, 4) else count
    clean = _clean_unit(colour_count, lo, hi, shared_edges)
    noisy = clean + sigma * rng.standard_normal(clean.shape)
    clean, noisy = _from_unit(clean, dtype), _from_unit(noisy, dtype)
    if count in (2, 4):
        dtype = np.dtype(dtype)
        if dtype in _INTEGER_MAX:
            alpha = rng.integers(0, _INTEGER_MAX[dtype], (H, W), endpoint=True).astype(dtype)
        else:
            alpha = rng.random((H, W)).astype(dtype)
        clean = np.concatenate([clean, alpha[..., None]], axis=-1)
        noisy = np.concatenate([noisy, alpha[..., None]], axis=-1)
    if not channels:
        clean, noisy = clean[..., 0], noisy[..., 0]
    return clean, noisy


@pytest.fixture
def runner():
    """A CliRunner that keeps stdout and stderr apart."""
    try:
        return CliRunner(mix_stderr=False)  # Click < 8.2
    except TypeError:
        return CliRunner()  # Click >= 8.2 keeps stderr apart already


@pytest.fixture
def make_pair():
    """Factory: ``make_pair(dtype, layout, sigma=, seed=, lo=, hi=, shared_edges=)``.

    Returns ``(clean, noisy)`` pixels of that dtype and layout.
    """
    return _pair


@pytest.fixture
def write_image(tmp_path):
    """Factory: ``write_image(name, pixels) -> Path`` of the file in tmp_path.

    TIFF through tifffile (grey+alpha and RGBA as one page with straight
    alpha); every other suffix through imageio's Pillow plugin.
    """

    def write(name: str, pixels: np.ndarray) -> Path:
        path = tmp_path / name
        if path.suffix.lower() in (".tif", ".tiff"):
            channels = pixels.shape[2] if pixels.ndim == 3 else 1
            options = {"photometric": "rgb"} if channels == 3 else {}
            if channels in (2, 4):
                options = {
                    "photometric": "minisblack" if channels == 2 else "rgb",
                    "planarconfig": "contig",
                    "extrasamples": ("unassalpha",),
                }
            tifffile.imwrite(path, pixels, **options)
        else:
            if pixels.ndim == 3 and pixels.shape[2] == 1:
                pixels = pixels[..., 0]
            iio.imwrite(path, pixels)
        return path

    return write


