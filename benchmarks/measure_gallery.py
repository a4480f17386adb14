"""The size of a gallery page for a large batch, without solving anything.

Writes COUNT seeded photographic images (crops of scikit-image's bundled
photographs with Gaussian noise, sigma 25 of 255), a smoothed copy of each
as its "result" and the clean crop as its reference, builds the report
entries a batch would, and calls :func:`tvrestore.viz.gallery.write_gallery`,
once self-contained and once with ``assets``. Prints the page's size, per
image, and the time taken.

    python benchmarks/measure_gallery.py --count 500 --side 256
"""

from __future__ import annotations

import argparse
import tempfile
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from scipy import ndimage
from skimage import data

from tvrestore.runs.report import ReportEntry
from tvrestore.viz.gallery import write_gallery

PHOTOGRAPHS = ("astronaut", "coffee", "chelsea", "camera", "rocket", "immunohistochemistry")


def photographic_batch(folder: Path, count: int, side: int, seed: int = 0) -> list[ReportEntry]:
    """`count` noisy crops, their smoothed "results" and clean references; their entries."""
    rng = np.random.default_rng(seed)
    photographs = [getattr(data, name)() for name in PHOTOGRAPHS]
    entries = []
    for number in range(count):
        photograph = photographs[number % len(photographs)]
        top = rng.integers(0, photograph.shape[0] - side + 1)
        left = rng.integers(0, photograph.shape[1] - side + 1)
        clean = photograph[top:top + side, left:left + side]
        noisy = np.clip(clean + rng.normal(0, 25, clean.shape), 0, 255).astype(np.uint8)
        sigma = (1, 1, 0)[: clean.ndim]
        result = ndimage.gaussian_filter(noisy.astype(np.float32), sigma).round().astype(np.uint8)
        names = {role: folder / f"img{number}_{role}.png"
                 for role in ("input", "output", "reference")}
        for role, pixels in (("input", noisy), ("output", result), ("reference", clean)):
            iio.imwrite(names[role], pixels)
        entries.append(ReportEntry(
            **{role: str(path) for role, path in names.items()}, status="restored",
            weight=0.07, iterations=120, psnr=28.0, ssim=0.8, solve_seconds=2.0,
            batch_size=8, read_seconds=0.01, write_seconds=0.02,
            compile_seconds=5.0, weight_search_seconds=1.0, tensorflow_seconds=3.0,
        ))
    return entries


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--side", type=int, default=256, help="at most 300")
    arguments = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        folder = Path(folder)
        entries = photographic_batch(folder, arguments.count, arguments.side)
        for assets in (None, folder / "assets"):
            page = folder / "index.html"
            start = time.perf_counter()
            write_gallery(page, entries, assets=assets)
            seconds = time.perf_counter() - start
            size = page.stat().st_size
            linked = sum(file.stat().st_size for file in assets.iterdir()) if assets else 0
            print(f"{arguments.count} images of {arguments.side}x{arguments.side}, "
                  f"{'assets' if assets else 'self-contained'}: page {size / 1e6:.2f} MB "
                  f"({size / arguments.count / 1e3:.1f} KB per image), asset files "
                  f"{linked / 1e6:.2f} MB, written in {seconds:.1f} s")


if __name__ == "__main__":
    main()
