"""A batch as one HTML page: a sortable table with before/after thumbnails.

:func:`write_gallery` turns the report entries of
:func:`tvrestore.runs.batch.run_batch` into a single HTML file that any browser
opens from disk. Thumbnails are embedded as JPEG data URIs; clicking one
opens the enlarged view (input | result | reference at native resolution up
to :data:`~tvrestore.viz.display.MAX_DISPLAY_SIDE`, lossless PNG, crisp pixels)
in a dialog fixed to the viewport, with the file's name and numbers. The
table sorts by clicking a column heading (a small inline script, no
framework), names in natural order (img2 before img10), and turns into
cards on a narrow screen. Every piece of text from the entries (file
names, error messages) is escaped: control characters and the bytes of a
name that is not UTF-8 as :func:`tvrestore.errors.printable` writes them,
then HTML's own.

A volume or time-lapse (an entry with Z or T among its ``axes``) is shown
by its middle plane and its maximum projection along Z (or T), each a
thumbnail and an enlarged view, on the input stack's display range.

numpy, imageio and tvrestore.io only: no matplotlib, no TensorFlow.
"""

from __future__ import annotations

import base64
import html
import os
import re
import urllib.parse
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Iterable, Sequence

import imageio.v3 as iio
import numpy as np

from tvrestore.io.files import write_bytes, write_text
from tvrestore.io.images import read_image
from tvrestore.io.volumes import read_volume

from tvrestore.runs import report
from tvrestore.io.pixels import unit_view
from tvrestore.viz.display import (
    MAX_DISPLAY_SIDE, DisplayRange, block_mean, display_range, downsampling_factor,
    to_display, to_uint8, volume_view,
)
from tvrestore.errors import TVRestoreError, printable

__all__ = [
    "DEFAULT_THUMBNAIL_SIZE", "EMBEDDED_VIEWS_BYTES", "THUMBNAIL_QUALITY", "check_gallery_assets",
    "check_gallery_path", "natural_key", "shrunk", "write_gallery",
]

# Thumbnails are shown at most 128 CSS pixels a side; 160 keeps them sharp
# on a phone's denser screen while a row of the page stays near 15 KB.
DEFAULT_THUMBNAIL_SIZE = 160
# JPEG quality of the thumbnails: photographs and their noise cost a
# sixth of their PNG size at 80 (a 256x256 noisy astronaut: 160 KB as PNG,
# 25 KB at JPEG 85, 18 KB at 75), with no visible blocks at thumbnail size.
THUMBNAIL_QUALITY = 80
# Bytes of enlarged views (base64 PNG) a self-contained page embeds, in
# its row order; later rows enlarge their thumbnails. With 15 KB a row,
# 500 images then stay within 20 MB (12.9 MB measured by
# benchmarks/measure_gallery.py; tests/viz/test_gallery.py checks the budget).
EMBEDDED_VIEWS_BYTES = 6_000_000

# (heading, entry key or what the page adds, kind): "number" columns sort
# numerically, "name" in natural order, "text" as text (unknown values last
# in all three); "none" columns do not sort.
_COLUMNS = (
    ("#", "row number", "number"),
    ("name", "input", "name"),
    ("before / after", "thumbnails", "none"),
    ("status", "status", "text"),
    ("weight", "weight", "number"),
    ("iterations", "iterations", "number"),
    ("PSNR (dB)", "psnr", "number"),
    ("SSIM", "ssim", "number"),
    ("own s", "own_seconds", "number"),
    ("shared s", "shared_seconds", "number"),
    ("compared (PSNR dB)", "compare", "none"),
    ("error", "error", "text"),
)
# What a row shows, and a volume's projections beside its middle planes.
_ROLES = ("input", "result", "reference", "input-projection", "result-projection",
          "reference-projection")
_LABELS = {"input": "before", "result": "after", "input-projection": "before, max",
           "result-projection": "after, max"}
_FORMATS = {"weight": ".4g", "psnr": ".2f", "ssim": ".4f", "own_seconds": ".2f",
            "shared_seconds": ".2f"}


