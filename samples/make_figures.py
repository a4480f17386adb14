"""Make the README's figures in samples/figures/ with the tvrestore commands the README shows.

- ``camera_figure.png``: ``tvrestore samples/camera_noisy.png --reference
  samples/camera_clean.png --figure ...`` (the bundled sample, automatic
  weight and zoom);
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
        if args.bench:
            tvrestore(*BENCH, "--plot", str(scratch / "plots"))
            for name in ("gap_vs_time.png", "resolution_sweep.png"):
                keep(scratch / "plots" / name, name)


if __name__ == "__main__":
    main()
