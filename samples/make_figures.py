"""Make the README's figures in samples/figures/ with the tvrestore commands the README shows.

- ``camera_figure.png``: ``tvrestore samples/camera_noisy.png --reference
  samples/camera_clean.png --figure ...`` (the bundled sample, automatic
  weight and zoom);
- ``volume_figure.png``: ``tvrestore noisy_stack.tif --reference
  clean_stack.tif --compare --figure ...`` on a seeded synthetic stack
  (12 x 96 x 96, ellipsoids, z step 4 x the pixel in its ImageJ header,
  Gaussian noise sigma 0.08), written to the scratch directory first;
- with ``--bench``: ``gap_vs_time.png`` and ``resolution_sweep.png`` from
  ``tvrestore bench --images camera --size 512 --sweep resolution
  --sweep-sizes 128,256,512,1024,2048 --plot ...`` (several minutes).

Each command writes into a temporary directory, from the repository root,
in a fresh process; its file is copied as it is. (A 256-colour palette
would halve the camera figure, but Pillow's quantizers either band the
colour bar or posterize the grey panels, which a reader would take for the
restoration's doing.)

Usage::

    python samples/make_figures.py            # the camera figure, ~15 s
    python samples/make_figures.py --bench    # and the two bench plots
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import numpy as np
import tifffile

ROOT = Path(__file__).resolve().parent.parent
FIGURES = ROOT / "samples" / "figures"
CAMERA = ["samples/camera_noisy.png", "--reference", "samples/camera_clean.png"]
BENCH = ["bench", "--images", "camera", "--size", "512", "--sweep", "resolution",
         "--sweep-sizes", "128,256,512,1024,2048"]


def tvrestore(*arguments: str) -> None:
    command = [str(Path(sys.executable).with_name("tvrestore")), *arguments]
    print("$", " ".join(["tvrestore", *arguments]), flush=True)
    subprocess.run(command, cwd=ROOT, check=True)


def keep(source: Path, name: str) -> None:
    """Copy `source` to samples/figures/`name`."""
    target = FIGURES / name
    shutil.copyfile(source, target)
    print(f"{target.relative_to(ROOT)}: {target.stat().st_size / 1024:.0f} KiB")


def volume_stacks(scratch: Path) -> list[str]:
    """The noisy and clean stacks of the volume figure, and the options that name them."""
    rng = np.random.default_rng(7)
    z, y, x = np.mgrid[:12, :96, :96].astype(np.float64)
    z *= 4.0  # the z step, in pixels
    clean = np.full(z.shape, 0.15)
    for _ in range(5):
        centre, radii = rng.uniform(16, 80, 3), rng.uniform(10, 24, 3)
        centre[0] = rng.uniform(8, 40)
        inside = sum(((axis - c) / r) ** 2 for axis, c, r in zip((z, y, x), centre, radii)) < 1
        clean[inside] = rng.uniform(0.3, 0.9)
    noisy = clean + 0.08 * rng.standard_normal(clean.shape)
    for name, stack in (("noisy_stack.tif", noisy), ("clean_stack.tif", clean)):
        tifffile.imwrite(scratch / name, (np.clip(stack, 0, 1) * 65535).round().astype(np.uint16),
                         imagej=True, resolution=(1, 1),
                         metadata={"spacing": 4.0, "unit": "micron", "axes": "ZYX"})
    return [str(scratch / "noisy_stack.tif"), "--reference", str(scratch / "clean_stack.tif")]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--bench", action="store_true", help="also run the bench for its plots")
    args = parser.parse_args()
    FIGURES.mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        scratch = Path(scratch)
        tvrestore(*CAMERA, "-o", str(scratch / "camera_tv.png"),
                  "--figure", str(scratch / "camera_figure.png"))
        keep(scratch / "camera_figure.png", "camera_figure.png")
        tvrestore(*volume_stacks(scratch), "--compare", "-o", str(scratch / "stack_tv.tif"),
                  "--figure", str(scratch / "volume_figure.png"))
        keep(scratch / "volume_figure.png", "volume_figure.png")
        if args.bench:
            tvrestore(*BENCH, "--plot", str(scratch / "plots"))
            for name in ("gap_vs_time.png", "resolution_sweep.png"):
                keep(scratch / "plots" / name, name)


if __name__ == "__main__":
    main()
