"""How far the tiled solution is from the whole-image minimizer, against the halo.

Narrated:

1. A noisy test image of SIZE x SIZE: a mosaic of scikit-image's grey
   photographs at their own resolution (512x512 crops, so that the image
   has detail at every scale a photograph has, not one image blown up),
   plus Gaussian noise of sigma 0.1, in float32.
2. The whole-image exact minimizer of E at the weight: PDHG in float64 to a
   certified relative gap of 1e-6 (tvrestore.solvers.pdhg).
3. The same image restored in TILE x TILE tiles by
   tvrestore.runs.tiles.restore_array for each halo, every tile solved
   exactly (pdhg, gap 1e-6), so that the table shows the tiling error
   alone; then, with the default halo, tiles solved by Adam at its
   default tol, by the default path (no solver named: pdhg to the gap
   tvrestore.runs.tiles.TILE_GAP, what `tvrestore --tile` does), and by PDHG at
   the default gap,
   next to the same solvers on the whole image: their own distance to the
   minimizer, which tiling cannot beat.
4. Max and mean absolute difference to the whole-image minimizer, in
   intensity units (the range is 1; half an 8-bit step is 1/510 = 0.00196).

Run: python benchmarks/measure_tiles.py --size 4096 --tile 1024 --weight 0.1
"""

from __future__ import annotations

import argparse
import json
import time

import numpy as np


def mosaic(size: int, sigma: float, seed: int = 0) -> np.ndarray:
    from skimage import color, data

    sources = [data.camera(), color.rgb2gray(data.astronaut()), data.moon(), data.page(),
               data.text(), data.brick(), data.grass(), data.gravel(),
               color.rgb2gray(data.coffee()), color.rgb2gray(data.chelsea()),
               data.coins(), color.rgb2gray(data.rocket())]
    crops = []
    for image in sources:
        image = image.astype(np.float64)
        image = image / 255.0 if image.max() > 1 else image
        crop = np.zeros((512, 512))
        part = image[:512, :512]
        # Smaller images are mirrored out to 512, with no seam.
        crop[:] = np.pad(part, [(0, 512 - part.shape[0]), (0, 512 - part.shape[1])], mode="reflect")
        crops.append(crop)
    blocks = size // 512
    rows = [np.hstack([crops[(r * blocks + c) % len(crops)] for c in range(blocks)])
            for r in range(blocks)]
    clean = np.vstack(rows)
    noise = sigma * np.random.default_rng(seed).standard_normal(clean.shape)
    return (clean + noise).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=4096)
    parser.add_argument("--tile", type=int, default=1024)
    parser.add_argument("--weight", type=float, default=0.1)
    parser.add_argument("--sigma", type=float, default=0.1)
    parser.add_argument("--halos", default="0,8,16,24,32,48,64")
    parser.add_argument("--json")
    parser.add_argument("--default-only", action="store_true",
                        help="only the default path: default halo, default tile solve")
    args = parser.parse_args()

    import dask.array as da

    from tvrestore.solvers.pdhg import solve_pdhg
    from tvrestore.runs.tiles import default_halo, restore_array

    noisy = mosaic(args.size, args.sigma)
    start = time.perf_counter()
    whole = solve_pdhg(noisy[None, ..., None].astype(np.float64), np.array([args.weight]),
                       gap=1e-6, max_iter=100000, dtype="float64")
    exact = whole.solution[0, ..., 0]
    print(f"whole-image exact: {int(whole.iterations[0])} iterations, certified gap "
          f"{float(whole.certified_gap[0]):.2g}, {time.perf_counter() - start:.0f} s", flush=True)

    from tvrestore.api import denoise

    for solver in () if args.default_only else ("adam", "pdhg"):
        # The solver's own error, untiled: what a tile solve adds at best.
        start = time.perf_counter()
        alone = denoise(noisy, args.weight, solver=solver)[0].astype(np.float64)
        error = np.abs(alone - exact)
        print(f"whole image, {solver} at its default stopping: max |error| {error.max():.2e}, "
              f"mean {error.mean():.2e}, {time.perf_counter() - start:.0f} s", flush=True)

    def tiled(halo: int, **options) -> dict:
        start = time.perf_counter()
        lazy = restore_array(da.from_array(noisy, chunks=args.tile), args.weight, halo=halo,
                             **options)
        result = lazy.compute(scheduler="synchronous")
        error = np.abs(result.astype(np.float64) - exact)
        return {"halo": halo, **{k: v for k, v in options.items() if k != "max_iter"},
                "max_error": float(error.max()), "mean_error": float(error.mean()),
                "seconds": time.perf_counter() - start}

    exactly = {"solver": "pdhg", "gap": 1e-6, "max_iter": 100000}
    rows = []
    print(f"{'halo':>5} {'tile solve':>16} {'max |error|':>12} {'mean |error|':>13} {'s':>6}")
    default = default_halo(args.weight)
    halos = sorted({int(h) for h in args.halos.split(",")} | {default})
    # {}: what restore_array (and `tvrestore --tile`) does with no solver named.
    runs = [(default, {})] if args.default_only else [(h, exactly) for h in halos] + [
        (default, {}), (default, {"solver": "adam"}), (default, {"solver": "pdhg"})]
    for halo, options in runs:
        row = tiled(halo, **options)
        rows.append(row)
        solve = options.get("solver", "default") + (
            f" gap {options['gap']:g}" if "gap" in options else "")
        mark = " (default halo)" if halo == default else ""
        print(f"{halo:>5} {solve:>16} {row['max_error']:>12.2e} {row['mean_error']:>13.2e} "
              f"{row['seconds']:>6.0f}{mark}", flush=True)
    if args.json:
        with open(args.json, "w") as file:
            json.dump({"args": vars(args), "default_halo": default, "rows": rows}, file, indent=2)


if __name__ == "__main__":
    main()
