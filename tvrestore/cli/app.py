"""The ``tvrestore`` command: parses, calls the library, prints.

Everything heavy (TensorFlow, scikit-image's solvers) is imported inside the
commands, so ``tvrestore --help`` answers at once. Errors the library raises
(:class:`TVRestoreError`) and Click's usage errors are printed as one line
on stderr with exit code 2; an operating-system error that escapes is one
line naming the file, exit code 1 (:meth:`_DefaultCommandGroup.main` is
the one boundary). A batch (a directory or several inputs) goes on past a
file that fails, lists it on stderr and exits with 1. Ctrl-C and SIGTERM
stop a run cleanly, exit codes 130 and 143.
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import math
import signal
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import click

from tvrestore.bench.formatting import format_or_dash
from tvrestore.errors import TVRestoreError, printable

if TYPE_CHECKING:
    from tvrestore.runs.report import CompareRow, ReportEntry

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
"""


class _Path(click.Path):
    """A path argument; an empty one is a usage error (``Path("")`` would be the current directory)."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            self.fail(f"{value!r} is not a path", param, ctx)
        return super().convert(value, param, ctx)


PATH = _Path(path_type=Path)


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
            code = super().main(args, prog_name, standalone_mode=False, **extra)
        except click.ClickException as err:  # a UsageError's exit code is 2
            _echo_error(err.format_message())
            sys.exit(err.exit_code)
        except click.Abort as err:
            click.echo("Aborted!", err=True)
            sys.exit(EXIT_TERMINATED if isinstance(err.__cause__, _Terminated) else EXIT_INTERRUPTED)
        except TVRestoreError as err:
            _echo_error(str(err))
            sys.exit(2)
        except OSError as err:
            _echo_error(_os_error_line(err))
            sys.exit(1)
        sys.exit(code if isinstance(code, int) else 0)


def _echo_error(message: str) -> None:
    """``Error: <message>`` on stderr, as one line whatever the file names in it hold.

    Control characters are escaped (:func:`tvrestore.errors.printable`), so
    a file named ``a\\nError: forged.png`` cannot print a line of its own,
    and a name that is not UTF-8 prints on a strict UTF-8 stderr.
    """
    click.echo(f"Error: {printable(message)}", err=True)


def _os_error_line(err: OSError) -> str:
    """``<file>: <problem>`` for an OSError, e.g. ``out/a.png: Read-only file system``."""
    reason = err.strerror or " ".join(str(err).split()) or type(err).__name__
    if err.filename is None:
        return reason
    return f"{err.filename}: {reason}"


def cache_options(command):
    """--cache-dir and --no-cache, shared by the commands that compile."""
    command = click.option(
        "--no-cache", is_flag=True,
        help="Compile in this process only; keep nothing on disk.")(command)
    return click.option(
        "--cache-dir", type=PATH, metavar="DIR",
        help="Where compiled programs are kept between runs (default: $TVRESTORE_CACHE_DIR, "
             "else $XDG_CACHE_HOME/tvrestore, else ~/.cache/tvrestore).")(command)


def _configure_cache(cache_dir: Path | None, no_cache: bool) -> None:
    """Set up the compile cache before TensorFlow loads; say once if it cannot be used."""
    from tvrestore.backend import cache

    status = cache.configure(cache_dir, enabled=not no_cache)
    if status.message is not None:
        click.echo(f"Note: {printable(status.message)}", err=True)


def _parse_zoom(ctx: click.Context, param: click.Parameter, value: str | None):
    """'X,Y,W,H' as four whole numbers, W and H at least 1 (the image's bounds are checked later)."""
    if value is None:
        return None
    try:
        zoom = tuple(int(part) for part in value.split(","))
    except ValueError:
        zoom = ()
    if len(zoom) != 4 or min(zoom[:2]) < 0 or min(zoom[2:]) < 1:
        raise click.BadParameter(
            f"{value!r} is not X,Y,W,H: four whole numbers, X, Y >= 0 and W, H >= 1")
    return zoom


def _parse_scheduler(ctx: click.Context, param: click.Parameter, value: str | None):
    """A tcp:// or tls:// address, checked without importing Dask."""
    if value is None:
        return None
    from tvrestore.runs.cluster import check_scheduler_address

    try:
        return check_scheduler_address(value)
    except TVRestoreError as err:
        raise click.BadParameter(str(err)) from err


# Seconds: an hour is beyond any scheduler's handshake and any user's patience.
_MAX_SCHEDULER_TIMEOUT = 3600.0


def _parse_scheduler_timeout(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """Seconds in (0, 1 hour]; NaN is refused here (Click's FloatRange raises on it)."""
    if not 0 < value <= _MAX_SCHEDULER_TIMEOUT:
        raise click.BadParameter(
            f"{value:g} is not a number of seconds in (0, {_MAX_SCHEDULER_TIMEOUT:g}]")
    return value


def _parse_weight(ctx: click.Context, param: click.Parameter, value: str) -> float | str:
    from tvrestore.options import MAX_WEIGHT, check_weight

    if value == "auto":
        return value
    try:
        return check_weight(float(value))
    except (ValueError, TVRestoreError) as err:
        raise click.BadParameter(
            f"{value!r} is not 'auto' or a number from 0 to {MAX_WEIGHT:g}") from err


def _checked(check):
    """A Click callback that validates with the library's own check (one rule, two callers)."""

    def callback(ctx: click.Context, param: click.Parameter, value):
        try:
            return check(param.name, value)
        except TVRestoreError as err:
            raise click.BadParameter(str(err)) from err

    return callback


def _check_tolerance(name: str, value):
    from tvrestore.options import check_tolerance

    return check_tolerance(name, value)


def _check_max_iter(name: str, value):
    from tvrestore.options import check_max_iter

    return check_max_iter(value)


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
@click.option("--max-iter", type=int, callback=_checked(_check_max_iter),
              help="Iteration cap. Default: 2000 (adam), 20000 (pdhg).")
@click.option("--tol", type=float, callback=_checked(_check_tolerance), default=3e-4,
              show_default=True,
              help="adam's stopping tolerance: relative objective decrease per 5 iterations "
                   "that counts as a plateau. Smaller is more exact and slower.")
@click.option("--gap", type=float, callback=_checked(_check_tolerance), default=1e-4,
              show_default=True,
              help="pdhg's target: stop once the certified relative objective gap "
                   "(E - E*) / E* is at most this (reported as certified_gap).")
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
                   "maps and the solver's convergence, titled with weights and PSNR/SSIM.")
@click.option("--zoom", callback=_parse_zoom, metavar="X,Y,W,H",
              help="The --figure's zoomed region (left column, top row, width, height, in "
                   "pixels). Default: the square with the most edges in the result.")
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
@click.option("--scheduler", metavar="tcp://HOST:PORT", callback=_parse_scheduler,
              help="Restore a batch on this Dask cluster (tcp:// or tls://); inputs and "
                   "outputs must be at the same paths on every worker (needs the dask extra).")
@click.option("--scheduler-timeout", type=float, callback=_parse_scheduler_timeout,
              default=10.0, show_default=True, metavar="SECONDS",
              help="Seconds for --scheduler to accept the connection and answer, together.")
@click.option("--tile", type=click.IntRange(min=16), metavar="SIZE",
              help="Restore one TIFF or zarr image in SIZE x SIZE tiles, read and written "
                   "chunk by chunk (a tiled TIFF or a zarr out). Automatic, with 2048, for "
                   "images too large to read whole (needs the dask extra). Tiles are solved "
                   "exactly (pdhg, gap 1e-6) unless --solver is given.")
@click.option("--halo", type=click.IntRange(min=0), metavar="PIXELS",
              help="Pixels of its neighbours each tile sees, at most the tile side. Default: "
                   "from the weight, measured to keep tiles within half an 8-bit step of the "
                   "whole-image solution (docs/scale.md), up to the tile side.")
@click.option("--max-pixels", type=click.IntRange(min=1), metavar="N",
              envvar="TVRESTORE_MAX_PIXELS", show_envvar=True,
              help="The largest whole-image solve, in values (height x width x colour "
                   "channels, padded, after --upscale and the PSF's margin), checked from "
                   "each header before decoding. Default: 12201611 for denoising, 5368709 "
                   "with --psf, --mask or --upscale (measured to keep a run within 2 GiB). "
                   "Beyond it a denoising is decoded whole and restored in tiles (needs the "
                   "dask extra); a forward model is refused.")
@cache_options
def restore_command(inputs, output, weight, reduction, tv, color, solver, max_iter, tol, gap,
                    psf, psf_dir, mask, mask_dir, upscale, reference, compare, report,
                    overwrite, pattern, batch_size, quiet, figure, zoom, gallery, gallery_assets,
                    workers, scheduler, scheduler_timeout, tile, halo, max_pixels, cache_dir,
                    no_cache) -> None:
    """Restore INPUT (PNG, JPEG, TIFF, BMP; zarr in tiles) by total-variation denoising,
    deblurring (--psf), inpainting (--mask) and upscaling (--upscale), or any combination
    in one objective.

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
                                 solver=solver, max_iter=max_iter, tol=tol, gap=gap)
    except TVRestoreError as err:
        raise click.UsageError(str(err)) from err
    degradation = _degradation(psf, psf_dir, mask, mask_dir, upscale)
    _configure_cache(cache_dir, no_cache)
    written = {"report": report, "figure": figure, "gallery": gallery}
    _check_record_paths(written)
    if workers is not None and scheduler is not None:
        raise click.UsageError("give --workers or --scheduler, not both")
    from tvrestore.io.lazy import is_zarr

    single = len(inputs) == 1 and (not inputs[0].is_dir() or is_zarr(inputs[0]))
    tiled = single and _needs_tiles(inputs[0], tile)
    for flag, value in (("--workers", workers), ("--scheduler", scheduler), ("--tile", tile)):
        if value is not None:
            _check_dask(flag)
    if (workers is not None or scheduler is not None) and single:
        raise click.UsageError("--workers and --scheduler distribute a batch of files "
                               "(a directory or several inputs); one image runs here")
    if tile is not None and not single:
        raise click.UsageError("--tile restores one TIFF or zarr image; give one input")
    if tiled and (degradation["upscale"] > 1 or any(
            degradation[name] is not None for name in ("psf", "psf_dir", "mask", "mask_dir"))):
        raise click.UsageError(f"{inputs[0]}: tiles restore noise only; --psf, --mask and "
                               "--upscale need the whole image")
    _check_drawing_options(figure, zoom, gallery, single, gallery_assets)
    # From here on SIGTERM stops the run as Ctrl-C does, temporary files removed.
    with _terminate_as_interrupt():
        if tiled:
            _check_dask(f"{inputs[0]}: restoring in tiles" if tile is None else "--tile")
            _restore_tiled(inputs[0], output, reference, compare, overwrite, quiet, options,
                           written, tile, halo)
        elif single:
            _restore_one(inputs[0], output, reference, compare, overwrite, quiet, options,
                         written, zoom, degradation)
        else:
            _restore_many(inputs, output, reference, compare, overwrite, quiet, options,
                          pattern, batch_size, start, written, degradation, workers, scheduler,
                          scheduler_timeout)


def _check_record_paths(written: dict) -> None:
    """Files a run writes besides its outputs (option name -> path or None), before any work.

    Each must be a file in an existing directory, checked up front so that
    a bad path leaves no output behind (and a rerun needs no --overwrite).
    """
    for role, path in written.items():
        if path is None:
            continue
        if path.is_dir():
            raise click.UsageError(f"{path}: is a directory; --{role} names a file")
        if not path.parent.is_dir():
            raise click.UsageError(f"{path}: {role} directory does not exist")


def _check_dask(what: str) -> None:
    from tvrestore.runs.cluster import check_dask_installed

    try:
        check_dask_installed(what)
    except TVRestoreError as err:
        raise click.UsageError(str(err)) from err


def _needs_tiles(input_path: Path, tile: int | None) -> bool:
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


def _restore_tiled(input_path, output, reference, compare, overwrite, quiet, options,
                   written, tile, halo) -> None:
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
        with _elapsed_line(f"restoring {input_path} in tiles",
                           show=not quiet and sys.stderr.isatty()):
            entry = restore_tiled_file(job, options, tile=tile, halo=halo)
        _write_records([entry], written)
    except TVRestoreError as err:
        raise click.UsageError(str(err)) from err
    if not quiet:
        click.echo(_summary(entry))


def _tile_options(options):
    """The options of a tiled restore: tiles solved exactly unless --solver is named.

    Without --solver, pdhg to a certified gap of tiles.TILE_GAP (or --gap if
    named): the default halo keeps the tiles within half an 8-bit step of the
    whole-image minimizer only if each tile is solved that closely
    (docs/scale.md).
    """
    from dataclasses import replace

    from tvrestore.runs.tiles import exact_tile_options

    ctx = click.get_current_context()
    named = {name: ctx.get_parameter_source(name) is not click.core.ParameterSource.DEFAULT
             for name in ("solver", "gap")}
    kwargs = {key: value for key, value in options.as_kwargs().items()
              if named.get(key, True)}
    return replace(options, **exact_tile_options(kwargs))


def _degradation(psf, psf_dir, mask, mask_dir, upscale) -> dict:
    """The forward-model options as plan_jobs takes them; a bad PSF spec is a usage error now."""
    from tvrestore.io.psf import load_psf

    if psf is not None and psf_dir is not None:
        raise click.UsageError("give --psf or --psf-dir, not both")
    if mask is not None and mask_dir is not None:
        raise click.UsageError("give --mask or --mask-dir, not both")
    if psf is not None:
        try:
            load_psf(psf)
        except TVRestoreError as err:
            raise click.UsageError(str(err)) from err
    if mask is not None and not mask.is_file():
        raise click.UsageError(f"{mask}: no such mask file")
    return {"psf": psf, "psf_dir": psf_dir, "mask": mask, "mask_dir": mask_dir,
            "upscale": upscale or 1}


def _check_drawing_options(figure, zoom, gallery, single: bool, gallery_assets) -> None:
    """--figure, --zoom, --gallery and --gallery-assets: usage errors before any work.

    matplotlib stays unloaded.
    """
    from tvrestore.backend.mpl import check_figure_path, check_matplotlib_installed
    from tvrestore.viz.gallery import check_gallery_assets, check_gallery_path

    if figure is not None and not single:
        raise click.UsageError(
            "--figure draws one image; for a directory or several inputs use --gallery FILE.html")
    if zoom is not None and figure is None:
        raise click.UsageError("--zoom chooses the --figure's detail; give --figure too")
    try:
        if figure is not None:
            check_matplotlib_installed("--figure")
            check_figure_path(figure)
        if gallery is not None:
            if gallery.suffix.lower() not in (".html", ".htm"):
                raise TVRestoreError(f"{gallery}: a gallery is an HTML page (.html or .htm)")
            check_gallery_path(gallery, ())
        if gallery_assets is not None:
            if gallery is None:
                raise TVRestoreError("--gallery-assets holds the --gallery's images; "
                                     "give --gallery FILE.html too")
            check_gallery_assets(gallery_assets)
    except TVRestoreError as err:
        raise click.UsageError(str(err)) from err


def _restore_one(input_path, output, reference, compare, overwrite, quiet, options,
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

        with _elapsed_line(f"restoring {input_path}", show=not quiet and sys.stderr.isatty()):
            entry = restore_file(job, options, draw=_figure_hook(written["figure"], zoom),
                                 tile_options=_tile_options(options))
        _write_records([entry], written)
    except TVRestoreError as err:
        raise click.UsageError(str(err)) from err
    if not quiet:
        click.echo(_summary(entry))
        _echo_drawn(written)


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


def _echo_drawn(written: dict) -> None:
    """Where the figure and the gallery went, when asked for."""
    for role in ("figure", "gallery"):
        if written[role] is not None:
            click.echo(f"  {role}: {printable(str(written[role]))}")


def _restore_many(inputs, output, reference, compare, overwrite, quiet, options,
                  pattern, batch_size, start, written, degradation, workers=None,
                  scheduler=None, scheduler_timeout=None) -> None:
    from tvrestore.runs.plan import check_distinct, plan_jobs
    from tvrestore.runs.report import summarise

    try:
        jobs = plan_jobs(inputs, output, pattern=pattern, reference_dir=reference,
                         compare=compare, overwrite=overwrite, **degradation)
        check_distinct(jobs, written)
    except TVRestoreError as err:
        raise click.UsageError(str(err)) from err
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
            _echo_error(entry.error)
        elif not quiet:
            click.echo(_batch_line(entry))

    with bar if bar is not None else contextlib.nullcontext():
        try:
            if workers is None and scheduler is None:
                from tvrestore.runs.batch import run_batch

                run_batch(jobs, options, batch_size=batch_size, on_entry=on_entry,
                          tile_options=_tile_options(options))
            else:
                _run_on_cluster(jobs, options, batch_size, on_entry, workers, scheduler,
                                scheduler_timeout)
        except KeyboardInterrupt as err:
            interrupted = err
    entries = [done[index] for index in sorted(done)]
    if bar is not None:
        for entry in entries:
            if entry.error is not None:
                _echo_error(entry.error)
    try:
        _write_records(entries, written)
    except TVRestoreError as err:
        raise click.UsageError(str(err)) from err
    summary = summarise(entries, time.perf_counter() - start)
    click.echo(_batch_summary(summary, len(jobs), interrupted is not None))
    _echo_drawn(written)
    if interrupted is not None:
        raise click.Abort() from interrupted
    click.get_current_context().exit(1 if summary.failed else 0)


def _run_on_cluster(jobs, options, batch_size, on_entry, workers, scheduler,
                    scheduler_timeout) -> None:
    from tvrestore.runs.cluster import run_batch_on_cluster

    try:
        run_batch_on_cluster(jobs, options, workers=workers, scheduler=scheduler,
                             scheduler_timeout=scheduler_timeout,
                             batch_size=batch_size, on_entry=on_entry,
                             tile_options=_tile_options(options))
    except TVRestoreError as err:
        raise click.UsageError(str(err)) from err


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

    label = printable(label)

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


def _printable_entry(entry: ReportEntry) -> ReportEntry:
    """`entry` with its text (file names, reasons) safe to print: see :func:`_echo_error`."""
    text = {field.name: printable(value) for field in dataclasses.fields(entry)
            if isinstance(value := getattr(entry, field.name), str)}
    return dataclasses.replace(entry, **text)


def _batch_line(entry: ReportEntry) -> str:
    """One line per file of a batch."""
    entry = _printable_entry(entry)
    if entry.status == "skipped":
        return f"{entry.input} -> {entry.output}  skipped ({entry.skip_reason})"
    state = "" if entry.converged else ", NOT converged"
    line = (f"{entry.input} -> {entry.output}  weight {entry.weight:.4g}, "
            f"{entry.iterations} iterations{state}")
    if entry.psnr is not None:
        line += f", PSNR {entry.psnr:.2f} dB"
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
        unscored = summary.restored - summary.scored - summary.identical
        notes = [f"{unscored} without"] if unscored else []
        if summary.identical:
            notes.append(f"{summary.identical} identical to their reference, PSNR inf")
        lines.append(f"mean PSNR {summary.psnr:.2f} dB, SSIM {ssim} over {summary.scored} "
                     f"images with a reference" + (f" ({'; '.join(notes)})" if notes else ""))
    elif summary.identical:
        lines.append(f"{summary.identical} images identical to their reference (PSNR inf)")
    if summary.compare:
        lines.append(_mean_compare_table(summary.compare))
    return "\n".join(lines)


def _mean_compare_table(rows: list[dict]) -> str:
    header = f"  {'method (means)':<20} {'images':>6} {'PSNR':>7} {'SSIM':>7} {'seconds':>8}"
    body = [
        f"  {row['method']:<20} {row['images']:>6} {format_or_dash(row['psnr'], '7.2f')} "
        f"{format_or_dash(row['ssim'], '7.4f')} {format_or_dash(row['seconds'], '8.3f')}"
        for row in rows
    ]
    return "\n".join([header, *body])


def _summary(entry: ReportEntry) -> str:
    """The console version of a report entry."""
    entry = _printable_entry(entry)
    weight = f"{entry.weight:.4g}"
    if entry.weight_auto:
        weight += f" (auto, noise sigma {entry.noise_sigma:.4g})"
    if entry.solver == "pdhg":
        state = f"certified gap {entry.certified_gap:.2g}" + (
            "" if entry.converged else ", NOT converged: raise --max-iter or --gap")
    else:
        state = "converged" if entry.converged else "NOT converged: raise --max-iter or --tol"
    task = "" if entry.task == "denoise" else f", {entry.task}"
    lines = [
        f"{entry.input} -> {entry.output}  "
        f"({'x'.join(map(str, entry.shape))} {entry.dtype}{task})",
        f"  weight {weight}, {entry.tv} {entry.color} TV, reduction {entry.reduction}, "
        f"solver {entry.solver}",
        f"  {entry.iterations} iterations ({state}), "
        f"objective {format_or_dash(entry.objective, '.6g')}",
        f"  {_times(entry)}",
    ]
    if entry.tile is not None:
        lines.insert(3, f"  restored in tiles of {'x'.join(map(str, entry.tile))} pixels, "
                        f"halo {entry.halo} (iterations the most any tile took)")
    if entry.reference is not None:
        psnr = "inf (identical to the reference)" if entry.psnr is None else f"{entry.psnr:.2f} dB"
        ssim = "n/a" if entry.ssim is None else f"{entry.ssim:.4f}"
        lines.append(f"  PSNR {psnr}, SSIM {ssim}")
    if entry.compare:
        lines.append(_compare_table(entry.compare, entry.task))
    return "\n".join(lines)


def _times(entry: ReportEntry) -> str:
    """Where one image's time went, each part apart, so a regression shows where it is."""
    if entry.compile_seconds == 0:
        compiled = "compile 0 s (in memory)"
    else:
        source = {True: "cached", False: "compiled", None: "no cache"}[entry.compile_cached]
        compiled = f"compile {entry.compile_seconds:.2f} s ({source})"
    search = (f", weight search {entry.weight_search_seconds:.3f} s"
              if entry.weight_auto else "")
    return (f"solve {entry.solve_seconds:.3f} s{search}, {compiled}, "
            f"TensorFlow start-up {entry.tensorflow_seconds:.2f} s, "
            f"I/O {entry.read_seconds + entry.write_seconds:.3f} s")


def _compare_table(rows: Sequence[CompareRow], task: str = "denoise") -> str:
    width = max(20, *(len(row.method) for row in rows))
    title = f"  {task}: tvrestore against scikit-image"
    header = (f"  {'method':<{width}} {'weight':>8} {'PSNR':>7} {'SSIM':>7} {'objective E':>14} "
              f"{'seconds':>8}")
    body = [
        f"  {row.method:<{width}} {format_or_dash(row.weight, '>8.4g')} "
        f"{format_or_dash(row.psnr, '7.2f')} {format_or_dash(row.ssim, '7.4f')} "
        f"{format_or_dash(row.objective, '>14.6f')} {row.seconds:>8.3f}"
        for row in rows
    ]
    return "\n".join([title, header, *body])


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


def _comma_list(kind: type, minimum: float | None = None, maximum: float | None = None):
    """A Click callback parsing 'a,b,c' into a list of finite ``kind`` in [minimum, maximum]."""

    def parse(ctx: click.Context, param: click.Parameter, value: str) -> list:
        try:
            items = [kind(item.strip()) for item in value.split(",") if item.strip()]
        except ValueError:
            raise click.BadParameter(f"{value!r} is not a comma-separated list of {kind.__name__}")
        numbers = [item for item in items if not isinstance(item, str)]
        if not items or not all(
            math.isfinite(item) and (minimum is None or item >= minimum)
            and (maximum is None or item <= maximum)
            for item in numbers
        ):
            bounds = f" from {minimum:g}" if minimum is not None else ""
            bounds += f" to {maximum:g}" if maximum is not None else ""
            raise click.BadParameter(f"{value!r}: give one or more finite values{bounds}")
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
              callback=_comma_list(int, 8, _MAX_BENCH_SIZE),
              help="Sides of the square test images (centre square, resized), comma-separated.")
