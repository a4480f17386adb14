"""A batch as one HTML page: a sortable table with before/after thumbnails.

:func:`write_gallery` turns the report entries of
:func:`tvrestore.batch.run_batch` into a single self-contained HTML file
that any browser opens from disk: thumbnails are embedded as PNG data URIs,
the table sorts by clicking a column heading (a small inline script, no
framework) and a thumbnail pair enlarges on click (CSS ``:target``, no
script). Every piece of text from the entries (file names, error messages)
is escaped: control characters and the bytes of a name that is not UTF-8
as :func:`tvrestore.errors.printable` writes them, then HTML's own.

numpy, imageio and tvrestore.io only: no matplotlib, no TensorFlow.
"""

from __future__ import annotations

import base64
import html
import os
from pathlib import Path
from typing import Iterable, Sequence

import imageio.v3 as iio
import numpy as np

from tvrestore import io
from tvrestore.display import (
    DisplayRange, block_mean, colour_view, display_range, downsampling_factor, to_display, to_uint8,
)
from tvrestore.errors import TVRestoreError, printable

__all__ = ["DEFAULT_THUMBNAIL_SIZE", "check_gallery_path", "thumbnail_png", "write_gallery"]

DEFAULT_THUMBNAIL_SIZE = 256

# (heading, entry key or what the page adds, kind): "number" columns sort
# numerically, unknown values last; "none" columns do not sort.
_COLUMNS = (
    ("#", "row number", "number"),
    ("name", "input", "text"),
    ("status", "status", "text"),
    ("weight", "weight", "number"),
    ("iterations", "iterations", "number"),
    ("PSNR (dB)", "psnr", "number"),
    ("SSIM", "ssim", "number"),
    ("seconds", "total_seconds", "number"),
    ("before / after", "thumbnails", "none"),
    ("error", "error", "text"),
)
_FORMATS = {"weight": ".4g", "psnr": ".2f", "ssim": ".4f", "total_seconds": ".2f"}


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


def thumbnail_png(
    image: np.ndarray, size: int = DEFAULT_THUMBNAIL_SIZE, shown: DisplayRange | None = None
) -> bytes:
    """A small 8-bit PNG of an image: block means, on its display range.

    Parameters
    ----------
    image : numpy.ndarray
        Pixels as :func:`tvrestore.io.read_image` returns them; alpha is
        dropped.
    size : int
        The longest side is at most this: the image is averaged over
        ``ceil(side / size)``-pixel blocks, so it lands between about
        ``size / 2`` and ``size``.
    shown : DisplayRange, optional
        Default :func:`tvrestore.display.display_range` of the image; pass
        the input's for its output, so that both look alike.

    Returns
    -------
    bytes
        PNG, grey or RGB.

    Raises
    ------
    TVRestoreError
        If a side would average to no pixel at all: an image far longer
        than wide, e.g. 2 x 600 at size 256 (blocks of 3).
    """
    view = colour_view(image)
    shown = display_range(view) if shown is None else shown
    factor = downsampling_factor(view.shape, size)
    if min(view.shape[:2]) < factor:
        raise TVRestoreError(
            f"a {view.shape[0]}x{view.shape[1]} image is too narrow for a thumbnail of at most "
            f"{size} pixels a side")
    small = to_uint8(to_display(block_mean([view], factor), shown))
    return iio.imwrite("<bytes>", small, extension=".png")


def write_gallery(
    path: str | os.PathLike[str],
    entries: Sequence[dict],
    *,
    thumbnail_size: int = DEFAULT_THUMBNAIL_SIZE,
) -> None:
    """Write the batch's HTML gallery, atomically.

    Parameters
    ----------
    path : str or path-like
        The HTML file; replaced if it exists (:func:`tvrestore.io.write_text`).
    entries : sequence of dict
        Report entries (:data:`tvrestore.batch.ENTRY_KEYS`); the keys used
        are input, output, status, error, weight, iterations, psnr, ssim,
        total_seconds and solve_seconds, a missing one counting as None.
    thumbnail_size : int
        Longest side of the embedded thumbnails (see :func:`thumbnail_png`).

    Notes
    -----
    One table row per entry, in the order given. A restored or skipped
    entry gets its input and output thumbnails, a failed one its input's
    (when readable) and its error. Images are read one at a time, so memory
    holds one image plus the thumbnails; the page grows by 100 to 200 KB
    of base64 PNG per thumbnail pair at the default size. A restored
    file's thumbnail that cannot be made is replaced by the reason.

    Raises
    ------
    TVRestoreError
        If `thumbnail_size` is below 1, `path` is an entry's input or output
        (:func:`check_gallery_path`), or the file cannot be written.
    """
    if thumbnail_size < 1:
        raise TVRestoreError(f"thumbnail_size must be at least 1, got {thumbnail_size!r}")
    files = [entry.get(key) for entry in entries for key in ("input", "output")]
    path = check_gallery_path(path, [file for file in files if file is not None])
    rows = [_row(number, entry, thumbnail_size) for number, entry in enumerate(entries, 1)]
    io.write_text(path, _page(entries, rows))


