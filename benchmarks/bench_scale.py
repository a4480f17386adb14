"""Scale benchmarks: a batch on Dask workers, a tiled image's memory, a worker killed.

Narrated; every number comes from the `tvrestore` command run as a child
process, as a user would run it:

1. throughput: COUNT noisy 512x512 PNGs (crops of scikit-image's
   photographs, Gaussian noise sigma 0.1), restored at weight 0.1 in
   process (the default) and with ``--workers 2``; images per second of
   each (wall time of the whole command, start-up included, and after a
   warm-up run so that compiled programs come from the disk cache), the
   ratio, and the per-worker efficiency (ratio / workers); the modes
   alternate for --rounds rounds and the best round of each counts.
2. memory: a SIZE x SIZE grey uint8 tiled TIFF (made tile by tile, never
   whole), restored with ``--tile TILE``; peak RSS of the process (its
   VmHWM, /proc) against the peak RSS of a process that restores one
   TILE x TILE tile plus its halo as an ordinary image; the output is a
   tiled TIFF, checked.
3. fault: the batch of (1) with ``--workers 2`` while one worker process
   is SIGKILLed once it is busy; exit code, report and output bytes
   compared with the run without the fault.

Run: python benchmarks/bench_scale.py --count 96 --size 16384 --json scale.json
(the machine is shared: ratios are measured in one run.)
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

TVRESTORE = str(Path(sys.executable).with_name("tvrestore"))


def crops(count: int, side: int, seed: int = 0):
    """``count`` noisy grey crops of scikit-image's photographs, uint8."""
    from skimage import color, data, transform

    sources = [data.camera(), color.rgb2gray(data.astronaut()), data.moon(),
               color.rgb2gray(data.coffee()), color.rgb2gray(data.chelsea()), data.brick()]
    rng = np.random.default_rng(seed)
    for index in range(count):
        image = sources[index % len(sources)].astype(np.float64)
        image = image / 255.0 if image.max() > 1 else image
        image = transform.resize(image, (side, side)) if image.shape != (side, side) else image
        noisy = np.clip(image + 0.1 * rng.standard_normal(image.shape), 0, 1)
        yield (noisy * 255).round().astype(np.uint8)


def run(args: list[str], env: dict | None = None) -> tuple[subprocess.CompletedProcess, float]:
    start = time.perf_counter()
    done = subprocess.run([TVRESTORE, *args], capture_output=True, text=True,
                          env={**os.environ, **(env or {})})
    return done, time.perf_counter() - start


def outputs(directory: Path) -> dict[str, bytes]:
    return {path.name: path.read_bytes() for path in sorted(directory.glob("*.png"))}


def throughput(work: Path, count: int, rounds: int) -> dict:
    import imageio.v3 as iio

    inputs = work / "batch"
    inputs.mkdir()
    for index, pixels in enumerate(crops(count, 512)):
        iio.imwrite(inputs / f"{index:03d}.png", pixels)
    common = ["--weight", "0.1", "-q"]
    # Warm-up: compiled programs go to the disk cache, for both.
    run([str(inputs), "-o", str(work / "warm"), *common])
    modes = (("in-process", []), ("workers 2", ["--workers", "2"]))
    seconds: dict[str, list[float]] = {name: [] for name, _ in modes}
    # Rounds alternate the two, so that the other agents' load on this
    # shared machine falls on both alike; the best round of each counts.
    for round_ in range(rounds):
        for name, extra in modes:
            out = work / name.replace(" ", "-")
            shutil.rmtree(out, ignore_errors=True)
            done, elapsed = run([str(inputs), "-o", str(out), *common,
                                 "--report", str(work / f"{out.name}.json"), *extra])
            assert done.returncode == 0, done.stderr
            seconds[name].append(elapsed)
            print(f"  round {round_ + 1} {name:>11}: {count} images in {elapsed:.1f} s, "
                  f"{count / elapsed:.2f} images/s", flush=True)
    rows = {name: {"seconds": times, "images_per_second": count / min(times)}
            for name, times in seconds.items()}
    same = outputs(work / "in-process") == outputs(work / "workers-2")
    ratio = rows["workers 2"]["images_per_second"] / rows["in-process"]["images_per_second"]
    print(f"  best rounds: in-process {rows['in-process']['images_per_second']:.2f} images/s, "
          f"workers 2 {rows['workers 2']['images_per_second']:.2f} images/s; ratio {ratio:.2f}, "
          f"per-worker efficiency {ratio / 2:.2f}; identical outputs: {same}", flush=True)
    return {"rows": rows, "ratio": ratio, "per_worker_efficiency": ratio / 2,
            "identical_outputs": same}