@click.option("--sigma", "sigmas", default="25", show_default=True, metavar="S[,S...]",
              callback=_comma_list(float, 0, 255),
              help="Gaussian noise levels in 1/255 units, comma-separated.")
@click.option("--weight", type=click.FloatRange(min=0, min_open=True), default=0.07,
              show_default=True, help="TV weight w for every method.")
@click.option("--color", type=click.Choice(["channelwise", "vectorial"]), default="channelwise",
              show_default=True,
              help="Colour TV for tvrestore and the objective; channelwise is what skimage solves.")
@click.option("--repeat", type=click.IntRange(min=1), default=3, show_default=True,
              help="Timed runs per method (after a warm-up); the median is reported.")
@click.option("--seed", type=int, default=0, show_default=True, help="Noise seed.")
@click.option("--exact-gap", type=float, callback=_checked(_check_tolerance), default=1e-4,
              show_default=True, help="Certified gap of tvrestore's exact mode (pdhg).")
@click.option("--reference-gap", type=float, callback=_checked(_check_tolerance), default=1e-6,
              show_default=True, help="Certified gap of the exact reference gaps are measured to.")
@click.option("--bandwidth-mb", type=click.IntRange(min=1, max=16384), default=256,
              show_default=True,
              help="Array size (MiB) of the copy-bandwidth measurement.")
