r"""Restoring an image in overlapping tiles, for images larger than memory.

:func:`restore_array` takes a dask array and returns a lazy dask array: each
tile (one chunk) is solved with a halo of ``halo`` pixels of its neighbours
around it (:func:`dask.array.map_overlap`), and only its own pixels are
kept. At the image's own borders there is no halo, so the Neumann boundary
of the whole-image problem is kept there.

Tiling is an approximation of the global minimizer of

.. math::

    E(u) = \frac12 \sum (u - f)^2 + w \,\mathrm{TV}(u):

a tile's solution is the minimizer of E restricted to the tile and its
halo, with a free (Neumann) boundary at the halo's edge. The error this
makes at the tile's own pixels decays with their distance to that edge,
over a length that grows with the weight (TV moves a region's level by
:math:`w \times` perimeter / area, so larger weights reach further).
:func:`default_halo` is that length, measured (``benchmarks/measure_tiles.py``,
docs/scale.md).

Each tile is solved by a callable ``solve(block) -> block`` (the same shape
and dtype in and out); the default is :func:`tvrestore.denoise` at a fixed
weight. Any solve whose result at a pixel depends mostly on nearby data can
be tiled the same way, with a halo that also covers its operator's reach.

Dask is imported when these functions run, never by ``import tvrestore``.
"""

from __future__ import annotations

import functools
import math
import secrets
import threading
import time
from dataclasses import replace
from typing import TYPE_CHECKING, Callable, Iterator

import numpy as np

from tvrestore.errors import TVRestoreError
from tvrestore.options import RestoreOptions, RestoreResult
from tvrestore.io.lazy import LazyImage
from tvrestore.runs.plan import DEFAULT_TILE, FileJob, check_stored_budget
from tvrestore.tuning.counts import estimate_gain_offset

if TYPE_CHECKING:
    from tvrestore.runs import report

__all__ = ["DEFAULT_TILE", "TILE_GAP", "auto_weight", "dask_array", "default_halo",
           "exact_tile_options", "restore_array", "restore_decoded", "restore_tiled_file"]

# The halo is 3200 w^2 pixels (16 at least): measured on a 2048x2048 mosaic
# of scikit-image's photographs with noise of sigma 0.1, in 512x512 tiles
# solved exactly, the smallest halo that keeps every pixel within 1/510 of
# the whole-image minimizer is at most 8 at w = 0.05, 24 at w = 0.1 and
# above 64 at w = 0.2 (benchmarks/measure_tiles.py, docs/scale.md): it grows
# faster than the weight, about as its square.
_HALO_PER_SQUARED_WEIGHT = 3200
_MIN_HALO = 16


# Tiles are solved exactly unless a solver is named: pdhg to a certified
# relative gap of 1e-6, within 100000 iterations. The default halo's error
# (3e-4 at w = 0.1) is below half an 8-bit step only if the tile solves are
# that close to their minimizers: Adam at its default tol, tiled or whole,
# is 1.4e-2 from the minimizer at the worst pixel, pdhg at gap 1e-4 8e-3
# (docs/scale.md). Each tile's gap is certified and reported.
TILE_GAP = 1e-6
TILE_MAX_ITER = 100_000


def exact_tile_options(options: dict) -> dict:
    """``options`` of :func:`tvrestore.denoise`, with the exact tile solve when they name no solver.

    No ``solver`` (or None): ``solver="pdhg"``, ``gap`` :data:`TILE_GAP`
    unless given, ``max_iter`` :data:`TILE_MAX_ITER` unless given. A named
    solver is kept with the options as they are.
    """
    if options.get("solver") is not None:
        return dict(options)
    return {**options, "solver": "pdhg",
            "gap": TILE_GAP if options.get("gap") is None else options["gap"],
            "max_iter": TILE_MAX_ITER if options.get("max_iter") is None else options["max_iter"]}


