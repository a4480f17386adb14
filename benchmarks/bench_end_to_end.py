"""What a user waits for: fresh ``tvrestore`` processes against a scikit-image script.

Every command runs in a new process, as a user types it, after one warm-up
run of each (which fills tvrestore's on-disk compile cache, kept for this
benchmark in its own temporary directory). The commands are interleaved,
repeat by repeat, so that a busy moment of a shared machine hits all of
them alike, and the table gives each one's median wall time:

- ``python -c "import tensorflow"``: the start-up cost that no TensorFlow
  program avoids;
- the scikit-image script: read the PNG, ``denoise_tv_chambolle`` at weight
  0.07, write the PNG;
- ``tvrestore x.png --weight 0.07`` and ``tvrestore x.png`` (``--weight
  auto``, the default), on a 512x512 8-bit grey PNG;
- a folder of 24 images in 6 sizes (grey and RGB, 256 to 512 px, noise 15
  to 35/255): ``tvrestore DIR -o OUT`` (auto weight) against a
  scikit-image loop at a fixed weight;
- errors that need no solve (missing input, not an image, output exists,
  bad output extension, missing output directory), which must exit with
  code 2.

The ratios are the issue's targets: tvrestore's time minus the TensorFlow
import over the script's, and the folder's whole time over the loop's.

Usage::

    python benchmarks/bench_end_to_end.py             # 5 repeats, ~2 minutes
    python benchmarks/bench_end_to_end.py --repeat 9
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import imageio.v3 as iio
import numpy as np
from skimage import data, transform

SKIMAGE_SCRIPT = """\
import sys, imageio.v3 as iio
from skimage.restoration import denoise_tv_chambolle
from skimage.util import img_as_ubyte
image = iio.imread(sys.argv[1])
iio.imwrite(sys.argv[2], img_as_ubyte(denoise_tv_chambolle(image, weight=0.07)))
"""

SKIMAGE_LOOP = """\
import pathlib, sys, imageio.v3 as iio
from skimage.restoration import denoise_tv_chambolle
from skimage.util import img_as_ubyte
out = pathlib.Path(sys.argv[2]); out.mkdir(exist_ok=True)
for path in sorted(pathlib.Path(sys.argv[1]).glob("*.png")):
    image = iio.imread(path)
    axis = -1 if image.ndim == 3 else None
    restored = denoise_tv_chambolle(image, weight=0.07, channel_axis=axis)
    iio.imwrite(out / path.name, img_as_ubyte(restored))
