"""The restore command's three run paths: one image, one image in tiles, a batch.

Each plans and checks everything that needs no solve first (the plan's
guards in :mod:`tvrestore.runs.plan`), then restores, writes the records
(report, gallery) and prints through :mod:`tvrestore.cli.console`.
"""

from __future__ import annotations

import contextlib
import functools
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING

import click

from tvrestore.cli import console
from tvrestore.errors import TVRestoreError

if TYPE_CHECKING:
    from tvrestore.runs.report import ReportEntry


def needs_tiles(input_path: Path, tile: int | None) -> bool:
    """The lazy tiled path: asked for (--tile), a zarr, or a TIFF beyond the memory budget
    whose stored chunks are within it (from its header).

    Any other image beyond the budget takes the single path, whose plan
    (:func:`tvrestore.runs.plan.route`) decodes a denoising whole and restores it in tiles.
    """
    from tvrestore.io.lazy import is_image_shape, is_zarr
    from tvrestore.runs.plan import fits_in_memory, stored_header

    if tile is not None or is_zarr(input_path):
        return True
    try:
        stored = stored_header(input_path)
    except TVRestoreError:
        return False  # the plain path reports what is wrong with it
    if stored is None or not is_image_shape(stored.shape):
        return False  # not an image the tiles could hold: the plain path refuses it
    return not fits_in_memory(stored.shape, stored.dtype)


def _check_whole_image_options(input_path, reference, compare, written) -> None:
    """--reference, --compare, --figure and --gallery need the whole image: usage errors for tiles.

    Before any work, for an image restored in tiles (asked for, or beyond
    the whole-image budget): scoring, comparing and drawing would each take
    the memory the tiles save.
    """
    asked = [name for name, given in (
        ("--reference", reference is not None), ("--compare", compare),
        ("--figure", written["figure"] is not None), ("--gallery", written["gallery"] is not None),
    ) if given]
    if asked:
        raise click.UsageError(
            f"{input_path}: restored in tiles, so {' and '.join(asked)} cannot be used (they "
            "need the whole image: restore it whole, without --tile and within --max-pixels)")


def restore_tiled(input_path, output, reference, compare, overwrite, quiet, options,
                   written, tile, halo, cluster=None) -> None:
    from tvrestore.runs import plan
    from tvrestore.runs.naming import default_output_path

    _check_whole_image_options(input_path, reference, compare, written)
    job = plan.FileJob(input=input_path, output=output or default_output_path(input_path),
                       overwrite=overwrite)
    try:
        # The single path's plan and guards, before any work.
        plan.check_tiled(job, written)
        from tvrestore.runs.tiles import restore_tiled_file

        options = _tile_options(options)
        with console.elapsed_line(f"restoring {input_path} in tiles",
                           show=not quiet and sys.stderr.isatty()):
            with _cluster_client(cluster) as client:
                entry = restore_tiled_file(job, options, tile=tile, halo=halo,
                                           scheduler="synchronous" if client is None else client)
        _write_records([entry], written)
    except TVRestoreError as err:
        raise click.UsageError(str(err)) from err
    if not quiet:
        click.echo(console.summary(entry))


def _tile_options(options):
    """The options of a tiled restore: tiles solved exactly unless --solver is named.

    Without --solver, pdhg to a certified gap of tiles.TILE_GAP (or --gap if
    named): the default halo keeps the tiles within half an 8-bit step of the
    whole-image minimizer only if each tile is solved that closely
    (docs/scale.md).
    """
    from dataclasses import asdict, replace

    from tvrestore.runs.tiles import exact_tile_options

    ctx = click.get_current_context()
    named = {name: ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
             for name in ("solver", "gap")}
    kwargs = {key: value for key, value in asdict(options).items()
              if key != "weight" and named.get(key, True)}
    return replace(options, **exact_tile_options(kwargs))


def restore_one(input_path, output, reference, compare, overwrite, quiet, options,
                 written, zoom, degradation) -> None:
    from tvrestore.runs import plan
    from tvrestore.runs.naming import default_output_path

    files = plan.degradation_files(Path(input_path.name), psf=degradation["psf"],
                                   psf_dir=degradation["psf_dir"], mask=degradation["mask"],
                                   mask_dir=degradation["mask_dir"])
    job = plan.FileJob(input=input_path, output=output or default_output_path(input_path),
                       reference=reference, compare=compare, overwrite=overwrite,
                       **files, upscale=degradation["upscale"])
    try:
        # Everything that needs no solve, before TensorFlow loads: a run
        # that cannot succeed fails in milliseconds.
        header, route = plan.check_single(job, written)
        if route.in_tiles:
            _check_whole_image_options(input_path, reference, compare, written)
        if zoom is not None:
            from tvrestore.viz.figures import check_zoom

            try:
                check_zoom(zoom, header.shape)
            except TVRestoreError as err:
                raise TVRestoreError(f"--zoom for {input_path}: {err}") from err
        from tvrestore.runs.batch import restore_file

        with console.elapsed_line(f"restoring {input_path}", show=not quiet and sys.stderr.isatty()):
            entry = restore_file(job, options, draw=_figure_hook(written["figure"], zoom),
                                 tile_options=_tile_options(options))
        _write_records([entry], written)
    except TVRestoreError as err:
        raise click.UsageError(str(err)) from err
    if not quiet:
        click.echo(console.summary(entry))
        console.echo_drawn(written)


