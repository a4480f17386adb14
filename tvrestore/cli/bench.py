"""``tvrestore bench``: speed and accuracy against scikit-image, measured on this machine."""

from __future__ import annotations

import functools

from pathlib import Path

import click

from tvrestore.cli.params import (PATH, cache_options, check_record_paths, checked, comma_list,
                                  configure_cache, tolerance_option)
from tvrestore.errors import TVRestoreError


BENCH_EXAMPLES = """\b
Examples:
  tvrestore bench                                  the headline table (512x512, sigma 25)
  tvrestore bench --images camera --repeat 5 --json bench.json
  tvrestore bench --images camera --sweep resolution --memory
  tvrestore bench --task all --images camera,astronaut,coins   restoration vs skimage
  tvrestore bench --images camera --sweep resolution --plot plots/
"""


# The largest bench image side: a 8192x8192 float32 image is 256 MiB, and
# the bench keeps several copies.
_MAX_BENCH_SIZE = 8192


def _command_line(ctx: click.Context) -> str:
    """The command as given (options normalised; defaults left out, as typed)."""
    parts = ["tvrestore", ctx.info_name]
    for param in ctx.command.params:
        value = ctx.params[param.name]
        if ctx.get_parameter_source(param.name) is not click.core.ParameterSource.COMMANDLINE:
            continue
        parts.append(param.opts[0])
        if value is not True:
            values = value if isinstance(value, list) else [value]
            parts.append(",".join(format(v, "g") if isinstance(v, float) else str(v) for v in values))
    return " ".join(parts)


@click.command("bench", epilog=BENCH_EXAMPLES)
@click.option("--images", default="camera,astronaut,coins", show_default=True,
              metavar="NAME[,NAME...]", callback=comma_list(str),
              help="skimage.data images, comma-separated (also moon, coffee, chelsea, brick, "
                   "grass, gravel, page, text, rocket, ...).")
@click.option("--size", "sizes", default="512", show_default=True, metavar="N[,N...]",
              callback=comma_list(int, 8, _MAX_BENCH_SIZE),
              help="Sides of the square test images (centre square, resized), comma-separated.")
@click.option("--sigma", "sigmas", default="25", show_default=True, metavar="S[,S...]",
              callback=comma_list(float, 0, 255),
              help="Gaussian noise levels in 1/255 units, comma-separated.")
@click.option("--weight", type=click.FloatRange(min=0, min_open=True), default=0.07,
              show_default=True, help="TV weight w for every method.")
@click.option("--color", type=click.Choice(["channelwise", "vectorial"]), default="channelwise",
              show_default=True,
              help="Colour TV for tvrestore and the objective; channelwise is what skimage solves.")
@click.option("--repeat", type=click.IntRange(min=1), default=3, show_default=True,
              help="Timed runs per method (after a warm-up); the median is reported.")
@click.option("--seed", type=int, default=0, show_default=True, help="Noise seed.")
@click.option("--exact-gap", type=float, callback=checked(tolerance_option), default=1e-4,
              show_default=True, help="Certified gap of tvrestore's exact mode (pdhg).")
@click.option("--reference-gap", type=float, callback=checked(tolerance_option), default=1e-6,
              show_default=True, help="Certified gap of the exact reference gaps are measured to.")
@click.option("--bandwidth-mb", type=click.IntRange(min=1, max=16384), default=256,
              show_default=True,
              help="Array size (MiB) of the copy-bandwidth measurement.")
@click.option("--sweep", type=click.Choice(["resolution"]),
              help="Also run the resolution sweep: the plain recipe (Keras Adam, no auto-scaling) "
                   "next to tvrestore, camera, sigma 25.")
@click.option("--sweep-sizes", default="128,256,512,1024,2048,4096", show_default=True,
              metavar="N[,N...]", callback=comma_list(int, 8, _MAX_BENCH_SIZE),
              help="Sizes of the resolution sweep.")
@click.option("--plain-iter", type=click.IntRange(min=1), default=500, show_default=True,
              help="Iterations of the plain recipe in the sweep.")
@click.option("--memory", is_flag=True,
              help="Also measure peak RSS restoring one --memory-size grey image in a fresh process.")
@click.option("--memory-size", type=click.IntRange(min=8, max=_MAX_BENCH_SIZE), default=4096,
              show_default=True,
              help="Side of the memory measurement's image.")
