"""Per-shape compile (trace + cached XLA load) seconds of ``denoise`` in one process.

Issue 19's target 6: a cached program's first call for a further image
shape costs at most 0.3 s beyond its solve. Run it twice: the first run
fills the on-disk compile cache (``TVRESTORE_CACHE_DIR``, else the default);
the second shows what a warm cache costs per shape. For each shape, in
order, it prints ``compile_seconds`` and ``solve_seconds`` of
:func:`tvrestore.denoise` at a fixed weight and, with ``--auto``, the
weight search's compile seconds and the whole call's wall time.

    python benchmarks/measure_retrace.py            # grey and RGB, 6 shapes
    python benchmarks/measure_retrace.py --auto
"""

from __future__ import annotations

import argparse
import time

import numpy as np

SHAPES = [(256, 256), (320, 384), (384, 320, 3), (448, 448), (512, 384, 3), (512, 512)]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--auto", action="store_true", help="weight 'auto' instead of 0.07")
    args = parser.parse_args()
    start = time.perf_counter()
    from tvrestore import denoise  # imports TensorFlow

    print(f"import: {time.perf_counter() - start:.2f} s")
    rng = np.random.default_rng(0)
    print(f"{'shape':>14} {'compile s':>9} {'solve s':>8} {'wall s':>7} {'wall-solve':>10}")
    for shape in SHAPES:
        image = np.clip(0.5 + 0.1 * rng.standard_normal(shape), 0, 1).astype(np.float32)
        begin = time.perf_counter()
        _, result = denoise(image, "auto" if args.auto else 0.07)
        wall = time.perf_counter() - begin
        print(f"{str(shape):>14} {result.compile_seconds:9.3f} {result.solve_seconds:8.3f} "
              f"{wall:7.3f} {wall - result.solve_seconds:10.3f}")


if __name__ == "__main__":
    main()
