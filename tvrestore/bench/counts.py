r"""The measurements behind ``tvrestore bench --task poisson``: photon counts against their baselines.

Cases, seeded: the observed image is :math:`y \sim \mathrm{Poisson}(P x)` for
a clean scene :math:`x` in [0, 1] (the centre square of a scikit-image
picture, grey, resized as in :mod:`tvrestore.bench.tasks`) at the peaks
:data:`PEAKS`, without blur and through a Gaussian PSF of sigma 1.6 (the
'valid' window of the blurred scene, no periodic boundary).

Methods: tvrestore (Adam, ``noise="poisson"``, automatic weight); the
generalized Anscombe transform + ``denoise_tv_chambolle`` + the exact
unbiased inverse at its *best* weight on a grid of :data:`ANSCOMBE_WEIGHTS`
(an oracle that sees the clean image: the baseline at its best); for the
blur, ``richardson_lucy`` at its best iteration count among
:data:`LUCY_ITERATIONS` (an oracle likewise). Scores in counts with the
peak as the range (PSNR, SSIM, border and interior bands as in
:mod:`tvrestore.bench.tasks`); times as there.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np

from tvrestore.bench.tasks import METHOD_TVRESTORE, TaskRow, median_seconds, scored_row

__all__ = ["ANSCOMBE_WEIGHTS", "LUCY_ITERATIONS", "PEAKS", "COUNT_CASES", "run_counts_bench"]

PEAKS = (1, 5, 30, 100)
# name -> (psf spec or None, peak)
COUNT_CASES = {f"poisson{'+blur' if psf else ''} peak {peak}": (psf, peak)
               for psf in (None, "gaussian:1.6") for peak in PEAKS}
ANSCOMBE_WEIGHTS = tuple(float(w) for w in np.geomspace(0.1, 4.0, 17))
LUCY_ITERATIONS = (2, 4, 6, 8, 10, 13, 16, 20, 25, 30, 40, 50, 65, 80, 100, 130, 160, 200)


def run_counts_bench(images, size: int = 240, repeat: int = 3, seed: int = 0,
                     progress=lambda line: None) -> dict:
    """Run :data:`COUNT_CASES` on ``images``; the report of :func:`tvrestore.bench.tasks.run_task_bench`'s form."""
    from skimage.restoration import richardson_lucy

    from tvrestore.api import restore
    from tvrestore.evaluation.baselines import anscombe_chambolle

    rows = []
    for name, (spec, peak) in COUNT_CASES.items():
        for image in images:
            progress(f"{name} on {image} ({size}x{size})")
            truth = _noise_free(image, spec, size)
            counts = np.random.default_rng(seed).poisson(peak * truth["observed"]).astype(np.float32)
            clean = truth["clean"]

            def ours():
                return restore(counts, psf=spec, noise="poisson")

            (restored, result), _ = median_seconds(ours, repeat)
            case_rows = [scored_row(image, name, METHOD_TVRESTORE, clean,
                                 restored.astype(np.float64) / peak,
                                 result.solve_seconds + result.weight_search_seconds,
                                 weight=result.weight)]
            best = max((_psnr(anscombe_chambolle(counts, w) / peak, clean), w)
                       for w in ANSCOMBE_WEIGHTS)
            estimate, seconds = median_seconds(lambda: anscombe_chambolle(counts, best[1]), repeat)
            case_rows.append(scored_row(image, name, "Anscombe + skimage chambolle (best weight)",
                                     clean, estimate / peak, seconds, weight=best[1]))
            if spec is not None:
                data = counts.astype(np.float64)
                best = max((_psnr(richardson_lucy(data, truth["psf"], num_iter=n, clip=False) / peak,
                                  clean), n) for n in LUCY_ITERATIONS)
                estimate, seconds = median_seconds(
                    lambda: richardson_lucy(data, truth["psf"], num_iter=best[1], clip=False), repeat)
                case_rows.append(scored_row(image, name,
                                         f"skimage richardson_lucy (best: {best[1]} iterations)",
                                         clean, estimate / peak, seconds))
            reference = case_rows[1]
            rows.extend(asdict(TaskRow(**row, ratio=row["seconds"] / reference["seconds"]))
                        for row in case_rows)
    return {"tasks": {name: {"psf": spec, "peak": peak} for name, (spec, peak) in COUNT_CASES.items()},
            "size": size, "seed": seed, "repeat": repeat, "rows": rows}


def _noise_free(image: str, spec, size: int) -> dict:
    """The clean window, the noise-free observation (in [0, 1], grey) and the PSF of a case."""
    from skimage import color, data, transform

    from tvrestore.bench.cases import centre_square
    from tvrestore.bench.degradations import degrade, scene_shape
    from tvrestore.models.psf import parse_psf

    psf = None if spec is None else parse_psf(spec)
    source = getattr(data, image)()
    source = source.astype(np.float64) / (255.0 if source.dtype == np.uint8 else 1.0)
    if source.ndim == 3:
        source = color.rgb2gray(source[..., :3])
    square = centre_square(source)
    scene_hw = scene_shape((size, size), psf)
    scene = np.clip(transform.resize(square, scene_hw, anti_aliasing=scene_hw[0] < square.shape[0]),
                    0, 1)
    degraded = degrade(scene, psf=psf)
    return {"clean": degraded.clean, "observed": np.maximum(degraded.observed, 0), "psf": psf}


def _psnr(estimate: np.ndarray, clean: np.ndarray) -> float:
    return float(10 * np.log10(1.0 / np.mean((estimate - clean) ** 2)))
