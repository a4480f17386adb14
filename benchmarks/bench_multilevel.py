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
    python benchmarks/bench_multilevel.py --deblur --sizes ''
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
    runs = {"chambolle": chambolle_run(case.noisy, case.channel_axis),
            "adam": adam_run(case.noisy, color, 0), "adam multilevel": adam_run(case.noisy, color, levels)}
    if pdhg:
        runs["pdhg"] = pdhg_run(case.noisy, color, 0)
        runs["pdhg multilevel"] = pdhg_run(case.noisy, color, levels)
    seconds, outputs = interleaved(runs, repeat)
    for method, (solution_or_pair) in outputs.items():
        solution, iterations = (solution_or_pair, None) if method == "chambolle" else solution_or_pair
        row[method] = {"seconds": seconds[method], "gap": gap(solution), "iterations": iterations,
                       "x chambolle": seconds[method] / seconds["chambolle"],
                       "x adam": seconds[method] / seconds["adam"]}
    return row


def interleaved(runs, repeat):
    """Each run once to warm up, then ``repeat`` rounds of every run: medians and last outputs."""
    outputs = {method: run()[1] for method, run in runs.items()}
    times = {method: [] for method in runs}
    for _ in range(repeat):
        for method, run in runs.items():
            seconds, outputs[method] = run()
            times[method].append(seconds)
    return {method: statistics.median(values) for method, values in times.items()}, outputs


def measure_batch(count, size, repeat):
    """Marginal seconds per image of a batch of ``count`` against one, and skimage's per image."""
    from tvrestore.bench.cases import make_case
    from tvrestore.solvers.engine import Degradation, solve

    images = np.stack([make_case("camera", size, 25 / 255, seed).noisy for seed in range(count)])
    images = images[..., None].astype(np.float32)
    row = {"count": count, "size": size}
    per_image = interleaved({"chambolle": chambolle_run(images[0, ..., 0], None)}, repeat)[0]["chambolle"]
    row["chambolle per image"] = per_image
    for levels in (0, coarse_levels(size)):
        runs = {
            "one": lambda: (solve(Degradation(), images[:1], np.array([WEIGHT]),
                                  levels=levels).solve_seconds, None),
            "all": lambda: (solve(Degradation(), images, np.full(count, WEIGHT),
                                  levels=levels).solve_seconds, None),
        }
        seconds, _ = interleaved(runs, repeat)
        single, whole = seconds["one"], seconds["all"]
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


def tune(paths, levels):
    """The full-size level's iterations and gap from a warm start, per first step and decay.

    On the bundled samples (``samples/*_noisy.png``, 256x256) with
    ``levels`` coarse levels forced, the full-size level's schedule
    (:data:`tvrestore.solvers.multilevel.WARM`) set to each candidate; the
    coarse levels are the same for every candidate, so the full-size
    iterations compare them. Gaps are against the float64 exact minimizer;
    the cold solve is the first row.
    """
    import imageio.v3 as iio

    from tvrestore.bench.reference import Reference
    from tvrestore.models.problem import Problem
    from tvrestore.solvers import multilevel
    from tvrestore.solvers.adam import AdamSettings
    from tvrestore.solvers.engine import Degradation, solve
    from tvrestore.solvers.pdhg import solve_pdhg

    chosen = multilevel.WARM
    rows = []
    for path in paths:
        noisy = iio.imread(path).astype(np.float32) / 255
        data = noisy.reshape(1, *noisy.shape[:2], -1)
        exact = solve_pdhg(data.astype(np.float64), np.array([WEIGHT]), gap=1e-6, dtype="float64",
                           max_iter=100_000)
        reference = Reference(float(exact.lower_bound[0]), 0.0, float(exact.certified_gap[0]), 0, 0.0)
        objective = Problem()

        def gap(solution):
            return reference.gap(objective.energy_value(solution[0], data[0], WEIGHT))

        cold = solve(Degradation(), data, np.array([WEIGHT]), levels=0)
        row = {"image": path, "cold": {"iterations": int(cold.iterations[0]), "gap": gap(cold.solution)}}
        for learning_rate in (0.01, 0.005, 0.0025):
            for decay in (0.5, 0.3):
                multilevel.WARM = AdamSettings(learning_rate=learning_rate, decay=decay)
                output = solve(Degradation(), data, np.array([WEIGHT]), levels=levels)
                row[f"lr {learning_rate} decay {decay}"] = {
                    "iterations": int(output.iterations[0]), "gap": gap(output.solution)}
        multilevel.WARM = chosen
        rows.append(row)
        print(json.dumps(row), flush=True)
    return rows


