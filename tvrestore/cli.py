"""The ``tvrestore`` command: parses, calls the library, prints.

Everything heavy (TensorFlow, scikit-image's solvers) is imported inside the
commands, so ``tvrestore --help`` answers at once. Errors the library raises
(:class:`TVRestoreError`) and Click's usage errors are printed as one line
on stderr with exit code 2. A batch (a directory or several inputs) goes on
past a file that fails, lists it on stderr and exits with 1.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
from pathlib import Path

import click

from tvrestore.errors import TVRestoreError

EXAMPLES = """\b
Examples:
  tvrestore noisy.png                         writes noisy_tv.png
  tvrestore noisy.png --reduction sum --weight 0.07
  tvrestore noisy.png --reference clean.png --compare --report run.json
  tvrestore scans/ -o restored/ --report run.csv    every image under scans/
  tvrestore scans/ -o restored/ --glob '*.tif' --reference clean/
  tvrestore blurred.png --psf gaussian:1.6       deblur (the image is a window of the scene)
  tvrestore photo.png --mask dead.png --psf disk:2 --upscale 2
"""


class _DefaultCommandGroup(click.Group):
    """A group whose first argument is the input of ``restore`` unless it names a command.

    ``tvrestore noisy.png`` runs ``tvrestore restore noisy.png``; errors are
    one line.
    """

    default_command = "restore"

    def resolve_command(self, ctx: click.Context, args: list[str]):
        if args and args[0] not in self.commands:
            args = [self.default_command, *args]
        return super().resolve_command(ctx, args)

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        if not args:
            # Nothing to restore: the help is the useful answer, as a usage error.
            click.echo(ctx.get_help())
            ctx.exit(2)
        # An option before any input (`tvrestore --weight 0.1 x.png`) also
        # belongs to restore; only --help and --version stay with the group.
        if args and args[0] not in self.commands and args[0] not in ("--help", "-h", "--version"):
            args = [self.default_command, *args]
        return super().parse_args(ctx, args)

    def main(self, args=None, prog_name=None, **extra):
        try:
            code = super().main(args, prog_name, standalone_mode=False, **extra)
        except click.UsageError as err:
            click.echo(f"Error: {err.format_message()}", err=True)
            sys.exit(2)
        except click.ClickException as err:
            err.show()
            sys.exit(err.exit_code)
        except click.Abort:
            click.echo("Aborted!", err=True)
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def cache_options(command):
    """--cache-dir and --no-cache, shared by the commands that compile."""
    command = click.option(
        "--no-cache", is_flag=True,
        help="Compile in this process only; keep nothing on disk.")(command)
    return click.option(
        "--cache-dir", type=click.Path(path_type=Path), metavar="DIR",
        help="Where compiled programs are kept between runs (default: $TVRESTORE_CACHE_DIR, "
             "else $XDG_CACHE_HOME/tvrestore, else ~/.cache/tvrestore).")(command)


def _configure_cache(cache_dir: Path | None, no_cache: bool) -> None:
    """Set up the compile cache before TensorFlow loads; say once if it cannot be used."""
    from tvrestore import cache

    status = cache.configure(cache_dir, enabled=not no_cache)
    if status.message is not None:
        click.echo(f"Note: {status.message}", err=True)


def _parse_weight(ctx: click.Context, param: click.Parameter, value: str) -> float | str:
    if value == "auto":
        return value
    try:
        weight = float(value)
    except ValueError:
        weight = float("nan")
    if not weight >= 0 or weight == float("inf"):
        raise click.BadParameter(f"{value!r} is not 'auto' or a number >= 0")
    return weight


@click.group(cls=_DefaultCommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tvrestore")
def main() -> None:
    """Total-variation image restoration: Adam on the image as a TensorFlow variable.

    \b
    tvrestore INPUT [OPTIONS]      restore one image (see `tvrestore restore --help`)
    tvrestore DIR... -o OUT_DIR    restore every image under DIR, mirrored in OUT_DIR
    """


@main.command("restore", epilog=EXAMPLES)
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True,
                type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="One file INPUT: the output file. A directory or several INPUTs: the "
                   "output directory (created if missing, never searched for inputs); an "
                   "image DIR/sub/a.png goes to OUT/sub/a.png, a named file to OUT/<name>. "
                   "Default: <stem>_tv.<ext> beside each input (a batch then takes "
                   "a_tv.png beside a.png for an earlier output, not an input).")
@click.option("--weight", default="auto", show_default=True, callback=_parse_weight,
              help="TV weight w (same meaning as skimage denoise_tv_chambolle's weight), "
                   "or 'auto' to set it from the estimated noise level.")
@click.option("--reduction", type=click.Choice(["mean", "sum"]), default="mean", show_default=True,
              help="Loss units seen by the optimizer; the result is the same under both.")
@click.option("--tv", type=click.Choice(["isotropic", "anisotropic"]), default="isotropic",
              show_default=True, help="TV norm across the two directions.")
@click.option("--color", type=click.Choice(["vectorial", "channelwise"]), default="vectorial",
              show_default=True, help="Couple the colour channels under one norm, or not.")
@click.option("--solver", type=click.Choice(["adam", "pdhg"]), default="adam", show_default=True,
              help="adam: Adam on the image as a TensorFlow variable. pdhg: exact mode, an "
                   "accelerated primal-dual method that stops on a certified duality gap.")
@click.option("--max-iter", type=click.IntRange(min=0),
              help="Iteration cap. Default: 2000 (adam), 20000 (pdhg).")
@click.option("--tol", type=click.FloatRange(min=0, min_open=True), default=3e-4, show_default=True,
              help="adam's stopping tolerance: relative objective decrease per 5 iterations "
                   "that counts as a plateau. Smaller is more exact and slower.")
@click.option("--gap", type=click.FloatRange(min=0, min_open=True), default=1e-4, show_default=True,
              help="pdhg's target: stop once the certified relative objective gap "
                   "(E - E*) / E* is at most this (reported as certified_gap).")
@click.option("--psf", metavar="SPEC",
              help="Deblur: the blur's PSF, gaussian:SIGMA, box:SIZE, disk:RADIUS, "
                   "motion:LENGTH,ANGLE (pixels, degrees) or a PNG/TIFF/.npy file (normalised "
                   "to sum 1). The image is taken as the 'valid' window of a larger scene.")
@click.option("--psf-dir", type=click.Path(path_type=Path), metavar="DIR",
              help="Batch: a PSF file per image, matched by relative path as --reference is.")
@click.option("--mask", type=click.Path(path_type=Path), metavar="FILE",
              help="Inpaint: an image of the input's height and width, nonzero where a pixel "
                   "is missing (its value is ignored).")
@click.option("--mask-dir", type=click.Path(path_type=Path), metavar="DIR",
              help="Batch: a mask per image, matched by relative path as --reference is.")
@click.option("--upscale", type=click.IntRange(2, 8), metavar="K",
              help="Upscale by K (2 to 8): the input is taken as the means of KxK blocks "
                   "(after the PSF, with --psf); the output is K times larger per side.")
@click.option("--reference", type=click.Path(path_type=Path),
              help="Clean image: adds PSNR and SSIM. In a batch, a directory of clean images "
                   "with the same relative paths (or the same stem and another image "
                   "extension); images without one get no score.")
@click.option("--compare", is_flag=True,
              help="Also run skimage's chambolle and bregman at the same weight and print a table "
                   "(in a batch, per-method means).")
@click.option("--report", type=click.Path(path_type=Path),
              help="Write a report here, one entry per input file: CSV if it ends in .csv, "
                   "else JSON.")
@click.option("--overwrite", is_flag=True,
              help="Replace existing outputs. Without it a batch skips images whose output "
                   "exists (resume), and a single file is an error.")
@click.option("--glob", "pattern", metavar="PATTERN",
              help="Only images in INPUT directories whose path relative to the directory "
                   "matches PATTERN (case-insensitive; * also matches /): '*.tif', 'day1/*'. "
                   "Files named as INPUT are always taken.")
@click.option("--batch-size", type=click.IntRange(min=1), default=8, show_default=True,
              help="Most images of similar size (sides rounded up to 8 sizes per octave) "
                   "restored together in one compiled call.")
@click.option("-q", "--quiet", is_flag=True,
              help="No progress bar and no per-image lines (one file: nothing on success). "
                   "Failed files and the batch summary are still printed.")
@cache_options
def restore_command(inputs, output, weight, reduction, tv, color, solver, max_iter, tol, gap,
                    psf, psf_dir, mask, mask_dir, upscale, reference, compare, report,
                    overwrite, pattern, batch_size, quiet, cache_dir, no_cache) -> None:
    """Restore INPUT (PNG, JPEG, TIFF, BMP) by total-variation denoising, deblurring
    (--psf), inpainting (--mask) and upscaling (--upscale), or any combination in one
    objective.

    INPUT may be several files and directories: directories are searched
    recursively for image files, images of similar size are restored together,
    an existing output is skipped, and a file that fails is reported while
    the rest go on. Exit code: 0 if every file was restored or skipped, 1 if
    some failed, 2 for a usage error (also: no image found).
    """
    start = time.perf_counter()  # a batch's wall time includes importing TensorFlow
    from tvrestore.options import RestoreOptions

    try:
        options = RestoreOptions(weight=weight, reduction=reduction, tv=tv, color=color,
                                 solver=solver, max_iter=max_iter, tol=tol, gap=gap)
    except TVRestoreError as err:
        raise click.UsageError(str(err)) from err
    degradation = _degradation(psf, psf_dir, mask, mask_dir, upscale)
    _configure_cache(cache_dir, no_cache)
    if report is not None and not report.parent.is_dir():
        # Checked before any work, so a bad report path leaves no output behind.
        raise click.UsageError(f"{report}: report directory does not exist")
    if len(inputs) == 1 and not inputs[0].is_dir():
        _restore_one(inputs[0], output, reference, compare, overwrite, report, quiet, options,
                     degradation)
    else:
        _restore_many(inputs, output, reference, compare, overwrite, report, quiet, options,
                      pattern, batch_size, start, degradation)


def _degradation(psf, psf_dir, mask, mask_dir, upscale) -> dict:
    """The forward-model options as plan_jobs takes them; a bad PSF spec is a usage error now."""
    from tvrestore.psf import parse_psf

    if psf is not None and psf_dir is not None:
        raise click.UsageError("give --psf or --psf-dir, not both")
    if mask is not None and mask_dir is not None:
        raise click.UsageError("give --mask or --mask-dir, not both")
    if psf is not None:
        try:
            parse_psf(psf)
        except TVRestoreError as err:
            raise click.UsageError(str(err)) from err
    if mask is not None and not mask.is_file():
        raise click.UsageError(f"{mask}: no such mask file")
    return {"psf": psf, "psf_dir": psf_dir, "mask": mask, "mask_dir": mask_dir,
            "upscale": upscale or 1}


def _restore_one(input_path, output, reference, compare, overwrite, report, quiet,
                 options, degradation) -> None:
    from tvrestore import io, plan
    from tvrestore.report import write_report

    name = Path(input_path.name)
    psf = degradation["psf"]
    if degradation["psf_dir"] is not None:
        psf = plan._matched_name(degradation["psf_dir"], name, plan._PSF_EXTENSIONS)
    mask = degradation["mask"]
    if degradation["mask_dir"] is not None:
        mask = plan._match_reference(degradation["mask_dir"], name)
    job = plan.FileJob(input=input_path, output=output or io.default_output_path(input_path),
                       reference=reference, compare=compare, overwrite=overwrite,
                       psf=psf, mask=mask, upscale=degradation["upscale"])
    try:
        # Everything that needs no solve, before TensorFlow loads: a run
        # that cannot succeed fails in milliseconds.
        plan.check_single(job, {"report": report})
        from tvrestore.batch import restore_file

        with _elapsed_line(f"restoring {input_path}", show=not quiet and sys.stderr.isatty()):
            entry = restore_file(job, options)
        if report is not None:
            write_report(report, [entry])
    except TVRestoreError as err:
        raise click.UsageError(str(err)) from err
    if not quiet:
        click.echo(_summary(entry))


def _restore_many(inputs, output, reference, compare, overwrite, report, quiet, options,
                  pattern, batch_size, start, degradation) -> None:
    from tvrestore.plan import check_distinct, plan_jobs
    from tvrestore.report import summarise, write_report

    try:
        jobs = plan_jobs(inputs, output, pattern=pattern, reference_dir=reference,
                         compare=compare, overwrite=overwrite, **degradation)
        check_distinct(jobs, {"report": report})
    except TVRestoreError as err:
        raise click.UsageError(str(err)) from err
    show_progress = not quiet and sys.stderr.isatty()
    done: dict[int, dict] = {}
    interrupted = False
    bar = click.progressbar(length=len(jobs), label="restoring", file=sys.stderr,
                            show_pos=True, show_eta=True) if show_progress else None

    def on_entry(index: int, entry: dict) -> None:
        done[index] = entry
        if bar is not None:
            bar.update(1)
        elif entry["error"] is not None:
            click.echo(f"Error: {entry['error']}", err=True)
        elif not quiet:
            click.echo(_batch_line(entry))

    with bar if bar is not None else contextlib.nullcontext(), _terminate_as_interrupt():
        try:
            from tvrestore.batch import run_batch

            run_batch(jobs, options, batch_size=batch_size, on_entry=on_entry)
        except KeyboardInterrupt:
            interrupted = True
    entries = [done[index] for index in sorted(done)]
    if bar is not None:
        for entry in entries:
            if entry["error"] is not None:
                click.echo(f"Error: {entry['error']}", err=True)
    if report is not None:
        try:
            write_report(report, entries)
        except TVRestoreError as err:
            raise click.UsageError(str(err)) from err
    summary = summarise(entries, time.perf_counter() - start)
    click.echo(_batch_summary(summary, len(jobs), interrupted))
    if interrupted:
        raise click.Abort()
    click.get_current_context().exit(1 if summary.failed else 0)


@contextlib.contextmanager
def _elapsed_line(label: str, show: bool, after_seconds: float = 1.0):
    """A line on stderr with the elapsed time, once a task has taken ``after_seconds``.

    The solver runs as one compiled call with no progress to report, so the
    line says that the run is alive and for how long; it is erased at the end.
    """
    if not show:
        yield
        return
    import threading

    done = threading.Event()
    start = time.perf_counter()

    def tick() -> None:
        if done.wait(after_seconds):
            return
        while not done.wait(0.25):
            click.echo(f"\r{label} ... {time.perf_counter() - start:.0f} s", nl=False, err=True)
        click.echo("\r\033[K", nl=False, err=True)

    ticker = threading.Thread(target=tick, daemon=True)
    ticker.start()
    try:
        yield
    finally:
        done.set()
        ticker.join()


@contextlib.contextmanager
def _terminate_as_interrupt():
    """``kill`` (SIGTERM) stops a batch as Ctrl-C does: started writes finish, the report is written."""
    def interrupt(signum, frame):
        raise KeyboardInterrupt

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


def _batch_line(entry: dict) -> str:
    """One line per file of a batch."""
    if entry["status"] == "skipped":
        return f"{entry['input']} -> {entry['output']}  skipped (output exists)"
    state = "" if entry["converged"] else ", NOT converged"
    line = (f"{entry['input']} -> {entry['output']}  weight {entry['weight']:.4g}, "
            f"{entry['iterations']} iterations{state}")
    if entry["psnr"] is not None:
        line += f", PSNR {entry['psnr']:.2f} dB"
    return line


def _batch_summary(summary, total: int, interrupted: bool) -> str:
    """The console summary of a batch."""
    finished = summary.restored + summary.skipped + summary.failed
    head = f"{total} images" if not interrupted else f"interrupted after {finished} of {total} images"
    per_image = ("" if summary.seconds_per_image is None
                 else f", {summary.seconds_per_image:.3f} s per restored image")
    lines = [f"{head}: {summary.restored} restored, {summary.skipped} skipped, "
             f"{summary.failed} failed in {summary.wall_seconds:.2f} s{per_image}"]
    if summary.scored:
        ssim = "n/a" if summary.ssim is None else f"{summary.ssim:.4f}"
        unscored = summary.restored - summary.scored
        lines.append(f"mean PSNR {summary.psnr:.2f} dB, SSIM {ssim} over {summary.scored} "
                     f"images with a reference" + (f" ({unscored} without)" if unscored else ""))
    if summary.compare:
        lines.append(_mean_compare_table(summary.compare))
    return "\n".join(lines)


def _mean_compare_table(rows: list[dict]) -> str:
    header = f"  {'method (means)':<20} {'images':>6} {'PSNR':>7} {'SSIM':>7} {'seconds':>8}"
    body = [
        f"  {row['method']:<20} {row['images']:>6} {_number(row['psnr'], '7.2f')} "
        f"{_number(row['ssim'], '7.4f')} {_number(row['seconds'], '8.3f')}"
        for row in rows
    ]
    return "\n".join([header, *body])


def _summary(entry: dict) -> str:
    """The console version of a report entry."""
    weight = f"{entry['weight']:.4g}"
    if entry["weight_auto"]:
        weight += f" (auto, noise sigma {entry['noise_sigma']:.4g})"
    if entry["solver"] == "pdhg":
        state = f"certified gap {entry['certified_gap']:.2g}" + (
            "" if entry["converged"] else ", NOT converged: raise --max-iter or --gap")
    else:
        state = "converged" if entry["converged"] else "NOT converged: raise --max-iter or --tol"
    task = "" if entry["task"] == "denoise" else f", {entry['task']}"
    lines = [
        f"{entry['input']} -> {entry['output']}  "
        f"({'x'.join(map(str, entry['shape']))} {entry['dtype']}{task})",
        f"  weight {weight}, {entry['tv']} {entry['color']} TV, reduction {entry['reduction']}, "
        f"solver {entry['solver']}",
        f"  {entry['iterations']} iterations ({state}), objective {entry['objective']:.6g}",
        f"  {_times(entry)}",
    ]
    if entry["reference"] is not None:
        psnr = "inf (identical to the reference)" if entry["psnr"] is None else f"{entry['psnr']:.2f} dB"
        ssim = "n/a" if entry["ssim"] is None else f"{entry['ssim']:.4f}"
        lines.append(f"  PSNR {psnr}, SSIM {ssim}")
    if entry["compare"]:
        lines.append(_compare_table(entry["compare"]))
    return "\n".join(lines)


def _times(entry: dict) -> str:
    """Where one image's time went, each part apart, so a regression shows where it is."""
    if entry["compile_seconds"] == 0:
        compiled = "compile 0 s (in memory)"
    else:
        source = {True: "cached", False: "compiled", None: "no cache"}[entry["compile_cached"]]
        compiled = f"compile {entry['compile_seconds']:.2f} s ({source})"
    search = (f", weight search {entry['weight_search_seconds']:.3f} s"
              if entry["weight_auto"] else "")
    return (f"solve {entry['solve_seconds']:.3f} s{search}, {compiled}, "
            f"TensorFlow start-up {entry['tensorflow_seconds']:.2f} s, "
            f"I/O {entry['read_seconds'] + entry['write_seconds']:.3f} s")


