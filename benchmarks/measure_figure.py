"""What ``--figure`` costs on a 4096x4096 image: seconds, and memory against the run's own.

A 4096x4096 8-bit grey pair (camera resized, noise 25/255) is written to a
temporary directory, and then, each in a fresh process:

1. ``tvrestore big.png --reference clean.png --weight 0.07``: the run;
2. the same with ``--figure fig.png``;
3. the same ``--figure`` run once more, with its figure step (the input's
   PSNR and SSIM for its title, then the drawing) timed inside it;
4. the figure step's two parts alone: read the three images, draw
   :func:`tvrestore.viz.figures.restoration_figure`, then score the input
   against the reference, each timed, with the peak RSS after each
   (matplotlib loaded before the first).

Peak RSS (``ru_maxrss`` of the child) and wall seconds are printed for each,
with the ratios of 2 to 1 measured in the same run. Runs 1 and 2 are
interleaved ``--repeat`` times (after a warm-up run that fills the compile
cache) and the medians kept, so that a busy moment of a shared machine hits
both alike.

Usage::

    python benchmarks/measure_figure.py             # 4096x4096, 3 repeats
    python benchmarks/measure_figure.py --size 2048 --repeat 1
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from skimage import data, transform

FIGURE_CHILD = """
import json, resource, sys, time
from tvrestore import io
from tvrestore.viz.figures import restoration_figure
from tvrestore.evaluation.metrics import psnr

def peak():
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024

noisy, restored, clean = (io.read_image(p) for p in sys.argv[1:4])
import matplotlib.figure  # loaded before the baseline, so the step is the drawing
before = peak()
start = time.perf_counter()
drawn = restoration_figure(sys.argv[4], input=noisy, restored=restored, reference=clean,
                           weight=0.07, psnr=30.0, ssim=0.8, input_psnr=20.0,
                           history=[{"iteration": 5 * k, "objective": 1e5 + 1e4 / k,
                                     "certified_gap": None} for k in range(1, 30)])
seconds = time.perf_counter() - start
after_drawing = peak()
start = time.perf_counter()
psnr(clean, noisy)
scores = time.perf_counter() - start
print(json.dumps({"seconds": seconds, "scores_seconds": scores, "before_mib": before,
                  "drawn_mib": after_drawing, "scored_mib": peak(),
                  "downsampling": drawn.downsampling, "image_mib": noisy.nbytes / 2**20}))
"""

# The --figure run once more, in one process, with the figure step (the
# input's scores and the drawing, batch._draw_figure) timed inside it.
IN_RUN_CHILD = """
import sys, time
from tvrestore.runs import batch
from tvrestore.cli import app as cli

draw = batch._draw_figure
def timed(*args, **kwargs):
    start = time.perf_counter()
    draw(*args, **kwargs)
    print(f"FIGURE_STEP {time.perf_counter() - start}", file=sys.stderr)
batch._draw_figure = timed
cli.main(sys.argv[1:], prog_name="tvrestore")
"""


def make_pair(folder: Path, size: int) -> tuple[Path, Path]:
    clean = transform.resize(data.camera() / 255.0, (size, size), anti_aliasing=True)
    noisy = clean + 25 / 255 * np.random.default_rng(0).standard_normal(clean.shape)
    paths = folder / "clean.png", folder / "big.png"
    for path, image in zip(paths, (clean, noisy)):
        iio.imwrite(path, np.rint(np.clip(image, 0, 1) * 255).astype(np.uint8))
    return paths


def run(command: list[str], env: dict) -> tuple[float, float]:
    """Wall seconds and the child's peak RSS (MiB) of one fresh process."""
    start = time.perf_counter()
    pid = subprocess.Popen(command, env=env, stdout=subprocess.DEVNULL).pid
    _, status, usage = os.wait4(pid, 0)
    seconds = time.perf_counter() - start
    if status != 0:
        raise SystemExit(f"failed ({status}): {' '.join(command)}")
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    tvrestore = str(Path(sys.executable).with_name("tvrestore"))
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        clean, noisy = make_pair(folder, args.size)
        env = {**os.environ, "TVRESTORE_CACHE_DIR": str(folder / "cache")}
        base = [tvrestore, str(noisy), "--reference", str(clean), "--weight", "0.07", "-q",
                "--overwrite", "-o", str(folder / "out.png")]
        commands = {"run": base, "run --figure": [*base, "--figure", str(folder / "fig.png")]}
        run(commands["run"], env)  # warm-up: fills the compile cache
        measured = {name: [] for name in commands}
        for _ in range(args.repeat):
            for name, command in commands.items():
                measured[name].append(run(command, env))
        child = subprocess.run(
            [sys.executable, "-c", FIGURE_CHILD, str(noisy), str(folder / "out.png"), str(clean),
             str(folder / "fig2.png")], env=env, capture_output=True, text=True, check=True)
        alone = json.loads(child.stdout)
        in_run = subprocess.run([sys.executable, "-c", IN_RUN_CHILD, *commands["run --figure"][1:]],
                                env=env, capture_output=True, text=True, check=True)
        step = float(in_run.stderr.split("FIGURE_STEP ")[1].split()[0])
        figure_bytes = (folder / "fig.png").stat().st_size
    print(f"{args.size}x{args.size} uint8 grey, weight 0.07, with a reference; "
          f"medians of {args.repeat} interleaved fresh processes")
    medians = {}
    for name, rows in measured.items():
        seconds = statistics.median(row[0] for row in rows)
        peak = statistics.median(row[1] for row in rows)
        medians[name] = (seconds, peak)
        print(f"  tvrestore ... {name:<14} {seconds:7.2f} s   peak RSS {peak:8.0f} MiB")
    (plain_s, plain_rss), (figure_s, figure_rss) = medians["run"], medians["run --figure"]
    print(f"  --figure adds {figure_s - plain_s:.2f} s ({figure_s / plain_s:.2f}x the run's wall "
          f"time) and {figure_rss - plain_rss:+.0f} MiB of peak RSS "
          f"({figure_rss / plain_rss:.3f}x); the PNG is {figure_bytes / 1024:.0f} KiB")
    print(f"  inside one more --figure run, the figure step took {step:.2f} s")
    print(f"  the figure step alone, in a fresh process with the three {alone['image_mib']:.3g} "
          f"MiB images read and matplotlib loaded (peak RSS {alone['before_mib']:.0f} MiB):")
    print(f"    drawing {alone['seconds']:.2f} s, peak RSS after it {alone['drawn_mib']:.0f} MiB "
          f"(+{alone['drawn_mib'] - alone['before_mib']:.0f}); full views are means of "
          f"{alone['downsampling']}x{alone['downsampling']} blocks")
    print(f"    the input's PSNR for its title {alone['scores_seconds']:.2f} s, peak RSS after "
          f"it {alone['scored_mib']:.0f} MiB (+{alone['scored_mib'] - alone['drawn_mib']:.0f}; "
          f"the run scores its result the same way)")

if __name__ == "__main__":
    main()