def default_halo(weight: float) -> int:
    """Halo, in pixels, for tiles solved at TV weight ``weight``: ``max(16, 3200 w^2)``, a multiple of 8.

    TV moves a region's level by about :math:`w` times its perimeter over
    its area, so the larger the weight, the larger the regions whose level
    depends on pixels far away, and the further a tile must see. The rule
    is the measured halo that keeps the tiled solution within half an
    8-bit step (1/510) of the whole-image minimizer at every pixel, with a
    margin (docs/scale.md).
    """
    # Rounded first, so that w = 0.1 gives 32, not 33 (0.1**2 is not 0.01).
    halo = max(_MIN_HALO, math.ceil(round(_HALO_PER_SQUARED_WEIGHT * float(weight) ** 2, 6)))
    return -(-halo // 8) * 8


def restore_array(
    array,
    weight: float | str = "auto",
    *,
    halo: int | None = None,
    tile: int | None = None,
    solve: Callable[[np.ndarray], np.ndarray] | None = None,
    **options,
):
    r"""Total-variation restoration of a dask array, tile by tile, lazily.

    Parameters
    ----------
    array : dask.array.Array
        ``(H, W)`` or ``(H, W, C)``, in any dtype :func:`tvrestore.denoise`
        accepts. Its chunks are the tiles unless ``tile`` is given; the
        channel axis is kept whole.
    weight : float or "auto"
        :math:`w`, as in :func:`tvrestore.denoise`. "auto" is chosen once,
        on the central crop of at most 512x512 pixels (the noise level is
        a property of the whole image, so one crop estimates it), and then
        used for every tile.
    halo : int, optional
        Pixels of the neighbours each tile sees on every side. Default
        :func:`default_halo` of the weight.
    tile : int, optional
        Rechunk to tiles of this side first.
    solve : callable, optional
        ``solve(block) -> restored block``, same shape and dtype. Default:
        :func:`tvrestore.denoise` with ``weight`` and ``options``.
    **options
        Keyword arguments of :func:`tvrestore.denoise` (``reduction``,
        ``tv``, ``color``, ``solver``, ``max_iter``, ``tol``, ``gap``).
        Without ``solver``, each tile is solved exactly
        (:func:`exact_tile_options`: pdhg to a certified gap of
        :data:`TILE_GAP`), so that the tiled result is within half an 8-bit
        step of the whole-image minimizer at the default halo.

    Returns
    -------
    dask.array.Array
        Same shape, dtype and chunks; nothing is computed until asked.

    Raises
    ------
    TVRestoreError
        For a shape or halo this cannot tile.

    Examples
    --------
    >>> import dask.array as da, numpy as np
    >>> from tvrestore.runs.tiles import restore_array
    >>> noisy = np.clip(0.5 + 0.1 * np.random.default_rng(0).standard_normal((64, 64)), 0, 1)
    >>> lazy = restore_array(da.from_array(noisy.astype(np.float32), chunks=32), 0.1, halo=16)
    >>> lazy.chunks, bool(lazy.compute(scheduler="synchronous").std() < noisy.std())
    (((32, 32), (32, 32)), True)
    """
    import dask.array as da

    if array.ndim not in (2, 3):
        raise TVRestoreError(f"array has shape {array.shape}; expected (H, W) or (H, W, C)")
    if tile is not None:
        array = array.rechunk({0: tile, 1: tile})
    if array.ndim == 3:
        array = array.rechunk({2: -1})
    if solve is None:
        if weight == "auto":
            chosen = _auto_choice(array, RestoreOptions(**options))
            weight = chosen.weight
            options = {**options, **_routed(chosen)}
        tile_options = RestoreOptions(weight=weight, **exact_tile_options(options))
        solve = functools.partial(_denoise_block, weight=weight, options=tile_options)
        if halo is None:
            halo = default_halo(weight)
    if halo is None:
        raise TVRestoreError("give halo= with a solve of your own")
    if halo < 0:
        raise TVRestoreError(f"halo must be at least 0, got {halo}")
    # A halo beyond the image's side sees nothing more (there is no pixel
    # there), and Dask refuses it.
    depth = {0: min(halo, array.shape[0]), 1: min(halo, array.shape[1]),
             **({2: 0} if array.ndim == 3 else {})}
    return da.map_overlap(
        solve, array, depth=depth, boundary="none", trim=True, dtype=array.dtype,
        meta=np.empty((0,) * array.ndim, array.dtype),
    )


def auto_weight(array, **options) -> float:
    """The "auto" weight of :func:`tvrestore.denoise`, chosen on the central crop of at most 512x512.

    Under "poisson" it is the Anscombe route's unless ``poisson_route="kl"``:
    solve with the route the crop's result names (as :func:`restore_array` does).
    """
    return _auto_choice(array, RestoreOptions(**options)).weight


def _auto_choice(array, options: RestoreOptions, *, source=None) -> RestoreResult:
    """The result of the "auto" solve on the central crop: its weight and noise sigma.

    ``source``, when given, names the file in an error about its pixels.
    """
    return _named_denoise(_central_crop(array), "auto", options, source)[1]


def _routed(chosen: RestoreResult) -> dict:
    """The route an automatic weight was chosen for, for the tiles' solves at that weight.

    Under "poisson" the auto weight may be one of the Anscombe route's, which a
    given weight takes only when it is named (:data:`tvrestore.options.POISSON_ROUTES`).
    """
    return {} if chosen.poisson_route is None else {"poisson_route": chosen.poisson_route}


def _most_common(values: list[str]) -> str:
    """The value most tiles share (the first of equals)."""
    return max(dict.fromkeys(values), key=values.count)


def _central_crop(array) -> np.ndarray:
    """The central crop of at most 512x512 pixels of a dask array, computed."""
    height, width = array.shape[:2]
    top, left = max(0, height // 2 - 256), max(0, width // 2 - 256)
    return np.asarray(array[top: top + 512, left: left + 512].compute(scheduler="synchronous"))


def _calibrated(array, options: RestoreOptions, source) -> RestoreOptions:
    """``options`` with an "auto" gain or offset estimated once, on the central crop.

    Every tile then reads counts the same way (a tile's own estimate would
    differ from its neighbours').
    """
    if options.noise != "poisson" or "auto" not in (options.gain, options.offset):
        return options
    try:
        gain, offset = estimate_gain_offset(_central_crop(array), options.gain, options.offset)
    except TVRestoreError as err:
        raise TVRestoreError(f"{source}: {err}") from err
    return replace(options, gain=gain, offset=offset)


def _named_denoise(block: np.ndarray, weight, options: RestoreOptions, source):
    """:func:`tvrestore.denoise` of a block; an error about its pixels names ``source``."""
    from tvrestore.api import denoise_images

    try:
        return denoise_images([np.ascontiguousarray(block)], replace(options, weight=weight))[0]
    except TVRestoreError as err:
        if source is None:
            raise
        raise TVRestoreError(f"{source}: {err}") from err


def _denoise_block(block: np.ndarray, *, weight: float, options: RestoreOptions) -> np.ndarray:
    return _named_denoise(block, weight, options, None)[0]


# Results of tiles solved in this process (a Dask worker) for a run whose
# client collects them (:meth:`_RecordedDenoise.collect`), by run token.
_RECORDED: dict[str, list[RestoreResult]] = {}
_RECORDED_LOCK = threading.Lock()


class _RecordedDenoise:
    """The default tile solve, keeping each tile's :class:`RestoreResult` for the report.

    In this process the results are kept on the object; sent to Dask
    workers (a copy in each), each worker keeps its tiles' results under
    the run's token until :meth:`collect` takes them.
    """

    def __init__(self, weight: float, options: RestoreOptions, source) -> None:
        self.weight = weight
        self.options = options
        self.source = source
        self.results: list[RestoreResult] = []
        self.token = secrets.token_hex(8)
        self._lock = threading.Lock()

    def __getstate__(self) -> dict:
        return {key: value for key, value in self.__dict__.items()
                if key not in ("_lock", "results")}

    def __setstate__(self, state: dict) -> None:
        self.__dict__.update(state, results=[], _lock=threading.Lock(), sent=True)

    def __call__(self, block: np.ndarray) -> np.ndarray:
        restored, result = _named_denoise(block, self.weight, self.options, self.source)
        with self._lock:
            self.results.append(result)
        if getattr(self, "sent", False):
            with _RECORDED_LOCK:
                _RECORDED.setdefault(self.token, []).append(result)
        return restored

    def collect(self, client) -> None:
        """Add to :attr:`results` what ``client``'s workers recorded for this run."""
        for recorded in client.run(_take_recorded, self.token).values():
            self.results.extend(recorded)


def _take_recorded(token: str) -> list[RestoreResult]:
    """On a worker: the results it recorded under ``token``, forgotten there."""
    with _RECORDED_LOCK:
        return _RECORDED.pop(token, [])


def dask_array(image: LazyImage):
    """A dask array over an image read chunk by chunk (:func:`tvrestore.io.lazy.open_lazy`).

    Chunked as stored; a chunk is read when a task needs it, and one that
    cannot be read is an error naming the file.

    Raises
    ------
    TVRestoreError
        Naming the file, if its header asks more than the tiles can read
        (:func:`tvrestore.runs.plan.check_stored_budget`).
    """
    import dask.array as da

    array = image.array
    check_stored_budget(array.source, array.shape, array.dtype, array.chunks)
    return da.from_array(array, chunks=array.chunks, lock=False, asarray=False, name=False,
                         meta=np.empty((0,) * array.ndim, array.dtype))


def _bands(array, scheduler: str) -> Iterator[np.ndarray]:
    """The dask array's rows of chunks, computed one band at a time, in order.

    ``scheduler`` computes each band: "synchronous" (one chunk at a time,
    the least memory), "threads", or a distributed client's.
    """
    first = 0
    for rows in array.chunks[0]:
        yield np.asarray(array[first: first + rows].compute(scheduler=scheduler))
        first += rows


def restore_tiled_file(
    job: FileJob, options: RestoreOptions, *, tile: int | None = None, halo: int | None = None,
    scheduler="synchronous",
) -> report.ReportEntry:
    """Restore a TIFF or zarr image in tiles, reading and writing it chunk by chunk.

    A TIFF gives a tiled TIFF, a zarr a zarr (:mod:`tvrestore.io.lazy`); the
    whole image is never in memory: one band of tiles of the output, and
    the input tiles its solves read.

    Parameters
    ----------
    job : FileJob
    options : RestoreOptions
    tile : int, optional
        Tile side; default :data:`DEFAULT_TILE`, or the stored tiles when
        they are larger.
    halo : int, optional
        At most the tile side. Default :func:`default_halo` of the weight,
        up to the tile side.
    scheduler : str or distributed.Client
        The dask scheduler: "synchronous" solves one tile at a time (each
        solve uses every core, in bands); "threads" overlaps reading and
        writing with solving, at the memory of one tile per thread; a
        ``distributed.Client`` solves each band's tiles on its workers
        (they read their tiles from the file by its path, so every worker
        must see it; the command line's ``--tile`` with ``--workers`` or
        ``--scheduler``), with the in-process output, byte for byte, and
        each tile's result collected from the workers for the report.

    Returns
    -------
    ReportEntry
        Its report entry (:func:`_tiled_entry`); tiles are read while the
        output is written, so read_seconds is 0.

    Raises
    ------
    TVRestoreError
        Naming the file: what :func:`tvrestore.runs.plan.check_tiled` refuses
        and a halo beyond the tile side (both before any work), a chunk
        that cannot be read, pixels that cannot be restored (NaN), a
        failed write (which leaves no output).
    """
    from tvrestore.runs.claims import remove_leftovers
    from tvrestore.io.lazy import open_lazy, write_lazy
    from tvrestore.runs.plan import check_tiled

    start = time.perf_counter()
    check_tiled(job)
    remove_leftovers([job.output.parent])
    lazy = open_lazy(job.input)
    tile = tile or max(DEFAULT_TILE, *lazy.tile)
    if halo is not None and halo > tile:
        # A larger halo merges tiles into larger ones, up to the whole image.
        raise TVRestoreError(f"--halo {halo}: at most the tile side, {tile} "
                             "(a tile sees its neighbouring tiles, no further)")

    def tiles_for(weight: float) -> tuple[tuple[int, int], int]:
        # The measured halo, up to the tile side: a large weight's would merge tiles.
        return (tile, tile), min(default_halo(weight), tile) if halo is None else halo

    def write(restored) -> None:
        write_lazy(job.output, _bands(restored, scheduler), shape=restored.shape,
                   dtype=restored.dtype, format=lazy.format, tile=tile, overwrite=job.overwrite)

    return _tiled_entry(job, options, dask_array(lazy), tiles_for, write, start=start,
                        read_seconds=0.0,
                        client=None if isinstance(scheduler, str) else scheduler)


def restore_decoded(
    job: FileJob, options: RestoreOptions, pixels: np.ndarray, header, tile_values: int, *,
    read_seconds: float = 0.0,
) -> report.ReportEntry:
    """Restore a decoded image in tiles, in memory, and write it as its input was stored.

    For an image beyond the whole-image solve budget but within the
    decoding limits (:func:`tvrestore.runs.plan.route`): the decoded array, in
    its own dtype, is read tile by tile (:func:`restore_array` over
    ``dask.array.from_array``), each restored tile is stored into one
    output array of the same dtype, and that is written atomically by
    :func:`tvrestore.io.write_image` in the input's format and layout
    (alpha passed through, as a whole-image restore does).

    Parameters
    ----------
    job : FileJob
        Denoising only.
    options : RestoreOptions
        As given: without a solver named, see :func:`exact_tile_options`.
    pixels : numpy.ndarray
        The decoded input, ``(H, W)`` or ``(H, W, C)``.
    header : tvrestore.io.ImageHeader
        Its header, for writing as it was stored.
    tile_values : int
        The most values one tile's solve may take
        (:attr:`tvrestore.runs.plan.Route.tile_values`): the tile side is the
        largest up to :data:`DEFAULT_TILE` whose solve with the weight's
        halo fits (:func:`tvrestore.runs.plan.largest_tile`), then evened out
        so that the tiles along each side have about one size.
    read_seconds : float
        The decoding's time, for the report.

    Returns
    -------
    ReportEntry
        Its report entry (:func:`_tiled_entry`).

    Raises
    ------
    TVRestoreError
        Naming the file, for pixels that cannot be restored or a failed
        write (which leaves no output).
    """
    import dask.array as da

    from tvrestore import io
    from tvrestore.runs.plan import largest_tile

    start = time.perf_counter() - read_seconds

    def tiles_for(weight: float) -> tuple[tuple[int, int], int]:
        chosen = largest_tile(pixels.shape, tile_values, halo=default_halo(weight),
                              largest=DEFAULT_TILE)
        if chosen is None:  # the plan sized tile_values for the smallest halo
            raise TVRestoreError(f"{job.input}: no tile fits {tile_values} values")
        tile, halo = chosen
        # As many tiles per side as the largest tile needs, evened out (3000 in
        # tiles of 1760 gives two of 1504): less padding, fewer solve shapes.
        return tuple(_even_tile(side, tile) for side in pixels.shape[:2]), halo

    def write(restored) -> None:
        output = np.empty_like(pixels)
        # Tile by tile into the output: no tile is kept once stored.
        da.store(restored, output, lock=False, scheduler="synchronous")
        io.write_image(job.output, output, overwrite=job.overwrite, like=header)

    # name=False: no hash of every pixel for a graph computed once.
    array = da.from_array(pixels, chunks=-1, name=False)
    return _tiled_entry(job, options, array, tiles_for, write, start=start,
                        read_seconds=read_seconds)


def _even_tile(side: int, tile: int) -> int:
    """A tile of at most ``tile`` (a multiple of 16) cutting ``side`` into as many, even, tiles."""
    count = -(-side // tile)
    even = -(-side // count)
    return min(tile, -(-even // 16) * 16)


def _tiled_entry(
    job: FileJob, options: RestoreOptions, array,
    tiles_for: Callable[[float], tuple[tuple[int, int], int]],
    write: Callable[[object], None], *, start: float, read_seconds: float, client=None,
) -> report.ReportEntry:
    """Choose the weight, then ``tiles_for(weight)``'s ((height, width), halo); solve; ``write``.

    The one tiled restore of :func:`restore_tiled_file` and
    :func:`restore_decoded`: "auto" is chosen on the central crop
    (:func:`auto_weight`), each tile is solved by :func:`tvrestore.denoise`
    with ``options`` and recorded, and ``write`` computes the lazy result.

    Returns
    -------
    ReportEntry
        The report entry (:class:`tvrestore.runs.report.ReportEntry`), with
        ``tile`` ((height, width)) and ``halo``: iterations are the most any tile took,
        converged whether every tile did, solve_seconds and
        compile_seconds the sums over tiles; objective and loss are None
        (E of the whole is not computed); write_seconds is the time that
        is not reading, solving or choosing the weight.
    """
    from tvrestore.backend import tf as _tf
    from tvrestore.runs import report

    options = _calibrated(array, options, job.input)
    weight = options.weight
    search_seconds = 0.0
    noise_sigma = None
    if weight == "auto":
        search_start = time.perf_counter()
        chosen = _auto_choice(array, options, source=job.input)
        weight, noise_sigma = chosen.weight, chosen.noise_sigma
        options = replace(options, **_routed(chosen))
        search_seconds = time.perf_counter() - search_start
    tile, halo = tiles_for(weight)
    solve = _RecordedDenoise(weight, options, job.input)
    write(restore_array(array.rechunk({0: tile[0], 1: tile[1]}), weight, halo=halo, solve=solve))
    if client is not None:  # the tiles were solved on its workers
        solve.collect(client)
    results = solve.results
    solve_seconds = sum(result.solve_seconds for result in results)
    compile_seconds = sum(result.compile_seconds for result in results)
    total_seconds = time.perf_counter() - start
    gaps = [result.certified_gap for result in results if result.certified_gap is not None]
    return report.entry(
        job,
        status=report.RESTORED,
        shape=tuple(array.shape),
        dtype=str(array.dtype),
        task="denoise",
        weight=weight,
        weight_auto=options.weight == "auto",
        noise_sigma=noise_sigma,
        reduction=options.reduction,
        tv=options.tv,
        color=options.color,
        solver=options.solver,
        iterations=max(result.iterations for result in results),
        converged=all(result.converged for result in results),
        certified_gap=max(gaps) if gaps else None,
        solve_seconds=solve_seconds,
        compile_seconds=compile_seconds,
        compile_cached=None,
        weight_search_seconds=search_seconds,
        batch_size=1,
        tile=tuple(tile),
        halo=halo,
        noise=options.noise,
        gain=options.gain if options.noise == "poisson" else None,
        offset=options.offset if options.noise == "poisson" else None,
        counts_clipped=(max(result.counts_clipped for result in results)
                        if options.noise == "poisson" else None),
        # Tiles overlap by their halos: the mean of their fractions.
        impulse_fraction=(float(np.mean([result.impulse_fraction for result in results]))
                          if options.noise == "impulse" else None),
        impulse_route=(_most_common([result.impulse_route for result in results])
                       if options.noise == "impulse" else None),
        poisson_route=results[0].poisson_route if options.noise == "poisson" else None,
        read_seconds=read_seconds,
        write_seconds=max(0.0, total_seconds - read_seconds - solve_seconds - compile_seconds
                          - search_seconds),
        tensorflow_seconds=_tf.IMPORT_SECONDS,
        total_seconds=total_seconds,
    )