def _number(value, spec: str) -> str:
    return "-" if value is None else format(value, spec)


def _compare_table(rows: list[dict]) -> str:
    header = f"  {'method':<20} {'weight':>8} {'PSNR':>7} {'SSIM':>7} {'objective E':>14} {'seconds':>8}"
    body = [
        f"  {row['method']:<20} {row['weight']:>8.4g} {_number(row['psnr'], '7.2f')} "
        f"{_number(row['ssim'], '7.4f')} {row['objective']:>14.6f} {row['seconds']:>8.3f}"
        for row in rows
    ]
    return "\n".join([header, *body])


BENCH_EXAMPLES = """\b
Examples:
  tvrestore bench                                  the headline table (512x512, sigma 25)
  tvrestore bench --images camera --repeat 5 --json bench.json
  tvrestore bench --images camera --sweep resolution --memory
"""


def _comma_list(kind: type, minimum: float | None = None):
    """A Click callback parsing 'a,b,c' into a list of ``kind`` (each >= ``minimum``)."""

    def parse(ctx: click.Context, param: click.Parameter, value: str) -> list:
        try:
            items = [kind(item.strip()) for item in value.split(",") if item.strip()]
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a comma-separated list of {kind.__name__}")
        if not items or (minimum is not None and min(items) < minimum):
            raise click.BadParameter(f"{value!r}: give one or more values >= {minimum}")
        return items

    return parse


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