@click.option("--sweep", type=click.Choice(["resolution"]),
              help="Also run the resolution sweep: the plain recipe (Keras Adam, no auto-scaling) "
                   "next to tvrestore, camera, sigma 25.")
@click.option("--sweep-sizes", default="128,256,512,1024,2048,4096", show_default=True,
              metavar="N[,N...]", callback=_comma_list(int, 8, _MAX_BENCH_SIZE),
              help="Sizes of the resolution sweep.")
@click.option("--plain-iter", type=click.IntRange(min=1), default=500, show_default=True,
              help="Iterations of the plain recipe in the sweep.")
@click.option("--memory", is_flag=True,
              help="Also measure peak RSS restoring one --memory-size grey image in a fresh process.")
@click.option("--memory-size", type=click.IntRange(min=8, max=_MAX_BENCH_SIZE), default=4096,
              show_default=True,
              help="Side of the memory measurement's image.")
@click.option("--task", type=click.Choice(["deblur", "inpaint", "upscale", "all"]),
              help="Instead of denoising, measure a restoration task against scikit-image's "
                   "methods for it, on seeded degradations (--size defaults to 240 here).")
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

    _configure_cache(cache_dir, no_cache)

    from tvrestore.io.files import write_text

    from tvrestore.bench.denoise import run_bench
    from tvrestore.bench.formatting import format_report
    from tvrestore.bench.machine import machine_info

    _check_record_paths({"json": json_path})
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
            report = bench_tasks.run_task_bench(
                task, images, size=sizes[0], repeat=repeat, seed=seed,
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