def tiled_tiff(path: Path, size: int, tile: int) -> None:
    """A noisy grey tiled TIFF, written tile by tile: piecewise-constant blocks plus noise."""
    import tifffile

    rng = np.random.default_rng(1)
    pattern = next(crops(1, 512))

    def tiles():
        for top in range(0, size, tile):
            for left in range(0, size, tile):
                block = np.tile(pattern, (tile // 512, tile // 512)).astype(np.int16)
                noise = rng.normal(0, 10, block.shape)
                yield np.clip(block + noise, 0, 255).astype(np.uint8)

    tifffile.imwrite(path, tiles(), shape=(size, size), dtype=np.uint8, tile=(tile, tile),
                     bigtiff=True)


def peak_rss(args: list[str]) -> tuple[subprocess.CompletedProcess, int, float]:
    """Run tvrestore; its peak RSS in bytes (VmHWM, read just before it exits) and seconds."""
    start = time.perf_counter()
    process = subprocess.Popen([TVRESTORE, *args], stdout=subprocess.PIPE,
                               stderr=subprocess.PIPE, text=True)
    peak = 0
    while process.poll() is None:
        try:
            status = Path(f"/proc/{process.pid}/status").read_text()
            peak = max(peak, int(status.split("VmHWM:")[1].split()[0]) * 1024)
        except (OSError, IndexError):
            pass
        time.sleep(0.2)
    stdout, stderr = process.communicate()
    done = subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)
    return done, peak, time.perf_counter() - start


def memory(work: Path, size: int, tile: int) -> dict:
    import tifffile

    from tvrestore.runs.tiles import default_halo

    source = work / f"big{size}.tif"
    tiled_tiff(source, size, tile)
    halo = default_halo(0.1)
    with tifffile.TiffFile(source) as tif:
        one = tif.pages[0].asarray()[: tile + 2 * halo, : tile + 2 * halo]
    tifffile.imwrite(work / "one_tile.tif", one)
    single, single_peak, single_seconds = peak_rss(
        [str(work / "one_tile.tif"), "-o", str(work / "one_tile_tv.tif"), "--weight", "0.1"])
    assert single.returncode == 0, single.stderr
    print(f"  one {tile + 2 * halo}x{tile + 2 * halo} tile as an image: peak RSS "
          f"{single_peak / 2**20:.0f} MiB, {single_seconds:.0f} s", flush=True)
    output = work / f"big{size}_tv.tif"
    done, peak, seconds = peak_rss([str(source), "-o", str(output), "--weight", "0.1",
                                    "--tile", str(tile), "--report", str(work / "big.json")])
    assert done.returncode == 0, done.stderr
    with tifffile.TiffFile(output) as tif:
        page = tif.pages[0]
        tiled, shape = page.is_tiled, page.shape
    print(f"  {size}x{size} in {tile}x{tile} tiles: peak RSS {peak / 2**20:.0f} MiB "
          f"({peak / single_peak:.2f} x one tile's), {seconds:.0f} s; output tiled TIFF "
          f"{tiled}, shape {shape}", flush=True)
    return {"size": size, "tile": tile, "halo": halo, "peak_rss_bytes": peak,
            "single_tile_peak_rss_bytes": single_peak, "ratio": peak / single_peak,
            "seconds": seconds, "output_tiled": tiled, "output_shape": list(shape)}


def fault(work: Path, count: int) -> dict:
    import psutil

    inputs, out = work / "batch", work / "fault"
    report = work / "fault.json"
    process = subprocess.Popen([TVRESTORE, str(inputs), "-o", str(out), "--weight", "0.1",
                                "-q", "--workers", "2", "--report", str(report)],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    killed = None
    deadline = time.monotonic() + 600
    while killed is None and time.monotonic() < deadline and process.poll() is None:
        # Workers are the client's children started by multiprocessing's
        # spawn (its nannies run inside the client); kill one once some
        # outputs exist, so that it is in mid-batch.
        try:
            workers = [child for child in psutil.Process(process.pid).children()
                       if "spawn_main" in " ".join(child.cmdline())]
        except psutil.NoSuchProcess:  # a process came or went while listing
            workers = []
        if len(workers) == 2 and out.is_dir() and len(list(out.glob("*.png"))) >= count // 4:
            killed = workers[0].pid
            os.kill(killed, signal.SIGKILL)
        time.sleep(0.1)
    stdout, stderr = process.communicate()
    entries = json.loads(report.read_text())["results"]
    statuses = sorted({entry["status"] for entry in entries})
    same = outputs(out) == outputs(work / "in-process")
    hidden = [path.name for path in out.iterdir() if path.name.startswith(".")]
    print(f"  killed worker pid {killed}: exit code {process.returncode}, {len(entries)} report "
          f"entries, statuses {statuses}, outputs identical to the run without fault: {same}, "
          f"leftover temporaries {hidden}", flush=True)
    return {"killed_pid": killed, "exit_code": process.returncode, "entries": len(entries),
            "statuses": statuses, "identical_outputs": same, "leftovers": hidden,
            "summary": stdout.strip()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=96)
    parser.add_argument("--size", type=int, default=16384)
    parser.add_argument("--tile", type=int, default=2048)
    parser.add_argument("--rounds", type=int, default=2, help="throughput rounds of each mode")
    parser.add_argument("--parts", default="throughput,fault,memory")
    parser.add_argument("--json")
    args = parser.parse_args()
    parts = args.parts.split(",")
    results = {"args": vars(args), "cpus": os.cpu_count()}
    work = Path(tempfile.mkdtemp(prefix="tvrestore-scale-"))
    try:
        if "throughput" in parts or "fault" in parts:
            print("throughput", flush=True)
            results["throughput"] = throughput(work, args.count, args.rounds)
        if "fault" in parts:
            print("fault", flush=True)
            results["fault"] = fault(work, args.count)
        if "memory" in parts:
            print("memory", flush=True)
            results["memory"] = memory(work, args.size, args.tile)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