def deblur(repeat):
    """A 496x496 deblur (Gaussian PSF sigma 1.6, weight 0.001) cold and from a coarse start.

    The coarse problem: 2x2 block means of the data, the PSF at half its
    width (gaussian:0.8) and weight 0.0005; its observed window, upsampled
    bilinearly and edge-extended by the PSF margin, starts the full-size
    solve. Against ``unsupervised_wiener`` on the same data, interleaved.
    """
    from skimage.restoration import unsupervised_wiener

    from tvrestore.bench.tasks import make_task_case
    from tvrestore.models.psf import parse_psf
    from tvrestore.solvers import multilevel
    from tvrestore.solvers.engine import Degradation, energy, solve

    degraded, psf, _ = make_task_case("camera", "deblur", 496, 0)
    data = degraded.observed.astype(np.float32)[..., None]
    weight = 0.001
    fine, coarse = Degradation(psf=psf), Degradation(psf=parse_psf("gaussian:0.8"))
    coarse_data, coarse_extents = multilevel.restrict(data[None], np.array([[496, 496]]))

    def cold():
        out = solve(fine, [data], np.array([weight]))
        return out.solve_seconds, (out.solution[0], int(out.iterations[0]))

    def warm():
        first = solve(coarse, [coarse_data[0]], np.array([weight / 2]))
        window = coarse.window(first.solution[0])[None]
        start = multilevel.prolong(window, coarse_extents, (1, 496, 496, 1), np.array([[496, 496]]))[0]
        margin_y, margin_x = fine.margin
        start = np.pad(start, ((margin_y, margin_y), (margin_x, margin_x), (0, 0)), mode="edge")
        out = solve(fine, [data], np.array([weight]), initial=[start])
        return first.solve_seconds + out.solve_seconds, (out.solution[0], int(out.iterations[0]),
                                                         int(first.iterations[0]))

    def wiener():
        start = time.perf_counter()
        unsupervised_wiener(np.clip(degraded.observed, 0, 1), psf, rng=0)
        return time.perf_counter() - start, None

    seconds, outputs = interleaved({"cold": cold, "coarse start": warm, "unsupervised_wiener": wiener},
                                   repeat)
    row = {"task": "deblur 496x496", "wiener seconds": seconds["unsupervised_wiener"]}
    for method in ("cold", "coarse start"):
        solution, iterations, *coarse_iterations = outputs[method]
        row[method] = {"seconds": seconds[method], "iterations": iterations,
                       "coarse iterations": coarse_iterations or None,
                       "energy": energy(fine, solution, data, weight),
                       "x wiener": seconds[method] / seconds["unsupervised_wiener"]}
    return row


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", default="camera")
    parser.add_argument("--sizes", default="512,1024,2048")
    parser.add_argument("--color", choices=["vectorial", "channelwise"], default="vectorial")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--pdhg", action="store_true", help="also the exact mode, cold and warm")
    parser.add_argument("--batch", type=int, default=0, help="also a batch of this many 256x256 images")
    parser.add_argument("--deblur", action="store_true", help="also the deblur case, cold and warm")
    parser.add_argument("--study", action="store_true", help="the start's gap and trajectories instead")
    parser.add_argument("--tune", nargs="*", metavar="PNG",
                        help="tune the full-size level's schedule on these images (the samples)")
    parser.add_argument("--levels", type=int, default=2, help="coarse levels for --tune")
    parser.add_argument("--json", help="write the rows here")
    args = parser.parse_args()
    rows = [{"load average": os.getloadavg()}]
    print(json.dumps(rows[0]), flush=True)
    sizes = [int(size) for size in args.sizes.split(",") if size]
    if args.tune:
        rows += tune(args.tune, args.levels)
        sizes = []
    for name in args.images.split(","):
        for size in sizes:
            row = study(name, size) if args.study else measure_case(name, size, args.color, args.repeat, args.pdhg)
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.deblur:
        row = deblur(args.repeat)
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
