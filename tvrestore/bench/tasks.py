r"""The measurements behind ``tvrestore bench --task``: restoration against scikit-image.

Cases
-----
Each case degrades a clean scene as a camera would (see
:mod:`tvrestore.bench.degradations`): the observed image is the 'valid' window of
a blurred scene, binned, with Gaussian noise and missing pixels, seeded.
The scene is the centre square of one of scikit-image's bundled images,
resized (anti-aliased) to the side that gives a ``size x size`` observed
image. The degradations are the ones of issue 11's measurements:

=================  ==========================================================
deblur             Gaussian PSF sigma 1.6, noise 0.01
deblur+inpaint     the same blur, 30 % dead pixels
inpaint            50 % missing pixels, noise 0.005
upscale            2 x 2 binning, noise 0.005
deblur+upscale     Gaussian sigma 1.0 on the fine grid, 2 x 2 binning, noise 0.005
=================  ==========================================================

``--task deblur`` runs the first; ``inpaint`` and ``upscale`` run the pure
task and its composition with blur; ``all`` runs the five.

Every method is scored on the clean window (``(K H, K W)``): PSNR and SSIM
in [0, 1] units, and the PSNR of the 16-pixel border band, where methods
that assume a periodic image ring. tvrestore runs at its automatic weight
with Adam, the default. Times are the median of ``repeat`` runs after a
warm-up (tvrestore: solve plus weight search, after compilation; skimage:
the call), and the ratio to ``unsupervised_wiener``'s (or the first
baseline's) in the same run.
"""

from __future__ import annotations

import statistics
import time
from dataclasses import asdict, dataclass
from typing import Callable

import numpy as np

from tvrestore.errors import TVRestoreError

__all__ = ["TASK_CASES", "TASK_GROUPS", "BORDER", "TaskRow", "format_task_report", "median_seconds",
           "run_task_bench", "scored_row"]

# name -> (psf spec or None, upscale, missing fraction, noise sigma)
TASK_CASES = {
    "deblur": ("gaussian:1.6", 1, 0.0, 0.01),
    "deblur+inpaint": ("gaussian:1.6", 1, 0.3, 0.01),
    "inpaint": (None, 1, 0.5, 0.005),
    "upscale": (None, 2, 0.0, 0.005),
    "deblur+upscale": ("gaussian:1.0", 2, 0.0, 0.005),
}
TASK_GROUPS = {
    "deblur": ("deblur",),
    "inpaint": ("inpaint", "deblur+inpaint"),
    "upscale": ("upscale", "deblur+upscale"),
    "all": tuple(TASK_CASES),
}
# Width of the border band (pixels of the output) scored on its own.
BORDER = 16

METHOD_TVRESTORE = "tvrestore (adam, auto)"


@dataclass(frozen=True)
class TaskRow:
    """One method on one case.

    Attributes
    ----------
    image, task, method : str
    psnr, ssim : float
        Against the clean window, [0, 1] units.
    border_psnr, interior_psnr : float
        PSNR of the ``BORDER``-pixel band and of the rest.
    seconds : float
        Median time (see the module docstring).
    ratio : float
        ``seconds`` over the reference baseline's, same run.
    weight : float or None
        tvrestore's chosen weight.
    """

    image: str
    task: str
    method: str
    psnr: float
    ssim: float
    border_psnr: float
    interior_psnr: float
    seconds: float
    ratio: float
    weight: float | None = None


def make_task_case(image: str, task: str, size: int, seed: int = 0):
    """The clean window, the degraded observation and the operator's parts for one case.

    Returns
    -------
    degraded : tvrestore.bench.degradations.Degraded
    psf : np.ndarray or None
    upscale : int
    """
    from skimage import data, transform

    from tvrestore.bench.cases import centre_square
    from tvrestore.bench.degradations import degrade, scene_shape
    from tvrestore.models.psf import parse_psf

    if task not in TASK_CASES:
        raise TVRestoreError(f"unknown task {task!r}; expected one of {', '.join(TASK_CASES)}")
    spec, upscale, missing, noise = TASK_CASES[task]
    psf = None if spec is None else parse_psf(spec)
    try:
        source = getattr(data, image)()
    except AttributeError:
        raise TVRestoreError(f"skimage.data has no image {image!r}") from None
    source = source.astype(np.float64) / (255.0 if source.dtype == np.uint8 else 1.0)
    if source.ndim == 3:
        source = source[..., :3]
    square = centre_square(source)
    side = square.shape[0]
    scene_hw = scene_shape((size, size), psf, upscale)
    scene = transform.resize(square, scene_hw + square.shape[2:], anti_aliasing=scene_hw[0] < side)
    return degrade(np.clip(scene, 0, 1), psf=psf, upscale=upscale, missing_fraction=missing,
                   noise_sigma=noise, seed=seed), psf, upscale


