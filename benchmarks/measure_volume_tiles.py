"""Volumes in N-D blocks (--tile on a volume): peak memory on a large stack, and agreement with the whole solve.

Two measurements (docs/volumes.md quotes them):

``rss``
    A synthetic, seeded uint16 stack (default 128x2048x2048, 1 GiB) written
    to a scratch directory as an ImageJ TIFF, restored by the command line
    in blocks under ``/usr/bin/time -v``; prints its peak resident memory
    and the command. ``--max-iter`` keeps it short (the memory of a block's
    solve does not grow with iterations).

``agreement``
    A synthetic, seeded float32 volume (blobs and slabs of several sizes,
    Gaussian noise of sigma 0.1) restored whole and in blocks, both solved
    exactly (pdhg to a certified relative gap of 1e-6); prints the largest
    and the mean absolute difference, in unit range (the target: at most
    1/510, half an 8-bit step, and 1e-4).

Examples
--------
    python benchmarks/measure_volume_tiles.py rss --shape 128,2048,2048 --tile 128 --max-iter 5
    python benchmarks/measure_volume_tiles.py agreement --shape 64,256,256 --tile 64 --halo 16
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import tifffile


def synthetic(shape: tuple[int, ...], seed: int = 0) -> np.ndarray:
    """Clean volume in [0, 1]: slabs of three sizes and 24 ellipsoids, float32."""
    rng = np.random.default_rng(seed)
    z, y, x = (np.arange(side, dtype=np.float32) for side in shape)
    clean = 0.2 + 0.3 * (((z[:, None, None] // 24) + (y[None, :, None] // 40)
                          + (x[None, None, :] // 56)) % 2)
    for _ in range(24):
        centre = rng.uniform(0, 1, 3) * np.array(shape)
        radius = rng.uniform(0.05, 0.2) * np.array(shape)
        inside = (((z[:, None, None] - centre[0]) / radius[0]) ** 2
                  + ((y[None, :, None] - centre[1]) / radius[1]) ** 2
                  + ((x[None, None, :] - centre[2]) / radius[2]) ** 2) < 1
        clean = np.where(inside, clean + 0.25, clean)
    return np.clip(clean, 0, 1).astype(np.float32)


def write_large_stack(path: Path, shape: tuple[int, int, int], seed: int = 0) -> None:
    """A uint16 ImageJ stack of ``shape`` written plane by plane (never whole in memory)."""
    rng = np.random.default_rng(seed)
    mapped = tifffile.memmap(path, shape=shape, dtype=np.uint16, imagej=True,
                             metadata={"axes": "ZYX", "spacing": 2.0, "unit": "micron"},
                             resolution=(1 / 0.5, 1 / 0.5))
    y, x = np.mgrid[: shape[1], : shape[2]]
    for plane in range(shape[0]):
        clean = 0.25 + 0.4 * (((x // 96) + (y // 160) + plane // 32) % 2)
        noisy = clean + 0.1 * rng.standard_normal(shape[1:])
        mapped[plane] = (np.clip(noisy, 0, 1) * 65535).astype(np.uint16)
    mapped.flush()
    del mapped


def measure_rss(args) -> None:
    shape = tuple(int(side) for side in args.shape.split(","))
    scratch = Path(args.scratch)
    source, output = scratch / "volume_tiles_input.tif", scratch / "volume_tiles_output.tif"
    if not source.exists():
        start = time.perf_counter()
        write_large_stack(source, shape)
        print(f"wrote {source}: {shape}, uint16, {source.stat().st_size / 2**30:.2f} GiB "
              f"in {time.perf_counter() - start:.0f} s")
    command = ["/usr/bin/time", "-v", sys.executable, "-m", "tvrestore", str(source), "-o",
               str(output), "--tile", str(args.tile), "--weight", str(args.weight),
               "--max-iter", str(args.max_iter), "--overwrite"]
    if args.halo is not None:
        command += ["--halo", str(args.halo)]
    print("$", " ".join(command))
    done = subprocess.run(command, capture_output=True, text=True)
    print(done.stdout.strip())
    peak = re.search(r"Maximum resident set size \(kbytes\): (\d+)", done.stderr)
    wall = re.search(r"Elapsed \(wall clock\) time.*: (\S+)", done.stderr)
    if done.returncode != 0 or peak is None:
        print(done.stderr[-3000:])
        raise SystemExit(f"exit code {done.returncode}")
    print(f"peak RSS {int(peak.group(1)) / 2**20:.2f} GiB, wall {wall.group(1)}, "
          f"input {source.stat().st_size / 2**30:.2f} GiB, output "
          f"{output.stat().st_size / 2**30:.2f} GiB")
    with tifffile.TiffFile(output) as tif:
        print("output:", tif.series[0].axes, tif.series[0].shape, tif.series[0].dtype,
              {key: tif.imagej_metadata.get(key) for key in ("spacing", "unit")})
    if not args.keep:
        output.unlink()


def measure_agreement(args) -> None:
    from tvrestore.options import RestoreOptions
    from tvrestore.runs.plan import FileJob, pixel_limit
    from tvrestore.runs.tiles import exact_tile_options
    from tvrestore.runs.volumes import plan_volume, restore_volume_file, restore_volume_tiled

    shape = tuple(int(side) for side in args.shape.split(","))
    clean = synthetic(shape)
    noisy = np.clip(clean + 0.1 * np.random.default_rng(1).standard_normal(shape), 0, 1)
    with tempfile.TemporaryDirectory(dir=args.scratch) as scratch:
        source = Path(scratch) / "noisy.tif"
        tifffile.imwrite(source, noisy.astype(np.float32), imagej=True,
                         metadata={"axes": "ZYX"})
        options = RestoreOptions(**exact_tile_options({"weight": args.weight}))
        whole_job = FileJob(input=source, output=Path(scratch) / "whole.tif")
        with pixel_limit(max(10**7, 2 * int(np.prod(shape)))):
            start = time.perf_counter()
            whole = restore_volume_file(whole_job, options, plan_volume(whole_job))
            whole_seconds = time.perf_counter() - start
        tiled_job = FileJob(input=source, output=Path(scratch) / "tiled.tif")
        start = time.perf_counter()
        tiled = restore_volume_tiled(tiled_job, options,
                                     plan_volume(tiled_job, tile=args.tile, halo=args.halo,
                                                 weight=args.weight),
                                     tile=args.tile, halo=args.halo)
        tiled_seconds = time.perf_counter() - start
        error = np.abs(tifffile.imread(tiled_job.output).astype(np.float64)
                       - tifffile.imread(whole_job.output))
    print(f"volume {shape} float32, weight {args.weight}, tile {args.tile}, halo {tiled.halo}")
    print(f"whole: {whole_seconds:.0f} s, {whole.iterations} iterations, gap "
          f"{whole.certified_gap:.1e}; blocks: {tiled_seconds:.0f} s, at most "
          f"{tiled.iterations} iterations, gap at most {tiled.certified_gap:.1e}")
    print(f"max |blocks - whole| = {error.max():.2e} ({error.max() * 510:.3f} x 1/510), "
          f"mean {error.mean():.2e}: "
          f"{'PASS' if error.max() <= 1 / 510 and error.mean() <= 1e-4 else 'FAIL'}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["rss", "agreement"])
    parser.add_argument("--shape", default=None, help="Z,Y,X")
    parser.add_argument("--tile", type=int, default=128)
    parser.add_argument("--halo", type=int, default=None)
    parser.add_argument("--weight", type=float, default=0.05)
    parser.add_argument("--max-iter", type=int, default=5)
    parser.add_argument("--scratch", default=tempfile.gettempdir())
    parser.add_argument("--keep", action="store_true", help="keep the output (rss)")
    args = parser.parse_args()
    if args.what == "rss":
        args.shape = args.shape or "128,2048,2048"
        measure_rss(args)
    else:
        args.shape = args.shape or "256,512,512"
        measure_agreement(args)


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    main()
