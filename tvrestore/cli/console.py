"""What the command line prints: a restored image's summary, a batch's lines and totals.

Pure formatting of report entries, plus the one-line error and the elapsed
line on stderr. Every file name is printed through
:func:`tvrestore.errors.printable`, so no name can forge a line.
"""

from __future__ import annotations

import contextlib
import dataclasses
import time
from typing import TYPE_CHECKING, Sequence

import click

from tvrestore.bench.formatting import format_or_dash
from tvrestore.errors import printable

if TYPE_CHECKING:
    from tvrestore.runs.report import CompareRow, ReportEntry


def echo_error(message: str) -> None:
    """``Error: <message>`` on stderr, as one line whatever the file names in it hold.

    Control characters are escaped (:func:`tvrestore.errors.printable`), so
    a file named ``a\\nError: forged.png`` cannot print a line of its own,
    and a name that is not UTF-8 prints on a strict UTF-8 stderr.
    """
    click.echo(f"Error: {printable(message)}", err=True)


def echo_drawn(written: dict) -> None:
    """Where the figure and the gallery went, when asked for."""
    for role in ("figure", "gallery"):
        if written[role] is not None:
            click.echo(f"  {role}: {printable(str(written[role]))}")


@contextlib.contextmanager
def elapsed_line(label: str, show: bool, after_seconds: float = 1.0):
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


def _printable_entry(entry: ReportEntry) -> ReportEntry:
    """`entry` with its text (file names, reasons) safe to print: see :func:`echo_error`."""
    text = {field.name: printable(value) for field in dataclasses.fields(entry)
            if isinstance(value := getattr(entry, field.name), str)}
    return dataclasses.replace(entry, **text)


def batch_line(entry: ReportEntry) -> str:
    """One line per file of a batch."""
    entry = _printable_entry(entry)
    if entry.status == "skipped":
        return f"{entry.input} -> {entry.output}  skipped ({entry.skip_reason})"
    state = "" if entry.converged else ", NOT converged"
    line = (f"{entry.input} -> {entry.output}  weight {entry.weight:.4g}, "
            f"{entry.iterations} iterations{state}")
    if entry.axes is not None or entry.spacing is not None:
        line += f", {_axes_and_spacing(entry)}"
    if entry.psnr is not None:
        line += f", PSNR {entry.psnr:.2f} dB"
        if entry.file_psnr is not None:
            line += f" (the file as written: {entry.file_psnr:.2f} dB)"
    return line


def batch_summary(summary, total: int, interrupted: bool) -> str:
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


def _axes_and_spacing(entry: ReportEntry) -> str:
    """``axes ZYX, spacing 2 x 0.357 x 0.357`` of a volume's entry."""
    steps = "1 (every axis)" if entry.spacing is None else " x ".join(
        f"{step:g}" for step in entry.spacing)
    return f"axes {entry.axes or 'YX'}, spacing {steps}"


def summary(entry: ReportEntry) -> str:
    """The console version of a report entry."""
    entry = _printable_entry(entry)
    weight = f"{entry.weight:.4g}"
    if entry.weight_auto and entry.noise_sigma is not None:
        weight += f" (auto, noise sigma {entry.noise_sigma:.4g})"
    elif entry.weight_auto:
        weight += " (auto)"
    if entry.problem == "noise-free":
        weight += ": noise-free limit, min TV(u) subject to A u = f on the observed pixels"
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
        f"{'TV(u)' if entry.problem == 'noise-free' else 'objective'} "
        f"{format_or_dash(entry.objective, '.6g')}",
        f"  {_times(entry)}",
    ]
    if entry.noise == "poisson":
        route = f" ({entry.poisson_route} route)" if entry.poisson_route else ""
        lines.insert(2, f"  noise poisson{route}: pixel = {entry.gain:.4g} * counts + {entry.offset:.4g}"
                        + (f", {100 * entry.counts_clipped:.2g}% below the offset taken as 0"
                           if entry.counts_clipped else ""))
    elif entry.noise == "impulse" and entry.impulse_fraction is not None:
        lines.insert(2, f"  noise impulse: {100 * entry.impulse_fraction:.1f}% of the values "
                        f"detected as impulses ({entry.impulse_route}), treated as missing")
    elif entry.noise not in (None, "gaussian"):
        lines.insert(2, f"  noise {entry.noise}")
    if entry.axes is not None or entry.spacing is not None:
        lines.insert(2, f"  {_axes_and_spacing(entry)}")
    if entry.tile is not None:
        lines.insert(len(lines) - 1, f"  restored in tiles of {'x'.join(map(str, entry.tile))} pixels, "
                        f"halo {entry.halo} (iterations the most any tile took)")
    if entry.reference is not None:
        psnr = "inf (identical to the reference)" if entry.psnr is None else f"{entry.psnr:.2f} dB"
        ssim = "n/a" if entry.ssim is None else f"{entry.ssim:.4f}"
        lines.append(f"  PSNR {psnr}, SSIM {ssim}")
        if entry.file_psnr is not None:
            file_ssim = "n/a" if entry.file_ssim is None else f"{entry.file_ssim:.4f}"
            lines.append(f"  the {entry.output.rsplit('.', 1)[-1].upper()} file as written "
                         f"(lossy): PSNR {entry.file_psnr:.2f} dB, SSIM {file_ssim}")
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
