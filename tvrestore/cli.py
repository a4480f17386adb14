"""The ``tvrestore`` command: parses, calls the library, prints.

Everything heavy (TensorFlow, scikit-image's solvers) is imported inside the
commands, so ``tvrestore --help`` answers at once. Errors the library raises
(:class:`TVRestoreError`) and Click's usage errors are printed as one line
on stderr with exit code 2.
"""

from __future__ import annotations

import sys
from pathlib import Path

import click

from tvrestore.errors import TVRestoreError

EXAMPLES = """\b
Examples:
  tvrestore noisy.png                         writes noisy_tv.png
  tvrestore noisy.png --reduction sum --weight 0.07
  tvrestore noisy.png --reference clean.png --compare --report run.json
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
    """


@main.command("restore", epilog=EXAMPLES)
@click.argument("input_path", metavar="INPUT", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path),
              help="Output file. Default: <stem>_tv.<ext> beside INPUT.")
@click.option("--weight", default="auto", show_default=True, callback=_parse_weight,
              help="TV weight w (same meaning as skimage denoise_tv_chambolle's weight), "
                   "or 'auto' to set it from the estimated noise level.")
@click.option("--reduction", type=click.Choice(["mean", "sum"]), default="mean", show_default=True,
              help="Loss units seen by the optimizer; the result is the same under both.")
@click.option("--tv", type=click.Choice(["isotropic", "anisotropic"]), default="isotropic",
              show_default=True, help="TV norm across the two directions.")
@click.option("--color", type=click.Choice(["vectorial", "channelwise"]), default="vectorial",
              show_default=True, help="Couple the colour channels under one norm, or not.")
@click.option("--max-iter", type=click.IntRange(min=0), default=2000, show_default=True,
              help="Iteration cap.")
@click.option("--tol", type=click.FloatRange(min=0, min_open=True), default=1e-4, show_default=True,
              help="Stopping tolerance: relative objective decrease per 10 iterations "
                   "that counts as a plateau. Smaller is more exact and slower.")
@click.option("--reference", type=click.Path(path_type=Path),
              help="Clean image: adds PSNR and SSIM.")
@click.option("--compare", is_flag=True,
              help="Also run skimage's chambolle and bregman at the same weight and print a table.")
@click.option("--report", type=click.Path(path_type=Path), help="Write a JSON report here.")
@click.option("--overwrite", is_flag=True, help="Replace an existing output file.")
def restore_command(input_path, output, weight, reduction, tv, color, max_iter, tol,
                    reference, compare, report, overwrite) -> None:
    """Restore INPUT (PNG, JPEG, TIFF, BMP) by total-variation denoising."""
    from tvrestore import io
    from tvrestore.batch import FileJob, RestoreOptions, restore_file, write_report

    options = RestoreOptions(weight=weight, reduction=reduction, tv=tv, color=color,
                             max_iter=max_iter, tol=tol)
    job = FileJob(input=input_path, output=output or io.default_output_path(input_path),
                  reference=reference, compare=compare, overwrite=overwrite)
    if report is not None and not report.parent.is_dir():
        # Checked before any work, so a bad report path leaves no output behind.
        raise click.UsageError(f"{report}: report directory does not exist")
    try:
        entry = restore_file(job, options)
        if report is not None:
            write_report(report, [entry])
    except TVRestoreError as err:
        raise click.UsageError(str(err)) from err
    click.echo(_summary(entry))


def _summary(entry: dict) -> str:
    """The console version of a report entry."""
    weight = f"{entry['weight']:.4g}"
    if entry["weight_auto"]:
        weight += f" (auto, noise sigma {entry['noise_sigma']:.4g})"
    state = "converged" if entry["converged"] else "NOT converged: raise --max-iter or --tol"
    lines = [
        f"{entry['input']} -> {entry['output']}  "
        f"({'x'.join(map(str, entry['shape']))} {entry['dtype']})",
        f"  weight {weight}, {entry['tv']} {entry['color']} TV, reduction {entry['reduction']}",
        f"  {entry['iterations']} iterations ({state}), objective {entry['objective']:.6g}, "
        f"solve {entry['solve_seconds']:.3f} s (+{entry['compile_seconds']:.2f} s compile), "
        f"total {entry['total_seconds']:.2f} s",
    ]
    if entry["psnr"] is not None:
        ssim = "n/a" if entry["ssim"] is None else f"{entry['ssim']:.4f}"
        lines.append(f"  PSNR {entry['psnr']:.2f} dB, SSIM {ssim}")
    if entry["compare"]:
        lines.append(_compare_table(entry["compare"]))
    return "\n".join(lines)


def _compare_table(rows: list[dict]) -> str:
    def number(value, spec):
        return "-" if value is None else format(value, spec)

    header = f"  {'method':<20} {'weight':>8} {'PSNR':>7} {'SSIM':>7} {'objective E':>14} {'seconds':>8}"
    body = [
        f"  {row['method']:<20} {row['weight']:>8.4g} {number(row['psnr'], '7.2f')} "
        f"{number(row['ssim'], '7.4f')} {row['objective']:>14.6f} {row['seconds']:>8.3f}"
        for row in rows
    ]
    return "\n".join([header, *body])