@main.command("bench", epilog=BENCH_EXAMPLES)
@click.option("--images", default="camera,astronaut,coins", show_default=True,
              metavar="NAME[,NAME...]", callback=_comma_list(str),
              help="skimage.data images, comma-separated (also moon, coffee, chelsea, brick, "
                   "grass, gravel, page, text, rocket, ...).")
@click.option("--size", "sizes", default="512", show_default=True, metavar="N[,N...]",
              callback=_comma_list(int, 8),
              help="Sides of the square test images (centre square, resized), comma-separated.")
@click.option("--sigma", "sigmas", default="25", show_default=True, metavar="S[,S...]",
              callback=_comma_list(float, 0),
              help="Gaussian noise levels in 1/255 units, comma-separated.")
@click.option("--weight", type=click.FloatRange(min=0, min_open=True), default=0.07,
              show_default=True, help="TV weight w for every method.")
@click.option("--color", type=click.Choice(["channelwise", "vectorial"]), default="channelwise",
              show_default=True,
              help="Colour TV for tvrestore and the objective; channelwise is what skimage solves.")
@click.option("--repeat", type=click.IntRange(min=1), default=3, show_default=True,
              help="Timed runs per method (after a warm-up); the median is reported.")
@click.option("--seed", type=int, default=0, show_default=True, help="Noise seed.")
@click.option("--exact-gap", type=click.FloatRange(min=0, min_open=True), default=1e-4,
              show_default=True, help="Certified gap of tvrestore's exact mode (pdhg).")
