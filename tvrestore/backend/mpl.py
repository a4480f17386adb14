"""What every tvrestore figure shares: the file formats, a fresh Figure, its bytes.

matplotlib is imported inside the functions, so that importing tvrestore's
drawing modules costs nothing until a figure is drawn. Figures are made
without pyplot: no global figure list to leak into, no GUI backend to pick,
and the user's own pyplot state is left alone. PNG is rendered by Agg.
Writing the bytes to a file is io's (:func:`tvrestore.viz.figures.save_figure`),
so the backend layer imports nothing of tvrestore above it.
"""

from __future__ import annotations

import contextlib
import io as bytes_io
import os
from pathlib import Path
from typing import Iterator

from tvrestore.errors import TVRestoreError, require_extra

# Suffix -> matplotlib's format name.
FIGURE_FORMATS: dict[str, str] = {".png": "png", ".pdf": "pdf", ".svg": "svg"}

# No creation date in the file: the same figure gives the same bytes.
_UNDATED = {"png": None, "pdf": {"CreationDate": None}, "svg": {"Date": None}}


def check_figure_path(path: str | os.PathLike[str]) -> Path:
    """`path` as a Path if its suffix is a figure format, before any work.

    Raises
    ------
    TVRestoreError
        If the suffix is not .png, .pdf or .svg (any case), or the directory
        does not exist.
    """
    path = Path(path)
    if path.suffix.lower() not in FIGURE_FORMATS:
        raise TVRestoreError(
            f"{path}: unsupported figure type {path.suffix!r} "
            f"(expected one of {', '.join(FIGURE_FORMATS)})"
        )
    if not path.parent.is_dir():
        raise TVRestoreError(f"{path}: output directory does not exist")
    return path


def check_matplotlib_installed(option: str) -> None:
    """Raise, naming the extra, if matplotlib is missing; imports nothing of it.

    Raises
    ------
    TVRestoreError
        ``--figure needs the figures extra (missing: matplotlib): pip install 'tvrestore[figures]'``
    """
    require_extra(option, "figures", ("matplotlib",))


@contextlib.contextmanager
def default_style() -> Iterator[None]:
    """matplotlib's default style, whatever the user's matplotlibrc says.

    A ``savefig.bbox: tight`` or a different ``figure.dpi`` there would
    change the figure's pixel size, which the layout promises.
    """
    import matplotlib.style

    with matplotlib.style.context("default"):
        yield


def new_figure(width_px: int, height_px: int, dpi: int):
    """A constrained-layout Figure of exactly ``width_px x height_px`` pixels at `dpi`."""
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    figure = Figure(figsize=(width_px / dpi, height_px / dpi), dpi=dpi, layout="constrained")
    FigureCanvasAgg(figure)
    return figure


def figure_bytes(figure, path: str | os.PathLike[str]) -> bytes:
    """`figure` rendered in its path's format (by suffix), the same bytes for the same figure.

    Raises
    ------
    TVRestoreError
        If the suffix is not a figure format or the directory does not exist.
    """
    path = check_figure_path(path)
    buffer = bytes_io.BytesIO()
    file_format = FIGURE_FORMATS[path.suffix.lower()]
    figure.savefig(buffer, format=file_format, dpi=figure.dpi, metadata=_UNDATED[file_format])
    return buffer.getvalue()