def check_gallery_path(path: str | os.PathLike[str], files: Iterable[str | os.PathLike[str]]) -> Path:
    """`path` as a Path if it can take the gallery: not one of `files`, in an existing directory.

    Call it before a batch starts, with the inputs and outputs of its jobs.

    Raises
    ------
    TVRestoreError
        If `path` is one of `files` (resolved) or its directory is missing.
    """
    path = Path(path)
    if not path.parent.is_dir():
        raise TVRestoreError(f"{path}: gallery directory does not exist")
    target = path.resolve()
    for file in files:
        if Path(file).resolve() == target:
            raise TVRestoreError(f"{path}: the gallery would replace the image {file}")
    return path


def check_gallery_assets(assets: str | os.PathLike[str]) -> Path:
    """`assets` as a Path if it can hold a gallery's views: a directory, or one to create.

    Raises
    ------
    TVRestoreError
        If `assets` is a file, or its parent directory is missing.
    """
    assets = Path(assets)
    if assets.exists() and not assets.is_dir():
        raise TVRestoreError(f"{assets}: gallery assets must be a directory")
    if not assets.parent.is_dir():
        raise TVRestoreError(f"{assets}: gallery assets' directory does not exist")
    return assets


def natural_key(name: str) -> tuple:
    """Sort key of a name in natural order: digit runs by value, the rest case-folded.

    ``img2.png`` comes before ``img10.png``; ties by the name itself, so
    the order is total.
    """
    parts = re.split(r"(\d+)", name)
    return tuple((0, int(part), "") if part.isdigit() else (1, 0, part.casefold())
                 for part in parts), name


def shrunk(
    image: np.ndarray, size: int = DEFAULT_THUMBNAIL_SIZE, shown: DisplayRange | None = None
) -> np.ndarray:
    """An image made small for a screen: 8-bit block means, on its display range.

    Parameters
    ----------
    image : numpy.ndarray
        Pixels as :func:`tvrestore.io.read_image` returns them; alpha is
        dropped.
    size : int
        The longest side is at most this: the image is averaged over
        ``ceil(side / size)``-pixel blocks, so it lands between about
        ``size / 2`` and ``size`` (the image as it is when it fits).
    shown : DisplayRange, optional
        Default :func:`tvrestore.viz.display.display_range` of the image; pass
        the input's for its output, so that both look alike.

    Returns
    -------
    numpy.ndarray
        uint8, ``(h, w)`` grey or ``(h, w, 3)``.

    Raises
    ------
    TVRestoreError
        If a side would average to no pixel at all: an image far longer
        than wide, e.g. 2 x 600 at size 256 (blocks of 3).
    """
    view = unit_view(image)
    shown = display_range(view) if shown is None else shown
    factor = downsampling_factor(view.shape, size)
    if min(view.shape[:2]) < factor:
        raise TVRestoreError(
            f"a {view.shape[0]}x{view.shape[1]} image is too narrow for a view of at most "
            f"{size} pixels a side")
    return to_uint8(to_display(block_mean([view], factor), shown))


