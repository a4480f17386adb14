"""The command line's option types, parsers and checks, and the options the commands share.

Each parser is a Click callback that turns a bad value into a usage error
(exit code 2) before any work, with the library's own rule where it has one
(:mod:`tvrestore.options`); none of them imports TensorFlow.
"""

from __future__ import annotations

import math
from pathlib import Path

import click

from tvrestore.errors import TVRestoreError, printable


class _Path(click.Path):
    """A path argument; an empty one is a usage error (``Path("")`` would be the current directory)."""

    def convert(self, value, param, ctx):
        if isinstance(value, str) and not value.strip():
            self.fail(f"{value!r} is not a path", param, ctx)
        return super().convert(value, param, ctx)


PATH = _Path(path_type=Path)


def cache_options(command):
    """--cache-dir and --no-cache, shared by the commands that compile."""
    command = click.option(
        "--no-cache", is_flag=True,
        help="Compile in this process only; keep nothing on disk.")(command)
    return click.option(
        "--cache-dir", type=PATH, metavar="DIR",
        help="Where compiled programs are kept between runs (default: $TVRESTORE_CACHE_DIR, "
             "else $XDG_CACHE_HOME/tvrestore, else ~/.cache/tvrestore).")(command)


def configure_cache(cache_dir: Path | None, no_cache: bool) -> None:
    """Set up the compile cache before TensorFlow loads; say once if it cannot be used."""
    from tvrestore.backend import cache

    status = cache.configure(cache_dir, enabled=not no_cache)
    if status.message is not None:
        click.echo(f"Note: {printable(status.message)}", err=True)


def parse_zoom(ctx: click.Context, param: click.Parameter, value: str | None):
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


def parse_scheduler(ctx: click.Context, param: click.Parameter, value: str | None):
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


def parse_scheduler_timeout(ctx: click.Context, param: click.Parameter, value: float) -> float:
    """Seconds in (0, 1 hour]; NaN is refused here (Click's FloatRange raises on it)."""
    if not 0 < value <= _MAX_SCHEDULER_TIMEOUT:
        raise click.BadParameter(
            f"{value:g} is not a number of seconds in (0, {_MAX_SCHEDULER_TIMEOUT:g}]")
    return value


def parse_axes(ctx: click.Context, param: click.Parameter, value: str | None):
    """--axes: letters of T, Z, Y, X, C, each once, with Y and X (the array's fit is checked later)."""
    if value is None:
        return None
    from tvrestore.models.axes import Axes

    try:
        return Axes.parse(value).letters
    except TVRestoreError as err:
        raise click.BadParameter(str(err)) from err


def parse_spacing_option(ctx: click.Context, param: click.Parameter, value: str | None):
    """--spacing Z,Y,X: positive finite numbers (their count is checked against the axes later)."""
    if value is None:
        return None
    from tvrestore.models.axes import parse_spacing

    try:
        return parse_spacing(value)
    except TVRestoreError as err:
        raise click.BadParameter(str(err)) from err


def parse_weight(ctx: click.Context, param: click.Parameter, value: str) -> float | str:
    """'auto' or a weight within the library's bounds."""
    from tvrestore.options import MAX_WEIGHT, check_weight

    if value == "auto":
        return value
    try:
        return check_weight(float(value))
    except (ValueError, TVRestoreError) as err:
        raise click.BadParameter(
            f"{value!r} is not 'auto' or a number from 0 to {MAX_WEIGHT:g}") from err


def parse_calibration(ctx: click.Context, param: click.Parameter, value: str) -> float | str:
    """--gain and --offset: 'auto' or a number, by the library's own rule (no TensorFlow)."""
    from tvrestore.options import check_gain, check_offset

    check = check_gain if param.name == "gain" else check_offset
    try:
        return check(value if value == "auto" else float(value))
    except (ValueError, TVRestoreError) as err:
        message = str(err) if isinstance(err, TVRestoreError) else f"{value!r} is not a number or 'auto'"
        raise click.BadParameter(message) from err


def checked(check):
    """A Click callback that validates with the library's own check (one rule, two callers)."""

    def callback(ctx: click.Context, param: click.Parameter, value):
        try:
            return check(param.name, value)
        except TVRestoreError as err:
            raise click.BadParameter(str(err)) from err

    return callback


def tolerance_option(name: str, value):
    """The library's tolerance check (--tol, --gap), imported only when an option is parsed."""
    from tvrestore.options import check_tolerance

    return check_tolerance(name, value)


def max_iter_option(name: str, value):
    """The library's --max-iter check, imported only when the option is parsed."""
    from tvrestore.options import check_max_iter

    return check_max_iter(value)


def comma_list(kind: type, minimum: float | None = None, maximum: float | None = None):
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


def check_record_paths(written: dict) -> None:
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


def check_dask(what: str) -> None:
    """A usage error naming `what` when the dask extra is not installed."""
    from tvrestore.runs.cluster import check_dask_installed

    try:
        check_dask_installed(what)
    except TVRestoreError as err:
        raise click.UsageError(str(err)) from err


def degradation_options(psf, psf_dir, mask, mask_dir, upscale) -> dict:
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


def check_drawing_options(figure, zoom, gallery, single: bool, gallery_assets) -> None:
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
