"""Coarse-to-fine Adam against the full-size solve and scikit-image, in one process (issue 22).

For each case (a skimage image at a size, sigma 25/255, weight 0.07, as
``tvrestore bench`` makes them) it measures, interleaved, after one warm-up
each and as the median of ``--repeat`` runs:

- skimage's ``denoise_tv_chambolle`` at its defaults (``channel_axis`` for colour);
- tvrestore's Adam at full size only (``levels=0``) and coarse to fine
  (``levels`` down to about 64 px, whatever the size: the engine itself
  turns the levels on from 1024 px a side);
- with ``--pdhg``, the exact mode cold and from the same kind of start (its
  own coarse levels, each to a certified gap of 1e-3).

Every gap is relative, against the certified lower bound of a float64 PDHG
run (:func:`tvrestore.bench.reference.exact_reference`). ``--batch N``
adds the marginal time per image of a batch of N noisy 256x256 camera
crops (different seeds), against skimage's time per image.

``--study`` prints the starting point's gap at each size, and the Adam
trajectories from a cold and a warm start (what the multilevel module's
docstring quotes).

    python benchmarks/bench_multilevel.py --sizes 512,1024,2048 --repeat 5
    python benchmarks/bench_multilevel.py --images astronaut --color vectorial --sizes 512
    python benchmarks/bench_multilevel.py --batch 32 --sizes 256
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import time

import numpy as np

WEIGHT = 0.07


def coarse_levels(side: int) -> int:
    from tvrestore.solvers.multilevel import COARSEST_SIDE

    count = 0
    while side // 2 >= COARSEST_SIDE:
        side //= 2
        count += 1
    return count


def median_of(run, repeat):
    run()
    results = [run() for _ in range(repeat)]
    return statistics.median(seconds for seconds, _ in results), results[-1][1]


def chambolle_run(image, channel_axis):
    from skimage.restoration import denoise_tv_chambolle

    def run():
        start = time.perf_counter()
        out = denoise_tv_chambolle(image, weight=WEIGHT, channel_axis=channel_axis)
        return time.perf_counter() - start, out
    return run


def adam_run(image, color, levels):
    from tvrestore.solvers.engine import Degradation, solve

    data = image.reshape(*image.shape[:2], -1)

    def run():
        out = solve(Degradation(), [data], np.array([WEIGHT]), color=color, levels=levels)
        return out.solve_seconds, (out.solution[0], int(out.iterations[0]))
    return run


def pdhg_run(image, color, levels, gap=1e-4):
    from tvrestore.solvers import multilevel
    from tvrestore.solvers.engine import Degradation, solve

    data = image.reshape(1, *image.shape[:2], -1)
    extents = np.array([data.shape[1:3]], np.float32)

    def level(level_data, weights, level_extents, start, schedule):
        return solve(Degradation(), level_data, weights, extents=level_extents, color=color,
                     solver="pdhg", gap=1e-3, initial=list(start))

    def run():
        seconds = 0.0
        start = None
        if levels:
            schedules = multilevel.schedules(levels, multilevel.WARM, 3e-4)
            start, seconds, _ = multilevel.warm_start(level, data, np.array([WEIGHT]), extents,
                                                      schedules)
        out = solve(Degradation(), data, np.array([WEIGHT]), color=color, solver="pdhg", gap=gap,
                    initial=None if start is None else list(start))
        return seconds + out.solve_seconds, (out.solution[0], int(out.iterations[0]))
    return run


def measure_case(name, size, color, repeat, pdhg):
    from tvrestore.bench.cases import make_case
    from tvrestore.bench.reference import exact_reference
    from tvrestore.models.problem import Problem

    case = make_case(name, size, 25 / 255, 0)
    reference = exact_reference(case, WEIGHT, color, 1e-5, "float64")
    objective = Problem(color=color)

    def gap(solution):
        energy = objective.energy_value(solution.reshape(case.noisy.shape), case.noisy, WEIGHT)
        return reference.gap(energy)

    levels = coarse_levels(size)
    row = {"image": name, "size": size, "color": color, "levels": levels}
    chambolle_seconds, chambolle_out = median_of(chambolle_run(case.noisy, case.channel_axis), repeat)
    row["chambolle"] = {"seconds": chambolle_seconds, "gap": gap(chambolle_out)}
    runs = {"adam": adam_run(case.noisy, color, 0), "adam multilevel": adam_run(case.noisy, color, levels)}
    if pdhg:
        runs["pdhg"] = pdhg_run(case.noisy, color, 0)
        runs["pdhg multilevel"] = pdhg_run(case.noisy, color, levels)
    for method, run in runs.items():
        seconds, (solution, iterations) = median_of(run, repeat)
        row[method] = {"seconds": seconds, "gap": gap(solution), "iterations": iterations,
                       "x chambolle": seconds / chambolle_seconds}
    return row


def measure_batch(count, size, repeat):
    """Marginal seconds per image of a batch of ``count`` against one, and skimage's per image."""
    from tvrestore.bench.cases import make_case
    from tvrestore.solvers.engine import Degradation, solve

    images = np.stack([make_case("camera", size, 25 / 255, seed).noisy for seed in range(count)])
    images = images[..., None].astype(np.float32)
    row = {"count": count, "size": size}
    per_image, _ = median_of(chambolle_run(images[0, ..., 0], None), repeat)
    row["chambolle per image"] = per_image
    for levels in (0, coarse_levels(size)):
        def one():
            return solve(Degradation(), images[:1], np.array([WEIGHT]), levels=levels).solve_seconds, None

        def all_of_them():
            return solve(Degradation(), images, np.full(count, WEIGHT), levels=levels).solve_seconds, None
        single, _ = median_of(one, repeat)
        whole, _ = median_of(all_of_them, repeat)
        marginal = (whole - single) / (count - 1)
        row[f"levels {levels}"] = {"one": single, "batch": whole, "marginal per image": marginal,
                                   "x skimage speed": per_image / marginal}
    return row