def write_gallery(
    path: str | os.PathLike[str],
    entries: Sequence[report.ReportEntry],
    *,
    thumbnail_size: int = DEFAULT_THUMBNAIL_SIZE,
    assets: str | os.PathLike[str] | None = None,
) -> None:
    """Write the batch's HTML gallery, atomically.

    Parameters
    ----------
    path : str or path-like
        The HTML file; replaced if it exists (:func:`tvrestore.io.write_text`).
    entries : sequence of ReportEntry
        Report entries (:class:`tvrestore.runs.report.ReportEntry`); the
        fields used are input, output, reference, status, error, weight,
        iterations, psnr, ssim, compare, batch_size and the times (read,
        write, solve, compile, weight search, tensorflow).
    thumbnail_size : int
        Longest side of the embedded thumbnails (see :func:`shrunk`).
    assets : str or path-like, optional
        A directory (created if missing) for the enlarged views: one PNG
        file per image and role, ``<page stem>-<row>-<role>.png``, linked
        from the page and loaded only when a view is opened. Without it the
        page embeds them, up to :data:`EMBEDDED_VIEWS_BYTES` in all.

    Notes
    -----
    One table row per entry, in natural order of the input names (see
    :func:`natural_key`). A restored or skipped entry gets its input and
    output thumbnails, a failed one its input's (when readable) and its
    error. A thumbnail is JPEG at :data:`THUMBNAIL_QUALITY`, 3 to 7 KB
    for a 128x128 one of a noisy photograph. An enlarged view is the input, the result
    and the reference (when given) at native resolution up to
    :data:`~tvrestore.viz.display.MAX_DISPLAY_SIDE` a side (block means
    beyond), as 8-bit PNG on the input's display range. Images are read
    one at a time, so memory holds one image plus its views. A restored
    file's view that cannot be made is replaced by the reason.

    The times: "own s" is the image's own work, reading, its share of the
    solve (``solve_seconds / batch_size``) and writing; "shared s" is what
    its compiled call cost beyond the solve (compilation and the weight
    search), shared by its ``batch_size`` images. The summary line adds up
    both, and the TensorFlow start-up, once.

    Raises
    ------
    TVRestoreError
        If `thumbnail_size` is below 1, `path` or an asset file is an
        entry's input, output or reference (:func:`check_gallery_path`),
        `assets` is a file, or a file cannot be written.
    """
    if thumbnail_size < 1:
        raise TVRestoreError(f"thumbnail_size must be at least 1, got {thumbnail_size!r}")
    files = [getattr(entry, key) for entry in entries for key in ("input", "output", "reference")]
    files = [file for file in files if file is not None]
    path = check_gallery_path(path, files)
    ordered = sorted(entries, key=lambda entry: natural_key(str(entry.input or "")))
    views = _Views(path, None if assets is None else Path(assets), thumbnail_size)
    views.check(len(ordered), files)
    compared = any(entry.compare for entry in ordered)
    columns = [column for column in _COLUMNS if compared or column[1] != "compare"]
    rows = [_row(number, entry, views, columns) for number, entry in enumerate(ordered, 1)]
    write_text(path, _page(ordered, rows, views, columns))


@dataclass(frozen=True)
class _Image:
    """One image of a row as the page shows it."""

    role: str  # "input", "result" or "reference"
    source: str  # a data URI or a link relative to the page
    width: int
    height: int
    caption: str


class _Views:
    """Where a page's enlarged views go: embedded while the budget lasts, or asset files."""

    def __init__(self, page: Path, assets: Path | None, thumbnail_size: int) -> None:
        self.page, self.assets, self.thumbnail_size = page, assets, thumbnail_size
        self.embedded_bytes = 0
        self.thumbnails_only = 0  # rows whose views did not fit the budget

    @property
    def full(self) -> bool:
        """Whether a self-contained page has used its budget: later rows are not even encoded."""
        return self.assets is None and self.embedded_bytes >= EMBEDDED_VIEWS_BYTES

    def asset_path(self, number: int, role: str) -> Path:
        return self.assets / f"{self.page.stem}-{number:04d}-{role}.png"

    def check(self, rows: int, files: Sequence[str]) -> None:
        """Before any image is read: the asset directory can take its files."""
        if self.assets is None:
            return
        check_gallery_assets(self.assets)
        read = {Path(file).resolve(): file for file in files}
        for number in range(1, rows + 1):
            for role in _ROLES:
                clash = read.get(self.asset_path(number, role).resolve())
                if clash is not None:
                    raise TVRestoreError(
                        f"{self.asset_path(number, role)}: the gallery would replace the image "
                        f"{clash}")

    def place(self, number: int, views: list[tuple[str, np.ndarray, str]]) -> list[_Image] | None:
        """The enlarged views of row `number` (role, pixels, caption), or None if over budget."""
        if self.full:
            self.thumbnails_only += 1
            return None
        encoded = [(role, iio.imwrite("<bytes>", pixels, extension=".png"), pixels.shape, caption)
                   for role, pixels, caption in views]
        if self.assets is None:
            sources = [_data_uri("png", data) for _, data, _, _ in encoded]
            size = sum(map(len, sources))
            if self.embedded_bytes + size > EMBEDDED_VIEWS_BYTES:
                self.embedded_bytes = EMBEDDED_VIEWS_BYTES  # later rows do not jump the queue
                self.thumbnails_only += 1
                return None
            self.embedded_bytes += size
        else:
            self.assets.mkdir(exist_ok=True)
            sources = []
            for role, data, _, _ in encoded:
                file = self.asset_path(number, role)
                write_bytes(file, data, what="gallery asset")
                sources.append(_link(file, self.page.parent))
        return [_Image(role, source, shape[1], shape[0], caption)
                for (role, _, shape, caption), source in zip(encoded, sources)]