def is_volume_input(input_path: Path, axes: str | None, spacing) -> bool:
    """The volume path: a TIFF stack, an OME-Zarr or a zarr volume (from its header), or a
    TIFF or zarr given --axes or --spacing."""
    from tvrestore.io.volumes import is_volume_file
    from tvrestore.io.zarr_volumes import is_zarr_node

    tiff = input_path.suffix.lower() in (".tif", ".tiff") and not input_path.is_dir()
    return (tiff or is_zarr_node(input_path)) and (
        axes is not None or spacing is not None or is_volume_file(input_path))


def refuse_for_volumes(input_path: Path, *, tile, workers, scheduler) -> None:
    """Usage errors for what a volume cannot take, before any work: a cluster without --tile."""
    asked = [name for name, given in (
        ("--workers", workers is not None), ("--scheduler", scheduler is not None),
    ) if given]
    if asked and tile is None:
        raise click.UsageError(
            f"{input_path}: a volume is restored on a cluster in blocks; "
            f"{' and '.join(asked)} need --tile")


def restore_volume(input_path, output, reference, compare, overwrite, quiet, options, written,
                   zoom, axes, spacing, degradation, tile=None, halo=None, cluster=None) -> None:
    """One volume: planned from its header before TensorFlow loads, restored, written back.

    A reference, --compare and --figure at --zoom (whose centre is the
    point the orthogonal slices go through) are checked with the plan.
    With ``tile``, in N-D blocks (:func:`tvrestore.runs.volumes.restore_volume_tiled`),
    on a Dask cluster if ``cluster`` holds ``workers`` or ``scheduler``
    (and ``scheduler_timeout``).
    """
    from tvrestore.runs import plan
    from tvrestore.runs.naming import default_output_path
    from tvrestore.runs.volumes import plan_volume, restore_volume_file, restore_volume_tiled

    if degradation["psf_dir"] is not None or degradation["mask_dir"] is not None:
        raise click.UsageError(f"{input_path}: a volume takes one --psf and one --mask, "
                               "not --psf-dir or --mask-dir")
    if tile is not None:
        _check_whole_image_options(input_path, None, False, written)
    job = plan.FileJob(input=input_path, output=output or default_output_path(input_path),
                       reference=reference, compare=compare, overwrite=overwrite,
                       psf=degradation["psf"], mask=degradation["mask"],
                       upscale=degradation["upscale"])
    try:
        plan.check_distinct([job], written)
        plan.check_not_nested(job, written)  # a zarr is a directory: no report inside it
        volume_plan = plan_volume(job, axes, spacing, noise=options.noise, tile=tile, halo=halo,
                                  weight=options.weight)
        if zoom is not None:
            from tvrestore.viz.figures import check_zoom

            letters, shape = volume_plan.axes.letters, volume_plan.header.shape
            try:
                check_zoom(zoom, (shape[letters.index("Y")], shape[letters.index("X")]))
            except TVRestoreError as err:
                raise TVRestoreError(f"--zoom for {input_path}: {err}") from err
        if volume_plan.note is not None:
            click.echo(f"Note: {volume_plan.note}", err=True)
        draw = None
        if written["figure"] is not None:
            from tvrestore.viz.volume_figure import volume_figure

            draw = functools.partial(volume_figure, written["figure"], zoom=zoom)
        how = "" if tile is None else " in blocks"
        with console.elapsed_line(f"restoring {input_path}{how}",
                                  show=not quiet and sys.stderr.isatty()):
            if tile is None:
                entry = restore_volume_file(job, options, volume_plan, draw=draw)
            else:
                with _cluster_client(cluster) as client:
                    entry = restore_volume_tiled(job, _tile_options(options), volume_plan,
                                                 tile=tile, halo=halo, client=client)
        _write_records([entry], written)
    except TVRestoreError as err:
        raise click.UsageError(str(err)) from err
    if not quiet:
        click.echo(console.summary(entry))
        console.echo_drawn(written)