@click.option("--task", type=click.Choice(["deblur", "inpaint", "upscale", "all", "poisson"]),
              help="Instead of denoising, measure a restoration task against scikit-image's "
                   "methods for it, on seeded degradations (--size defaults to 240 here). "
                   "poisson: photon counts at peaks 1, 5, 30, 100, with and without a blur, "
                   "against Anscombe + chambolle and richardson_lucy at their best.")
@click.option("--json", "json_path", type=PATH,
              help="Write everything measured here as JSON.")
@click.option("--plot", "plot_dir", type=PATH, metavar="DIR",
              help="Also measure the gap against time on the first case and draw PNG plots "
                   "in DIR (created if missing): gap_vs_time.png and, with --sweep, "
                   "resolution_sweep.png.")
@cache_options
@click.pass_context
def bench_command(ctx, images, sizes, sigmas, weight, color, repeat, seed, exact_gap,
                  reference_gap, bandwidth_mb, sweep, sweep_sizes, plain_iter, memory,
                  memory_size, task, json_path, plot_dir, cache_dir, no_cache) -> None:
    """Measure speed and accuracy against skimage on its bundled images, with seeded noise."""
    import json

    configure_cache(cache_dir, no_cache)

    from tvrestore.io.files import write_text

    from tvrestore.bench.denoise import run_bench
    from tvrestore.bench.formatting import format_report
    from tvrestore.bench.machine import machine_info

    check_record_paths({"json": json_path})
    if plot_dir is not None and (plot_dir.exists() and not plot_dir.is_dir()
                                 or not plot_dir.parent.is_dir()):
        raise click.UsageError(f"{plot_dir}: not a directory, nor one that can be created")
    if plot_dir is not None:
        from tvrestore.backend.mpl import check_matplotlib_installed

        try:
            check_matplotlib_installed("--plot")
        except TVRestoreError as err:
            raise click.UsageError(str(err)) from err
    if task is not None:
        from tvrestore.bench import tasks as bench_tasks

        if ctx.get_parameter_source("sizes") is not click.core.ParameterSource.COMMANDLINE:
            sizes = [240]
        try:
            if task == "poisson":
                from tvrestore.bench.counts import run_counts_bench as run
            else:
                run = functools.partial(bench_tasks.run_task_bench, task)
            report = run(images, size=sizes[0], repeat=repeat, seed=seed,
                         progress=lambda line: click.echo(f"... {line}", err=True))
        except TVRestoreError as err:
            raise click.UsageError(str(err)) from err
        report = {"command": _command_line(ctx), "machine": machine_info(), **report}
        if json_path is not None:
            write_text(json_path, json.dumps(report, indent=2) + "\n")
        click.echo(bench_tasks.format_task_report(report))
        return
    try:
        report = run_bench(
            images=images, sizes=sizes, sigmas=sigmas, weight=weight, color=color,
            repeat=repeat, seed=seed, exact_gap=exact_gap, reference_gap=reference_gap,
            bandwidth_mb=bandwidth_mb, sweep_sizes=sweep_sizes if sweep else None,
            plain_iter=plain_iter, memory_size=memory_size if memory else None,
            series=plot_dir is not None,
            progress=lambda line: click.echo(f"... {line}", err=True),
        )
        report = {"command": _command_line(ctx), **report}
        if json_path is not None:
            write_text(json_path, json.dumps(report, indent=2) + "\n")
        plots = [] if plot_dir is None else _bench_plots(report, plot_dir)
    except TVRestoreError as err:
        raise click.UsageError(str(err)) from err
    click.echo(format_report(report))
    for path in plots:
        click.echo(f"plot: {path}")


def _bench_plots(report: dict, directory: Path) -> list[Path]:
    """The bench's plots in `directory`: the first case's gap against time, the sweep."""
    from tvrestore.viz.plots import plot_gap_vs_time, plot_resolution_sweep

    directory.mkdir(exist_ok=True)
    series = report["series"]
    gap_plot = directory / "gap_vs_time.png"
    plot_gap_vs_time(
        gap_plot, {method: (run["seconds"], run["gap"]) for method, run in series["methods"].items()},
        title=f"gap against time: {series['image']} {series['size']}x{series['size']}, "
              f"sigma {series['sigma'] * 255:g}/255, w {report['settings']['weight']:g}",
    )
    written = [gap_plot]
    if report["sweep"]:
        sweep_plot = directory / "resolution_sweep.png"
        plot_resolution_sweep(sweep_plot, report["sweep"]["rows"],
                              plain_gap_target=report["sweep"]["plain_gap_target"])
        written.append(sweep_plot)
    return written