def _data_uri(kind: str, data: bytes) -> str:
    return f"data:image/{kind};base64,{base64.b64encode(data).decode('ascii')}"


def _link(file: Path, base: Path) -> str:
    """`file` as a URL relative to `base` (absolute, as a file URL, on another drive)."""
    try:
        relative = Path(os.path.relpath(file.resolve(), base.resolve()))
    except ValueError:
        return file.resolve().as_uri()
    return urllib.parse.quote(relative.as_posix())


def _row(number: int, entry: report.ReportEntry, views: _Views, columns) -> tuple[str, str]:
    """A row of the table and the template of its enlarged view."""
    status = entry.status or ""
    derived = {"own_seconds": _own_seconds(entry), "shared_seconds": _shared_seconds(entry)}
    thumbnails, view = _thumbnails_and_view(number, entry, views)
    cells = []
    for title, key, kind in columns:
        label = f' data-label="{html.escape(title)}"'
        if key == "row number":
            cells.append(f'<td data-value="{number}"{label}>{number}</td>')
        elif key == "thumbnails":
            cells.append(f'<td class="pair">{thumbnails}</td>')
        elif key == "compare":
            compared = _compare_summary(entry.compare)
            cells.append(f'<td class="compare"{label}>{compared}</td>')
        elif key == "input":
            cells.append(f"<td>{_text(entry.input)}</td>")
        else:
            value = derived[key] if key in derived else getattr(entry, key)
            cells.append(_cell(key, value, kind, entry, label))
    return (f'<tr id="row-{number}" class="{html.escape(status)}" data-order="{number}">'
            f'{"".join(cells)}</tr>', view)


def _own_seconds(entry: report.ReportEntry) -> float | None:
    """Reading, the image's share of its call's solve, and writing; None without a solve."""
    solve = entry.solve_seconds
    if solve is None:
        return None
    return (solve / (entry.batch_size or 1) + (entry.read_seconds or 0.0)
            + (entry.write_seconds or 0.0))


def _shared_seconds(entry: report.ReportEntry) -> float | None:
    """Its call's compilation and weight search, which its batch_size images shared."""
    parts = [entry.compile_seconds, entry.weight_search_seconds]
    known = [part for part in parts if part is not None]
    return sum(known) if known else None


def _cell(key: str, value, kind: str, entry: report.ReportEntry, label: str) -> str:
    if value is None:
        return '<td data-value=""></td>' if kind == "number" else "<td></td>"
    if kind == "number":
        shown = format(value, _FORMATS.get(key, "d" if isinstance(value, int) else "g"))
        return f'<td data-value="{float(value)!r}"{_hint(key, entry)}{label}>{shown}</td>'
    css = ' class="error"' if key == "error" else ""
    return f"<td{css}{label}>{_text(value)}</td>"


def _hint(key: str, entry: report.ReportEntry) -> str:
    """The parts of a time, as the cell's tooltip."""
    if key == "own_seconds":
        parts = [("read", entry.read_seconds),
                 ("solve share", entry.solve_seconds / (entry.batch_size or 1)),
                 ("write", entry.write_seconds)]
    elif key == "shared_seconds":
        parts = [("compile", entry.compile_seconds),
                 ("weight search", entry.weight_search_seconds)]
    else:
        return ""
    shown = ", ".join(f"{name} {value:.3f} s" for name, value in parts if value is not None)
    if key == "shared_seconds":
        shown += f"; shared by {entry.batch_size or 1} image(s)"
    return f' title="{shown}"'


def _compare_summary(rows) -> str:
    """The --compare methods' PSNR, one line each ("" when not compared)."""
    return "<br>".join(f"{_text(row.method)} {_number(row.psnr, '.2f')}"
                       for row in rows or ())


