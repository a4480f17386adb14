"""The ``tvrestore`` command group: the exception boundary and the restore command.

Everything heavy (TensorFlow, scikit-image's solvers) is imported inside the
commands, so ``tvrestore --help`` answers at once. Errors the library raises
(:class:`TVRestoreError`) and Click's usage errors are printed as one line
on stderr with exit code 2; an operating-system error that escapes is one
line naming the file, exit code 1 (:meth:`_DefaultCommandGroup.main` is
the one boundary). A batch (a directory or several inputs) goes on past a
file that fails, lists it on stderr and exits with 1. Ctrl-C and SIGTERM
stop a run cleanly, exit codes 130 and 143.

The options' parsers, checks and shared decorators are in
:mod:`tvrestore.cli.params`, the restore command's run paths in
:mod:`tvrestore.cli.restore`, what is printed in :mod:`tvrestore.cli.console`
and the bench command in :mod:`tvrestore.cli.bench`.
"""

from __future__ import annotations

import contextlib
import signal
import sys
import time
import warnings

import click

from tvrestore.cli import console
from tvrestore.cli.bench import bench_command
from tvrestore.cli.params import (PATH, cache_options, check_dask, check_drawing_options,
                                  check_record_paths, checked, configure_cache,
                                  degradation_options, max_iter_option, parse_axes,
                                  parse_calibration, parse_scheduler, parse_scheduler_timeout,
                                  parse_spacing_option, parse_weight, parse_zoom, tolerance_option)
from tvrestore.cli.restore import (is_volume_input, needs_tiles, refuse_for_volumes, restore_many,
                                   restore_one, restore_tiled, restore_volume)
from tvrestore.errors import TVRestoreError, TVRestoreWarning, printable


EXAMPLES = """\b
Examples:
  tvrestore noisy.png                         writes noisy_tv.png
  tvrestore noisy.png --reduction sum --weight 0.07
  tvrestore noisy.png --reference clean.png --compare --report run.json
  tvrestore scans/ -o restored/ --report run.csv    every image under scans/
  tvrestore scans/ -o restored/ --glob '*.tif' --reference clean/
  tvrestore noisy.png --reference clean.png --compare --figure figure.pdf
  tvrestore scans/ -o restored/ --gallery restored/index.html
  tvrestore scans/ -o restored/ --workers 2          on a local Dask cluster
  tvrestore huge.tif --tile 2048                      in tiles: a tiled TIFF out
  tvrestore blurred.png --psf gaussian:1.6       deblur (the image is a window of the scene)
  tvrestore photo.png --mask dead.png --psf disk:2 --upscale 2
  tvrestore counts.tif --noise poisson --gain auto     photon counts (docs/noise.md)
"""


class _Terminated(KeyboardInterrupt):
    """SIGTERM, raised where Ctrl-C's KeyboardInterrupt would be, so it cleans up the same way."""


# Exit codes of an interrupted run: the shell's 128 + signal number.
EXIT_INTERRUPTED = 128 + signal.SIGINT