@click.option("--reference-gap", type=click.FloatRange(min=0, min_open=True), default=1e-6,
              show_default=True, help="Certified gap of the exact reference gaps are measured to.")
@click.option("--bandwidth-mb", type=click.IntRange(min=1), default=256, show_default=True,
              help="Array size (MiB) of the copy-bandwidth measurement.")
@click.option("--sweep", type=click.Choice(["resolution"]),
              help="Also run the resolution sweep: the plain recipe (Keras Adam, no auto-scaling) "
                   "next to tvrestore, camera, sigma 25.")
@click.option("--sweep-sizes", default="128,256,512,1024,2048,4096", show_default=True,
              metavar="N[,N...]", callback=_comma_list(int, 8), help="Sizes of the resolution sweep.")
@click.option("--plain-iter", type=click.IntRange(min=1), default=500, show_default=True,
              help="Iterations of the plain recipe in the sweep.")
@click.option("--memory", is_flag=True,
              help="Also measure peak RSS restoring one --memory-size grey image in a fresh process.")
@click.option("--memory-size", type=click.IntRange(min=8), default=4096, show_default=True,
              help="Side of the memory measurement's image.")
@click.option("--json", "json_path", type=click.Path(path_type=Path),
              help="Write everything measured here as JSON.")
@cache_options
@click.pass_context
def bench_command(ctx, images, sizes, sigmas, weight, color, repeat, seed, exact_gap,
                  reference_gap, bandwidth_mb, sweep, sweep_sizes, plain_iter, memory,
                  memory_size, json_path, cache_dir, no_cache) -> None:
    """Measure speed and accuracy against skimage on its bundled images, with seeded noise."""
    import json

    _configure_cache(cache_dir, no_cache)

    from tvrestore import bench, io

    if json_path is not None and not json_path.parent.is_dir():
        raise click.UsageError(f"{json_path}: directory does not exist")
    try:
        report = bench.run_bench(
            images=images, sizes=sizes, sigmas=sigmas, weight=weight, color=color,
            repeat=repeat, seed=seed, exact_gap=exact_gap, reference_gap=reference_gap,
            bandwidth_mb=bandwidth_mb, sweep_sizes=sweep_sizes if sweep else None,
            plain_iter=plain_iter, memory_size=memory_size if memory else None,
            progress=lambda line: click.echo(f"... {line}", err=True),
        )
        report = {"command": _command_line(ctx), **report}
        if json_path is not None:
            io.write_text(json_path, json.dumps(report, indent=2) + "\n")
    except TVRestoreError as err:
        raise click.UsageError(str(err)) from err
    click.echo(bench.format_report(report))