def _number(value, spec: str) -> str:
    return "n/a" if value is None else format(value, spec)


def _thumbnails_and_view(number: int, entry: report.ReportEntry, views: _Views) -> tuple[str, str]:
    """The thumbnail button of a row and the template of its enlarged view."""
    name = _text(entry.input)
    failed = entry.status == report.FAILED
    sources = [("input", "before", entry.input)]
    if not failed:
        sources.append(("result", "after", entry.output))
        if not views.full:  # the reference is seen in the enlarged view only
            sources.append(("reference", "reference", entry.reference))
    thumbnails, enlarged, notes = [], [], []
    shown, shown_shape = None, None
    for role, label, source in sources:
        if source is None:
            continue
        try:
            whole, previews = _previews(source, entry.axes)
            if whole.shape != shown_shape:
                # On the input's range, so that the images look alike.
                shown, shown_shape = display_range(whole), whole.shape
            for suffix, what, view in previews:
                caption = f"{role}{what}, {view.shape[1]}x{view.shape[0]}, {shown.description}"
                if role != "reference":
                    small = shrunk(view, views.thumbnail_size, shown)
                    data = iio.imwrite("<bytes>", small, extension=".jpg",
                                       quality=THUMBNAIL_QUALITY)
                    # Its caption is for the enlarged view when that shows the thumbnail.
                    thumbnails.append(_Image(
                        role + suffix, _data_uri("jpeg", data), small.shape[1], small.shape[0],
                        f"{role}{what}, {small.shape[1]}x{small.shape[0]} thumbnail of "
                        f"{view.shape[1]}x{view.shape[0]}, {shown.description}"))
                if not views.full:
                    enlarged.append((role + suffix, shrunk(view, MAX_DISPLAY_SIDE, shown), caption))
        except TVRestoreError as err:
            if not failed:  # a failed entry shows its error already
                notes.append(f'<p class="missing">{label}: no preview ({_text(err)})</p>')
            continue
    if not thumbnails:
        return "".join(notes), ""
    placed = views.place(number, enlarged)
    note = ""
    if placed is None:
        # The thumbnails again, their pixels copied from the row's button
        # when the view opens (data-thumbnail) rather than stored twice.
        placed = [_Image(image.role, "", image.width, image.height, image.caption)
                  for image in thumbnails]
        note = f'<p class="note">{_THUMBNAILS_ONLY}</p>'
    button = "".join(
        f'<span class="thumb"><img src="{image.source}" width="{image.width}" '
        f'height="{image.height}" alt="{_LABELS[image.role]}: {name}">'
        f'<span class="caption">{_LABELS[image.role]}</span></span>' for image in thumbnails)
    figures = "".join(
        f'<figure><img {_source(image, index)} width="{image.width}" height="{image.height}" '
        f'alt="{image.role}: {name}"><figcaption>{_text(image.caption)}</figcaption></figure>'
        for index, image in enumerate(placed))
    template = (f'<template id="view-{number}"><h2>{name}</h2><p class="metrics">'
                f"{_metrics(entry)}</p>{_compare_table(_compare_rows(entry))}{note}"
                f'<div class="panels">{figures}</div></template>')
    return (f'<button type="button" class="open" data-view="view-{number}" '
            f'title="enlarge">{button}</button>{"".join(notes)}', template)


def _previews(source, axes: str | None) -> tuple:
    """The pixels whose range a file is shown on, and its previews: (role suffix, caption words, pixels).

    An image is its own preview; a volume (Z or T among ``axes``) gives
    its middle plane and its maximum projection, on its whole stack's range.
    """
    if axes is None or not set(axes) & set("TZ"):
        view = unit_view(read_image(source))
        return view, [("", "", view)]
    volume = volume_view(read_volume(source)[0], axes)
    depth, middle = volume.depth, volume.pixels.shape[0] // 2
    return unit_view(volume.as_image()), [
        ("", f" ({depth.lower()} = {middle}, middle)", unit_view(volume.middle)),
        ("-projection", f" (maximum along {depth})", unit_view(volume.projection()))]