@contextlib.contextmanager
def _cluster_client(cluster: dict | None):
    """A Dask client of ``--workers`` or ``--scheduler`` (:func:`tvrestore.runs.cluster.connect`),
    or None to run here."""
    if not cluster or (cluster.get("workers") is None and cluster.get("scheduler") is None):
        yield None
        return
    from tvrestore.runs.cluster import connect

    with connect(**cluster) as client:
        yield client


def _figure_hook(figure: Path | None, zoom):
    """The drawing hook of :func:`tvrestore.runs.batch.restore_file`: --figure at --zoom, or None."""
    if figure is None:
        return None
    from tvrestore.viz.figures import restoration_figure

    return functools.partial(restoration_figure, figure, zoom=zoom)


def _write_records(entries: list[dict], written: dict) -> None:
    """The report and the gallery, each if asked for."""
    from tvrestore.runs.report import write_report

    if written["report"] is not None:
        write_report(written["report"], entries)
    if written["gallery"] is not None:
        from tvrestore.viz.gallery import write_gallery

        # --gallery-assets is read here, not passed along every path that writes records.
        assets = click.get_current_context().params.get("gallery_assets")
        write_gallery(written["gallery"], entries, assets=assets)


def restore_many(inputs, output, reference, compare, overwrite, quiet, options,
                  pattern, batch_size, start, written, degradation, workers=None,
                  scheduler=None, scheduler_timeout=None, axes=None, spacing=None) -> None:
    """A batch: 2-D images grouped by shape, volumes (TIFF stacks, zarr volumes) one by one.

    ``axes`` and ``spacing`` (``--axes``, ``--spacing``) apply to every
    volume of the batch; a batch with none is a usage error for them.
    """
    from tvrestore.runs.plan import check_distinct, check_not_nested, plan_jobs
    from tvrestore.runs.report import summarise
    from tvrestore.runs.volumes import VolumeSettings

    try:
        jobs = plan_jobs(inputs, output, pattern=pattern, reference_dir=reference,
                         compare=compare, overwrite=overwrite, **degradation)
        check_distinct(jobs, written)
        for job in jobs:
            if job.volume:
                check_not_nested(job, written)  # a zarr is a directory: no report inside it
    except TVRestoreError as err:
        raise click.UsageError(str(err)) from err
    if (axes is not None or spacing is not None) and not any(job.volume for job in jobs):
        raise click.UsageError("--axes and --spacing are for volumes, and the batch has none "
                               "(TIFF stacks, OME-TIFF, OME-Zarr, zarr volumes)")
    volume_settings = VolumeSettings(axes=axes, spacing=spacing)
    show_progress = not quiet and sys.stderr.isatty()
    done: dict[int, ReportEntry] = {}
    interrupted: KeyboardInterrupt | None = None
    bar = click.progressbar(length=len(jobs), label="restoring", file=sys.stderr,
                            show_pos=True, show_eta=True) if show_progress else None

    def on_entry(index: int, entry: ReportEntry) -> None:
        done[index] = entry
        if bar is not None:
            bar.update(1)
        elif entry.error is not None:
            console.echo_error(entry.error)
        elif not quiet:
            click.echo(console.batch_line(entry))

    with bar if bar is not None else contextlib.nullcontext():
        try:
            if workers is None and scheduler is None:
                from tvrestore.runs.batch import run_batch

                run_batch(jobs, options, batch_size=batch_size, on_entry=on_entry,
                          tile_options=_tile_options(options), volume_settings=volume_settings)
            else:
                _run_on_cluster(jobs, options, batch_size, on_entry, workers, scheduler,
                                scheduler_timeout, volume_settings)
        except KeyboardInterrupt as err:
            interrupted = err
    entries = [done[index] for index in sorted(done)]
    if bar is not None:
        for entry in entries:
            if entry.error is not None:
                console.echo_error(entry.error)
    try:
        _write_records(entries, written)
    except TVRestoreError as err:
        raise click.UsageError(str(err)) from err
    summary = summarise(entries, time.perf_counter() - start)
    click.echo(console.batch_summary(summary, len(jobs), interrupted is not None))
    console.echo_drawn(written)
    if interrupted is not None:
        raise click.Abort() from interrupted
    click.get_current_context().exit(1 if summary.failed else 0)


def _run_on_cluster(jobs, options, batch_size, on_entry, workers, scheduler,
                    scheduler_timeout, volume_settings) -> None:
    from tvrestore.runs.cluster import run_batch_on_cluster

    try:
        run_batch_on_cluster(jobs, options, workers=workers, scheduler=scheduler,
                             scheduler_timeout=scheduler_timeout,
                             batch_size=batch_size, on_entry=on_entry,
                             tile_options=_tile_options(options),
                             volume_settings=volume_settings)
    except TVRestoreError as err:
        raise click.UsageError(str(err)) from err
