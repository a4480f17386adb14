"""The cost of solving tiles exactly: the default tile solve against Adam, in one run.

A SIZE x SIZE mosaic (benchmarks/measure_tiles.py) in TILE x TILE tiles at
weight 0.1 with the default halo, restored by tvrestore.runs.tiles.restore_array
with no solver named (pdhg to tiles.TILE_GAP) and with solver="adam",
alternating for --rounds rounds; wall seconds of each (the machine is
shared: compare within a round).

Run: python benchmarks/time_tile_solvers.py --size 2048 --tile 1024
"""

from __future__ import annotations

import argparse
import time

from measure_tiles import mosaic


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=2048)
    parser.add_argument("--tile", type=int, default=1024)
    parser.add_argument("--weight", type=float, default=0.1)
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()

    import dask.array as da

    from tvrestore.runs.tiles import restore_array

    noisy = mosaic(args.size, 0.1)
    for round_ in range(args.rounds):
        for name, options in (("default (pdhg, gap TILE_GAP)", {}), ("adam", {"solver": "adam"})):
            start = time.perf_counter()
            restore_array(da.from_array(noisy, chunks=args.tile), args.weight,
                          **options).compute(scheduler="synchronous")
            print(f"round {round_}: {name}: {time.perf_counter() - start:.1f} s", flush=True)


if __name__ == "__main__":
    main()