def _source(image: _Image, index: int) -> str:
    """An enlarged image's src, or which of its row's thumbnails it shows."""
    return f'src="{image.source}"' if image.source else f'data-thumbnail="{index}"'


def _compare_rows(entry: report.ReportEntry) -> list[dict]:
    """An entry's --compare rows as the mappings :func:`_compare_table` shows ([] without)."""
    return [asdict(row) for row in entry.compare or ()]


def _metrics(entry: report.ReportEntry) -> str:
    """One line of a row's numbers for its enlarged view."""
    parts = [_text(entry.status or "")]
    for key, text in (("weight", "weight {:.4g}"), ("iterations", "{} iterations"),
                      ("psnr", "PSNR {:.2f} dB"), ("ssim", "SSIM {:.4f}")):
        if getattr(entry, key) is not None:
            parts.append(text.format(getattr(entry, key)))
    own, shared = _own_seconds(entry), _shared_seconds(entry)
    if own is not None:
        parts.append(f"own {own:.2f} s")
    if shared is not None:
        parts.append(f"shared {shared:.2f} s")
    if entry.error:
        parts.append(_text(entry.error))
    return " · ".join(parts)


# The columns of a --compare table: heading, key of a method's row, format.
_METHOD_COLUMNS = (("method", "method", None), ("PSNR (dB)", "psnr", ".2f"),
                   ("SSIM", "ssim", ".4f"), ("seconds", "seconds", ".2f"))


def _compare_table(rows, caption: str = "", columns=_METHOD_COLUMNS) -> str:
    """--compare's methods as a small table in a box that scrolls ("" when not compared)."""
    if not rows:
        return ""
    headings = "".join(f"<th>{html.escape(title)}</th>" for title, _, _ in columns)
    body = "".join(
        "<tr>" + "".join(f"<td>{_text(row[key]) if spec is None else _number(row.get(key), spec)}"
                         "</td>" for _, key, spec in columns) + "</tr>"
        for row in rows)
    caption = f"<caption>{caption}</caption>" if caption else ""
    return (f'<div class="table-box"><table class="compare">{caption}<thead><tr>{headings}'
            f"</tr></thead><tbody>{body}</tbody></table></div>")


def _text(value) -> str:
    """`value` as HTML text: printable (:func:`tvrestore.errors.printable`), then escaped."""
    return html.escape(printable(str(value)))


_THUMBNAILS_ONLY = (
    f"Thumbnails only: the page embeds full views up to {EMBEDDED_VIEWS_BYTES / 1e6:g} MB; "
    "with --gallery-assets DIR it links every image&#39;s instead.")


def _summary(entries: Sequence[report.ReportEntry], views: _Views) -> str:
    """Counts, mean scores and where the time went, as the page's first lines."""
    summary = report.summarise(entries, wall_seconds=0.0)  # the page knows no wall time
    lines = [f"{len(entries)} images: {summary.restored} restored, {summary.skipped} skipped, "
             f"{summary.failed} failed."]
    if summary.psnr is not None:
        ssim = "" if summary.ssim is None else f", SSIM {summary.ssim:.4f}"
        lines.append(f"Mean PSNR {summary.psnr:.2f} dB{ssim} over the {summary.scored} "
                     "images with a reference.")
    restored = [entry for entry in entries if entry.status == report.RESTORED]
    own = [_own_seconds(entry) for entry in restored]
    own_total = sum(value for value in own if value is not None)
    # A call's shared costs appear in each of its batch_size entries.
    shared = {name: sum((getattr(entry, key) or 0.0) / (entry.batch_size or 1)
                        for entry in restored)
              for name, key in (("compile", "compile_seconds"),
                                ("weight search", "weight_search_seconds"))}
    start_up = max((entry.tensorflow_seconds or 0.0 for entry in restored), default=0.0)
    if restored:
        lines.append(f"Time: {own_total:.2f} s own (reading, solving, writing; the column "
                     f"adds up to it); shared: TensorFlow start-up {start_up:.2f} s, "
                     + ", ".join(f"{name} {seconds:.2f} s" for name, seconds in shared.items())
                     + ".")
    if views.thumbnails_only:
        lines.append(f"The enlarged views of {views.thumbnails_only} rows are their thumbnails. "
                     + _THUMBNAILS_ONLY)
    paragraphs = "".join(f"<p>{line}</p>" for line in lines)
    means = (_METHOD_COLUMNS[0], ("images", "images", "d"), *_METHOD_COLUMNS[1:])
    return paragraphs + _compare_table(summary.compare, "--compare, means per method", means)


