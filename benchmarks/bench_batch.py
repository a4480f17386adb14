"""Measure a batch run end to end against a plain scikit-image loop.

Makes N and 2N noisy grey PNGs (size x size crops of skimage's images,
Gaussian noise sigma 25/255, seeded; the N set is the first half of the 2N
set), then times, as subprocesses on this machine in this run:

- ``tvrestore IN -o OUT --weight 0.1 --quiet`` (0.1 is skimage's default
  weight, so both tools solve the same problem),
- a plain loop: read with imageio, ``denoise_tv_chambolle`` at its defaults,
  write an 8-bit PNG,

each end to end (interpreter, imports, reading, writing). The marginal cost
per image is (wall(2N) - wall(N)) / N; the fixed cost (start-up, TensorFlow
import, compilation) is wall(N) - N * marginal, and a run on one image is
timed too. Runs are interleaved and repeated; the best wall of each is kept.

Mixed sizes: tvrestore also runs on N images whose sides are drawn between
3/4 of ``size`` and ``size`` (crops of the same images), so nearly every
image has its own shape; against the N same-size run, the difference is what
mixed shapes cost (one compile per solve shape, see
``tvrestore.api.solve_shape``, plus the padding).

Accuracy: the relative objective gap (E(u) - E*) / E* of each method's
output, E from ``Problem().energy_value`` at weight 0.1 and E*
from tvrestore's PDHG solver certified to a relative duality gap of 1e-6
(float64), both for the 8-bit files the runs wrote and for the float
solutions before rounding (same settings, in this process).

    python benchmarks/bench_batch.py --count 32 --size 256
"""

from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from skimage import color, data, transform, util
from skimage.restoration import denoise_tv_chambolle

from tvrestore import denoise
from tvrestore.models.problem import Problem
from tvrestore.solvers.pdhg import solve_pdhg
from tvrestore.models.shapes import solve_shape

WEIGHT = 0.1  # skimage denoise_tv_chambolle's default weight
SIGMA = 25 / 255
SOURCES = ["camera", "astronaut", "coins", "moon", "text", "page", "brick", "grass", "gravel",
           "cell", "clock", "coffee", "chelsea", "rocket", "hubble_deep_field", "immunohistochemistry"]

SKIMAGE_LOOP = """
import sys
from pathlib import Path
import imageio.v3 as iio
import numpy as np
from skimage.restoration import denoise_tv_chambolle
source, target = Path(sys.argv[1]), Path(sys.argv[2])
target.mkdir()
for path in sorted(source.glob("*.png")):
    restored = denoise_tv_chambolle(iio.imread(path))  # its defaults: weight 0.1
    iio.imwrite(target / path.name, np.rint(np.clip(restored, 0, 1) * 255).astype(np.uint8))
"""


def clean_images(count: int, size: int) -> list[np.ndarray]:
    """`count` grey size x size crops in [0, 1]: centre crops, then other crops."""
    images = []
    for index in range(count):
        name = SOURCES[index % len(SOURCES)]
        image = util.img_as_float64(getattr(data, name)())
        if image.ndim == 3:
            image = color.rgb2gray(image[..., :3])
        side = min(image.shape[:2])
        scale = max(size / side, 1.0)
        if scale > 1:
            image = transform.resize(image, (round(image.shape[0] * scale), round(image.shape[1] * scale)))
        # Later rounds over the sources take crops elsewhere in the image.
        rng = np.random.default_rng(index)
        top = rng.integers(0, image.shape[0] - size + 1) if index >= len(SOURCES) else (image.shape[0] - size) // 2
        left = rng.integers(0, image.shape[1] - size + 1) if index >= len(SOURCES) else (image.shape[1] - size) // 2
        images.append(image[top : top + size, left : left + size])
    return images


def mixed_crops(images: list[np.ndarray], seed: int = 7) -> list[np.ndarray]:
    """Top-left crops with sides drawn between 3/4 of the size and the size."""
    rng = np.random.default_rng(seed)
    crops = []
    for image in images:
        low = (3 * image.shape[0]) // 4
        height, width = rng.integers(low, image.shape[0] + 1, 2)
        crops.append(image[:height, :width])
    return crops


def noisy_pngs(clean: list[np.ndarray], directory: Path) -> None:
    directory.mkdir(parents=True)
    for index, image in enumerate(clean):
        noisy = image + SIGMA * np.random.default_rng(1000 + index).standard_normal(image.shape)
        iio.imwrite(directory / f"{index:04d}.png", np.rint(np.clip(noisy, 0, 1) * 255).astype(np.uint8))


def tvrestore_command(source: Path, target: Path, solver: str = "adam") -> list[str]:
    script = shutil.which("tvrestore", path=str(Path(sys.executable).parent)) or "tvrestore"
    return [script, str(source), "-o", str(target), "--weight", str(WEIGHT), "--solver", solver,
            "--quiet"]


def skimage_command(source: Path, target: Path) -> list[str]:
    return [sys.executable, "-c", SKIMAGE_LOOP, str(source), str(target)]


def timed(command: list[str], target: Path) -> float:
    shutil.rmtree(target, ignore_errors=True)  # a fresh run, never a resume
    start = time.perf_counter()
    done = subprocess.run(command, capture_output=True, text=True)
    wall = time.perf_counter() - start
    if done.returncode != 0:
        raise SystemExit(f"{' '.join(command)} failed:\n{done.stderr}")
    return wall