def study(name, size):
    """The start's gap and the cold and warm Adam trajectories, as gaps at each plateau check."""
    from tvrestore.bench.cases import make_case
    from tvrestore.bench.reference import exact_reference
    from tvrestore.models.problem import Problem
    from tvrestore.solvers import multilevel
    from tvrestore.solvers.engine import Degradation, solve

    case = make_case(name, size, 25 / 255, 0)
    reference = exact_reference(case, WEIGHT, "vectorial", 1e-5, "float64")
    objective = Problem()
    data = case.noisy.reshape(1, size, size, -1).astype(np.float32)

    def gap(solution):
        return reference.gap(objective.energy_value(solution.reshape(case.noisy.shape), case.noisy, WEIGHT))

    cold = solve(Degradation(), data, np.array([WEIGHT]), levels=0)
    coarse, extents = multilevel.restrict(cold.solution, np.array([[size, size]]))
    best_start = multilevel.prolong(coarse, extents, data.shape, np.array([[size, size]]))
    row = {"image": name, "size": size, "minimizer's block means, upsampled": gap(best_start)}
    for factor in (0.5, 1.0):
        fine_data, coarse_extents = multilevel.restrict(data, np.array([[size, size]]))
        half = solve(Degradation(), fine_data, np.array([WEIGHT * factor]), levels=0)
        start = multilevel.prolong(half.solution, coarse_extents, data.shape, np.array([[size, size]]))
        row[f"start from the half size at w x {factor}"] = gap(start)
    warm = solve(Degradation(), data, np.array([WEIGHT]), levels=coarse_levels(size))
    for label, output in (("cold", cold), ("warm", warm)):
        row[label] = [(int(check), reference.gap(float(value)))
                      for check, value in zip(output.history.iterations,
                                              output.history.values["objective"][:, 0])]
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default="camera")
    parser.add_argument("--sizes", default="512,1024,2048")
    parser.add_argument("--color", choices=["vectorial", "channelwise"], default="vectorial")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pdhg", action="store_true", help="also the exact mode, cold and warm")
    parser.add_argument("--batch", type=int, default=0, help="also a batch of this many 256x256 images")
    parser.add_argument("--study", action="store_true", help="the start's gap and trajectories instead")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    rows = [{"load average": os.getloadavg()}]
    print(json.dumps(rows[0]), flush=True)
    sizes = [int(size) for size in args.sizes.split(",")]
    for name in args.images.split(","):
        for size in sizes:
            row = study(name, size) if args.study else measure_case(name, size, args.color, args.repeat, args.pdhg)
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.batch:
        row = measure_batch(args.batch, 256, args.repeat)
        rows.append(row)
        print(json.dumps(row), flush=True)
    rows.append({"load average after": os.getloadavg()})
    print(json.dumps(rows[-1]), flush=True)
    if args.json:
        with open(args.json, "w") as out:
            json.dump(rows, out, indent=2)


if __name__ == "__main__":
    main()
