"""What a colour solve costs against a grey one, warm, in one process.

Issue 9's target: a 512x512x3 solve, vectorial or channelwise, costs at most
3.3x a grey 512x512 solve. Each colour image's three channels are also
solved alone, as grey images, to show what channelwise TV (a sum of grey
TVs) costs at exactly the cost of its values. Each image of skimage.data is resized to
--size, given seeded Gaussian noise of --sigma/255, and restored at
--weight 0.07 by tvrestore's default solver (Adam) and by
``denoise_tv_chambolle`` at its defaults. Every method is run once to
compile or warm up, then --repeat times, interleaved, so a busy moment of a
shared machine hits all of them alike. Times are medians of the solve only
(``solve_seconds``; chambolle: the call), as wall time and as process CPU
time (all threads), which a shared machine disturbs less.

    python benchmarks/bench_colour.py             # about a minute
    python benchmarks/bench_colour.py --repeat 9
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
from skimage import data, transform
from skimage.restoration import denoise_tv_chambolle

from tvrestore import denoise

GREY = ("camera", "coins", "moon")
COLOUR = ("astronaut", "coffee", "chelsea")


def noisy_image(name: str, size: int, sigma: float) -> np.ndarray:
    image = getattr(data, name)().astype(np.float64) / 255
    side = min(image.shape[:2])
    top, left = (image.shape[0] - side) // 2, (image.shape[1] - side) // 2
    square = image[top:top + side, left:left + side]
    clean = transform.resize(square, (size, size) + square.shape[2:], anti_aliasing=True)
    noise = np.random.default_rng(0).standard_normal(clean.shape) * sigma / 255
    return np.clip(clean + noise, 0, 1).astype(np.float32)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=512)
    parser.add_argument("--sigma", type=float, default=25)
    parser.add_argument("--weight", type=float, default=0.07)
    parser.add_argument("--repeat", type=int, default=5)
    args = parser.parse_args()

    images = {name: noisy_image(name, args.size, args.sigma) for name in GREY + COLOUR}
    runs = {}
    for name in GREY:
        runs[(name, "tvrestore")] = (images[name], {})
    for name in COLOUR:
        for color in ("vectorial", "channelwise"):
            runs[(name, f"tvrestore {color}")] = (images[name], {"color": color})
    for name in COLOUR:
        for c in range(3):
            # Each channel alone, as a grey image: what channelwise TV costs
            # if colour costs exactly its values.
            runs[(f"{name}[{c}]", "tvrestore")] = (np.ascontiguousarray(images[name][..., c]), {})
    for name in GREY + COLOUR:
        runs[(name, "chambolle")] = (images[name], None)

    def once(image, options):
        cpu, wall = time.process_time(), time.perf_counter()
        if options is None:
            denoise_tv_chambolle(image, weight=args.weight,
                                 channel_axis=-1 if image.ndim == 3 else None)
            return time.perf_counter() - wall, time.process_time() - cpu, None
        _, result = denoise(image, args.weight, **options)
        # The solve only: the CPU time of the whole call includes a little
        # preparation, scaled down in proportion.
        share = result.solve_seconds / (time.perf_counter() - wall)
        return result.solve_seconds, (time.process_time() - cpu) * share, result.iterations

    for key, (image, options) in runs.items():
        once(image, options)  # compile (or warm up)
    times = {key: [] for key in runs}
    for _ in range(args.repeat):
        for key, (image, options) in runs.items():
            times[key].append(once(image, options))

    def median(key, index):
        return statistics.median(t[index] for t in times[key])

    grey_wall = statistics.mean(median((n, "tvrestore"), 0) for n in GREY)
    grey_cpu = statistics.mean(median((n, "tvrestore"), 1) for n in GREY)
    print(f"{args.size}x{args.size}, sigma {args.sigma:g}/255, weight {args.weight:g}, "
          f"median of {args.repeat}, interleaved\n")
    print("| image | method | iterations | wall s | CPU s | x grey (wall) | x grey (CPU) "
          "| x chambolle (wall) |")
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for (name, method), samples in times.items():
        if method == "chambolle" or "[" in name:
            continue
        wall, cpu = median((name, method), 0), median((name, method), 1)
        chambolle = median((name, "chambolle"), 0)
        print(f"| {name} | {method} | {samples[-1][2]} | {wall:.4f} | {cpu:.4f} "
              f"| {wall / grey_wall:.2f} | {cpu / grey_cpu:.2f} | {wall / chambolle:.2f} |")
    print("\nx grey: over the mean of the grey images' tvrestore solves, same run.")
    for name in COLOUR:
        channels = sum(median((f"{name}[{c}]", "tvrestore"), 0) for c in range(3))
        print(f"{name}: channelwise / its three channels solved as grey images "
              f"{median((name, 'tvrestore channelwise'), 0) / channels:.2f} (wall), "
              f"their sum {channels / grey_wall:.2f}x the mean grey solve")
    for group, names, method in (("grey", GREY, "tvrestore"),
                                 ("colour vectorial", COLOUR, "tvrestore vectorial"),
                                 ("colour channelwise", COLOUR, "tvrestore channelwise")):
        ratio = statistics.mean(median((n, method), 0) / median((n, "chambolle"), 0) for n in names)
        print(f"{group}: tvrestore / chambolle at its defaults (wall, mean over images) {ratio:.2f}")


if __name__ == "__main__":
    main()