"""

FOLDER_SIZES = (256, 320, 384, 448, 480, 512)
FOLDER_SIGMAS = (15, 25, 35)


def noisy_png(path: Path, image: np.ndarray, size: int, sigma: float, seed: int) -> None:
    """Write ``image`` resized to ``size`` square with 8-bit Gaussian noise of ``sigma``/255."""
    clean = transform.resize(image, (size, size), anti_aliasing=True)
    noise = np.random.default_rng(seed).standard_normal(clean.shape) * sigma / 255
    iio.imwrite(path, np.round(np.clip(clean + noise, 0, 1) * 255).astype(np.uint8))


def make_inputs(root: Path) -> dict[str, Path]:
    """The single image, the folder, and the files of the error cases."""
    single = root / "camera512.png"
    noisy_png(single, data.camera() / 255.0, 512, 25, 0)
    folder = root / "folder"
    folder.mkdir()
    sources = [data.camera() / 255.0, data.astronaut() / 255.0, data.coins() / 255.0,
               data.coffee() / 255.0]
    for index in range(24):
        source = sources[index % len(sources)]
        size = FOLDER_SIZES[index % len(FOLDER_SIZES)]
        sigma = FOLDER_SIGMAS[index % len(FOLDER_SIGMAS)]
        noisy_png(folder / f"image{index:02d}.png", source, size, sigma, index)
    not_an_image = root / "notes.png"
    not_an_image.write_text("not an image\n")
    existing = root / "exists.png"
    shutil.copy(single, existing)
    return {"single": single, "folder": folder, "not_an_image": not_an_image,
            "existing": existing}


def commands(root: Path, inputs: dict[str, Path]) -> dict[str, tuple[list[str], int]]:
    """Name -> (argv, expected exit code)."""
    python = sys.executable
    tvrestore = [python, "-m", "tvrestore"]
    single = str(inputs["single"])
    script, loop = root / "skimage_script.py", root / "skimage_loop.py"
    script.write_text(SKIMAGE_SCRIPT)
    loop.write_text(SKIMAGE_LOOP)
    return {
        "import tensorflow": ([python, "-c", "import tensorflow"], 0),
        "skimage script": ([python, str(script), single, str(root / "sk.png")], 0),
        "tvrestore --weight 0.07": (
            [*tvrestore, single, "-o", str(root / "tv_fixed.png"), "--weight", "0.07",
             "--overwrite"], 0),
        "tvrestore (auto)": (
            [*tvrestore, single, "-o", str(root / "tv_auto.png"), "--overwrite"], 0),
        "skimage loop, folder": ([python, str(loop), str(inputs["folder"]), str(root / "sk_out")], 0),
        "tvrestore folder (auto)": (
            [*tvrestore, str(inputs["folder"]), "-o", str(root / "tv_out"), "--overwrite",
             "--quiet"], 0),
        "error: missing input": ([*tvrestore, str(root / "missing.png")], 2),
        "error: not an image": ([*tvrestore, str(inputs["not_an_image"])], 2),
        "error: output exists": ([*tvrestore, single, "-o", str(inputs["existing"])], 2),
        "error: bad output extension": ([*tvrestore, single, "-o", str(root / "out.xyz")], 2),
        "error: missing output directory": (
            [*tvrestore, single, "-o", str(root / "nowhere" / "out.png")], 2),
    }


def run(argv: list[str], expected: int, environment: dict[str, str]) -> float:
    """Wall seconds of one run; exits if the exit code is not the expected one."""
    start = time.perf_counter()
    finished = subprocess.run(argv, capture_output=True, text=True, env=environment)
    seconds = time.perf_counter() - start
    if finished.returncode != expected:
        sys.exit(f"{' '.join(argv)}: exit {finished.returncode}, expected {expected}\n"
                 f"{finished.stderr}")
    return seconds


def machine() -> str:
    import imageio
    import skimage

    try:
        from importlib.metadata import version
        tensorflow = version("tensorflow")
    except Exception:
        tensorflow = "?"
    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return (f"{cpu}, {os.cpu_count()} logical CPUs, {platform.system()} {platform.release()}, "
            f"Python {platform.python_version()}, TensorFlow {tensorflow}, "
            f"scikit-image {skimage.__version__}, numpy {np.__version__}, imageio {imageio.__version__}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="timed runs of each command")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="tvrestore-e2e-") as temporary:
        root = Path(temporary)
        inputs = make_inputs(root)
        environment = {**os.environ, "TVRESTORE_CACHE_DIR": str(root / "cache")}
        table = commands(root, inputs)
        print(f"Machine: {machine()}", flush=True)
        for argv, expected in table.values():  # warm-up: fills the compile cache
            run(argv, expected, environment)
        times: dict[str, list[float]] = {name: [] for name in table}
        for repeat in range(args.repeat):
            for name, (argv, expected) in table.items():
                times[name].append(run(argv, expected, environment))
            print(f"... repeat {repeat + 1}/{args.repeat}", file=sys.stderr, flush=True)
    median = {name: statistics.median(values) for name, values in times.items()}
    tf_import, script = median["import tensorflow"], median["skimage script"]
    print(f"\nMedian wall seconds of {args.repeat} fresh processes each, interleaved, "
          "after one warm-up run:\n")
    print("| command | seconds | ratio | target |")
    print("|---|---:|---:|---:|")
    ratios = {
        "tvrestore --weight 0.07": ((median["tvrestore --weight 0.07"] - tf_import) / script,
                                    "(t - import) / script", 1.0),
        "tvrestore (auto)": ((median["tvrestore (auto)"] - tf_import) / script,
                             "(t - import) / script", 1.5),
        "tvrestore folder (auto)": (median["tvrestore folder (auto)"]
                                    / median["skimage loop, folder"], "t / loop", 3.0),
    }
    for name, seconds in median.items():
        ratio, target = "", ""
        if name in ratios:
            value, meaning, limit = ratios[name]
            ratio, target = f"{value:.2f} {meaning}", f"<= {limit}"
        elif name.startswith("error"):
            target = "<= 0.5 s"
        print(f"| {name} | {seconds:.3f} | {ratio} | {target} |")


if __name__ == "__main__":
    main()