def band_psnr(clean: np.ndarray, estimate: np.ndarray, border: int = BORDER) -> tuple[float, float]:
    """PSNR of the ``border``-pixel frame and of the interior, [0, 1] units."""
    inside = np.zeros(clean.shape[:2], bool)
    inside[border:-border, border:-border] = True

    def psnr(where):
        error = np.mean((clean[where] - estimate[where]) ** 2)
        return float(10 * np.log10(1.0 / error)) if error > 0 else float("inf")

    return psnr(~inside), psnr(inside)


def scored_row(image, task, method, clean, estimate, seconds, weight=None) -> dict:
    from tvrestore.evaluation.metrics import quality

    border, interior = band_psnr(clean, estimate)
    psnr, ssim = quality(clean, estimate)
    return dict(
        image=image, task=task, method=method, psnr=psnr, ssim=ssim,
        border_psnr=border, interior_psnr=interior, seconds=seconds, weight=weight,
    )


def median_seconds(run: Callable[[], object], repeat: int) -> tuple[object, float]:
    output = run()  # warm-up: tvrestore compiles here
    times = []
    for _ in range(repeat):
        start = time.perf_counter()
        output = run()
        times.append(time.perf_counter() - start)
    return output, statistics.median(times)


def run_task_bench(tasks: str, images, size: int = 240, repeat: int = 3, seed: int = 0,
                   progress: Callable[[str], None] = lambda line: None) -> dict:
    """Run the cases of ``tasks`` on ``images``; see the module docstring.

    Parameters
    ----------
    tasks : {"deblur", "inpaint", "upscale", "all"}
    images : sequence of str
        ``skimage.data`` names.
    size : int
        Side of the observed image.
    repeat : int
        Timed runs per method, after a warm-up.

    Returns
    -------
    dict
        ``{"tasks": {...}, "rows": [TaskRow as dict, ...]}``.
    """
    from tvrestore.evaluation.baselines import restoration_baselines
    from tvrestore.api import restore

    if tasks not in TASK_GROUPS:
        raise TVRestoreError(f"--task {tasks!r}: expected one of {', '.join(TASK_GROUPS)}")
    rows = []
    for task in TASK_GROUPS[tasks]:
        for image in images:
            progress(f"{task} on {image} ({size}x{size})")
            degraded, psf, upscale = make_task_case(image, task, size, seed)
            observed = degraded.observed.astype(np.float32)

            def ours():
                return restore(observed, psf=psf, mask=degraded.mask, upscale=upscale)

            (restored, result), seconds = median_seconds(ours, repeat)
            case_rows = [scored_row(image, task, METHOD_TVRESTORE, degraded.clean,
                                 np.clip(restored.astype(np.float64), 0, 1),
                                 result.solve_seconds + result.weight_search_seconds,
                                 weight=result.weight)]
            for baseline in restoration_baselines(psf=psf, mask=degraded.mask, upscale=upscale):
                unit = np.clip(degraded.observed, 0, 1)
                estimate, seconds = median_seconds(lambda: baseline.solve(unit), repeat)
                case_rows.append(scored_row(image, task, baseline.method, degraded.clean,
                                         estimate, seconds))
            reference = next((row for row in case_rows if "unsupervised_wiener" in row["method"]),
                             case_rows[1] if len(case_rows) > 1 else case_rows[0])
            rows.extend(asdict(TaskRow(**row, ratio=row["seconds"] / reference["seconds"]))
                        for row in case_rows)
    return {"tasks": {task: dict(zip(("psf", "upscale", "missing_fraction", "noise_sigma"),
                                     TASK_CASES[task])) for task in TASK_GROUPS[tasks]},
            "size": size, "seed": seed, "repeat": repeat, "rows": rows}


def format_task_report(report: dict) -> str:
    """Markdown tables, one per task, with tvrestore's gain over the best baseline."""
    lines = []
    for task, settings in report["tasks"].items():
        rows = [row for row in report["rows"] if row["task"] == task]
        lines.append(f"\n{task}: {report['size']}x{report['size']} observed, "
                     + ", ".join(f"{key} {value}" for key, value in settings.items()
                                 if value not in (None, 0, 0.0, 1)))
        lines.append("| image | method | PSNR | SSIM | border PSNR | interior PSNR "
                     "| seconds | x ref |")
        lines.append("|---|---|---:|---:|---:|---:|---:|---:|")
        gains = []
        for image in dict.fromkeys(row["image"] for row in rows):
            mine = [row for row in rows if row["image"] == image]
            for row in mine:
                lines.append(f"| {image} | {row['method']} | {row['psnr']:.2f} | {row['ssim']:.4f} "
                             f"| {row['border_psnr']:.2f} | {row['interior_psnr']:.2f} "
                             f"| {row['seconds']:.3f} | {row['ratio']:.2f} |")
            ours, others = mine[0], mine[1:]
            if others:
                gains.append(ours["psnr"] - max(row["psnr"] for row in others))
        if gains:
            lines.append(f"\ntvrestore minus the best scikit-image method: mean "
                         f"{statistics.mean(gains):+.2f} dB, from {min(gains):+.2f} "
                         f"to {max(gains):+.2f} dB")
    return "\n".join(lines)