def relative_gaps(images: list[np.ndarray], noisy: np.ndarray, exact_energy: np.ndarray) -> np.ndarray:
    energy = Problem().energy_value(np.stack(images)[..., None], noisy[..., None],
                                               np.full(len(images), WEIGHT))
    return (energy - exact_energy) / exact_energy


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=32, help="N (the runs use N, 2N and 1 image)")
    parser.add_argument("--size", type=int, default=256, help="image side in pixels")
    parser.add_argument("--repeats", type=int, default=3, help="runs of each; the best wall is kept")
    parser.add_argument("--solver", choices=["adam", "pdhg"], default="adam",
                        help="tvrestore's solver (pdhg: the exact mode, gap 1e-4)")
    parser.add_argument("--accuracy-count", type=int, default=8,
                        help="images of the N set whose objective gap is measured")
    args = parser.parse_args()
    count, size = args.count, args.size

    work = Path(tempfile.mkdtemp(prefix="bench_batch_"))
    clean = clean_images(2 * count, size)
    noisy_pngs(clean, work / "in_2n")
    sets = {"1": work / "in_1", "N": work / "in_n", "2N": work / "in_2n"}
    for name, limit in (("1", 1), ("N", count)):
        sets[name].mkdir()
        for path in sorted(sets["2N"].glob("*.png"))[:limit]:
            shutil.copy(path, sets[name] / path.name)

    mixed = mixed_crops(clean[:count])
    noisy_pngs(mixed, work / "in_mixed")

    methods = {
        "tvrestore": lambda source, target: tvrestore_command(source, target, args.solver),
        "skimage loop": skimage_command,
    }
    walls = {(method, name): [] for method in methods for name in sets}
    walls["tvrestore", "mixed"] = []
    load_before = os.getloadavg()[0]
    for _ in range(args.repeats):
        for name, source in sets.items():
            for method, command in methods.items():
                target = work / f"out_{method.split()[0]}_{name}"
                walls[method, name].append(timed(command(source, target), target))
        target = work / "out_mixed"
        walls["tvrestore", "mixed"].append(
            timed(tvrestore_command(work / "in_mixed", target, args.solver), target))
    best = {key: min(values) for key, values in walls.items()}
    load_after = os.getloadavg()[0]

    # Accuracy on the first images of the N set.
    names = sorted(path.name for path in sets["N"].glob("*.png"))[: args.accuracy_count]
    noisy = np.stack([iio.imread(sets["N"] / name) / 255.0 for name in names])
    exact = solve_pdhg(noisy[..., None], np.full(len(names), WEIGHT), gap=1e-6, max_iter=200000,
                       dtype="float64")
    assert exact.converged.all(), "the exact reference did not reach its certificate"
    exact_energy = Problem().energy_value(exact.solution, noisy[..., None],
                                                     np.full(len(names), WEIGHT))
    files = {method: [iio.imread(work / f"out_{method.split()[0]}_N" / name) / 255.0 for name in names]
             for method in methods}
    floats = {
        "tvrestore": [denoise(image.astype(np.float32), WEIGHT, solver=args.solver)[0]
                      for image in noisy],
        "skimage loop": [denoise_tv_chambolle(image) for image in noisy],
    }

    print(f"machine: {os.cpu_count()} CPUs, 1-minute load average {load_before:.2f} before "
          f"and {load_after:.2f} after the timed runs; {count} and {2 * count} grey {size}x{size} PNGs, "
          f"best of {args.repeats} runs, weight {WEIGHT}")
    print(f"{'method':<13} {'wall(1) s':>9} {'wall(N) s':>9} {'wall(2N) s':>10} "
          f"{'marginal s/img':>14} {'fixed s':>8} {'gap float':>10} {'gap 8-bit':>10}")
    marginal = {}
    for method in methods:
        marginal[method] = (best[method, "2N"] - best[method, "N"]) / count
        fixed = best[method, "N"] - count * marginal[method]
        print(f"{method:<13} {best[method, '1']:>9.2f} {best[method, 'N']:>9.2f} "
              f"{best[method, '2N']:>10.2f} {marginal[method]:>14.4f} {fixed:>8.2f} "
              f"{np.mean(relative_gaps(floats[method], noisy, exact_energy)):>10.2e} "
              f"{np.mean(relative_gaps(files[method], noisy, exact_energy)):>10.2e}")
    shapes = {image.shape for image in mixed}
    solve_shapes = {solve_shape(image.shape) for image in mixed}
    print(f"mixed sizes: {count} images, {len(shapes)} shapes, {len(solve_shapes)} solve shapes: "
          f"tvrestore wall {best['tvrestore', 'mixed']:.2f} s against {best['tvrestore', 'N']:.2f} s "
          f"for {count} of one size (+{best['tvrestore', 'mixed'] - best['tvrestore', 'N']:.2f} s)")
    print(f"marginal cost ratio tvrestore / skimage loop: "
          f"{marginal['tvrestore'] / marginal['skimage loop']:.2f} (target <= 0.5)")
    print(f"gaps: mean (E - E*) / E* over {len(names)} images, E* certified to 1e-6 "
          f"(max certificate {exact.certified_gap.max():.1e})")
    print("commands:")
    print("  " + " ".join(tvrestore_command(Path("IN"), Path("OUT"), args.solver)))
    print("  python -c <imageio read; skimage.restoration.denoise_tv_chambolle(image); "
          "imageio write uint8 PNG> IN OUT")
    shutil.rmtree(work)


if __name__ == "__main__":
    main()