def _page(entries: Sequence[report.ReportEntry], rows: list[tuple[str, str]], views: _Views,
          columns) -> str:
    headings = "".join(
        f'<th data-type="{kind}">{html.escape(title)}</th>' if kind == "none"
        else f'<th data-type="{kind}"><button type="button">{html.escape(title)}</button></th>'
        for title, _, kind in columns
    )
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>tvrestore: {len(entries)} images</title>
<style>{_STYLE}</style>
</head>
<body>
<h1>tvrestore: {len(entries)} images</h1>
{_summary(entries, views)}
<p class="hint">Click a column heading to sort, a thumbnail pair to enlarge it (Escape closes).</p>
<div class="table-box">
<table id="results">
<thead><tr>{headings}</tr></thead>
<tbody>
{chr(10).join(row for row, _ in rows)}
</tbody>
</table>
</div>
{"".join(template for _, template in rows)}
<dialog id="enlarged" aria-label="enlarged view">
<div class="bar"><button type="button" class="close">Close &#x2715;</button></div>
<div class="content"></div>
</dialog>
<script>{_SCRIPT}</script>
</body>
</html>
"""


_STYLE = """
body { font: 14px/1.4 system-ui, sans-serif; margin: 1.5em; color: #222; background: #fff; }
table { border-collapse: collapse; }
th, td { padding: 4px 8px; border-bottom: 1px solid #ddd; text-align: left; vertical-align: middle; }
th { background: #f2f2f2; position: sticky; top: 0; z-index: 1; }
th button { font: inherit; font-weight: bold; border: 0; background: none; cursor: pointer; padding: 0; }
th[aria-sort=ascending] button::after { content: " \\25B2"; }
th[aria-sort=descending] button::after { content: " \\25BC"; }
td[data-value] { text-align: right; font-variant-numeric: tabular-nums; }
#results td:nth-child(2) { word-break: break-all; max-width: 24em; }
tr.failed { background: #fff0f0; }
tr.skipped { color: #777; }
td.error { color: #a00; max-width: 30em; word-break: break-word; }
td.compare { font-size: 12px; white-space: nowrap; }
.table-box { max-width: 100%; overflow-x: auto; }
table.compare { margin: 0.5em 0; font-size: 13px; }
table.compare td:first-child { overflow-wrap: anywhere; }
table.compare caption { text-align: left; font-weight: bold; }
.missing { font-size: 12px; color: #a00; max-width: 30em; margin: 0; }
button.open { display: flex; gap: 6px; border: 0; padding: 0; background: none; cursor: zoom-in; }
.thumb { display: inline-flex; flex-direction: column; align-items: center; }
.thumb img { display: block; width: auto; height: auto; max-width: 128px; max-height: 128px; }
.thumb .caption { font-size: 12px; color: #555; }
dialog#enlarged { position: fixed; inset: 0; width: 100vw; height: 100vh; max-width: 100vw;
                  max-height: 100vh; margin: 0; padding: 0; border: 0; box-sizing: border-box;
                  overflow: auto; background: #111; color: #eee; }
dialog#enlarged::backdrop { background: rgba(0, 0, 0, 0.5); }
#enlarged .bar { position: sticky; top: 0; display: flex; justify-content: flex-end; padding: 8px;
                 background: #111; z-index: 1; }
#enlarged button.close { font: inherit; font-size: 16px; padding: 6px 14px; border-radius: 4px;
                         border: 1px solid #aaa; background: #333; color: #fff; cursor: pointer; }
#enlarged .content { padding: 0 16px 16px; }
#enlarged h2 { font-size: 16px; margin: 0 0 4px; word-break: break-all; }
#enlarged .metrics, #enlarged .note { margin: 0 0 8px; }
#enlarged table.compare td, #enlarged table.compare th { border-color: #555; color: #eee;
                                                          background: none; position: static; }
#enlarged .panels { display: flex; flex-wrap: wrap; gap: 12px; align-items: flex-start; }
#enlarged figure { margin: 0; }
#enlarged figure img { display: block; image-rendering: pixelated; }
#enlarged figure img.smooth { image-rendering: auto; }
#enlarged figcaption { font-size: 13px; color: #ccc; }
@media (max-width: 720px) {
  body { margin: 0.75em; }
  #results, #results tbody, #results tr, #results td { display: block; }
  #results thead tr { display: flex; flex-wrap: wrap; gap: 4px 12px; }
  #results th { display: block; position: static; border: 0; }
  #results th[data-type=none] { display: none; }
  #results tbody tr { display: flex; flex-direction: column; border: 1px solid #ccc;
                      border-radius: 6px; margin: 8px 0; padding: 6px; }
  #results td { border: 0; padding: 2px 4px; text-align: left; max-width: none; }
  #results td.pair { order: -1; }
  #results td:empty { display: none; }
  #results td[data-label]::before { content: attr(data-label) ": "; font-weight: bold; }
}
"""

# Sorts the body's rows by the clicked column: numbers by data-value, names
# by their natural rank (the row's data-order, set in Python), text by
# content; unknown values last in every direction. Opens a row's enlarged
# view in the dialog, fits each image at a whole zoom factor (crisp pixels)
# or shrinks it to fit, and gives the focus back to the thumbnail on close.
_SCRIPT = """
document.querySelectorAll("#results th button").forEach(function (button) {
  button.addEventListener("click", function () {
    var heading = button.parentElement, column = heading.cellIndex, type = heading.dataset.type;
    var ascending = heading.getAttribute("aria-sort") !== "ascending";
    document.querySelectorAll("#results th").forEach(function (th) { th.removeAttribute("aria-sort"); });
    heading.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = document.querySelector("#results tbody");
    var keyed = Array.prototype.map.call(body.rows, function (row) {
      var text = type === "name" ? row.dataset.order
        : type === "number" ? row.cells[column].dataset.value : row.cells[column].textContent;
      return { row: row, known: text !== "", key: type === "text" ? text : Number(text) };
    });
    keyed.sort(function (a, b) {
      if (a.known !== b.known) { return a.known ? -1 : 1; }
      var order = type === "text" ? a.key.localeCompare(b.key) : a.key - b.key;
      return ascending ? order : -order;
    });
    keyed.forEach(function (item) { body.appendChild(item.row); });
  });
});
var dialog = document.getElementById("enlarged"), content = dialog.querySelector(".content");
var opener = null;
function fit() {
  var images = content.querySelectorAll(".panels img");
  var across = window.innerWidth > 720 ? images.length : 1;
  var width = (content.clientWidth - 32 - 12 * (across - 1)) / across;
  var height = window.innerHeight * 0.8;
  images.forEach(function (image) {
    var natural = Number(image.getAttribute("width")), tall = Number(image.getAttribute("height"));
    var scale = Math.min(width / natural, height / tall);
    scale = scale >= 1 ? Math.floor(scale) : scale;
    image.classList.toggle("smooth", scale < 1);
    image.style.width = natural * scale + "px";
    image.style.height = tall * scale + "px";
  });
}
document.querySelectorAll("button.open").forEach(function (button) {
  button.addEventListener("click", function () {
    opener = button;
    content.replaceChildren(document.getElementById(button.dataset.view).content.cloneNode(true));
    var thumbnails = button.querySelectorAll("img");
    content.querySelectorAll("img[data-thumbnail]").forEach(function (image) {
      image.src = thumbnails[Number(image.dataset.thumbnail)].src;
    });
    dialog.showModal();
    dialog.querySelector("button.close").focus();
    fit();
  });
});
dialog.querySelector("button.close").addEventListener("click", function () { dialog.close(); });
dialog.addEventListener("close", function () {
  content.replaceChildren();
  if (opener) { opener.focus(); }
});
window.addEventListener("resize", function () { if (dialog.open) { fit(); } });
"""