EXIT_TERMINATED = 128 + signal.SIGTERM


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

    def format_help(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        """The default command's usage and options, then the other commands.

        ``tvrestore --help`` is what most users type: it shows how to
        restore (every option of ``restore``) rather than only the group's
        own --version and --help.
        """
        restore = self.commands[self.default_command]
        restore_ctx = click.Context(restore, info_name=ctx.info_name, parent=ctx.parent)
        pieces = restore.collect_usage_pieces(restore_ctx)
        formatter.write_usage(ctx.command_path, " ".join(pieces))
        formatter.write_usage(ctx.command_path, "COMMAND [ARGS]...", prefix="   or: ")
        self.format_help_text(ctx, formatter)
        restore.format_help_text(restore_ctx, formatter)
        # restore's own options (its INPUT argument is in the usage line),
        # then the group's --version and --help.
        records = [param.get_help_record(restore_ctx) for param in restore.params
                   if isinstance(param, click.Option)]
        records += [param.get_help_record(ctx) for param in self.get_params(ctx)]
        with formatter.section("Options"):
            formatter.write_dl([record for record in records if record is not None])
        self.format_commands(ctx, formatter)
        restore.format_epilog(restore_ctx, formatter)

    def main(self, args=None, prog_name=None, **extra):
        """The exception boundary: whatever escapes a command is one line on stderr, no traceback.

        Exit codes: 2 for a usage error or the library's own error
        (:class:`TVRestoreError`), 1 for an operating-system error the
        library did not turn into one (it names the file), 130 after
        Ctrl-C and 143 after SIGTERM.
        """
        try:
            with warnings.catch_warnings():
                warnings.showwarning = _show_warning
                code = super().main(args, prog_name, standalone_mode=False, **extra)
        except click.ClickException as err:  # a UsageError's exit code is 2
            console.echo_error(err.format_message())
            sys.exit(err.exit_code)
        except click.Abort as err:
            click.echo("Aborted!", err=True)
            sys.exit(EXIT_TERMINATED if isinstance(err.__cause__, _Terminated) else EXIT_INTERRUPTED)
        except TVRestoreError as err:
            console.echo_error(str(err))
            sys.exit(2)
        except OSError as err:
            console.echo_error(_os_error_line(err))
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _show_warning(message, category, filename, lineno, file=None, line=None) -> None:
    """The library's warnings as one line on stderr; others as Python prints them."""
    if issubclass(category, TVRestoreWarning):
        click.echo(f"Warning: {printable(str(message))}", err=True)
    else:
        sys.stderr.write(warnings.formatwarning(message, category, filename, lineno, line))


def _os_error_line(err: OSError) -> str:
    """``<file>: <problem>`` for an OSError, e.g. ``out/a.png: Read-only file system``."""
    reason = err.strerror or " ".join(str(err).split()) or type(err).__name__
    if err.filename is None:
        return reason
    return f"{err.filename}: {reason}"


@click.group(cls=_DefaultCommandGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="tvrestore")
def main() -> None:
    """Total-variation image restoration: Adam on the image as a TensorFlow variable.

    \b
    tvrestore INPUT [OPTIONS]      restore one image ("restore" is the default command)
    tvrestore DIR... -o OUT_DIR    restore every image under DIR, mirrored in OUT_DIR
    tvrestore bench [OPTIONS]      reproduce the headline tables (see `tvrestore bench --help`)
    """


@main.command("restore", epilog=EXAMPLES)
@click.argument("inputs", metavar="INPUT...", nargs=-1, required=True,
                type=PATH)
@click.option("-o", "--output", type=PATH,
              help="One file INPUT: the output file. A directory or several INPUTs: the "
                   "output directory (created if missing, never searched for inputs); an "
                   "image DIR/sub/a.png goes to OUT/sub/a.png, a named file to OUT/<name>. "
                   "Default: <stem>_tv.<ext> beside each input (a batch then takes "
                   "a_tv.png beside a.png for an earlier output, not an input).")
@click.option("--weight", default="auto", show_default=True, callback=parse_weight,
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
@click.option("--max-iter", type=int, callback=checked(max_iter_option),
              help="Iteration cap. Default: 2000 (adam), 20000 (pdhg).")
@click.option("--tol", type=float, callback=checked(tolerance_option), default=3e-4,
              show_default=True,
              help="adam's stopping tolerance: relative objective decrease per 5 iterations "
                   "that counts as a plateau. Smaller is more exact and slower.")
@click.option("--gap", type=float, callback=checked(tolerance_option), default=1e-4,
              show_default=True,
              help="pdhg's target: stop once the certified relative objective gap "
                   "(E - E*) / E* is at most this (reported as certified_gap).")
@click.option("--noise", type=click.Choice(["gaussian", "poisson", "impulse"]),
              default="gaussian", show_default=True,
              help="The noise model (docs/noise.md). gaussian: squared error on [0, 1]. "
                   "poisson: the pixels are photon counts (gain * counts + offset, nothing "
                   "scaled to [0, 1]), Kullback-Leibler fidelity, output in the input's units. "
                   "impulse: absolute error (dead pixels, salt and pepper).")
@click.option("--gain", default="1", show_default=True, callback=parse_calibration,
              metavar="G|auto",
              help="With --noise poisson: pixel units per photon (> 0), or 'auto' to estimate "
                   "it (and --offset unless given) from the image's mean-variance line.")
@click.option("--offset", default="0", show_default=True, callback=parse_calibration,
              metavar="O|auto",
              help="With --noise poisson: the pixel value of zero photons, or 'auto'.")
@click.option("--poisson-route", type=click.Choice(["auto", "anscombe", "kl"]), default="auto",
              show_default=True,
              help="With --noise poisson, how counts are denoised (docs/noise.md). anscombe: "
                   "squared error and TV on the Anscombe image 2 sqrt(counts + 3/8), whose "
                   "noise has unit variance, --weight being chambolle's weight there; kl: the "
                   "Poisson (KL) fidelity in counts. auto: anscombe with --weight auto and "
                   "no --psf, --mask or --upscale, else kl. The report's poisson_route says "
                   "which was used.")
@click.option("--psf", metavar="SPEC",
              help="Deblur: the blur's PSF, gaussian:SIGMA, box:SIZE, disk:RADIUS, "
                   "motion:LENGTH,ANGLE (pixels, degrees) or a PNG/TIFF/.npy file (normalised "
                   "to sum 1). The image is taken as the 'valid' window of a larger scene.")
@click.option("--psf-dir", type=PATH, metavar="DIR",
              help="Batch: a PSF file per image, matched by relative path as --reference is.")
@click.option("--mask", type=PATH, metavar="FILE",
              help="Inpaint: an image of the input's height and width, nonzero where a pixel "
                   "is missing (its value is ignored).")
@click.option("--mask-dir", type=PATH, metavar="DIR",
              help="Batch: a mask per image, matched by relative path as --reference is.")
@click.option("--upscale", type=click.IntRange(2, 8), metavar="K",
              help="Upscale by K (2 to 8): the input is taken as the means of KxK blocks "
                   "(after the PSF, with --psf); the output is K times larger per side.")
@click.option("--reference", type=PATH,
              help="Clean image: adds PSNR and SSIM. In a batch, a directory of clean images "
                   "with the same relative paths (or the same stem and another image "
                   "extension); images without one get no score.")
@click.option("--compare", is_flag=True,
              help="Also run skimage's chambolle and bregman at the same weight and print a table "
                   "(in a batch, per-method means).")
@click.option("--report", type=PATH,
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
@click.option("--figure", type=PATH, metavar="FILE.png|.pdf|.svg",
              help="One file INPUT: also draw the input, the result, the reference and (with "
                   "--compare) skimage's results side by side, a zoomed detail, difference "
                   "maps and the solver's convergence, titled with weights and PSNR/SSIM. "
                   "A volume: XY, XZ and YZ slices at the true aspect and a maximum "
                   "projection of each.")
@click.option("--zoom", callback=parse_zoom, metavar="X,Y,W,H",
              help="The --figure's zoomed region (left column, top row, width, height, in "
                   "pixels). Default: the square with the most edges in the result. A "
                   "volume's slices go through its centre (default: the volume's).")
@click.option("--gallery", type=PATH, metavar="FILE.html",
              help="Write one HTML page: a sortable table of every image with before/after "
                   "thumbnails (embedded JPEG) that open an enlarged view (input, result, "
                   "reference at native resolution). For a batch; a single file gets a page "
                   "of one row. Self-contained: it embeds enlarged views up to a size "
                   "(docs/figures.md), then enlarges the thumbnails.")
@click.option("--gallery-assets", type=PATH, metavar="DIR",
              help="With --gallery: write every enlarged view as a PNG file in DIR (created if "
                   "missing), linked from the page and loaded when opened, instead of "
                   "embedding them; keep DIR beside the page.")
@click.option("--workers", type=click.IntRange(min=1), metavar="N",
              help="Restore a batch on a local Dask cluster of N worker processes "
                   "(needs the dask extra: pip install 'tvrestore[dask]').")
@click.option("--scheduler", metavar="tcp://HOST:PORT", callback=parse_scheduler,
              help="Restore a batch on this Dask cluster (tcp:// or tls://); inputs and "
                   "outputs must be at the same paths on every worker (needs the dask extra).")
@click.option("--scheduler-timeout", type=float, callback=parse_scheduler_timeout,
              default=10.0, show_default=True, metavar="SECONDS",
              help="Seconds for --scheduler to accept the connection and answer, together.")
@click.option("--tile", type=click.IntRange(min=16), metavar="SIZE",
              help="Restore one TIFF or zarr image in SIZE x SIZE tiles, read and written "
                   "chunk by chunk (a tiled TIFF or a zarr out). Automatic, with 2048, for "
                   "images too large to read whole (needs the dask extra). Tiles are solved "
                   "exactly (pdhg, gap 1e-6) unless --solver is given. On a volume: N-D "
                   "blocks of SIZE voxels per spatial axis, read and written block by block "
                   "(docs/volumes.md). With --workers or --scheduler, on a Dask cluster.")
@click.option("--halo", type=click.IntRange(min=0), metavar="PIXELS",
              help="Pixels of its neighbours each tile sees, at most the tile side. Default: "
                   "from the weight, measured to keep tiles within half an 8-bit step of the "
                   "whole-image solution (docs/scale.md), up to the tile side.")
@click.option("--axes", callback=parse_axes, metavar="LETTERS",
              help="The input's axes in its order, from T (time), Z, Y, X, C (channels), e.g. "
                   "ZYX, TYX, ZYXC, TZYX. Default: the file's (ImageJ, OME-TIFF, OME-Zarr, zarr "
                   "dimension names); a plain 3-D array is colour when its last axis holds 3 "
                   "or 4 values, else a Z stack. In a batch: every volume's (not the 2-D "
                   "images').")
@click.option("--spacing", callback=parse_spacing_option, metavar="Z,Y,X",
              help="The step of each spatial axis, in one unit (TV divides each difference by "
                   "its step, relative to the smallest). Default: the file's voxel size (ImageJ "
                   "spacing and resolution, OME PhysicalSize, OME-Zarr scale), else 1. A time "
                   "axis is restored frame by frame unless given a step too (T,Z,Y,X).")
@click.option("--max-pixels", type=click.IntRange(min=1), metavar="N",
              envvar="TVRESTORE_MAX_PIXELS", show_envvar=True,
              help="The largest whole-image solve, in values (height x width x colour "
                   "channels, padded, after --upscale and the PSF's margin), checked from "
                   "each header before decoding. Default: 10724072 for denoising, 4718592 "
                   "with --psf, --mask or --upscale (measured to keep a run below 2 GB). "
                   "Beyond it a denoising is decoded whole and restored in tiles (needs the "
                   "dask extra); a forward model is refused.")
@cache_options
def restore_command(inputs, output, weight, reduction, tv, color, solver, max_iter, tol, gap,
                    noise, gain, offset, poisson_route, psf, psf_dir, mask, mask_dir, upscale, reference, compare, report,
                    overwrite, pattern, batch_size, quiet, figure, zoom, gallery, gallery_assets,
                    workers, scheduler, scheduler_timeout, tile, halo, axes, spacing, max_pixels,
                    cache_dir, no_cache) -> None:
    """Restore INPUT (PNG, JPEG, TIFF, BMP; zarr in tiles; stacks in TIFF, OME-Zarr or
    zarr) by total-variation denoising, deblurring (--psf), inpainting (--mask) and
    upscaling (--upscale), or any combination in one objective.

    INPUT may be several files and directories: directories are searched
    recursively for image files, images of similar size are restored together,
    an existing output is skipped, and a file that fails is reported while
    the rest go on. Exit code: 0 if every file was restored or skipped, 1 if
    some failed, 2 for a usage error (also: no image found). With --workers
    or --scheduler a batch runs on a Dask cluster; one TIFF or zarr image
    too large to read whole, or with --tile, is restored in tiles.
    """
    start = time.perf_counter()  # a batch's wall time includes importing TensorFlow
    from tvrestore.options import RestoreOptions
    from tvrestore.runs.plan import pixel_limit

    click.get_current_context().with_resource(pixel_limit(max_pixels))

    try:
        options = RestoreOptions(weight=weight, reduction=reduction, tv=tv, color=color,
                                 solver=solver, max_iter=max_iter, tol=tol, gap=gap,
                                 noise=noise, gain=gain, offset=offset,
                                 poisson_route=poisson_route)
    except TVRestoreError as err:
        raise click.UsageError(str(err)) from err
    if poisson_route == "anscombe" and (psf or psf_dir or mask or mask_dir or upscale):
        raise click.UsageError(
            "--poisson-route anscombe denoises counts; with --psf, --mask or --upscale the "
            "Poisson fidelity is the model (--poisson-route kl or auto)")
    degradation = degradation_options(psf, psf_dir, mask, mask_dir, upscale)
    configure_cache(cache_dir, no_cache)
    written = {"report": report, "figure": figure, "gallery": gallery}
    check_record_paths(written)
    if workers is not None and scheduler is not None:
        raise click.UsageError("give --workers or --scheduler, not both")
    from tvrestore.io.zarr_volumes import is_zarr_node

    single = len(inputs) == 1 and (not inputs[0].is_dir() or is_zarr_node(inputs[0]))
    if single and is_volume_input(inputs[0], axes, spacing):
        refuse_for_volumes(inputs[0], tile=tile, workers=workers, scheduler=scheduler)
        for flag, value in (("--workers", workers), ("--scheduler", scheduler)):
            if value is not None:
                check_dask(flag)
        check_drawing_options(figure, zoom, gallery, single, gallery_assets)
        with _terminate_as_interrupt():
            restore_volume(inputs[0], output, reference, compare, overwrite, quiet, options,
                           written, zoom, axes, spacing, degradation, tile=tile, halo=halo,
                           cluster=_cluster(workers, scheduler, scheduler_timeout))
        return
    if single and (axes is not None or spacing is not None):
        raise click.UsageError("--axes and --spacing take one volume or image file (TIFF or zarr)")
    tiled = single and needs_tiles(inputs[0], tile)
    for flag, value in (("--workers", workers), ("--scheduler", scheduler), ("--tile", tile)):
        if value is not None:
            check_dask(flag)
    if (workers is not None or scheduler is not None) and single and tile is None:
        raise click.UsageError("--workers and --scheduler distribute a batch of files "
                               "(a directory or several inputs), or one image's tiles "
                               "(with --tile); one image runs here")
    if tile is not None and not single:
        raise click.UsageError("--tile restores one TIFF or zarr image; give one input")
    if tiled and (degradation["upscale"] > 1 or any(
            degradation[name] is not None for name in ("psf", "psf_dir", "mask", "mask_dir"))):
        raise click.UsageError(f"{inputs[0]}: tiles restore noise only; --psf, --mask and "
                               "--upscale need the whole image")
    check_drawing_options(figure, zoom, gallery, single, gallery_assets)
    # From here on SIGTERM stops the run as Ctrl-C does, temporary files removed.
    with _terminate_as_interrupt():
        if tiled:
            check_dask(f"{inputs[0]}: restoring in tiles" if tile is None else "--tile")
            restore_tiled(inputs[0], output, reference, compare, overwrite, quiet, options,
                           written, tile, halo, cluster=_cluster(workers, scheduler,
                                                                 scheduler_timeout))
        elif single:
            restore_one(inputs[0], output, reference, compare, overwrite, quiet, options,
                         written, zoom, degradation)
        else:
            restore_many(inputs, output, reference, compare, overwrite, quiet, options,
                          pattern, batch_size, start, written, degradation, workers, scheduler,
                          scheduler_timeout, axes, spacing)


def _cluster(workers, scheduler, scheduler_timeout) -> dict:
    """What :func:`tvrestore.runs.cluster.connect` takes for --workers or --scheduler."""
    cluster = {"workers": workers, "scheduler": scheduler}
    if scheduler_timeout is not None:
        cluster["scheduler_timeout"] = scheduler_timeout
    return cluster


@contextlib.contextmanager
def _terminate_as_interrupt():
    """``kill`` (SIGTERM) stops a run as Ctrl-C does.

    A batch lets started writes finish and writes its report; a write under
    way removes its temporary file; the exit code is 143 (130 for Ctrl-C).
    """
    def interrupt(signum, frame):
        raise _Terminated

    try:
        previous = signal.signal(signal.SIGTERM, interrupt)
    except ValueError:  # not the main thread: leave signals alone
        yield
        return
    try:
        yield
    finally:
        signal.signal(signal.SIGTERM, previous)


main.add_command(bench_command)
