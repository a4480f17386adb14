r"""scikit-image's answers to each restoration task, for ``--compare``.

scikit-image has no TV method for blur, missing pixels or low resolution,
so each task is compared with what a scikit-image user would reach for:

``deblur`` (``--psf``)
    ``unsupervised_wiener`` (a Wiener-Hunt deconvolution whose
    regularisation is sampled, seeded here) and ``richardson_lucy`` with 30
    iterations. Both filter by FFT and so assume a periodic image: at the
    border of a photograph they ring, which is much of what they lose.
``inpaint`` (``--mask``)
    ``inpaint_biharmonic``.
impulse noise (``--noise impulse``)
    The median filter, 3x3, 5x5 and 7x7 (:func:`impulse_baselines`),
    ``scipy.ndimage.median_filter`` channel by channel with mirrored
    borders: what a user reaches for against salt and pepper.
``upscale`` (``--upscale K``)
    ``skimage.transform.rescale`` by K, orders 3 (bicubic) and 1 (bilinear).
photon counts (``--noise poisson``)
    The generalized Anscombe transform, ``denoise_tv_chambolle`` and the
    exact unbiased inverse (:mod:`tvrestore.tuning.counts`), and for a
    PSF ``richardson_lucy`` on the counts (:func:`counts_baselines`).
compositions
    The chain that applies one call per degradation, in the order that
    undoes the forward model ``u -> blur -> bin -> mask``: fill the missing
    pixels, then resize, then deconvolve on the fine grid.

Every method takes the observed image in [0, 1] intensity units, float64,
``(H, W)`` or ``(H, W, C)``, and returns an estimate of the output's shape
(``(K H, K W[, C])``). Colour is handled channel by channel, as
scikit-image's deconvolutions are 2-D. Outputs are clipped to [0, 1] like
the images tvrestore writes.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from tvrestore.options import task_name

__all__ = [
    "Baseline", "MEDIAN_SIZES", "RICHARDSON_LUCY_ITERATIONS", "anscombe_chambolle",
    "counts_baselines", "impulse_baselines", "restoration_baselines", "task_name",
]

RICHARDSON_LUCY_ITERATIONS = 30
# The median filters' sides: the best of them is the baseline for impulses.
MEDIAN_SIZES = (3, 5, 7)
# unsupervised_wiener samples its regularisation (a Gibbs sampler): one seed
# keeps a comparison reproducible.
_WIENER_SEED = 0


@dataclass(frozen=True)
class Baseline:
    """One scikit-image method (or chain) for a task.

    Attributes
    ----------
    method : str
        The name printed in the comparison table.
    solve : callable
        ``observed (H, W[, C]) float64 in [0, 1] -> estimate (K H, K W[, C])``
        (in counts for :func:`counts_baselines`).
    weight : float or None
        The method's own weight parameter, when it has one.
    """

    method: str
    solve: Callable[[np.ndarray], np.ndarray]
    weight: float | None = None


def anscombe_chambolle(counts: np.ndarray, weight: float) -> np.ndarray:
    r"""Counts denoised through the Anscombe transform: :math:`\mathcal{I}(\mathrm{TV}_W(2\sqrt{y + 3/8}))`.

    ``weight`` is ``denoise_tv_chambolle``'s :math:`W`, in the transform's
    units (noise of unit variance); colour channel by channel.
    """
    from skimage.restoration import denoise_tv_chambolle

    from tvrestore.tuning.counts import anscombe, inverse_anscombe

    counts = np.asarray(counts, np.float64)
    axis = -1 if counts.ndim == 3 and counts.shape[2] > 1 else None
    stabilized = denoise_tv_chambolle(anscombe(counts), weight=weight, channel_axis=axis)
    return inverse_anscombe(stabilized)


def counts_baselines(weight: float, mean_count: float, psf: np.ndarray | None = None,
                     route: str = "kl") -> list[Baseline]:
    r"""The baselines for photon counts: Anscombe + chambolle, and ``richardson_lucy`` for a PSF.

    Anscombe + chambolle runs at tvrestore's own weight on the "anscombe"
    ``route`` (the same problem), else at :math:`W = w \sqrt{\bar y} / c`,
    the chambolle weight that tvrestore's rule maps to the KL weight :math:`w`
    (:func:`tvrestore.tuning.autoweight.choose_poisson_weights`; the
    search's own :math:`W` when ``w`` was "auto"); none at :math:`w = 0`.
    ``richardson_lucy`` runs :data:`RICHARDSON_LUCY_ITERATIONS` iterations
    on the counts (not clipped to [0, 1]). Both take and return counts.
    """
    from skimage.restoration import richardson_lucy

    from tvrestore.tuning.autoweight import POISSON_WEIGHT_FACTOR

    baselines = []
    if weight > 0:
        chambolle_weight = (weight if route == "anscombe" else
                            weight * np.sqrt(max(mean_count, 1e-3)) / POISSON_WEIGHT_FACTOR)
        baselines.append(Baseline(
            "Anscombe + skimage chambolle",
            lambda counts: anscombe_chambolle(counts, chambolle_weight), chambolle_weight))
    if psf is not None:
        baselines.append(Baseline(
            f"skimage richardson_lucy {RICHARDSON_LUCY_ITERATIONS}",
            lambda counts: _per_channel(np.maximum(counts, 0), lambda plane: richardson_lucy(
                plane, psf, num_iter=RICHARDSON_LUCY_ITERATIONS, clip=False))))
    return baselines


def restoration_baselines(psf: np.ndarray | None = None, mask: np.ndarray | None = None,
                          upscale: int = 1) -> list[Baseline]:
    """scikit-image's methods for the task that ``psf``, ``mask`` and ``upscale`` define.

    Parameters
    ----------
    psf : np.ndarray, shape (kh, kw), optional
        The blur on the output (fine) grid, summing to 1.
    mask : np.ndarray of bool, shape (H, W), optional
        True where an observed pixel is missing.
    upscale : int
        The binning factor K (1: none).

    Returns
    -------
    list of Baseline
        Empty for pure denoising (see :mod:`tvrestore.evaluation.compare` for that).
    """
    # Imported here: skimage.restoration loads scipy.stats (about 0.5 s).
    from skimage.restoration import inpaint_biharmonic, richardson_lucy, unsupervised_wiener
    from skimage.transform import rescale

    def fill(image):
        if mask is None or not mask.any():
            return image
        axis = -1 if image.ndim == 3 else None
        return inpaint_biharmonic(image, mask, channel_axis=axis)

    def resize(order):
        def resized(image):
            if upscale == 1:
                return image
            axis = -1 if image.ndim == 3 else None
            return rescale(image, upscale, order=order, mode="edge", anti_aliasing=False,
                           channel_axis=axis)
        return resized

    def wiener(image):
        return _per_channel(image, lambda plane: unsupervised_wiener(
            plane, psf, clip=False, rng=_WIENER_SEED)[0])

    def lucy(image):
        # Richardson-Lucy needs non-negative data; noise can dip below 0.
        return _per_channel(np.clip(image, 0, None), lambda plane: richardson_lucy(
            plane, psf, num_iter=RICHARDSON_LUCY_ITERATIONS, clip=False))

    fills = [] if mask is None else ["biharmonic fill"]
    deconvolutions = [("", None)]
    if psf is not None:
        deconvolutions = [("unsupervised_wiener", wiener),
                          (f"richardson_lucy {RICHARDSON_LUCY_ITERATIONS}", lucy)]
        if upscale > 1:
            # Resizing alone is often better than deconvolving its output.
            deconvolutions.insert(0, ("", None))
    chains = [("", resize(1), deconvolutions)]
    if upscale > 1:
        # Bilinear only as a plain resize: bicubic is the one worth deconvolving.
        chains = [("bicubic", resize(3), deconvolutions), ("bilinear", resize(1), [("", None)])]

    baselines = []
    for resize_name, resized, steps_after in chains:
        for deconvolution_name, deconvolve in steps_after:
            steps = [*fills, resize_name, deconvolution_name]
            name = " + ".join(step for step in steps if step)
            if not name:
                continue  # pure denoising has its own baselines (tvrestore.evaluation.compare)

            def solve(observed, resized=resized, deconvolve=deconvolve):
                estimate = resized(fill(observed))
                if deconvolve is not None:
                    estimate = deconvolve(estimate)
                return np.clip(estimate, 0.0, 1.0)

            baselines.append(Baseline(method=f"skimage {name}", solve=solve))
    return baselines


def impulse_baselines() -> list[Baseline]:
    """The median filters of :data:`MEDIAN_SIZES`, for impulse noise.

    Each takes the observed image in [0, 1], ``(H, W)`` or ``(H, W, C)``,
    and returns the filtered image of the same shape.
    """
    from scipy.ndimage import median_filter

    def median(size):
        return lambda image: _per_channel(
            np.asarray(image, np.float64), lambda plane: median_filter(plane, size, mode="mirror"))

    return [Baseline(method=f"median {size}x{size}", solve=median(size)) for size in MEDIAN_SIZES]


def _per_channel(image: np.ndarray, solve_plane: Callable[[np.ndarray], np.ndarray]) -> np.ndarray:
    if image.ndim == 2:
        return solve_plane(image)
    return np.stack([solve_plane(image[..., c]) for c in range(image.shape[2])], axis=-1)