def _row(number: int, entry: dict, thumbnail_size: int) -> str:
    status = entry.get("status") or ""
    cells = []
    for _, key, kind in _COLUMNS:
        if key == "row number":
            cells.append(f'<td data-value="{number}">{number}</td>')
        elif key == "thumbnails":
            cells.append(f'<td class="pair">{_thumbnails(number, entry, thumbnail_size)}</td>')
        else:
            cells.append(_cell(key, entry.get(key), kind, entry))
    return f'<tr id="row-{number}" class="{html.escape(status)}">{"".join(cells)}</tr>'


def _cell(key: str, value, kind: str, entry: dict) -> str:
    if value is None:
        return '<td data-value=""></td>' if kind == "number" else "<td></td>"
    if kind == "number":
        shown = format(value, _FORMATS.get(key, "d" if isinstance(value, int) else "g"))
        solve = entry.get("solve_seconds")
        hint = (f' title="solve {solve:.3f} s"' if key == "total_seconds" and solve is not None
                else "")
        return f'<td data-value="{float(value)!r}"{hint}>{shown}</td>'
    css = ' class="error"' if key == "error" else ""
    return f"<td{css}>{_text(value)}</td>"


def _thumbnails(number: int, entry: dict, thumbnail_size: int) -> str:
    """The before/after pair, a link that enlarges it in place, and a way back."""
    name = _text(entry.get("input"))
    sources = [("before", entry.get("input"))]
    if entry.get("status") != "failed":
        sources.append(("after", entry.get("output")))
    figures, notes = [], []
    shown, shown_shape = None, None
    for label, source in sources:
        if source is None:
            continue
        try:
            view = colour_view(io.read_image(source))
            if view.shape != shown_shape:
                # The output on the input's range, so that the pair looks alike.
                shown, shown_shape = display_range(view), view.shape
            data = base64.b64encode(thumbnail_png(view, thumbnail_size, shown)).decode("ascii")
        except TVRestoreError as err:
            if entry.get("status") != "failed":  # a failed entry shows its error already
                notes.append(f'<p class="missing">{label}: no preview ({_text(err)})</p>')
            continue
        figures.append(f'<figure><img src="data:image/png;base64,{data}" alt="{label}: {name}">'
                       f"<figcaption>{label}</figcaption></figure>")
    if not figures:
        return "".join(notes)
    return (f'<div class="view" id="view-{number}"><a class="open" href="#view-{number}" '
            f'title="enlarge">{"".join(figures)}</a>'
            f'<a class="close" href="#row-{number}" title="close">close</a></div>{"".join(notes)}')


def _text(value) -> str:
    """`value` as HTML text: printable (:func:`tvrestore.errors.printable`), then escaped."""
    return html.escape(printable(str(value)))


def _page(entries: Sequence[dict], rows: list[str]) -> str:
    counts = {status: sum(entry.get("status") == status for entry in entries)
              for status in ("restored", "skipped", "failed")}
    summary = ", ".join(f"{count} {status}" for status, count in counts.items())
    headings = "".join(
        f'<th data-type="{kind}">{html.escape(title)}</th>' if kind == "none"
        else f'<th data-type="{kind}"><button type="button">{html.escape(title)}</button></th>'
        for title, _, kind in _COLUMNS
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
<p>{summary}. Click a column heading to sort, a thumbnail pair to enlarge it.</p>
<table id="results">
<thead><tr>{headings}</tr></thead>
<tbody>
{chr(10).join(rows)}
</tbody>
</table>
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
tr.failed { background: #fff0f0; }
tr.skipped { color: #777; }
td.error { color: #a00; max-width: 40em; word-break: break-word; }
.view { display: flex; align-items: center; }
.view figure { display: inline-block; margin: 0 6px 0 0; text-align: center; }
.view img { display: block; max-width: 128px; max-height: 128px; }
.view figcaption { font-size: 12px; color: #555; }
.missing { font-size: 12px; color: #a00; max-width: 30em; margin: 0; }
.view a.open { display: flex; }
.view a.close { display: none; }
.view:target { position: fixed; inset: 0; z-index: 2; background: rgba(0, 0, 0, 0.88);
               justify-content: center; }
.view:target img { max-width: 45vw; max-height: 85vh; width: 45vw; height: auto;
                   object-fit: contain; }
.view:target figcaption { color: #eee; font-size: 16px; }
.view:target a.close { display: block; position: absolute; inset: 0; color: transparent; }
"""

# Sorts the body's rows by the clicked column: numbers by data-value, text
# by content; unknown values last in both directions.
_SCRIPT = """
document.querySelectorAll("#results th button").forEach(function (button) {
  button.addEventListener("click", function () {
    var heading = button.parentElement, column = heading.cellIndex;
    var ascending = heading.getAttribute("aria-sort") !== "ascending";
    var numeric = heading.dataset.type === "number";
    document.querySelectorAll("#results th").forEach(function (th) { th.removeAttribute("aria-sort"); });
    heading.setAttribute("aria-sort", ascending ? "ascending" : "descending");
    var body = document.querySelector("#results tbody");
    var keyed = Array.prototype.map.call(body.rows, function (row) {
      var cell = row.cells[column];
      var text = numeric ? cell.dataset.value : cell.textContent;
      return { row: row, known: text !== "", key: numeric ? Number(text) : text };
    });
    keyed.sort(function (a, b) {
      if (a.known !== b.known) { return a.known ? -1 : 1; }
      var order = numeric ? a.key - b.key : a.key.localeCompare(b.key);
      return ascending ? order : -order;
    });
    keyed.forEach(function (item) { body.appendChild(item.row); });
  });
});
"""
